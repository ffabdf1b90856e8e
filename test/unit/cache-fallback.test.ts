/**
 * Never a broken extension or CLI (issue 14 item 2): where the sqlite3 native module cannot load
 * (a VSIX or install built for another platform), the cache runs on node:sqlite when the runtime
 * has it, else in memory, and says once what is missing and how to fix it. The native module is
 * made unloadable by test/support/noSqlite.cjs, as Node fails on a missing or foreign binary.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InMemoryCache } from '../../src/core/cache/memory';
import { openCache } from '../../src/core/cache/open';
import { SqliteUnavailableError } from '../../src/core/cache/sqliteDriver';
import { entry, key } from '../support/cacheContract';
import { CLI, runProcess, type CliResult } from '../support/cli';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { NO_SQLITE, nodeSqliteSkip, nodeWithSqlite } from '../support/nodeSqlite';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const blocker = require('../support/noSqlite.cjs') as { block(options?: { nodeSqlite?: boolean }): void; unblock(): void };

/** dist/cli.js under `node`, with sqlite3 unloadable when `blockSqlite3`, and node:sqlite too when `blockNodeSqlite`. */
function fastllm(node: string, args: string[], cwd: string, block: { sqlite3: boolean; nodeSqlite: boolean }): Promise<CliResult> {
  return runProcess(node, [...(block.sqlite3 ? ['--require', NO_SQLITE] : []), CLI, ...args], cwd, {
    OPENAI_API_KEY: 'sk-test-fallback',
    OPENAI_BASE_URL: undefined,
    NODE_OPTIONS: '',
    FASTLLM_TEST_BLOCK_SQLITE3: block.sqlite3 ? '1' : '0',
    FASTLLM_TEST_NO_NODE_SQLITE: block.nodeSqlite ? '1' : '0',
  });
}

describe('the cache where sqlite3 cannot load', () => {
  let server: FakeServer;
  let dir: string;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startFakeServer();
    dir = mkdtempSync(join(tmpdir(), 'fastllm-fallback-'));
    writeFileSync(join(dir, 'prompts.txt'), 'first question\nsecond question\nthird question\n');
  });
  after(async () => {
    await server.close();
  });

  test('openCache: neither library loads → an in-memory cache, and the caller is told once why', async () => {
    blocker.block({ nodeSqlite: false });
    try {
      const file = join(dir, 'inproc', 'cache.sqlite');
      await assert.rejects(openCache(file), (e: unknown) => {
        assert.ok(e instanceof SqliteUnavailableError);
        assert.match(e.message, /sqlite3 native module did not load \(Cannot find module 'sqlite3'/);
        assert.match(e.message, /has no node:sqlite .*22\.13/);
        return true;
      });
      const told: string[] = [];
      const cache = await openCache(file, { onMemoryFallback: (e) => told.push(e.message) });
      assert.ok(cache instanceof InMemoryCache);
      assert.equal(told.length, 1);
      await cache.set(key(1), entry(1));
      assert.deepEqual(await cache.get(key(1)), entry(1));
      await cache.close();
      assert.equal(existsSync(file), false, 'no file is written by the in-memory cache');
    } finally {
      blocker.unblock();
    }
  });

  test('fastllm run: runs with the cache in memory, and one stderr line says what is missing and how to fix it', async () => {
    server.reset();
    const run = await fastllm(process.execPath, ['run', 'prompts.txt', '--base-url', server.url, '--quiet'], dir, { sqlite3: true, nodeSqlite: true });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^warning: the cache is in memory for this run only: .*sqlite3 native module did not load.*node:sqlite.*run fastllm with Node\.js 22\.13 or newer, or reinstall it/);
    assert.equal(server.count, 3);
    const records = readFileSync(join(dir, 'prompts.results.jsonl'), 'utf8').trim().split('\n');
    assert.equal(records.length, 3);
    assert.equal(existsSync(join(dir, '.fastllm', 'cache.sqlite')), false);

    // `cache stats` has no file to read: a usage error that says why, not advice to reset the file.
    const stats = await fastllm(process.execPath, ['cache', 'stats', '--cache', join(dir, 'prompts.txt')], dir, { sqlite3: true, nodeSqlite: true });
    assert.equal(stats.code, 2);
    assert.match(stats.stderr, /cannot read the cache .*no SQLite library could be loaded.*Node\.js 22\.13/);
    assert.doesNotMatch(stats.stderr, /reset/);
  });

  test('fastllm run on node:sqlite writes the cache file that the sqlite3 build reads: a rerun makes no call', { skip: nodeSqliteSkip(), timeout: 300_000 }, async () => {
    const node = nodeWithSqlite();
    assert.ok(node, 'no Node.js with node:sqlite (see test/support/nodeSqlite.ts)');
    const work = mkdtempSync(join(tmpdir(), 'fastllm-fallback-node-'));
    writeFileSync(join(work, 'prompts.txt'), 'alpha\nbeta\n');
    server.reset();
    const first = await fastllm(node, ['run', 'prompts.txt', '--base-url', server.url, '--quiet'], work, { sqlite3: true, nodeSqlite: false });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '', 'node:sqlite is used without a word');
    assert.equal(server.count, 2);
    assert.ok(existsSync(join(work, '.fastllm', 'cache.sqlite')));

    // This Node with sqlite3 (the usual build) reads the same file.
    const stats = await fastllm(process.execPath, ['cache', 'stats', '--json'], work, { sqlite3: false, nodeSqlite: false });
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal((JSON.parse(stats.stdout) as { entries: number }).entries, 2);
    const again = await fastllm(process.execPath, ['run', 'prompts.txt', '--base-url', server.url, '--quiet', '--json'], work, { sqlite3: false, nodeSqlite: false });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(server.count, 2, 'the rerun was answered from the cache node:sqlite wrote');
  });
});
