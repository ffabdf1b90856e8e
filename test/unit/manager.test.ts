import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InMemoryCache } from '../../src/core/cache/memory';
import type { CacheProvider } from '../../src/core/cache/cacheProvider';
import { RequestManager, RunStoppedError, type RequestManagerOptions } from '../../src/core/manager';
import { computeRequestHash } from '../../src/core/hash';
import type { InputItem, LLMRequest, ResultRecord } from '../../src/core/types';
import { ScriptedProvider } from '../support/scriptedProvider';

function req(prompt: string, line: number): LLMRequest {
  return { kind: 'chat', custom_id: `line-${line}`, line, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] } };
}

function prompts(n: number, prefix = 'p'): LLMRequest[] {
  return Array.from({ length: n }, (_, i) => req(`${prefix}${i}`, i + 1));
}

async function collect(m: RequestManager, items: Iterable<InputItem> | AsyncIterable<InputItem>, signal?: AbortSignal) {
  const out: ResultRecord[] = [];
  for await (const r of m.run(items, { signal })) out.push(r);
  return out;
}

function manager(provider: ScriptedProvider, extra: Partial<RequestManagerOptions> = {}) {
  return new RequestManager({ provider, concurrency: 8, retryBaseMs: 5, retryMaxMs: 20, ...extra });
}

const content = (r: ResultRecord) =>
  (r.response?.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content;

describe('RequestManager', () => {
  test('keeps input order under random latencies and gives one record per input', async () => {
    const p = new ScriptedProvider(() => ({ latencyMs: Math.floor(Math.random() * 15) }));
    const records = await collect(manager(p, { concurrency: 16 }), prompts(300));
    assert.equal(records.length, 300);
    records.forEach((r, i) => {
      assert.equal(r.custom_id, `line-${i + 1}`);
      assert.equal(r.line, i + 1);
      assert.equal(content(r), `echo: p${i}`);
      assert.equal(r.error, null);
    });
  });

  test('never exceeds the concurrency, and reaches it', async () => {
    const p = new ScriptedProvider(() => ({ latencyMs: 5 }));
    await collect(manager(p, { concurrency: 7 }), prompts(100));
    assert.equal(p.maxInFlight, 7);
  });

  test('is a rolling window: a slow request does not hold back the others (no chunk barrier)', async () => {
    let slowDone = false;
    let startedWhileSlow = 0;
    const p = new ScriptedProvider(({ index }) => {
      if (index === 0) {
        setTimeout(() => (slowDone = true), 300);
        return { latencyMs: 300 };
      }
      if (!slowDone) startedWhileSlow++;
      return { latencyMs: 2 };
    });
    const records = await collect(manager(p, { concurrency: 4 }), prompts(40));
    assert.equal(records.length, 40);
    // With chunks of 4, only 3 others could start while the slow one runs; a rolling window runs them all.
    assert.equal(startedWhileSlow, 39);
  });

  test('pulls input with back-pressure: a stalled consumer stops the reading', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<InputItem> {
      for (let i = 0; ; i++) {
        pulled++;
        yield req(`x${i}`, i + 1);
      }
    }
    const p = new ScriptedProvider(() => ({ latencyMs: 0 }));
    const m = manager(p, { concurrency: 4, orderWindow: 50 });
    const it = m.run(endless());
    await it.next();
    await new Promise((r) => setTimeout(r, 100)); // consumer stalls
    assert.ok(pulled <= 50 + 4 + 2, `pulled ${pulled} items while the consumer was stalled`);
    await it.return(undefined);
  });

  test('invalid input items become error records in their place', async () => {
    const p = new ScriptedProvider();
    const items: InputItem[] = [
      req('a', 1),
      { kind: 'invalid', custom_id: 'line-2', line: 2, error: { code: 'invalid_input', message: 'f.jsonl:2: bad JSON' } },
      req('c', 3),
    ];
    const records = await collect(manager(p), items);
    assert.deepEqual(records.map((r) => r.error?.code ?? 'ok'), ['ok', 'invalid_input', 'ok']);
    assert.equal(records[1]!.error!.message, 'f.jsonl:2: bad JSON');
    assert.equal(p.calls.length, 2);
  });

  test('a rerun is served from the cache with zero calls; cached tokens are not throughput', async () => {
    const cache = new InMemoryCache();
    const p = new ScriptedProvider();
    const first = manager(p, { cache });
    await collect(first, prompts(20));
    assert.equal(p.calls.length, 20);
    const s1 = first.stats.snapshot();
    assert.ok(s1.fresh.total > 0);
    assert.equal(s1.cached.total, 0);

    const second = manager(p, { cache });
    const records = await collect(second, prompts(20));
    assert.equal(p.calls.length, 20, 'no new calls on rerun');
    assert.ok(records.every((r) => r.cached && r.attempts === 0 && r.error === null));
    assert.equal(content(records[5]!), 'echo: p5');
    const s2 = second.stats.snapshot();
    assert.equal(s2.cacheHits, 20);
    assert.equal(s2.hitRatio, 1);
    assert.equal(s2.fresh.total, 0);
    assert.equal(s2.freshTokensPerSec, 0);
    assert.equal(s2.cached.total, s1.fresh.total);
  });

  test("cache policy 'refresh' calls again and rewrites; 'bypass' neither reads nor writes", async () => {
    const cache = new InMemoryCache();
    const p = new ScriptedProvider();
    await collect(manager(p, { cache }), prompts(3));
    await collect(manager(p, { cache, cachePolicy: 'refresh' }), prompts(3));
    assert.equal(p.calls.length, 6);
    const other = new InMemoryCache();
    await collect(manager(p, { cache: other, cachePolicy: 'bypass' }), prompts(3));
    assert.equal(p.calls.length, 9);
    assert.equal(await other.count(), 0);
  });

  test('cache lookups happen before a row takes a slot: slots are held by calls only, lookups stay within one window', async () => {
    // A slow cache (10 ms a lookup) in front of calls of 20 ms, concurrency 4. Were a row to look
    // itself up inside its slot, calls + lookups could never exceed 4 together.
    const concurrency = 4;
    const p = new ScriptedProvider(() => ({ latencyMs: 20 }));
    const inner = new InMemoryCache();
    await inner.set('unrelated', { request: {}, endpoint: { kind: 'chat', baseURL: 'x' }, response: {}, request_id: null, model: 'm', created: 0, expires: null, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } });
    let lookups = 0;
    let maxLookups = 0;
    let maxBoth = 0;
    const slow: CacheProvider = new Proxy(inner, {
      get(target, prop) {
        if (prop !== 'get') return Reflect.get(target, prop);
        return async (key: string) => {
          lookups++;
          maxLookups = Math.max(maxLookups, lookups);
          maxBoth = Math.max(maxBoth, lookups + p.inFlight);
          await new Promise((r) => setTimeout(r, 10));
          lookups--;
          return target.get(key);
        };
      },
    });
    const records = await collect(manager(p, { cache: slow, concurrency }), prompts(40));
    assert.equal(records.length, 40);
    assert.ok(records.every((r, i) => r.error === null && content(r) === `echo: p${i}`));
    assert.equal(p.calls.length, 40);
    assert.equal(p.maxInFlight, concurrency, 'calls never exceed the concurrency, and reach it');
    assert.ok(maxBoth > concurrency, `lookups overlapped calls (peak calls + lookups ${maxBoth})`);
    assert.ok(maxLookups <= concurrency, `rows looking up at once stay within the window (${maxLookups})`);
    assert.equal(await inner.count(), 41, 'every answer is stored');
  });

  test('identical requests in flight at once make one call', async () => {
    const p = new ScriptedProvider(() => ({ latencyMs: 30 }));
    const m = manager(p, { concurrency: 10 });
    const same = Array.from({ length: 10 }, (_, i) => req('same prompt', i + 1));
    const records = await collect(m, same);
    assert.equal(p.calls.length, 1);
    assert.equal(records.length, 10);
    assert.ok(records.every((r) => r.error === null && content(r) === 'echo: same prompt'));
    assert.equal(records.filter((r) => r.cached).length, 9);
    assert.equal(m.stats.snapshot().dedupHits, 9);
  });

  test('retries a 500 then succeeds; counts the attempts', async () => {
    const p = new ScriptedProvider(({ index }) => (index < 2 ? { fail: { status: 500, code: 'server_error' } } : {}));
    const m = manager(p);
    const [r] = await collect(m, [req('a', 1)]);
    assert.equal(r!.error, null);
    assert.equal(r!.attempts, 3);
    assert.equal(m.stats.snapshot().retries, 2);
  });

  test('retries connection resets and timeouts, up to maxRetries, then reports the failure', async () => {
    const p = new ScriptedProvider(() => ({ fail: { code: 'connection_error', message: 'socket hang up' } }));
    const [r] = await collect(manager(p, { maxRetries: 3 }), [req('a', 1)]);
    assert.equal(p.calls.length, 4);
    assert.equal(r!.error!.code, 'connection_error');
    assert.match(r!.error!.message, /gave up after 4 attempts/);
  });

  for (const status of [400, 404, 422]) {
    test(`never retries a ${status}`, async () => {
      const p = new ScriptedProvider(() => ({ fail: { status, code: 'invalid_request_error', message: 'context too long' } }));
      const [r] = await collect(manager(p), [req('a', 1)]);
      assert.equal(p.calls.length, 1);
      assert.equal(r!.attempts, 1);
      assert.equal(r!.error!.code, 'invalid_request_error');
      assert.equal(r!.response!.status_code, status);
    });
  }

  test('a 401 stops the whole run after the calls already in flight, with a message about the key', async () => {
    const p = new ScriptedProvider(() => ({ latencyMs: 5, fail: { status: 401, code: 'invalid_api_key', message: 'Incorrect API key provided' } }));
    const m = manager(p, { concurrency: 4 });
    const records: ResultRecord[] = [];
    await assert.rejects(
      async () => {
        for await (const r of m.run(prompts(1000))) records.push(r);
      },
      (e: unknown) => e instanceof RunStoppedError && /rejected the API key/.test(e.message) && e.code === 'auth_failed',
    );
    assert.ok(p.calls.length <= 4, `${p.calls.length} calls were made`);
    assert.ok(records.length >= 1 && records.length < 1000);
    records.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.ok(records.every((r) => r.error && ['auth_failed', 'run_stopped'].includes(r.error.code)));
  });

  test('honours retry-after on a 429 and pauses all dispatch until then, at concurrency 4', async () => {
    let t429 = 0;
    // Row 0 is refused after 30 ms; rows 1-3, already in flight, end at 40 ms and free their slots.
    const p = new ScriptedProvider(({ index }) => {
      if (index === 0) return { latencyMs: 30, fail: { status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after-ms': '250' } } };
      return { latencyMs: 40 };
    });
    const origSend = p.send.bind(p);
    p.send = async (request, options) => {
      try {
        return await origSend(request, options);
      } catch (e) {
        t429 ||= Date.now();
        throw e;
      }
    };
    const records = await collect(manager(p, { concurrency: 4 }), prompts(12));
    assert.ok(records.every((r) => r.error === null));
    assert.equal(records[0]!.attempts, 2);
    const before = p.calls.filter((c) => c.at < t429);
    const after = p.calls.filter((c) => c.at >= t429);
    assert.equal(before.length, 4, 'the four calls already in flight');
    assert.equal(after.length, 9, 'the retry and the eight other rows');
    // No call started between the 429 and the end of its retry-after, although slots were free.
    for (const c of after) assert.ok(c.at - t429 >= 245, `call ${c.prompt} came ${c.at - t429} ms after the 429`);
  });

  test('honours retry-after in seconds', async () => {
    const p = new ScriptedProvider(({ index }) =>
      index === 0 ? { fail: { status: 429, code: 'rate_limited', headers: { 'retry-after': '1' } } } : {},
    );
    const [r] = await collect(manager(p), [req('a', 1)]);
    assert.equal(r!.error, null);
    assert.ok(p.calls[1]!.at - p.calls[0]!.at >= 990);
  });

  test('cancellation stops dispatch, aborts calls in flight and keeps everything finished', async () => {
    const cache = new InMemoryCache();
    const p = new ScriptedProvider(({ index }) => ({ latencyMs: index < 10 ? 1 : 10_000 }));
    const ac = new AbortController();
    const m = manager(p, { cache, concurrency: 4 });
    const records: ResultRecord[] = [];
    const started = Date.now();
    for await (const r of m.run(prompts(100), { signal: ac.signal })) {
      records.push(r);
      if (records.length === 10) setTimeout(() => ac.abort(), 20);
    }
    assert.ok(Date.now() - started < 5000, 'in-flight calls were aborted');
    assert.ok(records.length >= 10);
    records.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.ok(records.slice(0, 10).every((r) => r.error === null));
    assert.ok(records.slice(10).every((r) => r.error?.code === 'cancelled'));
    assert.ok(p.calls.length < 100);
    assert.equal(await cache.count(), 10, 'finished answers are cached; failures are not');
  });

  test('failures are never cached', async () => {
    const cache = new InMemoryCache();
    const p = new ScriptedProvider(() => ({ fail: { status: 400, code: 'bad' } }));
    await collect(manager(p, { cache }), prompts(3));
    assert.equal(await cache.count(), 0);
  });

  test('a broken cache never fails a request', async () => {
    const broken: CacheProvider = new Proxy(new InMemoryCache(), {
      get(target, prop) {
        if (prop === 'get' || prop === 'set') return () => Promise.reject(new Error('disk I/O error'));
        return Reflect.get(target, prop);
      },
    });
    const warnings: string[] = [];
    const p = new ScriptedProvider();
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => warnings.push(m) };
    const records = await collect(manager(p, { cache: broken, logger }), prompts(3));
    assert.ok(records.every((r) => r.error === null));
    assert.ok(warnings.some((w) => w.includes('disk I/O error')));
  });

  test('stores answers under the documented request hash', async () => {
    const cache = new InMemoryCache();
    const p = new ScriptedProvider();
    await collect(manager(p, { cache }), [req('hash me', 1)]);
    const entry = await cache.get(computeRequestHash(req('hash me', 99), p.scope));
    assert.ok(entry);
    assert.equal(entry.endpoint.baseURL, p.scope.baseURL);
    assert.deepEqual(entry.request, req('hash me', 1).body);
  });

  test('rpm paces calls evenly over the window, not in a burst', async () => {
    const p = new ScriptedProvider();
    // 5 per 200 ms at 98 %: one call every 40.8 ms, 20 ms of burst allowance.
    const m = manager(p, { rpm: 5, rateWindowMs: 200, concurrency: 10 });
    await collect(m, prompts(12));
    const times = p.calls.map((c) => c.at);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[0]! >= i * 40.8 - 20 - 2, `call ${i} at ${times[i]! - times[0]!} ms`);
    assert.ok(times[11]! - times[0]! < 11 * 40.8 + 100, `12 calls took ${times[11]! - times[0]!} ms`);
  });

  test('live stats: done, failures, retries, tokens and ETA', async () => {
    const p = new ScriptedProvider(({ index, prompt }) =>
      prompt === 'p3' ? { fail: { status: 400, code: 'bad' } } : index === 0 ? { fail: { status: 503, code: 'busy' } } : {},
    );
    const m = manager(p);
    const seen: number[] = [];
    for await (const _ of m.run(prompts(10), { total: 10 })) seen.push(m.stats.snapshot().done);
    const s = m.stats.snapshot();
    assert.equal(s.done, 10);
    assert.equal(s.failed, 1);
    assert.equal(s.succeeded, 9);
    assert.equal(s.retries, 1);
    assert.equal(s.apiCalls, 11);
    assert.ok(s.fresh.prompt > 0 && s.fresh.completion > 0);
    assert.equal(s.fresh.total, s.fresh.prompt + s.fresh.completion);
    assert.equal(s.rpm.used, 11);
    assert.ok(s.finished);
    assert.ok(seen.every((d, i) => d >= i + 1));
  });
});
