import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiter } from '../../src/core/rateLimiter';

/** The largest total of grants (or tokens) inside any span of `spanMs`. */
function peakIn(grants: { at: number; n: number }[], spanMs: number): number {
  let peak = 0;
  for (let i = 0; i < grants.length; i++) {
    let sum = 0;
    for (let j = i; j < grants.length && grants[j]!.at - grants[i]!.at < spanMs; j++) sum += grants[j]!.n;
    peak = Math.max(peak, sum);
  }
  return peak;
}

async function grantAll(l: RateLimiter, costs: number[]): Promise<{ at: number; n: number }[]> {
  const grants = await Promise.all(costs.map(async (c) => ({ at: (await l.acquire(c)).at, n: c })));
  return grants.sort((a, b) => a.at - b.at);
}

describe('RateLimiter', () => {
  test('without limits it grants at once', async () => {
    const l = new RateLimiter();
    const t = Date.now();
    for (let i = 0; i < 1000; i++) await l.acquire(100);
    assert.ok(Date.now() - t < 200);
  });

  test('requests are spaced evenly: no burst of a whole window, about limit/window in any shorter span', async () => {
    // 20 a second at full utilization and no burst: one grant every 50 ms. A sliding window of a
    // second would grant all 20 at once (Azure and OpenAI's quantized limits refuse that).
    const l = new RateLimiter({ rpm: 20, windowMs: 1000, utilization: 1, burstMs: 0, warmupMs: 0 });
    const grants = await grantAll(l, Array(21).fill(0));
    // 4 slots in any 200 ms, and one more when a late timer pushed a grant towards the next slot.
    assert.ok(peakIn(grants, 200) <= 5, `peak in 200 ms: ${peakIn(grants, 200)}`);
    // 21 grants take 20 intervals, whatever the timers' lateness (the pacer catches up within its slots).
    const span = grants[grants.length - 1]!.at - grants[0]!.at;
    // The bound that matters is the lower one; the upper one only catches a pacer far too slow.
    assert.ok(span >= 990 && span < 1600, `span ${span} ms`);
  });

  test('the default utilization paces at 98 % of the limit, with a burst of at most burstMs', async () => {
    const l = new RateLimiter({ rpm: 50, windowMs: 1000, warmupMs: 0 }); // interval 1000 / 49 ≈ 20.4 ms, burst 20 ms
    const grants = await grantAll(l, Array(50).fill(0));
    const span = grants[grants.length - 1]!.at - grants[0]!.at;
    // 49 intervals of 20.4 ms, less the one 20 ms burst at the start.
    assert.ok(span >= 970 && span < 1600, `span ${span} ms`);
    assert.ok(peakIn(grants, 100) <= 7, `peak in 100 ms: ${peakIn(grants, 100)}`);
  });

  test('tokens are paced too: tokens granted by time t stay under rate × t plus one request', async () => {
    // 1000 tokens a second; costs of 50..150.
    const l = new RateLimiter({ tpm: 1000, windowMs: 1000, utilization: 1, burstMs: 0, warmupMs: 0 });
    const costs = Array.from({ length: 12 }, (_, i) => 50 + ((i * 37) % 101));
    const grants = await grantAll(l, costs);
    const t0 = grants[0]!.at;
    let sum = 0;
    for (const g of grants) {
      assert.ok(sum <= (g.at - t0 + 5) * 1, `${sum} tokens granted before ${g.at - t0} ms`);
      sum += g.n;
    }
    const span = grants[grants.length - 1]!.at - t0;
    const paid = costs.reduce((a, b) => a + b, 0) - grants[grants.length - 1]!.n;
    assert.ok(span >= paid - 10 && span < paid + 500, `span ${span} ms for ${paid} tokens before the last grant`);
  });

  test('for the first warmupMs, grants go at half the rate (new connections arrive unevenly)', async () => {
    const l = new RateLimiter({ rpm: 20, windowMs: 1000, utilization: 1, burstMs: 0, warmupMs: 500 });
    const grants = await grantAll(l, Array(12).fill(0));
    const t0 = grants[0]!.at;
    const at = grants.map((g) => g.at - t0);
    // 100 ms apart until 500 ms (grants at 0..500), then 50 ms apart.
    assert.ok(at[5]! >= 495 && at[5]! < 800, `6th grant at ${at[5]} ms`);
    assert.ok(at[11]! - at[6]! >= 245 && at[11]! - at[6]! < 600, `later grants: ${at.join(',')}`);
  });

  test('first in, first out: a large request is not starved by small ones', async () => {
    const l = new RateLimiter({ tpm: 1000, windowMs: 1000, utilization: 1, burstMs: 0, warmupMs: 0 });
    await l.acquire(100); // the next grant may go 100 ms later
    const order: string[] = [];
    const big = l.acquire(500).then(() => order.push('big'));
    const small = l.acquire(10).then(() => order.push('small'));
    await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
  });

  test('charge() raises a charge to the real usage (the next grant waits for it), and never lowers it', async () => {
    const l = new RateLimiter({ tpm: 1000, windowMs: 1000, utilization: 1, burstMs: 0, warmupMs: 0 });
    // Raised: charged 100 (100 ms of budget), the server said 300, so the next grant waits 300 ms.
    let r = await l.acquire(100);
    l.charge(r, 300);
    assert.equal(r.tokens, 300);
    let next = await l.acquire(1);
    assert.ok(next.at - r.at >= 290, `granted ${next.at - r.at} ms after a request that used 300 tokens`);

    // Lowered: charged 100, the answer used 10. The server counted 100 at admission, so we keep 100.
    await new Promise((res) => setTimeout(res, 50)); // let the 1-token debt clear
    r = await l.acquire(100);
    l.charge(r, 10);
    assert.equal(r.tokens, 100);
    next = await l.acquire(1);
    assert.ok(next.at - r.at >= 95, `granted ${next.at - r.at} ms after a request charged 100 tokens`);
  });

  test('a request larger than the whole window goes when its turn comes; later ones wait for its debt', async () => {
    const l = new RateLimiter({ tpm: 100, windowMs: 100, utilization: 1, burstMs: 0, warmupMs: 0 });
    const t = Date.now();
    const big = await l.acquire(300);
    assert.ok(big.at - t < 20, 'not made to wait for ever');
    const after = await l.acquire(1);
    assert.ok(after.at - big.at >= 290, `the next waited ${after.at - big.at} ms`);
  });

  test('setLimits changes the pace of the grants after it', async () => {
    const l = new RateLimiter({ rpm: 100, windowMs: 1000, utilization: 1, burstMs: 0, warmupMs: 0 }); // 10 ms apart
    await grantAll(l, Array(3).fill(0));
    l.setLimits({ rpm: 10, tpm: null }); // 100 ms apart
    const grants = await grantAll(l, Array(3).fill(0));
    const gaps = grants.slice(1).map((g, i) => g.at - grants[i]!.at);
    assert.ok(gaps.every((g) => g >= 95), `gaps ${gaps.join(',')}`);
    assert.deepEqual(l.current, { rpm: 10, tpm: null });
  });

  test('pauseUntil holds back everyone, and never shortens a pause', async () => {
    const l = new RateLimiter({ rpm: 1000 });
    l.pauseUntil(Date.now() + 150);
    l.pauseUntil(Date.now() + 10);
    const t = Date.now();
    await Promise.all([l.acquire(1), l.acquire(1)]);
    assert.ok(Date.now() - t >= 145);
  });

  test('a pause holds back an unlimited limiter too (a 429 with retry-after on a server without known limits)', async () => {
    const l = new RateLimiter();
    l.pauseUntil(Date.now() + 100);
    const t = Date.now();
    await l.acquire(0);
    assert.ok(Date.now() - t >= 95);
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
