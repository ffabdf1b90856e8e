import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { costOf, priceFor } from '../../src/core/pricing';
import { RollingWindow, TokenStats } from '../../src/core/stats';
import { estimateRequestTokens, countTextTokens } from '../../src/core/tokens';

describe('TokenStats', () => {
  test('fresh and cached tokens are counted apart; cost spent and saved', () => {
    const s = new TokenStats({ rpmLimit: 10, tpmLimit: 1000 });
    s.reset(4);
    s.attemptStarted();
    s.attemptEnded();
    s.freshSuccess('gpt-4o-mini', { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 });
    s.reusedSuccess('gpt-4o-mini', { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 }, 'cache');
    s.failure();
    const snap = s.snapshot(Date.now() + 1000);
    assert.deepEqual(snap.fresh, { prompt: 100, completion: 50, total: 150 });
    assert.deepEqual(snap.cached, { prompt: 100, completion: 50, total: 150 });
    assert.equal(snap.done, 3);
    assert.equal(snap.hitRatio, 0.5);
    assert.equal(snap.rpm.used, 1);
    assert.equal(snap.rpm.saturation, 0.1);
    assert.equal(snap.tpm.used, 150);
    assert.equal(snap.tpm.saturation, 0.15);
    assert.ok(Math.abs(snap.cost.spent - (100 * 0.15 + 50 * 0.6) / 1e6) < 1e-12);
    assert.equal(snap.cost.spent, snap.cost.saved);
    assert.ok(snap.etaSeconds !== null && snap.etaSeconds > 0 && snap.etaSeconds < 1);
  });

  test('requests and tokens per minute are rates over the time elapsed, not counts, before a minute has passed', () => {
    const s = new TokenStats();
    s.reset(200);
    for (let i = 0; i < 146; i++) s.attemptStarted();
    s.freshSuccess('gpt-4o-mini', { prompt_tokens: 700, completion_tokens: 300, total_tokens: 1000 });
    const start = s.snapshot().startedAt;
    const early = s.snapshot(start + 3000);
    assert.equal(early.rpm.used, 146);
    assert.equal(early.rpm.perMinute, 2920);
    assert.equal(early.tpm.perMinute, 20_000);
    // The very first moments are taken as one second, not as a near-zero span.
    assert.equal(s.snapshot(start + 10).rpm.perMinute, 146 * 60);
    // Once the window is (all but) full, the rate is the count of the last minute.
    const later = s.snapshot(start + 60_000 - 1);
    assert.equal(later.rpm.used, 146);
    assert.ok(Math.abs(later.rpm.perMinute - 146) < 0.01, String(later.rpm.perMinute));
  });

  test('rolling window forgets old samples', () => {
    const w = new RollingWindow(1000);
    w.add(5, 0);
    w.add(7, 600);
    assert.equal(w.total(900), 12);
    assert.equal(w.total(1500), 7);
    assert.equal(w.total(1700), 0);
  });
});

describe('pricing and tokens', () => {
  test('prices by exact name or longest prefix; unknown models cost nothing', () => {
    assert.equal(priceFor('gpt-4o-mini-2024-07-18')?.input, 0.15);
    assert.equal(priceFor('gpt-4o-2024-08-06')?.input, 2.5);
    assert.equal(priceFor('llama3'), undefined);
    assert.equal(costOf('llama3', 1e6, 1e6), 0);
    assert.equal(costOf('my-model', 1e6, 0, { 'my-model': { input: 3, output: 0 } }), 3);
  });

  test('estimates with a real tokenizer plus max_tokens × n', () => {
    assert.equal(countTextTokens('hello world'), 2);
    const body = { model: 'm', messages: [{ role: 'user' as const, content: 'hello world' }], max_tokens: 10, n: 2 };
    assert.equal(estimateRequestTokens({ kind: 'chat', custom_id: 'a', line: 1, body }), 3 + 3 + 2 + 20);
    assert.equal(estimateRequestTokens({ kind: 'embeddings', custom_id: 'a', line: 1, body: { model: 'e', input: ['hello world', 'hello'] } }), 3);
  });
});

test('latency percentiles of fresh answers, to within 5 %, and none before the first', () => {
  const stats = new TokenStats();
  assert.equal(stats.snapshot().latency, null);
  for (let i = 1; i <= 100; i++) stats.freshSuccess('gpt-4o-mini', undefined, {}, i * 10);
  stats.reusedSuccess('gpt-4o-mini', undefined, 'cache'); // cached rows have no latency to speak of
  const { p50, p95, p99 } = stats.snapshot().latency!;
  for (const [got, want] of [[p50, 500], [p95, 950], [p99, 990]] as const) {
    assert.ok(got >= want && got <= want * 1.06, `${got} for ${want}`);
  }
  stats.reset();
  assert.equal(stats.snapshot().latency, null);
});
