/**
 * `fastllm batch …` end to end: the bundled dist/cli.js in a child process against the loopback
 * fake Batch API (built by `npm run build` before the unit tests).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResultRecord } from '../../src/core/types';
import { CLI, runCli, type CliResult } from '../support/cli';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';

const KEY = 'sk-test-batch-cli-0123456789abcdef';

function fastllm(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, cwd, { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined });
}

const readRecords = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);

describe('fastllm batch', () => {
  let api: FakeBatchApi;
  let dir: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`);
    api = await startFakeBatchApi();
    dir = mkdtempSync(join(tmpdir(), 'fastllm-batch-cli-'));
  });
  after(async () => {
    await api.close();
  });

  test('submit → status → fetch --wait, then a live run of the same file is answered by the cache', async () => {
    const input = join(dir, 'prompts.txt');
    writeFileSync(input, ['first', 'second', 'third', 'fourth', 'fifth'].join('\n') + '\n');
    api.plan = () => ({ pollsBeforeDone: 2 });
    const cache = join(dir, 'cache.sqlite');
    const sub = await fastllm(['batch', 'submit', 'prompts.txt', '--base-url', api.url, '--cache', cache, '--max-requests', '2'], dir);
    assert.equal(sub.code, 0, sub.stderr);
    const ids = sub.stdout.trim().split('\n');
    assert.equal(ids.length, 3, 'five rows at two per job');
    assert.ok(ids.every((id) => id.startsWith('batch_')));
    assert.ok(existsSync(`${input}.batch.json`));
    assert.ok(!sub.stderr.includes(KEY));

    const st = await fastllm(['batch', 'status', ids[1]!, '--base-url', api.url], dir);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`${ids[1]}\\s+in_progress`));

    const early = await fastllm(['batch', 'fetch', 'prompts.txt', '--base-url', api.url], dir);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /not finished yet/);

    const fetched = await fastllm(['batch', 'fetch', ids[0]!, '--base-url', api.url, '--wait', '--poll-ms', '5', '--max-poll-ms', '20', '--cache', cache], dir);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stderr, /5 ok, 0 failed/);
    assert.match(fetched.stderr, /at batch prices/);
    const records = readRecords(join(dir, 'prompts.results.jsonl'));
    assert.deepEqual(records.map((r) => r.custom_id), ['line-1', 'line-2', 'line-3', 'line-4', 'line-5']);

    api.reset();
    const live = await fastllm(['run', 'prompts.txt', '--base-url', api.url, '--cache', cache, '--quiet', '--out', 'live.jsonl'], dir);
    assert.equal(live.code, 0, live.stderr);
    assert.equal(api.counts['POST /v1/chat/completions'], undefined, 'the live run made no call');
    assert.ok(readRecords(join(dir, 'live.jsonl')).every((r) => r.cached));
  });

  test('cancel by input, then status shows the jobs cancelled; fetch marks the unanswered rows', async () => {
    const input = join(dir, 'slow.jsonl');
    writeFileSync(input, '{"prompt":"a"}\n{"prompt":"b"}\n');
    api.plan = () => ({ pollsBeforeDone: 1000, answered: 1 });
    const sub = await fastllm(['batch', 'submit', 'slow.jsonl', '--base-url', api.url, '--no-cache'], dir);
    assert.equal(sub.code, 0, sub.stderr);
    const cancel = await fastllm(['batch', 'cancel', 'slow.jsonl', '--base-url', api.url], dir);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stderr, /cancelling batch_/);
    const st = await fastllm(['batch', 'status', 'slow.jsonl', '--base-url', api.url], dir);
    assert.match(st.stdout, /cancelled/);
    const fetched = await fastllm(['batch', 'fetch', 'slow.jsonl', '--base-url', api.url, '--no-cache', '--out', 'slow.out.jsonl'], dir);
    assert.equal(fetched.code, 1, 'a row failed');
    assert.deepEqual(readRecords(join(dir, 'slow.out.jsonl')).map((r) => r.error?.code ?? 'ok'), ['ok', 'batch_cancelled']);
  });

  test('a state file naming another server is refused before any call; --base-url with its URL uses it', async () => {
    api.plan = () => ({});
    const input = join(dir, 'planted.txt');
    writeFileSync(input, 'a\nb\n');
    const sub = await fastllm(['batch', 'submit', 'planted.txt', '--base-url', api.url, '--no-cache'], dir);
    assert.equal(sub.code, 0, sub.stderr);
    // Someone (a cloned repository, a shared folder) points the state at their server.
    const attacker = await startFakeBatchApi();
    try {
      const statePath = `${input}.batch.json`;
      const state = JSON.parse(readFileSync(statePath, 'utf8')) as { baseURL: string };
      writeFileSync(statePath, JSON.stringify({ ...state, baseURL: attacker.url }));
      for (const cmd of [['status'], ['cancel'], ['fetch', '--wait', '--poll-ms', '5', '--no-cache']]) {
        const r = await fastllm(['batch', cmd[0]!, 'planted.txt', ...cmd.slice(1), '--base-url', api.url], dir);
        assert.equal(r.code, 2, `${cmd[0]}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.ok(r.stderr.includes(`submitted to ${attacker.url}, but the configured base URL is ${api.url}`), r.stderr);
        assert.ok(r.stderr.includes(`pass --base-url ${attacker.url}`), r.stderr);
      }
      // Without --base-url the configured URL is OpenAI's default: refused as well, naming it.
      const byDefault = await fastllm(['batch', 'status', 'planted.txt'], dir);
      assert.equal(byDefault.code, 2);
      assert.match(byDefault.stderr, /configured base URL is https:\/\/api\.openai\.com\/v1/);
      assert.deepEqual(attacker.authHeaders, [], 'the key went to the state\'s server');
      // Said explicitly, the state's server is used.
      const chosen = await fastllm(['batch', 'status', 'planted.txt', '--base-url', attacker.url], dir);
      assert.equal(chosen.code, 2, 'the attacker has no such job');
      assert.ok(attacker.authHeaders.length > 0);
    } finally {
      await attacker.close();
    }
  });

  test('submit refuses to overwrite jobs not fetched (exit 2, one line); --force keeps the old state aside', async () => {
    api.plan = () => ({});
    const input = join(dir, 'again.txt');
    writeFileSync(input, 'x\ny\n');
    const first = await fastllm(['batch', 'submit', 'again.txt', '--base-url', api.url, '--no-cache'], dir);
    assert.equal(first.code, 0, first.stderr);
    const oldId = first.stdout.trim();
    const jobs = api.jobs().length;
    const refused = await fastllm(['batch', 'submit', 'again.txt', '--base-url', api.url, '--no-cache'], dir);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.match(refused.stderr, /holds 1 Batch API job\(s\) whose results were not fetched.*fastllm batch fetch again\.txt --wait.*--force/);
    assert.equal(api.jobs().length, jobs, 'nothing was sent');

    const forced = await fastllm(['batch', 'submit', 'again.txt', '--base-url', api.url, '--no-cache', '--force'], dir);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /was moved to .*again\.txt\.[-\dTZ]+\.batch\.json/);
    assert.notEqual(forced.stdout.trim(), oldId);
    // The old job is still found by its id, in the state kept aside.
    const old = await fastllm(['batch', 'fetch', oldId, '--base-url', api.url, '--wait', '--poll-ms', '5', '--no-cache', '--out', 'again.old.jsonl'], dir);
    assert.equal(old.code, 0, old.stderr);
    assert.equal(readRecords(join(dir, 'again.old.jsonl')).length, 2);
  });

  test('fetch --wait rides out 502s and resets during the wait, and a download cut half-way', async () => {
    const input = join(dir, 'flaky.txt');
    writeFileSync(input, 'p\nq\nr\n');
    api.plan = () => ({ pollsBeforeDone: 2 });
    const sub = await fastllm(['batch', 'submit', 'flaky.txt', '--base-url', api.url, '--no-cache'], dir);
    assert.equal(sub.code, 0, sub.stderr);
    api.inject('GET /v1/batches/:id', null, 502, 'reset', 502);
    api.inject('GET /v1/files/:id/content', 'cut');
    const fetched = await fastllm(['batch', 'fetch', 'flaky.txt', '--base-url', api.url, '--wait', '--poll-ms', '5', '--max-poll-ms', '20', '--no-cache'], dir);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.deepEqual(api.pendingFaults, {});
    assert.match(fetched.stderr, /HTTP 502.*trying again in \d+ s/);
    assert.deepEqual(readRecords(join(dir, 'flaky.results.jsonl')).map((r) => r.custom_id), ['line-1', 'line-2', 'line-3']);
  });

  test('--help names --force and the base URL rule', async () => {
    const r = await fastllm(['batch', '--help'], dir);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--force submits anyway/);
    assert.match(r.stdout, /a state file that names\s+another server is refused/);
  });

  test('usage errors exit 2 with a message', async () => {
    const r = await fastllm(['batch', 'fetch', 'nope.txt'], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no such input file or known job id/);
    const r2 = await fastllm(['batch', 'frobnicate'], dir);
    assert.equal(r2.code, 2);
  });
});
