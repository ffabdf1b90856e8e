/**
 * `concurrency: 'auto'`: finds how many requests to keep in flight on a server that publishes no
 * limits (vLLM, Ollama, LM Studio, a GPU box shared with others).
 *
 * Such a server batches what it gets: up to its capacity, more requests in flight mean more
 * throughput at the same latency; past it, requests queue, latency grows and throughput does not.
 * The tuner measures throughput (completions per second) and median latency over epochs, and
 * climbs the hill of their ratio, Kleinrock's *power* (throughput ÷ latency), which peaks at that
 * knee: below it more in flight raises throughput, past it latency grows without throughput gains.
 *
 * - **Slow start**: from `initial`, double the limit while power rises by at least `gain` (10 %).
 * - When a doubling does not pay, go back to the limit before it, then probe one step (an eighth
 *   of the limit) down and up in turn, every few epochs: keep a step when power rises by at least
 *   `probeGain` (3 %), and keep stepping that way while it does.
 * - A 429 or 503 (the server says it is overloaded) cuts the limit by a quarter at once.
 *
 * Every change is logged by the caller; {@link current} is what the run shows ("concurrency 16 (auto)").
 */

export interface ConcurrencyTunerOptions {
  /** Limit to start from. @default 4 */
  initial?: number;
  /** @default 1 */
  min?: number;
  /** @default 256 */
  max?: number;
  /** Rise in power (throughput ÷ latency) for which slow start doubles again. @default 0.1 */
  gain?: number;
  /** Rise in power for which a probe step is kept. @default 0.03 */
  probeGain?: number;
  /** Shortest epoch. @default 250 */
  minEpochMs?: number;
  /** Completions an epoch needs at least. @default 8 */
  minEpochSamples?: number;
  /** Epochs at a settled limit between two probes. @default 4 */
  settleEpochs?: number;
  /** Called after each change of the limit. @default none */
  onChange?: (limit: number, why: string) => void;
  /** The clock (tests run it in virtual time). @default Date.now */
  now?: () => number;
}

interface Epoch {
  limit: number;
  start: number;
  latencies: number[];
  /** When each of its calls completed. */
  doneAt: number[];
}

interface Measure {
  limit: number;
  throughput: number;
  latency: number;
}

type Phase =
  | { kind: 'slowStart'; previous?: Measure }
  | { kind: 'settled'; best: Measure; epochs: number }
  | { kind: 'probe'; best: Measure; direction: 1 | -1 };

/** Kleinrock's power: throughput ÷ latency. */
const power = (m: Measure) => m.throughput / Math.max(m.latency, 1e-3);

export class ConcurrencyTuner {
  private limitValue: number;
  private readonly min: number;
  private readonly max: number;
  private readonly gain: number;
  private readonly probeGain: number;
  /** The direction of the next probe: down first (from a doubling that overshot), then alternating. */
  private nextProbe: 1 | -1 = -1;
  private readonly minEpochMs: number;
  private readonly minEpochSamples: number;
  private readonly settleEpochs: number;
  private readonly onChange: ConcurrencyTunerOptions['onChange'];
  private epoch: Epoch;
  private phase: Phase = { kind: 'slowStart' };
  private lastLatency = 0;

  constructor(options: ConcurrencyTunerOptions = {}) {
    this.min = Math.max(1, options.min ?? 1);
    this.max = Math.max(this.min, options.max ?? 256);
    this.limitValue = clamp(options.initial ?? 4, this.min, this.max);
    this.gain = options.gain ?? 0.1;
    this.probeGain = options.probeGain ?? 0.03;
    this.minEpochMs = options.minEpochMs ?? 250;
    this.minEpochSamples = options.minEpochSamples ?? 8;
    this.settleEpochs = options.settleEpochs ?? 4;
    this.onChange = options.onChange;
    this.epoch = this.newEpoch((options.now ?? Date.now)());
  }

  /** Requests to keep in flight now. */
  get current(): number {
    return this.limitValue;
  }

  /**
   * A call that started after the current limit was set completed in `latencyMs` (only these
   * count: a call started under another limit says nothing about this one).
   */
  completed(startedAt: number, latencyMs: number, now = Date.now()): void {
    const e = this.epoch;
    if (startedAt < e.start) return;
    e.latencies.push(latencyMs);
    e.doneAt.push(now);
    this.lastLatency = latencyMs;
    // Throughput is measured over the second half of the epoch's own completions: the first come
    // a whole latency after the change and arrive in a bunch (everything started at once ends at
    // once), so counting from the change, or from the first, misjudges every new limit. An epoch
    // holds at least two full rounds of the pipeline (2 × `limit` completions).
    const n = e.latencies.length;
    const k = n >> 1;
    const span = now - e.doneAt[k]!;
    if (n < Math.max(this.minEpochSamples, 2 * e.limit) || span < this.minEpochMs) return;
    this.decide({ limit: e.limit, throughput: (n - 1 - k) / (span / 1000), latency: median(e.latencies) }, now);
  }

  /** The server said it is overloaded (429 or 503): cut the limit now. */
  overloaded(now = Date.now()): void {
    const cut = clamp(Math.floor(this.limitValue * 0.75), this.min, this.max);
    const best: Measure = { limit: cut, throughput: 0, latency: this.lastLatency };
    this.phase = { kind: 'settled', best, epochs: 0 };
    this.set(cut, 'the server said it is overloaded', now);
  }

  private decide(m: Measure, now: number): void {
    const p = this.phase;
    switch (p.kind) {
      case 'slowStart':
        if (!p.previous || power(m) >= power(p.previous) * (1 + this.gain)) {
          if (m.limit >= this.max) {
            this.phase = { kind: 'settled', best: m, epochs: 0 };
            return this.restart(now);
          }
          this.phase = { kind: 'slowStart', previous: m };
          return this.set(m.limit * 2, `throughput rose to ${m.throughput.toFixed(1)}/s`, now);
        }
        // Doubling gained nothing worth having: the previous limit was at or past the knee.
        this.phase = { kind: 'settled', best: p.previous, epochs: 0 };
        return this.set(p.previous.limit, 'more in flight only added latency', now);
      case 'settled': {
        // Refresh the measure at this limit (the server's load changes), then probe now and then.
        const best = m.limit === p.best.limit ? m : p.best;
        if (p.epochs + 1 < this.settleEpochs) {
          this.phase = { kind: 'settled', best, epochs: p.epochs + 1 };
          return this.restart(now);
        }
        const direction = this.nextProbe;
        const step = Math.max(1, Math.round(best.limit / 8));
        const next = clamp(best.limit + direction * step, this.min, this.max);
        if (next === best.limit) {
          this.phase = { kind: 'settled', best, epochs: 0 };
          return this.restart(now);
        }
        this.phase = { kind: 'probe', best, direction };
        return this.set(next, direction > 0 ? 'probing one step up' : 'probing one step down', now);
      }
      case 'probe': {
        if (power(m) >= power(p.best) * (1 + this.probeGain)) {
          // It paid: keep it, and try one more step the same way straight away.
          const step = Math.max(1, Math.round(m.limit / 8));
          const next = clamp(m.limit + p.direction * step, this.min, this.max);
          if (next === m.limit) {
            this.phase = { kind: 'settled', best: m, epochs: 0 };
            return this.restart(now);
          }
          this.phase = { kind: 'probe', best: m, direction: p.direction };
          return this.set(next, p.direction > 0 ? 'a step up paid' : 'a step down paid', now);
        }
        this.nextProbe = p.direction > 0 ? -1 : 1;
        this.phase = { kind: 'settled', best: p.best, epochs: 0 };
        return this.set(p.best.limit, 'the probe did not pay', now);
      }
    }
  }

  private set(limit: number, why: string, now: number): void {
    const next = clamp(Math.round(limit), this.min, this.max);
    const changed = next !== this.limitValue;
    this.limitValue = next;
    this.epoch = this.newEpoch(now);
    if (changed) this.onChange?.(next, why);
  }

  private restart(now: number): void {
    this.epoch = this.newEpoch(now);
  }

  private newEpoch(now: number): Epoch {
    return { limit: this.limitValue, start: now, latencies: [], doneAt: [] };
  }
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
