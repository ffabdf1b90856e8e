/**
 * The SQLite cache on its second library, node:sqlite (src/core/cache/sqliteDriver.ts): the same
 * CacheProvider contract as on sqlite3, the same file (a cache written by one is read by the
 * other, and by keyv's own adapter), and picked by itself when sqlite3 cannot load.
 *
 * node:sqlite needs Node 22.13+; the project runs on Node 20. Under a Node without it this file
 * runs itself again under one that has it (test/support/nodeSqlite.ts: Node 24 from the npm
 * registry) and passes or fails with that run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { SqliteCache } from '../../src/core/cache/sqlite';
import { loadNodeSqlite } from '../../src/core/cache/sqliteDriver';
import { cacheContract, entry, key } from '../support/cacheContract';
import { nodeSqliteSkip, nodeWithSqlite } from '../support/nodeSqlite';

const hereHasNodeSqlite = typeof loadNodeSqlite() !== 'string';

if (!hereHasNodeSqlite) {
  test(`this file's tests, under a Node.js with node:sqlite (this one, ${process.version}, has none)`, { skip: nodeSqliteSkip(), timeout: 300_000 }, async () => {
    const node = nodeWithSqlite();
    assert.ok(node, 'no Node.js with node:sqlite was found: set FASTLLM_TEST_NODE to one (22.13+), or let `npm exec --package=node@24` fetch one');
    const root = resolve(__dirname, '../..');
    const { code, output } = await new Promise<{ code: number | null; output: string }>((done, fail) => {
      const child = spawn(node, ['--import', 'tsx', '--test', '--test-reporter=spec', __filename], { cwd: root, env: { ...process.env, NODE_OPTIONS: '', NODE_TEST_CONTEXT: undefined } });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d));
      child.stderr.on('data', (d: Buffer) => (output += d));
      child.on('error', fail);
      child.on('close', (c) => done({ code: c, output }));
    });
    assert.equal(code, 0, output);
    // It ran the suites below, not nothing.
    assert.match(output, /CacheProvider contract: SqliteCache on node:sqlite/);
    assert.match(output, /ℹ fail 0/);
    assert.doesNotMatch(output, /ℹ pass 0\b/);
  });
} else {
  let root: string;
  let counter = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'fastllm-node-sqlite-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const file = () => join(root, `c-${++counter}`, 'cache.sqlite');

  cacheContract('SqliteCache on node:sqlite', () => SqliteCache.open(file(), { driver: 'node:sqlite' }));

  describe('node:sqlite and sqlite3 share one file format', () => {
    it('reads what sqlite3 wrote, and sqlite3 reads what it wrote, expiry included', async () => {
      const path = file();
      const a = await SqliteCache.open(path, { driver: 'sqlite3' });
      assert.equal(a.driver, 'sqlite3');
      await a.set(key(1), entry(1));
      await a.set(key(2), entry(2), 60_000);
      await a.close();

      const b = await SqliteCache.open(path, { driver: 'node:sqlite' });
      assert.equal(b.driver, 'node:sqlite');
      assert.deepEqual(await b.get(key(1)), entry(1));
      assert.equal((await b.get(key(2)))?.request_id, 'req_2');
      assert.equal(typeof (await b.get(key(2)))?.expires, 'number');
      await b.set(key(3), entry(3));
      assert.deepEqual((await b.list()).entries.map((e) => e.key), [key(3), key(2), key(1)]);
      await b.close();

      const c = await SqliteCache.open(path, { driver: 'sqlite3' });
      assert.deepEqual(await c.get(key(3)), entry(3));
      assert.equal(await c.count(), 3);
      await c.close();
    });

    it("reads a file keyv's own adapter wrote, and keyv reads what it wrote", async () => {
      const { KeyvSqlite } = await import('@keyv/sqlite');
      const { Keyv } = await import('keyv');
      const path = file();
      await mkdir(dirname(path), { recursive: true });
      const keyvOn = (p: string) =>
        new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${p}` }), namespace: 'fastllm', useKeyPrefix: false, serialize: JSON.stringify, deserialize: JSON.parse, throwOnErrors: true });
      const k = keyvOn(path);
      await k.set(`fastllm:${key(1)}`, entry(1));
      await k.disconnect();

      const cache = await SqliteCache.open(path, { driver: 'node:sqlite' });
      assert.deepEqual(await cache.get(key(1)), entry(1));
      await cache.set(key(2), entry(2));
      await cache.close();

      const again = keyvOn(path);
      assert.deepEqual(await again.get(`fastllm:${key(2)}`), entry(2));
      await again.disconnect();
    });

    it('refuses a file that is not a database with SQLITE_NOTADB, as sqlite3 does (the CLI then offers a reset)', async () => {
      const path = file();
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, 'this is not a database, but it is long enough to look like a header. '.repeat(20));
      await assert.rejects(SqliteCache.open(path, { driver: 'node:sqlite' }), /SQLITE_NOTADB/);
    });
  });

  describe('sqlite3 cannot load', () => {
    it('the cache opens on node:sqlite by itself', async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const blocker = require('../support/noSqlite.cjs') as { block(): void; unblock(): void };
      blocker.block();
      try {
        const cache = await SqliteCache.open(file());
        assert.equal(cache.driver, 'node:sqlite');
        await cache.set(key(1), entry(1));
        assert.deepEqual(await cache.get(key(1)), entry(1));
        await cache.close();
      } finally {
        blocker.unblock();
      }
    });
  });
}
