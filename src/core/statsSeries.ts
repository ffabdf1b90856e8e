/**
 * The pure parts of the Token Stats panel: the bounded throughput series it draws (with the
 * retries and 429s of each interval, for the marks on the timeline), per-model tallies, a
 * coarse latency histogram and the round axis maxima. No `vscode` here: the panel, the CLI and
 * the unit tests use it alike.
 */

/** One point of the throughput chart: rates over the interval since the previous point. */
export interface ThroughputSample {
  /** Epoch milliseconds. */
  t: number;
  /** Fresh tokens per second over the last sample interval. */
  tokensPerSec: number;
  /** Rows per second over the last sample interval. */
  rowsPerSec: number;
  /** Attempts retried in the interval (429s included). Absent in points saved by older versions. */
  retries?: number;
  /** Rate-limit 429s received in the interval. Absent in points saved by older versions. */
  throttled?: number;
}

/** Running totals the series takes its differences of. */
export interface SeriesTotals {
  tokens: number;
  rows: number;
  retries: number;
  throttled: number;
}

/**
 * A throughput series of at most `max` points (oldest dropped first), one per {@link add}: O(1)
 * amortised per point, whatever the rows per second, so a 100,000-row run costs what a 10-row run
 * does. Counters that go down (a new run's stats) count as 0, never as negative rates.
 */
export class ThroughputSeries {
  private points: ThroughputSample[] = [];
  private last: ({ t: number } & SeriesTotals) | undefined;

  /** @param max the most points kept. @default 300 (five minutes at one a second) */
  constructor(readonly max = 300) {}

  /**
   * Sets where the next point's differences start, without adding a point: call it when a run
   * begins, so that the 429s of its first second are on the chart too.
   */
  baseline(totals: SeriesTotals, now = Date.now()): void {
    this.last = { t: now, ...totals };
  }

  /** Adds the point for the interval since the last call (the first call only sets the baseline). */
  add(totals: SeriesTotals, now = Date.now()): ThroughputSample | undefined {
    const prev = this.last;
    this.last = { t: now, ...totals };
    if (!prev) return undefined;
    const dt = Math.max(1, now - prev.t) / 1000;
    const point: ThroughputSample = {
      t: now,
      tokensPerSec: Math.max(0, totals.tokens - prev.tokens) / dt,
      rowsPerSec: Math.max(0, totals.rows - prev.rows) / dt,
      retries: Math.max(0, totals.retries - prev.retries),
      throttled: Math.max(0, totals.throttled - prev.throttled),
    };
    this.points.push(point);
    // Trimmed in batches so that a full series does not copy itself on every point.
    if (this.points.length >= 2 * this.max) this.points = this.points.slice(-this.max);
    return point;
  }

  /** Forgets every point and the baseline (a new timeline). */
  clear(): void {
    this.points = [];
    this.last = undefined;
  }

  /** The newest `max` points, oldest first (a fresh array). */
  samples(): ThroughputSample[] {
    return this.points.slice(-this.max);
  }
}

/**
 * The smallest "round" number (1, 2 or 5 times a power of ten) at or above `value`: the top of a
 * chart axis, so that its label reads 50 rather than 43.7. 0 and below give 1.
 */
export function niceCeil(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    // A little slack for floating-point powers of ten (0.3 / 0.1 is 2.9999999999999996).
    if (step * power >= value * (1 - 1e-12)) return step * power;
  }
  return 10 * power;
}

/** One model's share of a run (or of the runs that went together, as *Run on Several Models*). */
export interface ModelStats {
  model: string;
  /** Rows finished on this model (succeeded + failed). */
  rows: number;
  failed: number;
  /** Rows answered without a call (FastLLM's cache or an identical request in flight). */
  reused: number;
  /** Tokens the server processed (fresh answers only). */
  promptTokens: number;
  completionTokens: number;
  /** Estimated dollars spent on fresh tokens. */
  cost: number;
}

/** An empty tally for `model`. */
export function emptyModelStats(model: string): ModelStats {
  return { model, rows: 0, failed: 0, reused: 0, promptTokens: 0, completionTokens: 0, cost: 0 };
}

/** The tallies of several runs added up by model, in order of first appearance. */
export function mergeModelStats(lists: readonly (readonly ModelStats[] | undefined)[]): ModelStats[] {
  const out = new Map<string, ModelStats>();
  for (const list of lists) {
    for (const m of list ?? []) {
      const into = out.get(m.model) ?? emptyModelStats(m.model);
      into.rows += m.rows;
      into.failed += m.failed;
      into.reused += m.reused;
      into.promptTokens += m.promptTokens;
      into.completionTokens += m.completionTokens;
      into.cost += m.cost;
      out.set(m.model, into);
    }
  }
  return [...out.values()];
}

/** One bar of a latency histogram: the rows whose latency is below `upToMs` (and at or above the previous bar's). */
export interface LatencyBin {
  upToMs: number;
  count: number;
}

/**
 * Regroups fine log-scale latency buckets (bucket b holds [base^b, base^(b+1)) ms) into at most
 * `bins` bars over the occupied range only, so that a run whose latencies lie between 180 ms and
 * 2 s gets its bars there. O(buckets), whatever the number of rows.
 */
export function coarseHistogram(buckets: ArrayLike<number>, base: number, bins = 20): LatencyBin[] {
  let first = -1;
  let last = -1;
  for (let b = 0; b < buckets.length; b++) {
    if (buckets[b]! > 0) {
      if (first < 0) first = b;
      last = b;
    }
  }
  if (first < 0) return [];
  const width = Math.max(1, Math.ceil((last - first + 1) / Math.max(1, bins)));
  const out: LatencyBin[] = [];
  for (let start = first; start <= last; start += width) {
    const end = Math.min(last, start + width - 1);
    let count = 0;
    for (let b = start; b <= end; b++) count += buckets[b]!;
    out.push({ upToMs: Math.round(base ** (end + 1)), count });
  }
  return out;
}

/** Cost so far against the estimate made before the run (none: no estimate was made). */
export interface CostAgainstEstimate {
  spent: number;
  /** The estimate, in dollars, or null when none was made. */
  estimate: number | null;
  /** spent / estimate, or null without an estimate (or with a $0 one). */
  fraction: number | null;
  /** Some rows were on models without a price: the estimate leaves them out. */
  partial: boolean;
}

/** Puts the cost so far beside the run's estimate. */
export function costAgainstEstimate(spent: number, estimate: { cost: number; unpricedRows?: number } | null | undefined): CostAgainstEstimate {
  if (!estimate) return { spent, estimate: null, fraction: null, partial: false };
  return { spent, estimate: estimate.cost, fraction: estimate.cost > 0 ? spent / estimate.cost : null, partial: (estimate.unpricedRows ?? 0) > 0 };
}
