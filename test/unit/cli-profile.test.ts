/**
 * `fastllm run --profile NAME [--config FILE]`: the bundled dist/cli.js in a child process against
 * the loopback fake server, with profiles read from fastllm.json.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { CLI, runCli, type CliResult } from '../support/cli';

const LOCAL_KEY = 'sk-test-local-profile-0123456789';
const OPENAI_KEY = 'sk-test-openai-env-abcdefghijkl';

function fastllm(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, cwd, { OPENAI_API_KEY: undefined, FASTLLM_API_KEY: undefined, FASTLLM_PROFILE: undefined, OPENAI_BASE_URL: undefined, ...env });
}

void describe('fastllm run --profile', () => {
  let server: FakeServer;
  let dir: string;
  let input: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startFakeServer({ requireKey: LOCAL_KEY });
    dir = mkdtempSync(join(tmpdir(), 'fastllm-profile-'));
    input = join(dir, 'prompts.txt');
    writeFileSync(input, 'one\ntwo\n');
    const origin = server.url.replace(/\/v1$/, '');
    writeFileSync(
      join(dir, 'fastllm.json'),
      JSON.stringify(
        {
          profiles: {
            local: { baseUrl: server.url, model: 'llama-profile', apiKeyEnv: 'LOCAL_KEY', extraHeaders: { 'x-team': 'blue' } },
            az: { kind: 'azure', baseUrl: origin, deployment: 'dep1', apiVersion: '2024-10-21', apiKeyEnv: 'LOCAL_KEY' },
            remote: { baseUrl: 'https://llm.example.invalid/v1' },
            copilot: { kind: 'vscode-lm' },
          },
        },
        null,
        2,
      ),
    );
  });
  after(() => server.close());

  test('takes base URL, model, headers and the key variable from the profile', async () => {
    server.reset();
    const r = await fastllm(['run', input, '--profile', 'local', '--no-cache', '--quiet'], dir, { LOCAL_KEY });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.countByPath['/v1/chat/completions'], 2);
    for (const req of server.requests) {
      assert.equal((req.body as { model: string }).model, 'llama-profile');
      assert.equal(req.headers.authorization, `Bearer ${LOCAL_KEY}`);
      assert.equal(req.headers['x-team'], 'blue');
    }
  });

  test('--model wins over the profile\'s; FASTLLM_PROFILE names the profile too', async () => {
    server.reset();
    const r = await fastllm(['run', input, '--model', 'other', '--no-cache', '--quiet'], dir, { LOCAL_KEY, FASTLLM_PROFILE: 'local' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((server.requests[0]!.body as { model: string }).model, 'other');
  });

  test('an azure profile calls the deployment URL with api-version and the api-key header', async () => {
    server.reset();
    const r = await fastllm(['run', input, '--profile', 'az', '--no-cache', '--quiet'], dir, { LOCAL_KEY });
    assert.equal(r.code, 0, r.stderr);
    const req = server.requests[0]!;
    assert.equal(req.url, '/openai/deployments/dep1/chat/completions?api-version=2024-10-21');
    assert.equal(req.headers['api-key'], LOCAL_KEY);
  });

  test('--config FILE elsewhere', async () => {
    const other = mkdtempSync(join(tmpdir(), 'fastllm-profile-cwd-'));
    server.reset();
    const r = await fastllm(['run', input, '--config', join(dir, 'fastllm.json'), '--profile', 'local', '--no-cache', '--quiet'], other, { LOCAL_KEY });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.countByPath['/v1/chat/completions'], 2);
  });

  test('a missing profile, a missing key, a vscode-lm profile: exit 2 with a message naming what to fix', async () => {
    const missing = await fastllm(['run', input, '--profile', 'nope'], dir, { LOCAL_KEY });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no profile named "nope" in .*fastllm\.json \(profiles: local, az, remote, copilot\)/);
    const noKey = await fastllm(['run', input, '--profile', 'local'], dir);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /profile "local" needs its API key in LOCAL_KEY/);
    const lm = await fastllm(['run', input, '--profile', 'copilot'], dir, { LOCAL_KEY });
    assert.equal(lm.code, 2);
    assert.match(lm.stderr, /kind vscode-lm: VS Code's language models can only be used inside VS Code/);
  });

  test('OPENAI_API_KEY is not sent to a server a profile names elsewhere', async () => {
    const r = await fastllm(['run', input, '--profile', 'remote'], dir, { OPENAI_API_KEY: OPENAI_KEY });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sends requests to llm\.example\.invalid; OPENAI_API_KEY is only sent to OpenAI/);
    assert.ok(!r.stderr.includes(OPENAI_KEY));
  });

  test('a config file that is not valid JSON: exit 2, naming the file, line and column', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'fastllm-profile-bad-'));
    mkdirSync(join(bad, 'sub'));
    writeFileSync(join(bad, 'fastllm.json'), '{\n  "profiles": {\n    "a": { "baseUrl": "http://127.0.0.1:1/v1" },\n  }\n}\n');
    const r = await fastllm(['run', input, '--profile', 'a'], bad, { LOCAL_KEY });
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`fastllm: ${join(bad, 'fastllm.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:3: not valid JSON`));
    const missingFile = await fastllm(['run', input, '--config', 'nowhere.json'], bad, { LOCAL_KEY });
    assert.equal(missingFile.code, 2);
    assert.match(missingFile.stderr, /--config nowhere\.json: no such file/);
  });
});
