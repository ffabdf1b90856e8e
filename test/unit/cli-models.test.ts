/**
 * `fastllm run INPUT --model a,b,c` (issue 12): the input once per model, all at once, each model
 * with its own request manager, one results file per model; a second run answers each model's
 * rows from the cache of that model.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ResultRecord } from '../../src/core/types';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { CLI, runCli, type CliResult } from '../support/cli';

const KEY = 'sk-test-cli-models-0123456789';

function fastllm(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, cwd, { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined });
}

const records = (path: string): ResultRecord[] => readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);

let server: FakeServer;
before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
  server = await startFakeServer();
});
after(() => server.close());

test('--model a,b,c: one results file per model, the models run at once, each with its own limits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-cli-models-'));
  const input = join(dir, 'prompts.txt');
  const ROWS = 6;
  writeFileSync(input, Array.from({ length: ROWS }, (_, i) => `question ${i}`).join('\n') + '\n');
  server.reset();
  server.setBehavior({ latencyMs: 150 });
  const models = ['m-a', 'm-b', 'team/m-c'];
  // --concurrency 2 per model: more than 2 requests in flight means the models ran at once.
  const run = await fastllm(['run', input, '--base-url', server.url, '--model', models.join(','), '--concurrency', '2', '--cache', join(dir, 'cache.sqlite')], dir);
  assert.equal(run.code, 0, run.stderr);
  const files = ['prompts.m-a.results.jsonl', 'prompts.m-b.results.jsonl', 'prompts.team-m-c.results.jsonl'].map((f) => join(dir, f));
  for (const [i, file] of files.entries()) {
    const rs = records(file);
    assert.equal(rs.length, ROWS, file);
    assert.deepEqual(
      rs.map((r) => (r.response?.body as { model?: string }).model),
      Array(ROWS).fill(models[i]),
      `${file} holds the answers of ${models[i]}`,
    );
  }
  assert.equal(existsSync(join(dir, 'prompts.results.jsonl')), false);
  assert.equal(server.countByPath['/v1/chat/completions'], ROWS * models.length);
  assert.ok(server.maxInFlight > 2 && server.maxInFlight <= 6, `in flight at most: ${server.maxInFlight}`);
  assert.match(run.stderr, /m-b: results\s+\S+prompts\.m-b\.results\.jsonl/);

  // Again: every model's rows come from the cache, for that model.
  server.reset();
  const again = await fastllm(['run', input, '--base-url', server.url, '--model', models.join(','), '--cache', join(dir, 'cache.sqlite'), '--json', '--quiet'], dir);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(server.count, 0);
  const summaries = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as { model: string; records: number });
  assert.deepEqual(summaries.map((s) => [s.model, s.records]).sort(), models.map((m) => [m, ROWS]).sort());
  for (const file of files) assert.ok(records(file).every((r) => r.cached));
  server.setBehavior({ latencyMs: 0 });
});

test('--model with two names that make one file name is a usage error, before any request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-cli-models-'));
  const input = join(dir, 'p.txt');
  writeFileSync(input, 'x\n');
  server.reset();
  const run = await fastllm(['run', input, '--base-url', server.url, '--model', 'a/b,a-b', '--no-cache'], dir);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /a\/b and a-b would write the same file/);
  assert.equal(server.count, 0);
});
