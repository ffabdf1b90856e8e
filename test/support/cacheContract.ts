/**
 * The CacheProvider contract as a reusable suite: every cache (memory, SQLite, Redis) must pass
 * it. A copy of the contract in test/unit/cache.test.ts, so that new caches can run it without
 * touching that file; cache.test.ts can switch to `cacheContract()` and drop its copy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CacheProvider } from '../../src/core/cache/cacheProvider';
import type { CacheEntry } from '../../src/core/types';

export const BASE = 1_700_000_000_000;
export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export function entry(i: number, over: Partial<CacheEntry> = {}): CacheEntry {
  return {
    request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Question ${i}` }], temperature: 0 },
    endpoint: { kind: 'chat', baseURL: 'https://api.openai.com/v1' },
    response: { id: `chatcmpl-${i}`, choices: [{ index: 0, message: { role: 'assistant', content: `Answer ${i}` } }] },
    request_id: `req_${i}`,
    model: 'gpt-4o-mini',
    created: BASE + i,
    expires: null,
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
    ...over,
  };
}

export const key = (i: number) => `v1:${i.toString(16).padStart(64, '0')}`;

export async function fill(cache: CacheProvider, n: number): Promise<void> {
  // Written out of order on purpose: "newest first" must follow `created`, not write order.
  const order = Array.from({ length: n }, (_, i) => (i * 7) % n);
  for (const i of order) await cache.set(key(i), entry(i));
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Registers the contract suite for the cache that `open()` returns (opened before, closed after). */
export function cacheContract(name: string, open: () => Promise<CacheProvider>, options: { skip?: string } = {}): void {
  describe(`CacheProvider contract: ${name}`, { skip: options.skip }, () => {
    let cache: CacheProvider;
    before(async () => {
      cache = await open();
    });
    after(async () => {
      await cache?.close();
    });

    it('gets, sets, has and deletes', async () => {
      await cache.clear();
      assert.equal(await cache.get(key(1)), undefined);
      assert.equal(await cache.has(key(1)), false);
      await cache.set(key(1), entry(1));
      assert.deepEqual(await cache.get(key(1)), entry(1));
      assert.equal(await cache.has(key(1)), true);
      assert.equal(await cache.count(), 1);
      await cache.set(key(1), entry(1, { response: 'replaced' }));
      assert.equal((await cache.get(key(1)))?.response, 'replaced');
      assert.equal(await cache.count(), 1);
      assert.equal(await cache.delete(key(1)), true);
      assert.equal(await cache.delete(key(1)), false);
      assert.equal(await cache.get(key(1)), undefined);
      assert.equal(await cache.count(), 0);
    });

    it('keeps strings exactly, including ones keyv would escape', async () => {
      await cache.clear();
      const odd = entry(2, { response: ':-) starts with a colon', request: { model: 'm', note: ':base64:AAAA', 'key:with:colons': 'é ✓ "q"' } });
      await cache.set(key(2), odd);
      assert.deepEqual(await cache.get(key(2)), odd);
    });

    it('counts and clears', async () => {
      await cache.clear();
      await fill(cache, 12);
      assert.equal(await cache.count(), 12);
      assert.equal(await cache.clear(), 12);
      assert.equal(await cache.count(), 0);
      assert.equal(await cache.clear(), 0);
    });

    it('hides entries once their TTL has passed', async () => {
      await cache.clear();
      const before = Date.now();
      await cache.set('short', entry(1), 60);
      await cache.set('forever', entry(2), 0);
      await cache.set('long', entry(3), 60_000);
      const after = Date.now();
      // Visibility before expiry is checked on 'long', so a slow machine cannot make this flaky.
      const long = await cache.get('long');
      assert.ok(long && long.expires !== null && long.expires >= before + 60_000 && long.expires <= after + 60_000);
      assert.equal((await cache.get('forever'))?.expires, null);
      await sleep(120);
      assert.equal(await cache.has('short'), false);
      assert.equal(await cache.get('short'), undefined);
      assert.equal(await cache.count(), 2);
      assert.deepEqual((await cache.list()).entries.map((e) => e.key).sort(), ['forever', 'long']);
      assert.deepEqual((await collect(cache.iterate())).map((e) => e.key).sort(), ['forever', 'long']);
      assert.equal(await cache.delete('short'), false, 'an expired entry is not reported as deleted');
      assert.equal(await cache.has('forever'), true);
      assert.equal(await cache.has('long'), true);
    });

    it('honours an expiry already in the entry when no TTL is given', async () => {
      await cache.clear();
      await cache.set('past', entry(1, { expires: Date.now() - 1000 }));
      await cache.set('future', entry(2, { expires: Date.now() + 60_000 }));
      assert.equal(await cache.get('past'), undefined);
      assert.ok(await cache.get('future'));
      assert.equal(await cache.count(), 1);
    });

    it('lists newest first, page by page', async () => {
      await cache.clear();
      await fill(cache, 25);
      const first = await cache.list({ limit: 10 });
      assert.equal(first.total, 25);
      assert.deepEqual(first.entries.map((e) => e.key), [24, 23, 22, 21, 20, 19, 18, 17, 16, 15].map(key));
      assert.deepEqual(first.entries[0]!.entry, entry(24));
      const last = await cache.list({ offset: 20, limit: 10 });
      assert.deepEqual(last.entries.map((e) => e.key), [4, 3, 2, 1, 0].map(key));
      assert.equal(last.total, 25);
      const beyond = await cache.list({ offset: 40 });
      assert.deepEqual(beyond, { entries: [], total: 25 });
      assert.equal((await cache.list()).entries.length, 25, 'default page size is 50');
      // A rewritten entry with a newer `created` moves to the front.
      await cache.set(key(3), entry(3, { created: BASE + 1000 }));
      assert.equal((await cache.list({ limit: 1 })).entries[0]!.key, key(3));
    });

    it('orders by created whatever the write order, ties by key descending', async () => {
      await cache.clear();
      // In created order first (the common case), then an older entry written last.
      for (const i of [1, 2, 3]) await cache.set(key(i), entry(i));
      assert.deepEqual((await cache.list()).entries.map((e) => e.key), [3, 2, 1].map(key));
      await cache.set(key(0), entry(0));
      assert.deepEqual((await cache.list()).entries.map((e) => e.key), [3, 2, 1, 0].map(key));
      await cache.clear();
      for (const name of ['m', 'z', 'a']) await cache.set(name, entry(5));
      assert.deepEqual((await cache.list()).entries.map((e) => e.key), ['z', 'm', 'a']);
      assert.deepEqual((await collect(cache.iterate({ pageSize: 1 }))).map((e) => e.key), ['z', 'm', 'a']);
    });

    it('filters case-insensitively on key, model, request and response', async () => {
      await cache.clear();
      await fill(cache, 15);
      await cache.set('special', entry(100, {
          model: 'Claude-Sonnet',
          request: { model: 'Claude-Sonnet', messages: [{ role: 'user', content: 'Something else' }] },
          response: { text: '100% sure_thing' },
        }));
      const keysFor = async (filter: string) => (await cache.list({ filter, limit: 100 })).entries.map((e) => e.key);
      assert.deepEqual(await keysFor('question 12'), [key(12)], 'request, any case');
      assert.deepEqual(await keysFor('ANSWER 7"'), [key(7)], 'response JSON');
      assert.deepEqual(await keysFor('claude-sonnet'), ['special'], 'model');
      assert.deepEqual(await keysFor(key(4).slice(-6)), [key(4)], 'key');
      assert.deepEqual(await keysFor('SPECIAL'), ['special'], 'key, any case');
      // LIKE wildcards are literal text here.
      assert.deepEqual(await keysFor('100%'), ['special']);
      assert.deepEqual(await keysFor('q_estion'), []);
      assert.deepEqual(await keysFor('sure_thing'), ['special']);
      // Fields outside key/model/request/response are not searched.
      assert.deepEqual(await keysFor('prompt_tokens'), []);
      assert.deepEqual(await keysFor('req_3'), []);
      const page = await cache.list({ filter: 'question 1', limit: 3 });
      assert.equal(page.total, 6); // 1, 10..14
      assert.deepEqual(page.entries.map((e) => e.key), [14, 13, 12].map(key));
      assert.equal(await cache.count('QUESTION 1'), 6);
      assert.equal(await cache.count('no such text'), 0);
    });

    it('finds text with quotes and backslashes, and treats % and _ literally', async () => {
      await cache.clear();
      await cache.set(key(1), entry(1, { response: { text: 'She said "hi" to C:\\temp' } }));
      await cache.set(key(2), entry(2, { response: { text: '100% sure_thing' } }));
      await cache.set(key(3), entry(3, { response: { text: '100 x sure-thing' } }));
      const keysFor = async (filter: string) => (await cache.list({ filter, limit: 10 })).entries.map((e) => e.key);
      assert.deepEqual(await keysFor('said "hi"'), [key(1)]);
      assert.deepEqual(await keysFor('c:\\temp'), [key(1)]);
      assert.deepEqual(await keysFor('100%'), [key(2)]);
      assert.deepEqual(await keysFor('sure_thing'), [key(2)]);
      assert.equal(await cache.count('said "hi"'), 1);
    });

    it('clears only matching entries when given a filter', async () => {
      await cache.clear();
      await fill(cache, 15);
      assert.equal(await cache.clear('question 1'), 6);
      assert.equal(await cache.count(), 9);
      assert.equal(await cache.get(key(12)), undefined);
      assert.ok(await cache.get(key(2)));
      assert.equal(await cache.clear('question 1'), 0);
    });

    it('iterates over everything, newest first, across pages', async () => {
      await cache.clear();
      await fill(cache, 23);
      const all = await collect(cache.iterate({ pageSize: 5 }));
      assert.deepEqual(all.map((e) => e.key), Array.from({ length: 23 }, (_, i) => key(22 - i)));
      assert.deepEqual(all[22]!.entry, entry(0));
      const some = await collect(cache.iterate({ filter: 'question 2', pageSize: 2 }));
      assert.deepEqual(some.map((e) => e.key), [22, 21, 20, 2].map(key));
    });
  });
}
