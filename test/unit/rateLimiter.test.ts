import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiter, type Reservation } from '../../src/core/rateLimiter';

/** The largest number of grants (or tokens) inside any window of `windowMs`. */
function peakInWindow(grants: { at: number; n: number }[], windowMs: number): number {
  let peak = 0;
  for (let i = 0; i < grants.length; i++) {
    let sum = 0;
    for (let j = i; j < grants.length && grants[j]!.at - grants[i]!.at < windowMs; j++) sum += grants[j]!.n;
    peak = Math.max(peak, sum);
  }
  return peak;
}

describe('RateLimiter', () => {
  test('without limits it grants at once', async () => {
    const l = new RateLimiter();
    const t = Date.now();
    for (let i = 0; i < 1000; i++) await l.acquire(100);
    assert.ok(Date.now() - t < 200);
  });

  test('requests per window: never more than the limit in any window, and the limit is used', async () => {
    const l = new RateLimiter({ rpm: 10, windowMs: 200, marginMs: 5 });
    const grants: { at: number; n: number }[] = [];
    await Promise.all(
      Array.from({ length: 35 }, async () => {
        const r = await l.acquire(0);
        l.settle(r); // an instant call
        grants.push({ at: r.at, n: 1 });
      }),
    );
    grants.sort((a, b) => a.at - b.at);
    assert.equal(peakInWindow(grants, 200), 10);
    // 35 grants need three full windows after the first burst: at least 600 ms, and not much more.
    const span = grants[grants.length - 1]!.at - grants[0]!.at;
    assert.ok(span >= 600 && span < 900, `span ${span} ms`);
  });

  test('tokens per window, first in first out, and reconciled with real usage', async () => {
    const l = new RateLimiter({ tpm: 100, windowMs: 150, marginMs: 5 });
    const a = await l.acquire(60);
    const order: string[] = [];
    const done = (r: Reservation) => l.settle(r);
    const big = l.acquire(50).then((r) => (done(r), order.push('big')));
    const small = l.acquire(10).then((r) => (done(r), order.push('small')));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, [], 'the big request waits, and the small one does not jump the queue');
    l.reconcile(a, 30); // the server said the first request used only 30 tokens
    l.settle(a);
    await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
  });

  test('a request larger than the whole budget goes through alone rather than waiting for ever', async () => {
    const l = new RateLimiter({ tpm: 100, windowMs: 100, marginMs: 5 });
    const r = await l.acquire(500);
    assert.equal(r.tokens, 500);
  });

  test('pauseUntil holds back everyone; observeHeaders pauses when the server says a budget is spent', async () => {
    const l = new RateLimiter({ rpm: 1000 });
    l.pauseUntil(Date.now() + 150);
    const t = Date.now();
    await Promise.all([l.acquire(1), l.acquire(1)]);
    assert.ok(Date.now() - t >= 145);

    l.observeHeaders({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '120ms' });
    const t2 = Date.now();
    await l.acquire(1);
    assert.ok(Date.now() - t2 >= 115);
  });

  test('a grant counts while its call is in flight, and for one window after it settles', async () => {
    const l = new RateLimiter({ rpm: 1, windowMs: 100, marginMs: 0 });
    const first = await l.acquire(0);
    let second: Reservation | undefined;
    const waiting = l.acquire(0).then((r) => (second = r));
    await new Promise((r) => setTimeout(r, 250)); // far past one window: the call is still in flight
    assert.equal(second, undefined, 'an unsettled grant still counts (the server may not have seen it yet)');
    const settledAt = Date.now();
    l.settle(first);
    await waiting;
    assert.ok(second!.at - settledAt >= 95, `granted ${second!.at - settledAt} ms after the first settled`);
    l.settle(second!);
  });

  test('an aborted waiter is rejected and leaves the queue', async () => {
    const l = new RateLimiter({ rpm: 1, windowMs: 10_000 });
    await l.acquire(0);
    const ac = new AbortController();
    const p = l.acquire(0, ac.signal);
    ac.abort();
    await assert.rejects(p, /Cancelled/);
    l.dispose();
  });
});
