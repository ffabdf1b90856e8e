import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeyvSqlite } from '@keyv/sqlite';
import { Keyv } from 'keyv';
import { InMemoryCache, MemoryCache } from '../../src/core/cache/memory';
import { SqliteCache } from '../../src/core/cache/sqlite';
import type { CacheEntry } from '../../src/core/types';
import { BASE, cacheContract, entry, key, sleep } from '../support/cacheContract';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'fastllm-cache-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
// The contract every cache meets (shared with the Redis cache's tests).
cacheContract('InMemoryCache', async () => new InMemoryCache());
cacheContract('SqliteCache', () => SqliteCache.open(join(root, `contract-${++counter}`, 'nested', 'cache.sqlite')));

describe('SqliteCache specifics', () => {
  it('keeps entries across close and reopen, stored as plain JSON', async () => {
    const file = join(root, 'persist', 'cache.sqlite');
    const first = await SqliteCache.open(file);
    await first.set(key(1), entry(1, { response: { text: 'Plain JSON marker' } }));
    await first.set(key(2), entry(2), 60_000);
    await first.close();
    await first.close(); // idempotent

    const bytes = (await readFile(file)).toString('latin1');
    assert.ok(bytes.includes(`"response":{"text":"Plain JSON marker"}`), 'the value is readable JSON in the file');
    assert.ok(bytes.includes(`{"value":{"request":{"model":"gpt-4o-mini"`), 'keyv wrapper around the entry');
    assert.ok(bytes.includes(`fastllm:${key(1)}`), 'keys carry the namespace on disk');

    const again = await SqliteCache.open(file);
    try {
      assert.deepEqual(await again.get(key(1)), entry(1, { response: { text: 'Plain JSON marker' } }));
      assert.ok(await again.has(key(2)));
      assert.equal(await again.count(), 2);
      assert.deepEqual((await again.list()).entries.map((e) => e.key), [key(2), key(1)], 'plain keys, no namespace');
    } finally {
      await again.close();
    }
  });

  it('adopts a file written by plain keyv + @keyv/sqlite, keeping its entries', async () => {
    const file = join(root, 'plain-keyv.sqlite');
    const plain = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: 'fastllm', serialize: JSON.stringify, deserialize: JSON.parse });
    await plain.set(key(1), entry(1));
    await plain.set(key(2), entry(2));
    await plain.disconnect();
    const cache = await SqliteCache.open(file);
    try {
      assert.deepEqual(await cache.get(key(1)), entry(1));
      assert.deepEqual((await cache.list()).entries.map((e) => e.key), [key(2), key(1)]);
      await cache.set(key(3), entry(3));
      assert.equal(await cache.count(), 3);
    } finally {
      await cache.close();
    }
  });

  it('keeps namespaces apart in one file, even for keys that look namespaced', async () => {
    const file = join(root, 'namespaces.sqlite');
    const a = await SqliteCache.open(file, { namespace: 'a' });
    const b = await SqliteCache.open(file, { namespace: 'b' });
    try {
      await a.set('a:tricky', entry(1));
      await a.set('plain', entry(2));
      await b.set('plain', entry(3));
      assert.equal(await a.count(), 2);
      assert.equal(await b.count(), 1);
      assert.deepEqual((await a.list()).entries.map((e) => e.key), ['plain', 'a:tricky']);
      assert.equal((await b.get('plain'))?.created, BASE + 3);
      assert.equal(await b.clear(), 1);
      assert.equal(await a.count(), 2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('removes expired rows when opened', async () => {
    const file = join(root, 'purge.sqlite');
    const first = await SqliteCache.open(file);
    await first.set('gone', entry(1), 30);
    await first.set('kept', entry(2));
    await first.close();
    await sleep(60);
    const again = await SqliteCache.open(file);
    try {
      assert.equal(await again.purgeExpired(), 0, 'open already deleted the expired row');
      assert.equal(await again.count(), 1);
      await again.set('gone-too', entry(3), 30);
      await sleep(60);
      assert.equal(await again.purgeExpired(), 1);
    } finally {
      await again.close();
    }
  });

  it('fails to open a path it cannot create', async () => {
    const blocker = join(root, 'not-a-dir');
    const plain = await SqliteCache.open(blocker);
    await plain.close();
    await assert.rejects(SqliteCache.open(join(blocker, 'cache.sqlite')));
  });

  describe('write-behind', () => {
    /** A raw second connection to the file, to see what is really stored. */
    const raw = (file: string) => new KeyvSqlite({ uri: `sqlite://${file}` });
    const rawValue = async (store: KeyvSqlite, k: string) =>
      ((await store.query('SELECT value FROM keyv WHERE key = ?', k)) as { value: string }[])[0]?.value;

    it('stores what plain keyv stores, and set() resolves only once the row is in the file', async () => {
      const file = join(root, 'wb-format.sqlite');
      const plainFile = join(root, 'wb-format-plain.sqlite');
      const plain = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${plainFile}` }), namespace: 'fastllm', serialize: JSON.stringify, deserialize: JSON.parse });
      const cache = await SqliteCache.open(file);
      const other = raw(file);
      try {
        await cache.set(key(1), entry(1, { response: { text: ':colon first', n: [1, 2] } }));
        await plain.set(key(1), entry(1, { response: { text: ':colon first', n: [1, 2] } }));
        // Seen by another connection as soon as set() resolves: stored, not just queued.
        assert.equal(await rawValue(other, `fastllm:${key(1)}`), await rawValue(plain.store as KeyvSqlite, `fastllm:${key(1)}`));

        const t0 = Date.now();
        await cache.set(key(2), entry(2), 60_000);
        const stored = JSON.parse((await rawValue(other, `fastllm:${key(2)}`))!) as { value: CacheEntry; expires: number };
        assert.deepEqual(Object.keys(stored), ['value', 'expires']);
        assert.equal(stored.value.expires, stored.expires);
        assert.ok(stored.expires >= t0 + 60_000 && stored.expires <= Date.now() + 60_000);
        const gen = (await other.query('SELECT created, expires FROM keyv WHERE key = ?', `fastllm:${key(2)}`)) as { created: number; expires: number }[];
        assert.deepEqual(gen[0], { created: BASE + 2, expires: stored.expires }, 'generated columns filled');

        // Already expired: stored as expiring just before it was written, as keyv did with ttl -1.
        await cache.set(key(3), entry(3, { expires: 5 }));
        const past = JSON.parse((await rawValue(other, `fastllm:${key(3)}`))!) as { value: CacheEntry; expires: number };
        assert.equal(past.value.expires, 5);
        assert.ok(past.expires < Date.now() && past.expires > t0 - 1000);
      } finally {
        await cache.close();
        await other.disconnect();
        await plain.disconnect();
      }
    });

    it('writes many concurrent sets, rewrites included, and every read sees them before they are stored', async () => {
      const file = join(root, 'wb-many.sqlite');
      const cache = await SqliteCache.open(file);
      const other = raw(file);
      try {
        const n = 1000; // several batches of the largest size
        const writes = Array.from({ length: n }, (_, i) => cache.set(key(i), entry(i)));
        const rewrite = cache.set(key(7), entry(7, { model: 'rewritten' }));
        // Queued, not yet written: get and has answer from the queue, the others write it out first.
        assert.equal((await cache.get(key(7)))?.model, 'rewritten');
        assert.equal(await cache.has(key(999)), true);
        assert.equal(await cache.count(), n);
        await Promise.all([...writes, rewrite]);
        assert.equal(((await other.query('SELECT count(*) AS n FROM keyv')) as { n: number }[])[0]?.n, n);
        assert.equal((await cache.get(key(7)))?.model, 'rewritten');
        assert.equal((await cache.list({ limit: 1 })).entries[0]?.key, key(n - 1));

        const expired = cache.set('expired', entry(1), 1);
        await sleep(5);
        assert.equal(await cache.get('expired'), undefined, 'a queued entry past its TTL is a miss');
        assert.equal(await cache.has('expired'), false);
        await expired;

        void cache.set('deleted', entry(1));
        assert.equal(await cache.delete('deleted'), true, 'delete sees a queued entry');
        assert.equal(await cache.get('deleted'), undefined);
      } finally {
        await cache.close();
        await other.disconnect();
      }
    });

    it('answers many concurrent gets (hits, misses, the same key twice) with batched reads', async () => {
      const file = join(root, 'wb-gets.sqlite');
      const cache = await SqliteCache.open(file);
      try {
        await Promise.all(Array.from({ length: 300 }, (_, i) => cache.set(key(i), entry(i))));
        await cache.set('old', entry(1), 1);
        await sleep(5);
        const keys = [...Array.from({ length: 600 }, (_, i) => key(i)), key(5), 'old'];
        const got = await Promise.all(keys.map((k) => cache.get(k)));
        for (let i = 0; i < 600; i++) assert.deepEqual(got[i], i < 300 ? entry(i) : undefined, key(i));
        assert.deepEqual(got[600], entry(5));
        assert.equal(got[601], undefined, 'expired');
        assert.equal(await cache.count(), 300, 'the expired row was deleted when read');
        assert.equal(await cache.purgeExpired(), 0);
      } finally {
        await cache.close();
      }
    });

    it('close() writes out entries whose set() was not awaited', async () => {
      const file = join(root, 'wb-close.sqlite');
      const cache = await SqliteCache.open(file);
      const pending = Array.from({ length: 300 }, (_, i) => cache.set(key(i), entry(i)));
      await cache.close();
      await Promise.all(pending);
      await assert.rejects(cache.set(key(1), entry(1)), /closed/);
      const again = await SqliteCache.open(file);
      try {
        assert.equal(await again.count(), 300);
      } finally {
        await again.close();
      }
    });

    it('fails every set() of a batch that cannot be written, and recovers after', async () => {
      const file = join(root, 'wb-busy.sqlite');
      const cache = await SqliteCache.open(file, { busyTimeoutMs: 50 });
      const locker = raw(file);
      try {
        await locker.query('BEGIN IMMEDIATE'); // holds the write lock
        const results = await Promise.allSettled([cache.set(key(1), entry(1)), cache.set(key(2), entry(2))]);
        for (const r of results) {
          assert.equal(r.status, 'rejected');
          assert.match(String((r as PromiseRejectedResult).reason), /SQLITE_BUSY|locked/);
        }
        await locker.query('ROLLBACK');
        await cache.set(key(3), entry(3));
        assert.equal(await cache.count(), 1);
        assert.equal(await cache.get(key(1)), undefined, 'a failed entry is not served from the queue either');
      } finally {
        await cache.close();
        await locker.disconnect();
      }
    });
  });

  it('exports the MemoryCache alias', () => {
    assert.equal(MemoryCache, InMemoryCache);
  });
});
