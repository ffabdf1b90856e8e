/**
 * RedisCache against a real redis-server on loopback, started by the test: the CacheProvider
 * contract, its layout in Redis, namespaces, TTL, paging, two processes writing at once, and how
 * it behaves when the server goes away, hangs, or asks for a password.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import KeyvRedis, { createClient } from '@keyv/redis';
import { Keyv } from 'keyv';
import { describeRedisUrl, RedisCache, toNamespace } from '../../src/core/cache/redis';
import { openCache, isRedisUrl } from '../../src/core/cache/open';
import { SqliteCache } from '../../src/core/cache/sqlite';
import { BASE, cacheContract, collect, entry, key, sleep } from '../support/cacheContract';
import { redisUnavailable, startRedisServer, type RedisServer } from '../support/redisServer';

const skip = redisUnavailable();
let server: RedisServer;
let raw: ReturnType<typeof createClient>;

before(async () => {
  if (skip) return;
  server = await startRedisServer();
  raw = createClient({ url: server.url });
  raw.on('error', () => undefined); // the outage tests stop the server under it
  await raw.connect();
});
after(async () => {
  if (raw?.isOpen) raw.destroy();
  await server?.close();
});

let suite = 0;
cacheContract('RedisCache', () => RedisCache.open(server.url, { namespace: `contract-${++suite}` }), { skip });

/** Waits until `check` holds, polling every 20 ms, or fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function elapsed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

describe('RedisCache specifics', { skip }, () => {
  it('stores plain keyv JSON under namespace::key, with a Redis expiry and index entries', async () => {
    const cache = await RedisCache.open(server.url, { namespace: 'layout' });
    try {
      const t0 = Date.now();
      await cache.set(key(1), entry(1), 60_000);
      await cache.set(key(2), entry(2, { response: ':colon first' }));
      const stored = JSON.parse((await raw.get(`layout::${key(1)}`))!) as { value: { expires: number }; expires: number };
      assert.deepEqual(Object.keys(stored), ['value', 'expires']);
      assert.equal(stored.value.expires, stored.expires);
      assert.ok(stored.expires >= t0 + 60_000 && stored.expires <= Date.now() + 60_000);
      const pttl = await raw.pTTL(`layout::${key(1)}`);
      assert.ok(pttl > 59_000 && pttl <= 60_000, `PX set (${pttl})`);
      assert.equal(await raw.pTTL(`layout::${key(2)}`), -1, 'no expiry without a TTL');
      assert.equal(await raw.zScore('layout:index:created', key(1)), BASE + 1);
      assert.equal(await raw.zScore('layout:index:expires', key(1)), stored.expires);
      assert.equal(await raw.zScore('layout:index:expires', key(2)), null);

      // Plain keyv with the @keyv/redis adapter reads the same entries.
      const plain = new Keyv({ store: new KeyvRedis(server.url, { namespace: 'layout' }), namespace: 'layout', useKeyPrefix: false, serialize: JSON.stringify, deserialize: JSON.parse });
      try {
        assert.deepEqual(await plain.get(key(2)), entry(2, { response: ':colon first' }));
      } finally {
        await plain.disconnect();
      }
    } finally {
      await cache.close();
      await cache.close(); // idempotent
    }
    await assert.rejects(cache.get(key(1)), /closed/);
  });

  it('keeps namespaces apart on one server, even ones with glob characters', async () => {
    const a = await RedisCache.open(server.url, { namespace: 'proj[1]*' });
    const b = await RedisCache.open(server.url, { namespace: 'proj1' });
    try {
      await a.set('k', entry(1));
      await a.set('proj1::k', entry(2));
      await b.set('k', entry(3));
      assert.equal(await a.count(), 2);
      assert.equal(await b.count(), 1);
      assert.equal((await b.get('k'))?.created, BASE + 3);
      assert.equal(await a.clear(), 2);
      assert.equal(await b.count(), 1, 'clearing one namespace leaves the other alone');
      assert.ok(await b.get('k'));
    } finally {
      await a.close();
      await b.close();
    }
    await assert.rejects(RedisCache.open(server.url, { namespace: 'bad::ns' }), /namespace/);
    await assert.rejects(RedisCache.open(server.url, { namespace: 'bad:' }), /namespace/);
    assert.equal(toNamespace('  my: project '), 'my- project');
    assert.equal(toNamespace(' '), 'fastllm');
  });

  it('drops expired keys from the index, and prunes index members whose value vanished', async () => {
    const cache = await RedisCache.open(server.url, { namespace: 'ttl' });
    try {
      await cache.set('short', entry(1), 50);
      await cache.set('kept', entry(2));
      await cache.set('gone', entry(3));
      assert.equal(await raw.zCard('ttl:index:created'), 3);
      await sleep(100);
      assert.equal(await raw.exists('ttl::short'), 0, 'Redis expired the value (PX)');
      assert.equal(await cache.count(), 2);
      assert.equal(await raw.zCard('ttl:index:created'), 2, 'the index forgot it too');
      assert.equal(await raw.zCard('ttl:index:expires'), 0);

      await raw.del('ttl::gone'); // as an eviction would
      assert.deepEqual((await cache.list()).entries.map((e) => e.key), ['kept']);
      assert.equal(await cache.count(), 1, 'the member was pruned when met');
      // Rewriting an expiring key without a TTL makes it permanent, in the index too.
      await cache.set('flip', entry(4), 50);
      await cache.set('flip', entry(4));
      await sleep(100);
      assert.ok(await cache.get('flip'));
      assert.equal(await cache.count(), 2);
    } finally {
      await cache.close();
    }
  });

  it('pages a large cache newest first, and walks ties exactly once', async () => {
    const cache = await RedisCache.open(server.url, { namespace: 'big' });
    try {
      const n = 3000;
      // In rounds of 250: 3,000 writes at once can outlast the 2 s command timeout on a loaded machine.
      for (let from = 0; from < n; from += 250) {
        await Promise.all(Array.from({ length: Math.min(250, n - from) }, (_, j) => cache.set(key(from + j), entry(from + j))));
      }
      assert.equal(await cache.count(), n);
      const page = await cache.list({ offset: 1500, limit: 5 });
      assert.equal(page.total, n);
      assert.deepEqual(page.entries.map((e) => e.key), [1499, 1498, 1497, 1496, 1495].map(key));
      const all = await collect(cache.iterate({ pageSize: 97 }));
      assert.equal(all.length, n);
      assert.equal(new Set(all.map((e) => e.key)).size, n);
      assert.deepEqual(all.slice(0, 3).map((e) => e.key), [2999, 2998, 2997].map(key));
      assert.equal((await cache.list({ filter: 'question 299', limit: 100 })).total, 11); // 299, 2990..2999

      await cache.clear();
      // 250 entries with one `created`: keyset paging must not skip or repeat inside the tie.
      const names = Array.from({ length: 250 }, (_, i) => `tie-${String(i).padStart(3, '0')}`);
      await Promise.all(names.map((name) => cache.set(name, entry(7))));
      await cache.set('older', entry(6));
      const walked = (await collect(cache.iterate({ pageSize: 7 }))).map((e) => e.key);
      assert.deepEqual(walked, [...[...names].reverse(), 'older']);
    } finally {
      await cache.clear();
      await cache.close();
    }
  });

  it('two processes write one Redis cache at once', async () => {
    const writer = resolve(__dirname, '../support/cacheWriter.ts');
    const perWriter = 400;
    const run = (name: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
        const child = spawn(process.execPath, ['--import', 'tsx', writer, server.url, name, String(perWriter), '--namespace', 'procs', '--shared'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('error', fail);
        child.on('close', (code) => done({ code, stdout, stderr }));
      });
    const outcomes = await Promise.all([run('alpha'), run('beta')]);
    for (const [i, outcome] of outcomes.entries()) {
      assert.equal(outcome.code, 0, `writer ${i} failed: ${outcome.stderr}`);
      assert.deepEqual(JSON.parse(outcome.stdout), { written: perWriter, reads: Math.ceil(perWriter / 8) * 3 });
    }
    const cache = await RedisCache.open(server.url, { namespace: 'procs' });
    try {
      const shared = perWriter / 50;
      assert.equal(await cache.count(), 2 * perWriter + shared);
      assert.equal(await raw.zCard('procs:index:created'), 2 * perWriter + shared, 'one index member per key');
      assert.equal((await cache.count('alpha question')) + (await cache.count('beta question')), 2 * perWriter + shared);
      for (const name of ['alpha', 'beta']) {
        for (let i = 0; i < perWriter; i += 37) assert.deepEqual((await cache.get(`${name}-${i}`))?.response, { text: `${name} answer ${i}` });
      }
      for (let i = 0; i < perWriter; i += 50) {
        const e = await cache.get(`shared-${i}`);
        assert.ok(e && (e.model === 'alpha' || e.model === 'beta'));
        assert.deepEqual(e.response, { text: `${e.model} answer ${i}` }, 'a shared key holds one writer\'s whole entry');
        assert.deepEqual(e.request.messages, [{ role: 'user', content: `${e.model} question ${i}` }]);
      }
      assert.equal((await collect(cache.iterate({ pageSize: 64 }))).length, 2 * perWriter + shared);
    } finally {
      await cache.close();
    }
  });

  it('fails fast while the server is down, and works again once it is back', async () => {
    const cache = await RedisCache.open(server.url, { namespace: 'outage', commandTimeoutMs: 500 });
    try {
      await cache.set('before', entry(1));
      assert.equal(cache.connected, true);
      await server.stop();
      await until(() => !cache.connected, 2000, 'the client to notice');
      const getMs = await elapsed(() => assert.rejects(cache.get('before'), /unreachable|failed/));
      const setMs = await elapsed(() => assert.rejects(cache.set('during', entry(2))));
      const listMs = await elapsed(() => assert.rejects(cache.list()));
      assert.ok(getMs < 500 && setMs < 500 && listMs < 500, `get ${getMs} ms, set ${setMs} ms, list ${listMs} ms`);
      await server.start();
      await until(() => cache.connected, 5000, 'the client to reconnect');
      await cache.set('after', entry(3));
      assert.deepEqual(await cache.get('after'), entry(3));
    } finally {
      await cache.close();
    }
  });

  it('gives up on a server that accepts but never answers within the command timeout', async () => {
    const cache = await RedisCache.open(server.url, { namespace: 'hung', commandTimeoutMs: 300 });
    try {
      await cache.set('k', entry(1));
      server.freeze();
      try {
        const ms = await elapsed(() => assert.rejects(cache.get('k'), /no answer within 300 ms/));
        assert.ok(ms >= 250 && ms < 1500, `${ms} ms`);
      } finally {
        server.thaw();
      }
      assert.deepEqual(await cache.get('k'), entry(1));
    } finally {
      await cache.close();
    }
  });

  it('fails to open quickly when nothing listens, and names the server without its password', async () => {
    const port = await new Promise<number>((done) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => done(p));
      });
    });
    const url = `redis://user:hunter22@127.0.0.1:${port}`;
    const t0 = Date.now();
    await assert.rejects(RedisCache.open(url), (e: Error) => {
      assert.match(e.message, /cannot connect to the Redis cache redis:\/\/user:\*\*\*@127\.0\.0\.1/);
      assert.doesNotMatch(e.message, /hunter22/);
      return true;
    });
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(describeRedisUrl('rediss://:p%40ss@h:6380/2'), 'rediss://:***@h:6380/2');
  });

  it('logs in with a password given apart from the URL, and refuses without it', async () => {
    const locked = await startRedisServer({ password: 's3cret-pass' });
    try {
      await assert.rejects(RedisCache.open(locked.url), /NOAUTH|auth/i);
      const cache = await RedisCache.open(locked.url, { password: 's3cret-pass' });
      try {
        await cache.set('k', entry(1));
        assert.ok(await cache.has('k'));
      } finally {
        await cache.close();
      }
    } finally {
      await locked.close();
    }
  });

  it('openCache picks Redis for redis:// and rediss:// URLs, SQLite for paths', async () => {
    assert.equal(isRedisUrl('redis://h'), true);
    assert.equal(isRedisUrl(' REDISS://h:1 '), true);
    assert.equal(isRedisUrl('.fastllm/cache.sqlite'), false);
    assert.equal(isRedisUrl('C:\\redis\\cache.sqlite'), false);
    const cache = await openCache(server.url, { namespace: 'factory' });
    try {
      assert.ok(cache instanceof RedisCache);
    } finally {
      await cache.close();
    }
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(resolve(tmpdir(), 'fastllm-open-'));
    try {
      const file = await openCache(resolve(dir, 'c.sqlite'));
      assert.ok(file instanceof SqliteCache);
      await file.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
