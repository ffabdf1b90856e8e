import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { costOfUsage } from '../../src/core/pricing';
import { TokenStats } from '../../src/core/stats';
import { coarseHistogram, costAgainstEstimate, mergeModelStats, niceCeil, ThroughputSeries } from '../../src/core/statsSeries';

const totals = (tokens: number, rows: number, retries = 0, throttled = 0) => ({ tokens, rows, retries, throttled });

describe('ThroughputSeries', () => {
  test('each point holds the rates and the retries and 429s of its interval', () => {
    const s = new ThroughputSeries();
    s.baseline(totals(0, 0), 0);
    s.add(totals(1000, 10, 2, 1), 1000);
    s.add(totals(1500, 12, 2, 1), 3000);
    assert.deepEqual(s.samples(), [
      { t: 1000, tokensPerSec: 1000, rowsPerSec: 10, retries: 2, throttled: 1 },
      { t: 3000, tokensPerSec: 250, rowsPerSec: 1, retries: 0, throttled: 0 },
    ]);
  });

  test('a 429 before the first tick is on the chart when a baseline was set at the start', () => {
    const withBaseline = new ThroughputSeries();
    withBaseline.baseline(totals(0, 0), 0);
    withBaseline.add(totals(0, 0, 1, 1), 1000);
    assert.equal(withBaseline.samples()[0]!.throttled, 1);
    // Without one, the first call only sets where differences start.
    const without = new ThroughputSeries();
    assert.equal(without.add(totals(0, 0, 1, 1), 1000), undefined);
    assert.deepEqual(without.samples(), []);
  });

  test('counters that go down (a new run) give 0, never negative rates', () => {
    const s = new ThroughputSeries();
    s.baseline(totals(500, 5, 3, 3), 0);
    s.add(totals(100, 1, 0, 0), 1000);
    assert.deepEqual(s.samples()[0], { t: 1000, tokensPerSec: 0, rowsPerSec: 0, retries: 0, throttled: 0 });
  });

  test('clear starts a new timeline: no points, and the next add only sets the baseline', () => {
    const s = new ThroughputSeries();
    s.baseline(totals(0, 0), 0);
    s.add(totals(10, 1), 1000);
    s.clear();
    assert.deepEqual(s.samples(), []);
    assert.equal(s.add(totals(20, 2), 2000), undefined);
  });

  test('keeps at most `max` points, the newest', () => {
    const s = new ThroughputSeries(5);
    s.baseline(totals(0, 0), 0);
    for (let i = 1; i <= 23; i++) s.add(totals(i, i), i * 1000);
    const points = s.samples();
    assert.equal(points.length, 5);
    assert.deepEqual(
      points.map((p) => p.t),
      [19_000, 20_000, 21_000, 22_000, 23_000],
    );
  });
});

describe('niceCeil', () => {
  test('rounds up to 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual(
      [0, -3, 0.3, 0.7, 1, 1.2, 2, 3, 43.7, 50, 51, 999, 1001, 12_345].map(niceCeil),
      [1, 1, 0.5, 1, 1, 2, 2, 5, 50, 50, 100, 1000, 2000, 20_000],
    );
  });
});

describe('coarseHistogram', () => {
  test('bars cover the occupied buckets only, at most `bins` of them, with every row counted', () => {
    const buckets = new Uint32Array(100);
    buckets[40] = 3;
    buckets[41] = 1;
    buckets[59] = 2;
    const bins = coarseHistogram(buckets, 1.05, 5);
    assert.equal(bins.length, 5);
    assert.equal(
      bins.reduce((a, b) => a + b.count, 0),
      6,
    );
    assert.equal(bins[0]!.count, 4);
    assert.equal(bins[4]!.count, 2);
    assert.equal(bins[4]!.upToMs, Math.round(1.05 ** 60));
    assert.deepEqual(coarseHistogram(new Uint32Array(10), 1.05), []);
  });
});

describe('TokenStats: distribution and models', () => {
  test('per-model rows, failures, reused answers, tokens and cost; invalid rows have no model', () => {
    const s = new TokenStats();
    s.reset(6);
    const usage = { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 };
    s.freshSuccess('gpt-4o-mini', usage, {}, 200);
    s.freshSuccess('gpt-4o', usage, {}, 300);
    s.freshSuccess('gpt-4o', usage, { schemaInvalid: true }, 300);
    s.reusedSuccess('gpt-4o-mini', usage, 'cache');
    s.failure('gpt-4o');
    s.failure();
    const snap = s.snapshot();
    assert.deepEqual(snap.models, [
      { model: 'gpt-4o-mini', rows: 2, failed: 0, reused: 1, promptTokens: 100, completionTokens: 40, cost: costOfUsage('gpt-4o-mini', usage) },
      { model: 'gpt-4o', rows: 3, failed: 2, reused: 0, promptTokens: 200, completionTokens: 80, cost: 2 * costOfUsage('gpt-4o', usage) },
    ]);
    // The models' fresh tokens and cost add up to the run's.
    assert.equal(snap.models!.reduce((a, m) => a + m.promptTokens, 0), snap.fresh.prompt);
    assert.ok(Math.abs(snap.models!.reduce((a, m) => a + m.cost, 0) - snap.cost.spent) < 1e-12);
    s.reset();
    assert.deepEqual(s.snapshot().models, []);
  });

  test('the latency histogram counts every fresh answer, and its bars agree with p50/p99', () => {
    const s = new TokenStats();
    s.reset();
    for (let i = 0; i < 90; i++) s.freshSuccess('m', undefined, {}, 100);
    for (let i = 0; i < 10; i++) s.freshSuccess('m', undefined, {}, 2000);
    const snap = s.snapshot();
    const bins = snap.latencyHistogram!;
    assert.ok(bins.length > 1 && bins.length <= 20);
    assert.equal(
      bins.reduce((a, b) => a + b.count, 0),
      100,
    );
    // 90 at 100 ms in the first bar, whose bound is the p50's or a few buckets above it (bars are coarser).
    assert.equal(bins[0]!.count, 90);
    assert.ok(bins[0]!.upToMs >= snap.latency!.p50 && bins[0]!.upToMs < 150, String(bins[0]!.upToMs));
    assert.equal(bins[bins.length - 1]!.upToMs, snap.latency!.p99);
  });
});

describe('costAgainstEstimate', () => {
  test('the share of the estimate spent, partial when some models had no price', () => {
    assert.deepEqual(costAgainstEstimate(0.5, { cost: 2, unpricedRows: 0 }), { spent: 0.5, estimate: 2, fraction: 0.25, partial: false });
    assert.deepEqual(costAgainstEstimate(0.5, { cost: 0, unpricedRows: 3 }), { spent: 0.5, estimate: 0, fraction: null, partial: true });
    assert.deepEqual(costAgainstEstimate(0.5, null), { spent: 0.5, estimate: null, fraction: null, partial: false });
  });
});

describe('mergeModelStats', () => {
  test('adds up the runs that went together, by model', () => {
    const a = { model: 'a', rows: 2, failed: 1, reused: 0, promptTokens: 10, completionTokens: 5, cost: 1 };
    const b = { model: 'b', rows: 3, failed: 0, reused: 1, promptTokens: 20, completionTokens: 6, cost: 2 };
    assert.deepEqual(mergeModelStats([[a], undefined, [b, { ...a }]]), [{ ...a, rows: 4, failed: 2, promptTokens: 20, completionTokens: 10, cost: 2 }, b]);
  });
});
