/**
 * `fastllm batch … --profile NAME [--config FILE]`: the bundled dist/cli.js in a child process
 * against the loopback fake Batch API, with profiles read from fastllm.json, as `fastllm run` reads
 * them (test/unit/cli-profile.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResultRecord } from '../../src/core/types';
import { CLI, runCli, type CliResult } from '../support/cli';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';

const PROFILE_KEY = 'sk-test-batch-profile-0123456789';
const OPENAI_KEY = 'sk-test-openai-env-batch-abcdef';

function fastllm(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, cwd, { OPENAI_API_KEY: undefined, FASTLLM_API_KEY: undefined, FASTLLM_PROFILE: undefined, OPENAI_BASE_URL: undefined, ...env });
}

void describe('fastllm batch --profile', () => {
  let api: FakeBatchApi;
  let dir: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    api = await startFakeBatchApi();
    dir = mkdtempSync(join(tmpdir(), 'fastllm-batch-profile-'));
    writeFileSync(join(dir, 'prompts.txt'), 'one\ntwo\nthree\n');
    writeFileSync(
      join(dir, 'fastllm.json'),
      JSON.stringify({
        profiles: {
          local: { baseUrl: api.url, model: 'batch-profile-model', apiKeyEnv: 'BATCH_KEY' },
          remote: { baseUrl: 'https://llm.example.invalid/v1' },
          copilot: { kind: 'vscode-lm' },
        },
      }),
    );
  });
  after(() => api.close());

  test("submit, status and fetch take the profile's base URL, model and key variable", async () => {
    api.reset();
    api.plan = () => ({ pollsBeforeDone: 1 });
    const env = { BATCH_KEY: PROFILE_KEY, OPENAI_API_KEY: OPENAI_KEY };
    const sub = await fastllm(['batch', 'submit', 'prompts.txt', '--profile', 'local', '--no-cache'], dir, env);
    assert.equal(sub.code, 0, sub.stderr);
    const jobs = api.jobs();
    assert.equal(jobs.length, 1);
    assert.deepEqual(
      jobs[0]!.lines.map((l) => (l.body as { model: string }).model),
      ['batch-profile-model', 'batch-profile-model', 'batch-profile-model'],
    );
    const st = await fastllm(['batch', 'status', 'prompts.txt', '--profile', 'local'], dir, env);
    assert.equal(st.code, 0, st.stderr);
    const fetched = await fastllm(['batch', 'fetch', 'prompts.txt', '--profile', 'local', '--wait', '--poll-ms', '5', '--max-poll-ms', '20', '--no-cache'], dir, env);
    assert.equal(fetched.code, 0, fetched.stderr);
    const records = readFileSync(join(dir, 'prompts.results.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);
    assert.deepEqual(records.map((r) => r.error), [null, null, null]);
    // Every call carried the profile's key, never OPENAI_API_KEY.
    assert.ok(api.authHeaders.length >= 4);
    assert.ok(api.authHeaders.every((h) => h === `Bearer ${PROFILE_KEY}`), api.authHeaders.join(', '));
    // --model wins over the profile's.
    const before = api.jobs().length;
    const other = await fastllm(['batch', 'submit', 'prompts.txt', '--profile', 'local', '--model', 'flag-model', '--no-cache', '--force'], dir, env);
    assert.equal(other.code, 0, other.stderr);
    assert.equal((api.jobs()[before]!.lines[0]!.body as { model: string }).model, 'flag-model');
  });

  test('$FASTLLM_PROFILE names the profile when --profile is not given', async () => {
    const before = api.jobs().length;
    writeFileSync(join(dir, 'env.txt'), 'alpha\n');
    const r = await fastllm(['batch', 'submit', 'env.txt', '--no-cache'], dir, { FASTLLM_PROFILE: 'local', BATCH_KEY: PROFILE_KEY });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((api.jobs()[before]!.lines[0]!.body as { model: string }).model, 'batch-profile-model');
  });

  test('an unknown profile, a vscode-lm profile, a missing key and a missing config file are usage errors that say so; nothing is sent', async () => {
    const before = api.jobs().length;
    const unknown = await fastllm(['batch', 'submit', 'prompts.txt', '--profile', 'nope'], dir, { BATCH_KEY: PROFILE_KEY });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--profile: .*"nope".*local/s);
    const lm = await fastllm(['batch', 'status', 'prompts.txt', '--profile', 'copilot'], dir);
    assert.equal(lm.code, 2);
    assert.match(lm.stderr, /vscode-lm: VS Code's language models can only be used inside VS Code/);
    const noKey = await fastllm(['batch', 'submit', 'prompts.txt', '--profile', 'local', '--force'], dir);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /needs its API key in BATCH_KEY/);
    // OPENAI_API_KEY is not sent to a remote profile's server.
    const remote = await fastllm(['batch', 'submit', 'prompts.txt', '--profile', 'remote', '--force'], dir, { OPENAI_API_KEY: OPENAI_KEY });
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /OPENAI_API_KEY is only sent to OpenAI/);
    assert.ok(!remote.stderr.includes(OPENAI_KEY));
    const empty = mkdtempSync(join(tmpdir(), 'fastllm-batch-noconfig-'));
    writeFileSync(join(empty, 'p.txt'), 'x\n');
    const noFile = await fastllm(['batch', 'submit', 'p.txt', '--profile', 'local'], empty, { BATCH_KEY: PROFILE_KEY });
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /no fastllm\.json/);
    assert.equal(api.jobs().length, before);
  });

  test('a state submitted with a profile is refused without it (the key would go elsewhere), and names --profile', async () => {
    const r = await fastllm(['batch', 'status', 'prompts.txt'], dir, { OPENAI_API_KEY: OPENAI_KEY });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--profile/);
  });
});
