import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConcurrencyTuner } from '../../src/core/concurrency';

/**
 * A GPU-like server in virtual time: up to `capacity` requests in flight share the batch at no
 * cost; past it, each request's latency grows in proportion to the load when it arrived (the
 * batch is full, the rest queue). Returns the tuner, the latencies and the throughput over the
 * second half of the run.
 */
function simulate(opts: { capacity: number; baseMs: number; requests: number; overloadAt?: number }) {
  const changes: number[] = [];
  let now = 0;
  const tuner = new ConcurrencyTuner({ onChange: (n) => changes.push(n), now: () => now });
  const inFlight: { start: number; end: number }[] = [];
  const done: { start: number; end: number }[] = [];
  let started = 0;
  while (done.length < opts.requests) {
    while (inFlight.length < tuner.current && started < opts.requests) {
      const load = inFlight.length + 1;
      inFlight.push({ start: now, end: now + opts.baseMs * Math.max(1, load / opts.capacity) });
      started++;
    }
    inFlight.sort((a, b) => a.end - b.end);
    const next = inFlight.shift()!;
    now = next.end;
    done.push(next);
    if (opts.overloadAt === done.length) tuner.overloaded(now);
    else tuner.completed(next.start, next.end - next.start, now);
  }
  const half = done.slice(done.length >> 1);
  const latencies = half.map((d) => d.end - d.start).sort((a, b) => a - b);
  const throughput = half.length / ((half[half.length - 1]!.end - half[0]!.end) / 1000);
  return { tuner, changes, medianLatency: latencies[latencies.length >> 1]!, throughput };
}

describe('ConcurrencyTuner (concurrency: auto)', () => {
  test('finds the knee of a GPU-like server: its throughput at about its unloaded latency', () => {
    for (const capacity of [6, 16, 40]) {
      const { tuner, changes, medianLatency, throughput } = simulate({ capacity, baseMs: 100, requests: 4000 });
      const best = (capacity / 100) * 1000; // completions a second at the knee
      assert.ok(throughput >= 0.9 * best, `K=${capacity}: ${throughput.toFixed(1)}/s of ${best}/s (changes ${changes.join(',')})`);
      assert.ok(medianLatency <= 150, `K=${capacity}: median latency ${medianLatency} ms (changes ${changes.join(',')})`);
      assert.ok(tuner.current >= capacity * 0.75 && tuner.current <= capacity * 1.5, `K=${capacity}: settled on ${tuner.current}`);
    }
  });

  test('slow start doubles while it pays', () => {
    const { changes } = simulate({ capacity: 64, baseMs: 100, requests: 400 });
    assert.deepEqual(changes.slice(0, 4), [8, 16, 32, 64]);
  });

  test('an overloaded server (429/503) cuts the limit by a quarter at once, then it climbs back', () => {
    const { changes, tuner } = simulate({ capacity: 32, baseMs: 100, requests: 3000, overloadAt: 400 });
    const before = changes.findIndex((n, i) => i > 0 && n < changes[i - 1]! * 0.8);
    assert.ok(before > 0, `a cut: ${changes.join(',')}`);
    assert.ok(tuner.current >= 24, `climbed back to ${tuner.current}`);
  });
});
