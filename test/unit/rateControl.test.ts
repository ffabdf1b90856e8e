import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateController } from '../../src/core/rateControl';
import { RateLimiter } from '../../src/core/rateLimiter';

function setup(user: { rpm?: number; tpm?: number } = {}) {
  const limiter = new RateLimiter();
  const lines: string[] = [];
  const logger = { info: (m: string) => lines.push(`info: ${m}`), warn: (m: string) => lines.push(`warn: ${m}`) };
  const rates = new RateController({ limiter, user: { rpm: user.rpm ?? null, tpm: user.tpm ?? null }, logger });
  return { limiter, rates, lines };
}

/** Headers as OpenAI sends them on every reply (rate-limit guide, "Rate limits in headers"). */
const openai = (limitRequests: number, remainingRequests: number, limitTokens = 150_000_000, resetTokens = '6m0s') => ({
  'x-ratelimit-limit-requests': String(limitRequests),
  'x-ratelimit-remaining-requests': String(remainingRequests),
  'x-ratelimit-reset-requests': '12ms',
  'x-ratelimit-limit-tokens': String(limitTokens),
  'x-ratelimit-remaining-tokens': String(limitTokens - 1000),
  'x-ratelimit-reset-tokens': resetTokens,
});

describe('RateController', () => {
  test('learns the limits from x-ratelimit-limit-* when the user set none', () => {
    const { limiter, rates } = setup();
    assert.deepEqual(rates.inForce, { rpm: null, tpm: null, source: null });
    assert.equal(rates.observe(openai(5000, 4999)), true);
    assert.deepEqual(limiter.current, { rpm: 5000, tpm: 150_000_000 });
    assert.equal(rates.inForce.source, 'server');
  });

  test("paces at the server's limit when the user's is higher, and says so once", () => {
    const { limiter, rates, lines } = setup({ rpm: 10_000 });
    rates.observe(openai(5000, 4999));
    rates.observe(openai(5000, 4998));
    assert.equal(limiter.current.rpm, 5000);
    assert.equal(lines.filter((l) => l.startsWith('warn:') && l.includes('5000 requests per minute, fewer than the 10000')).length, 1);
  });

  test("keeps the user's limit when it is the lower one", () => {
    const { limiter, rates } = setup({ rpm: 100 });
    rates.observe(openai(5000, 4999));
    assert.equal(limiter.current.rpm, 100);
    assert.equal(rates.inForce.source, 'user');
  });

  test('a long reset on a budget that is not spent does not pause; a spent one pauses until its reset', () => {
    const { limiter, rates } = setup();
    rates.observe(openai(5000, 4999, 1_000_000, '6m0s'));
    assert.equal(limiter.pausedUntilMs, 0);
    const now = Date.now();
    rates.observe({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1.5s' }, now);
    assert.equal(limiter.pausedUntilMs, now + 1500);
  });

  test('Azure: remaining-* headers only count as information, and learn no limit', () => {
    const { limiter, rates } = setup();
    assert.equal(rates.observe({ 'x-ratelimit-remaining-requests': '19', 'x-ratelimit-remaining-tokens': '19913' }), true);
    assert.deepEqual(limiter.current, { rpm: null, tpm: null });
    assert.equal(rates.observe({ 'content-type': 'application/json' }), false);
  });

  test('AIMD: a 429 that says nothing cuts the rate to 70 % of what got through, once per episode; successes add it back', () => {
    const { limiter, rates } = setup();
    const t0 = 1_000_000;
    // 40 successes over the last 2 s: 20 a second, 1200 a minute.
    for (let i = 0; i < 40; i++) rates.succeeded(t0 + i * 50);
    const now = t0 + 2000;
    rates.congested(t0 + 1990, now);
    assert.equal(limiter.current.rpm, 840);
    assert.equal(rates.inForce.source, 'adaptive');
    // More 429s of requests granted before the decrease: the same episode, no second cut.
    rates.congested(t0 + 1999, now + 10);
    assert.equal(limiter.current.rpm, 840);
    // Granted within a second after it: still the same episode (the server's per-second window
    // holds the requests sent before the decrease).
    rates.congested(now + 20, now + 30);
    assert.equal(limiter.current.rpm, 840);
    // A 429 of a request granted later: a new episode, 70 % of the rate in force.
    const later = now + 1000;
    rates.congested(later + 20, later + 30);
    assert.equal(limiter.current.rpm, 588);
    // Each second without a 429 adds 5 % of the rate before that decrease (840): 42 a second.
    rates.succeeded(later + 530);
    assert.equal(limiter.current.rpm, 588);
    rates.succeeded(later + 3030);
    assert.equal(Math.round(limiter.current.rpm!), 714);
  });

  test("AIMD: a burst's successes read after its first 429 raise the cut to what got through", () => {
    const { limiter, rates } = setup();
    const t0 = 3_000_000;
    // The first round: 4 answers. Then a burst meets a per-second window of 20: its first 429 is
    // read before its 16 successes (replies of one round come back in any order).
    for (let i = 0; i < 4; i++) rates.succeeded(t0 + i);
    rates.congested(t0 + 50, t0 + 80);
    assert.equal(limiter.current.rpm, 168); // 4 a second × 60 × 0.7: too low
    for (let i = 0; i < 16; i++) rates.succeeded(t0 + 81);
    rates.congested(t0 + 50, t0 + 82);
    assert.equal(limiter.current.rpm, 840); // 20 a second × 60 × 0.7
    // Each second adds 5 % of 1200, not of 240.
    rates.succeeded(t0 + 1082);
    assert.equal(limiter.current.rpm, 900);
  });

  test('AIMD at the start of a run measures over at least a second: a first burst is not taken for the rate', () => {
    const { limiter, rates } = setup();
    const t0 = 2_000_000;
    // 20 let through in the first 40 ms (a per-second window was empty), then 429s.
    for (let i = 0; i < 20; i++) rates.succeeded(t0 + i * 2);
    rates.congested(t0 + 10, t0 + 40);
    assert.equal(limiter.current.rpm, 840); // 20 a second × 60 × 0.7
  });

  test('AIMD: a 429 before any success, with no limit known, sets no rate (there is nothing to cut from)', () => {
    // Was: 70 % of "1 a minute", so the next request of the run waited 86 s.
    const { limiter, rates } = setup();
    const now = 6_000_000;
    rates.congested(now - 10, now);
    assert.equal(limiter.current.rpm, null);
    assert.equal(rates.inForce.source, null);
    // Once something got through, the next 429 cuts from that.
    for (let i = 0; i < 10; i++) rates.succeeded(now + 100 + i * 100);
    rates.congested(now + 1500, now + 1600);
    assert.equal(limiter.current.rpm, 280); // 10 over the 1.5 s since the first success: 400 a minute × 0.7
  });

  test('AIMD stays under the ceiling, and lets go once it is back at it', () => {
    const { limiter, rates } = setup({ rpm: 1000 });
    const now = 5_000_000;
    rates.congested(now - 10, now); // nothing measured: starts from the ceiling
    assert.equal(limiter.current.rpm, 700);
    rates.succeeded(now + 20_000); // 20 steps of 50
    assert.equal(limiter.current.rpm, 1000);
    assert.equal(rates.inForce.source, 'user');
  });
});
