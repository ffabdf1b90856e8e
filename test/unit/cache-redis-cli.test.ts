/**
 * The `fastllm` command (the bundled dist/cli.js, in a child process) with `--cache redis://…`:
 * runs against the loopback fake server share one Redis cache, `fastllm cache …` browses it, and
 * an unreachable Redis only costs the API calls.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { redisUnavailable, startRedisServer, type RedisServer } from '../support/redisServer';

const CLI = resolve(__dirname, '../../dist/cli.js');

/**
 * Runs the CLI; a process still running after `killAfterMs` is killed, and reported with
 * `hung: true` (the CLI must exit by itself, not keep a connection open).
 */
function fastllm(
  args: string[],
  cwd: string,
  env: Record<string, string | undefined> = {},
  killAfterMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, OPENAI_API_KEY: 'sk-test-redis-cli-0123456789', OPENAI_BASE_URL: undefined, FASTLLM_REDIS_PASSWORD: undefined, ...env },
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, killAfterMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, hung });
    });
  });
}

describe('fastllm CLI with a Redis cache', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let api: FakeServer;
  let dir: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    [redis, api] = await Promise.all([startRedisServer(), startFakeServer()]);
    dir = mkdtempSync(join(tmpdir(), 'fastllm-redis-cli-'));
  });
  after(async () => {
    await Promise.all([redis?.close(), api?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('two machines (folders) share answers through --cache redis://, and fastllm cache browses it', async () => {
    const input = 'prompts.txt';
    const machines = [join(dir, 'a'), join(dir, 'b')];
    for (const m of machines) {
      mkdirp(m);
      writeFileSync(join(m, input), Array.from({ length: 30 }, (_, i) => `shared prompt ${i}`).join('\n') + '\n');
    }
    const cacheArgs = ['--cache', redis.url, '--cache-namespace', 'team-project'];
    api.reset();
    const first = await fastllm(['run', input, '--base-url', api.url, ...cacheArgs], machines[0]!);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(api.countByPath['/v1/chat/completions'], 30);
    assert.ok(!existsSync(join(machines[0]!, '.fastllm')), 'no SQLite file when the cache is on Redis');

    const second = await fastllm(['run', input, '--base-url', api.url, ...cacheArgs], machines[1]!);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(api.countByPath['/v1/chat/completions'], 30, 'the second machine paid nothing');

    const other = await fastllm(['cache', 'stats', '--cache', redis.url, '--cache-namespace', 'other'], dir);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /entries\s+0/, 'namespaces keep projects apart');

    const stats = await fastllm(['cache', 'stats', '--json', ...cacheArgs], dir);
    assert.equal(stats.code, 0, stats.stderr);
    assert.deepEqual(JSON.parse(stats.stdout), { location: redis.url, namespace: 'team-project', entries: 30 });

    const list = await fastllm(['cache', 'list', '--limit', '5', ...cacheArgs], dir, { FASTLLM_CACHE_NAMESPACE: 'ignored-when-flag-given' });
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.trim().split('\n').length, 5);
    assert.match(list.stderr, /5 of 30 entries/);

    const filtered = await fastllm(['cache', 'list', '--json', '--filter', 'SHARED PROMPT 2', '--cache', redis.url], dir, { FASTLLM_CACHE_NAMESPACE: 'team-project' });
    assert.equal(filtered.code, 0, filtered.stderr);
    assert.equal(filtered.stdout.trim().split('\n').length, 11); // 2, 20..29

    const cleared = await fastllm(['cache', 'clear', '--filter', 'shared prompt 1', ...cacheArgs], dir);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stderr, /deleted 11 entries/);
  });

  test('a bad flag with a Redis cache: exit 2 at once, nothing opened, nothing written (the process used to hang)', async () => {
    mkdirp(join(dir, 'flags'));
    writeFileSync(join(dir, 'flags', 'p.txt'), 'one\n');
    const cacheArgs = ['--cache', redis.url];
    api.reset();
    const bad: [string[], RegExp][] = [
      [['run', 'p.txt', '--concurrency', 'lots'], /--concurrency takes a whole number or auto, not "lots"/],
      [['run', 'p.txt', '--temperature', 'warm'], /--temperature takes a number, not "warm"/],
      [['run', 'p.txt', '--max-tokens', '1.5'], /--max-tokens takes a whole number, not "1.5"/],
      [['run', 'p.txt', '--base-url', 'not a url'], /--base-url "not a url" is not a URL/],
      [['cache', 'list', '--limit', 'all'], /--limit takes a whole number, not "all"/],
    ];
    for (const [args, message] of bad) {
      // A hang is for ever; 30 s only leaves room for a slow start on a busy machine.
      const r = await fastllm([...args, ...cacheArgs], join(dir, 'flags'), {}, 30_000);
      assert.equal(r.hung, false, `fastllm ${args.join(' ')} did not exit: ${r.stderr}`);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(api.count, 0);
    assert.ok(!existsSync(join(dir, 'flags', 'p.results.jsonl')) && !existsSync(join(dir, 'flags', 'p.results.partial.jsonl')));
  });

  test('an unreachable Redis: the run finishes without the cache and says so once; cache commands fail with exit 2', async () => {
    mkdirp(join(dir, 'c'));
    writeFileSync(join(dir, 'c', 'p.txt'), 'one\ntwo\nthree\n');
    const url = 'redis://:topsecret@127.0.0.1:1';
    const t0 = Date.now();
    const run = await fastllm(['run', 'p.txt', '--base-url', api.url, '--cache', url], join(dir, 'c'));
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Date.now() - t0 < 10_000);
    const warnings = run.stderr.split('\n').filter((l) => /Redis cache/.test(l));
    assert.equal(warnings.length, 1, run.stderr);
    assert.match(warnings[0]!, /^warning: cannot connect to the Redis cache redis:\/\/:\*\*\*@127\.0\.0\.1:1: .*running without the cache\.$/);
    assert.doesNotMatch(run.stderr, /topsecret/);

    const stats = await fastllm(['cache', 'stats', '--cache', url], dir);
    assert.equal(stats.code, 2);
    assert.match(stats.stderr, /cannot connect to the Redis cache/);
  });
});

const mkdirp = (path: string) => mkdirSync(path, { recursive: true });
