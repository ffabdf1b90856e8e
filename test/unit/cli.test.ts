/**
 * End-to-end tests of the `fastllm` command as users run it: the bundled dist/cli.js (built by
 * `npm test` before the unit tests), in a child process, against the loopback fake server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResultRecord } from '../../src/core/types';
import { CLI, runCli, type CliResult } from '../support/cli';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

const KEY = 'sk-test-cli-0123456789abcdef';

function fastllm(args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }): Promise<CliResult> {
  return runCli(args, opts.cwd, { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined, ...opts.env });
}

const readRecords = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);

const answer = (r: ResultRecord) => (r.response?.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content;

describe('fastllm CLI', () => {
  let server: FakeServer;
  let dir: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startFakeServer();
    dir = mkdtempSync(join(tmpdir(), 'fastllm-cli-'));
  });
  after(async () => {
    await server.close();
  });

  test('runs a .txt batch, writes one record per row in order, then reruns from the cache', async () => {
    const input = join(dir, 'prompts.txt');
    writeFileSync(input, Array.from({ length: 60 }, (_, i) => `prompt number ${i}`).join('\n') + '\n\n');
    server.reset();
    const run = await fastllm(['run', input, '--base-url', server.url, '--concurrency', '8'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /requests\s+60 \(60 ok, 0 failed/);
    const records = readRecords(join(dir, 'prompts.results.jsonl'));
    assert.equal(records.length, 60);
    records.forEach((r, i) => {
      assert.equal(r.line, i + 1);
      assert.equal(answer(r), `echo: prompt number ${i}`);
      assert.equal(r.cached, false);
    });
    assert.equal(server.countByPath['/v1/chat/completions'], 60);
    assert.ok(server.maxInFlight <= 8);
    assert.ok(existsSync(join(dir, '.fastllm/cache.sqlite')), 'the default cache file is in the current folder');

    const again = await fastllm(['run', input, '--base-url', server.url], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(server.countByPath['/v1/chat/completions'], 60, 'the rerun sent no request');
    const cached = readRecords(join(dir, 'prompts.results.jsonl'));
    assert.ok(cached.every((r) => r.cached));
    assert.deepEqual(cached.map(answer), records.map(answer));
  });

  test('reports bad JSONL lines with file and line, finishes the rest, exits 1; --json summary', async () => {
    const input = join(dir, 'mixed.jsonl');
    writeFileSync(
      input,
      [
        '{"custom_id":"a","messages":[{"role":"user","content":"hi"}]}',
        '{not json',
        '{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"batch api"}]}}',
        '{"messages":[{"role":"wizard","content":"x"}]}',
      ].join('\n'),
    );
    const out = join(dir, 'mixed.out.jsonl');
    const run = await fastllm(['run', input, '--out', out, '--base-url', server.url, '--no-cache', '--json', '--quiet'], { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    const summary = JSON.parse(run.stdout) as { records: number; failed: number };
    assert.equal(summary.records, 4);
    assert.equal(summary.failed, 2);
    const records = readRecords(out);
    assert.deepEqual(records.map((r) => r.custom_id), ['a', 'line-2', 'c', 'line-4']);
    assert.equal(answer(records[2]!), 'echo: batch api');
    assert.match(records[1]!.error!.message, /mixed\.jsonl:2:/);
    assert.match(records[3]!.error!.message, /mixed\.jsonl:4:.*wizard/);
  });

  test('a rejected key stops the run with exit 2 and a message that never shows the key; the previous results stay', async () => {
    const input = join(dir, 'auth.txt');
    const out = join(dir, 'auth.results.jsonl');
    writeFileSync(input, Array.from({ length: 200 }, (_, i) => `q${i}`).join('\n'));
    const previous = '{"custom_id":"line-1","from":"an earlier run"}\n';
    writeFileSync(out, previous);
    server.reset();
    // OpenAI's own 401 shows the key masked; a proxy may echo it whole. This one does, so that
    // "never shows the key" is checked against a key that was there to show.
    const echoed = { error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
    server.setBehavior({ plan: () => ({ status: 401, body: echoed }) });
    try {
      const run = await fastllm(['run', input, '--base-url', server.url, '--no-cache', '--concurrency', '4', '--quiet'], { cwd: dir });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /rejected the API key/);
      assert.match(run.stderr, /Incorrect API key provided/, 'the server\'s message is shown (with the key taken out)');
      assert.ok(!run.stderr.includes(KEY) && !run.stdout.includes(KEY));
      assert.ok(server.count <= 4, `${server.count} requests were sent after a 401`);
      assert.equal(readFileSync(out, 'utf8'), previous, 'the previous results file is untouched');
      const partial = join(dir, 'auth.results.partial.jsonl');
      const lines = run.stderr.split('\n').filter((l) => l.includes(partial));
      assert.deepEqual(lines, [`partial results in ${partial}; ${out} was left as it was`], run.stderr);
      const records = readRecords(partial);
      assert.equal(records.length, 200, 'every input row has a record');
      assert.ok(records.slice(4).every((r) => r.error?.code === 'run_stopped'));
      assert.ok(!readFileSync(partial, 'utf8').includes(KEY));
    } finally {
      server.setBehavior({ plan: undefined });
    }
  });

  test('--out naming the input (or a link to it) is refused with exit 2, and the input is untouched', async () => {
    const input = join(dir, 'keep.jsonl');
    const text = '{"prompt":"one"}\n{"prompt":"two"}\n';
    writeFileSync(input, text);
    symlinkSync(input, join(dir, 'keep-link.jsonl'));
    server.reset();
    for (const out of [input, 'keep.jsonl', join(dir, 'keep-link.jsonl')]) {
      const run = await fastllm(['run', input, '--out', out, '--base-url', server.url], { cwd: dir });
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.ok(run.stderr.includes(input) && run.stderr.includes(resolve(dir, out)), run.stderr);
    }
    assert.equal(readFileSync(input, 'utf8'), text);
    assert.equal(server.count, 0);
    // compare --out must not truncate one of the files it compares either.
    const cmp = await fastllm(['compare', input, input, '--out', input], { cwd: dir });
    assert.equal(cmp.code, 2, cmp.stderr);
    assert.equal(readFileSync(input, 'utf8'), text);
  });

  test('names the kinds of failure, with counts and the first message of each', async () => {
    const input = join(dir, 'kinds.txt');
    writeFileSync(input, ['fine', 'refuse 1', 'refuse 2', 'fine too'].join('\n'));
    server.reset();
    // OpenAI's 400 shape: {"error": {"message", "type": "invalid_request_error", "param", "code"}}.
    server.setBehavior({ plan: ({ body }) => (JSON.stringify(body).includes('refuse') ? { status: 400 } : undefined) });
    try {
      const run = await fastllm(['run', input, '--base-url', server.url, '--no-cache'], { cwd: dir });
      assert.equal(run.code, 1, run.stderr);
      const line = run.stderr.split('\n').find((l) => l.startsWith('failures'));
      assert.match(line ?? '', /^failures  2 failed: 2 × 400 \S+: .+/, run.stderr);
    } finally {
      server.setBehavior({ plan: undefined });
    }
  });

  test('usage and configuration errors exit 2 with a one-line message', async () => {
    const input = join(dir, 'one.txt');
    writeFileSync(input, 'x\n');
    const noKey = await fastllm(['run', input], { cwd: dir, env: { OPENAI_API_KEY: '' } });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /OPENAI_API_KEY/);
    const missing = await fastllm(['run', join(dir, 'nope.txt')], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.txt: no such file/);
    const badFlag = await fastllm(['run', input, '--concurrency', 'lots'], { cwd: dir });
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--concurrency takes a whole number/);
    writeFileSync(join(dir, 'p.pdf'), 'x');
    const badType = await fastllm(['run', join(dir, 'p.pdf'), '--base-url', server.url], { cwd: dir });
    assert.equal(badType.code, 2);
    assert.match(badType.stderr, /p\.pdf/);
  });

  test('cache stats, list, show, delete and clear', async () => {
    const cacheFile = join(dir, 'c.sqlite');
    const input = join(dir, 'cache.txt');
    writeFileSync(input, 'alpha\nbeta\ngamma\n');
    assert.equal((await fastllm(['run', input, '--base-url', server.url, '--cache', cacheFile, '--quiet'], { cwd: dir })).code, 0);
    const stats = await fastllm(['cache', 'stats', '--cache', cacheFile, '--json'], { cwd: dir });
    assert.equal((JSON.parse(stats.stdout) as { entries: number }).entries, 3);
    const list = await fastllm(['cache', 'list', '--cache', cacheFile, '--json', '--filter', 'beta'], { cwd: dir });
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string });
    assert.equal(rows.length, 1);
    const show = await fastllm(['cache', 'show', rows[0]!.key, '--cache', cacheFile], { cwd: dir });
    assert.match(show.stdout, /echo: beta/);
    assert.ok(!show.stdout.includes(KEY));
    assert.equal((await fastllm(['cache', 'delete', rows[0]!.key, '--cache', cacheFile], { cwd: dir })).code, 0);
    assert.equal((await fastllm(['cache', 'show', rows[0]!.key, '--cache', cacheFile], { cwd: dir })).code, 1);
    const cleared = await fastllm(['cache', 'clear', '--cache', cacheFile], { cwd: dir });
    assert.match(cleared.stderr, /deleted 2 entries/);
    assert.ok(!readFileSync(cacheFile).includes(KEY), 'the key is not in the cache file');
  });

  test('credentials in a base URL reach neither the cache file nor its entries', async () => {
    const secret = 'pw-in-url-7c1e0b9a';
    const cacheFile = join(dir, 'userinfo.sqlite');
    const input = join(dir, 'userinfo.txt');
    writeFileSync(input, 'one\ntwo\n');
    const withCredentials = server.url.replace('http://', `http://someone:${secret}@`);
    const run = await fastllm(['run', input, '--base-url', withCredentials, '--cache', cacheFile, '--quiet'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const files = [cacheFile, `${cacheFile}-wal`].filter((f) => existsSync(f));
    for (const f of files) assert.ok(!readFileSync(f).includes(secret), `${f} holds the password from the base URL`);
    const show = await fastllm(['cache', 'list', '--cache', cacheFile, '--json'], { cwd: dir });
    const [first] = show.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string });
    const entry = JSON.parse((await fastllm(['cache', 'show', first!.key, '--cache', cacheFile], { cwd: dir })).stdout) as { endpoint: { baseURL: string } };
    assert.equal(entry.endpoint.baseURL, server.url);
    // The same server without credentials is the same cache: the rerun sends nothing.
    server.reset();
    assert.equal((await fastllm(['run', input, '--base-url', server.url, '--cache', cacheFile, '--quiet'], { cwd: dir })).code, 0);
    assert.equal(server.count, 0);
  });

  test('two runs sharing one cache file at the same time both finish', async () => {
    const cacheFile = join(dir, 'shared.sqlite');
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    writeFileSync(a, Array.from({ length: 300 }, (_, i) => `a${i}`).join('\n'));
    writeFileSync(b, Array.from({ length: 300 }, (_, i) => `b${i}`).join('\n'));
    const [ra, rb] = await Promise.all([
      fastllm(['run', a, '--base-url', server.url, '--cache', cacheFile, '--quiet', '--concurrency', '32'], { cwd: dir }),
      fastllm(['run', b, '--base-url', server.url, '--cache', cacheFile, '--quiet', '--concurrency', '32'], { cwd: dir }),
    ]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.ok(!/locked/i.test(ra.stderr + rb.stderr), ra.stderr + rb.stderr);
    const stats = await fastllm(['cache', 'stats', '--cache', cacheFile, '--json'], { cwd: dir });
    assert.equal((JSON.parse(stats.stdout) as { entries: number }).entries, 600);
  });
});
