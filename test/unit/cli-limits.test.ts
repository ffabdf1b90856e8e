/**
 * The `fastllm` command (the bundled dist/cli.js, in a child process) against servers that limit
 * it: an account without quota, a run that gives up on rate limits, `--concurrency auto`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { quotaErrorBody, startFakeServer, type FakeServer } from '../support/fakeServer';
import { CLI, runCli, type CliResult } from '../support/cli';


function fastllm(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, cwd, { OPENAI_API_KEY: 'sk-test-limits', OPENAI_BASE_URL: undefined });
}

describe('fastllm run under rate limits', () => {
  let server: FakeServer;
  let dir: string;
  let input: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startFakeServer({ latencyMs: 10 });
    dir = mkdtempSync(join(tmpdir(), 'fastllm-limits-'));
    input = join(dir, 'prompts.txt');
    writeFileSync(input, Array.from({ length: 300 }, (_, i) => `question ${i}`).join('\n'));
  });
  after(() => server.close());

  test('no quota: exit 2 at once with one line naming quota and billing, no more requests than were in flight', async () => {
    server.reset();
    server.behavior = { latencyMs: 10, plan: () => ({ status: 429, body: quotaErrorBody() }) };
    const t = Date.now();
    const r = await fastllm(['run', input, '--base-url', server.url, '--concurrency', '8', '--rpm', '100000', '--no-cache', '--quiet'], dir);
    assert.ok(Date.now() - t < 15_000);
    assert.equal(r.code, 2, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, /no quota left.*billing/);
    assert.ok(server.count <= 8, `${server.count} requests`);
  });

  test('giving up on rate limits: exit 1 with the reason, the rows left marked rate_limited', async () => {
    server.reset();
    server.behavior = { latencyMs: 5, plan: () => ({ status: 429 }) };
    const out = join(dir, 'gave-up.results.jsonl');
    const r = await fastllm(['run', input, '--base-url', server.url, '--concurrency', '4', '--give-up-after', '0.5', '--no-cache', '--quiet', '--out', out], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Rate limited: no request has succeeded for \d+ s/);
  });

  test('--concurrency auto runs and shows the concurrency it settled on', async () => {
    server.reset();
    server.behavior = { gpu: { capacity: 8, baseMs: 5 } };
    const r = await fastllm(['run', input, '--base-url', server.url, '--concurrency', 'auto', '--no-cache', '--out', join(dir, 'auto.results.jsonl')], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /pacing .*concurrency \d+ \(auto\)/);
  });

  test('a bad --concurrency or --give-up-after is a usage error', async () => {
    for (const args of [['--concurrency', 'fast'], ['--give-up-after', 'never']]) {
      const r = await fastllm(['run', input, '--base-url', server.url, ...args], dir);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--${args[0]!.slice(2)} takes`));
    }
  });
});
