import { costOfUsage, type PriceTable } from './pricing';
import type { LimitSource } from './rateControl';
import { coarseHistogram, emptyModelStats, type LatencyBin, type ModelStats } from './statsSeries';
import type { Usage } from './types';

/**
 * A rolling window of (time, amount) samples: "how much in the last `windowMs`".
 *
 * Samples are summed into buckets of `windowMs / buckets` (100 ms for a minute), each kept with the
 * time of its newest sample, so memory is bounded by the bucket count, not by the sample rate (a
 * run of thousands of calls a second added a sample per call, held for a whole minute: megabytes
 * that grew with the run). A bucket leaves the window with its newest sample, so a total may count
 * samples up to one bucket older than `windowMs`, never fewer than are in the window.
 */
export class RollingWindow {
  /** Time of the newest sample of each bucket, oldest bucket first (from `head`). */
  private times: number[] = [];
  private amounts: number[] = [];
  private head = 0;
  private sum = 0;
  private readonly bucketMs: number;
  /** Live buckets above which add() drops expired ones itself (total() may never be called). */
  private readonly maxLive: number;
  private lastBucket = Number.NaN;

  /** @param buckets how many parts the window is cut into. @default 600 */
  constructor(
    readonly windowMs: number,
    buckets = 600,
  ) {
    this.bucketMs = Math.max(1, windowMs / Math.max(1, buckets));
    this.maxLive = 2 * Math.max(1, buckets) + 16;
  }

  add(amount: number, now = Date.now()): void {
    this.sum += amount;
    const bucket = Math.floor(now / this.bucketMs);
    const last = this.times.length - 1;
    if (bucket === this.lastBucket && last >= this.head) {
      this.amounts[last]! += amount;
      if (now > this.times[last]!) this.times[last] = now;
      return;
    }
    this.lastBucket = bucket;
    this.times.push(now);
    this.amounts.push(amount);
    if (this.times.length - this.head > this.maxLive) this.expire(now);
  }

  /** Total of the samples newer than `now - windowMs` (see the class notes on buckets). */
  total(now = Date.now()): number {
    this.expire(now);
    return this.sum;
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) {
      this.sum -= this.amounts[this.head]!;
      this.head++;
    }
    // Compact now and then so the arrays do not grow without bound on long runs.
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.amounts = this.amounts.slice(this.head);
      this.head = 0;
    }
  }
}

/** Token counts split by kind. */
export interface TokenCounts {
  prompt: number;
  completion: number;
  total: number;
}

/** Use of one rate limit (see {@link StatsSnapshot.rpm}). */
export interface RateFigure {
  used: number;
  limit: number | null;
  saturation: number | null;
  perMinute: number;
}

/** A point-in-time copy of the statistics, plain JSON (sent as-is to the webview). */
export interface StatsSnapshot {
  /** Rows expected in this run, when the caller knows (for ETA); null otherwise. */
  total: number | null;
  /** Records delivered (success + failure). */
  done: number;
  succeeded: number;
  failed: number;
  /** Attempts that were retried (a row retried twice counts 2). */
  retries: number;
  /** Rate-limit 429s received (each is retried; none fails a row while the run makes progress). */
  throttled: number;
  /** HTTP attempts sent to the server. */
  apiCalls: number;
  inFlight: number;
  /** Rows answered from the cache. */
  cacheHits: number;
  /** Rows answered by an identical request already in flight (one API call served both). */
  dedupHits: number;
  /** (cacheHits + dedupHits) / succeeded rows, 0..1. */
  hitRatio: number;
  /** Tokens the server actually processed in this run. */
  fresh: TokenCounts;
  /** Tokens of answers served without a call (cache or de-duplication): not throughput. */
  cached: TokenCounts;
  /**
   * The provider's own prompt cache, in fresh answers: `hits`, answers that reported cached input
   * tokens (`prompt_tokens_details.cached_tokens`, Responses `input_tokens_details.cached_tokens`),
   * and `tokens`, those cached input tokens (part of `fresh.prompt`, priced at the cached-input price).
   */
  providerCache: { hits: number; tokens: number };
  /** Reasoning tokens of fresh answers (part of `fresh.completion`, priced as output). */
  reasoningTokens: number;
  /** Answers cut short by the token limit (`finish_reason: "length"`, Responses `status: "incomplete"`). */
  truncated: number;
  /** Answers that did not match the JSON schema their request asked for (counted in `failed`). */
  schemaInvalid: number;
  /** Fresh tokens per second since start; cached tokens are never counted here. */
  freshTokensPerSec: number;
  /** Rows (records) per second since start. */
  requestsPerSec: number;
  /**
   * API calls in the last 60 s (`used`, what the limit counts), the per-minute limit in force
   * (null = none), and `perMinute`: the rate over the time actually covered, so that 146 calls 3 s
   * into a run read as 2,920/min, not as 146/min.
   */
  rpm: RateFigure;
  /** Fresh tokens in the last 60 s, the per-minute limit in force (null = none), and the rate per minute (see `rpm`). */
  tpm: RateFigure;
  /**
   * Where the limits in force come from (`user`: your settings; `server`: its `x-ratelimit-*`
   * headers; `adaptive`: slowed down after 429s that said nothing; null: no limit), and the
   * requests in flight allowed now (`auto`: tuned while the run goes).
   */
  pacing: { source: LimitSource | null; concurrency: number | null; autoConcurrency: boolean };
  /** Estimated seconds to finish, when `total` is known and some rows are done. */
  etaSeconds: number | null;
  /** Estimated dollars spent on fresh tokens; and saved by cache hits. */
  cost: { spent: number; saved: number };
  startedAt: number;
  elapsedMs: number;
  finished: boolean;
  /**
   * Latency of the rows answered by the server (retries and waits included), in ms, to within 5 %:
   * null before the first. Optional: snapshots made by older code lack it.
   */
  latency?: { p50: number; p95: number; p99: number } | null;
  /**
   * The same latencies as at most 20 bars over the range they occupy (for the panel's
   * distribution). Optional: snapshots made by older code lack it.
   */
  latencyHistogram?: LatencyBin[];
  /**
   * Per model, in order of first row: rows, failures, reused answers, fresh tokens and cost. Rows
   * that could not be read have no model and are not here. Optional: older snapshots lack it.
   */
  models?: ModelStats[];
}

/** The limits and concurrency in force, as the RequestManager tells them (see {@link TokenStats.setLimits}). */
export interface PacingInForce {
  /** Per minute; null = none. */
  rpm: number | null;
  tpm: number | null;
  source: LimitSource | null;
  concurrency: number | null;
  autoConcurrency: boolean;
}

/** What a row's answer turned out to be, besides its tokens. */
export interface AnswerFlags {
  /** Cut short by the token limit. @default false */
  truncated?: boolean;
  /** Did not match the JSON schema its request asked for (the row fails). @default false */
  schemaInvalid?: boolean;
}

export interface TokenStatsOptions {
  /** Requests-per-minute limit, for the saturation figure. @default null */
  rpmLimit?: number | null;
  /** Tokens-per-minute limit, for the saturation figure. @default null */
  tpmLimit?: number | null;
  /** Price table for the cost estimate. @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** Length of the rolling window for RPM/TPM. @default 60000 */
  windowMs?: number;
}

const zero = (): TokenCounts => ({ prompt: 0, completion: 0, total: 0 });

/** Latency buckets grow by 5 %: bucket b holds [1.05^b, 1.05^(b+1)) ms, up to about 3 hours. */
const LATENCY_BASE = 1.05;
const LATENCY_BUCKETS = 340;

function latencyBucket(ms: number): number {
  if (ms < 1) return 0;
  return Math.min(LATENCY_BUCKETS - 1, Math.floor(Math.log(ms) / Math.log(LATENCY_BASE)));
}

function addUsage(into: TokenCounts, usage: Usage | undefined): void {
  if (!usage) return;
  into.prompt += usage.prompt_tokens || 0;
  into.completion += usage.completion_tokens || 0;
  into.total += usage.total_tokens || (usage.prompt_tokens || 0) + (usage.completion_tokens || 0);
}

/**
 * Token and request statistics of one run (FastLLM's TokenStats). The RequestManager records into
 * it; UIs read {@link snapshot} (cheap, O(1) amortised) as often as they like.
 *
 * Invariant: tokens of answers that did not reach the server (cache hits, de-duplicated requests)
 * go to `cached` only, so `fresh` and `freshTokensPerSec` measure real throughput.
 */
export class TokenStats {
  total: number | null = null;
  private done = 0;
  private succeeded = 0;
  private failed = 0;
  private retries = 0;
  private throttledCount = 0;
  private pacing: PacingInForce;
  private apiCalls = 0;
  private inFlight = 0;
  private cacheHits = 0;
  private dedupHits = 0;
  private fresh = zero();
  private cached = zero();
  private providerCacheHits = 0;
  private providerCachedTokens = 0;
  private reasoningTokens = 0;
  private truncatedCount = 0;
  private schemaInvalid = 0;
  private spent = 0;
  private saved = 0;
  private startedAt = Date.now();
  private finishedAt: number | null = null;
  private readonly rpmWindow: RollingWindow;
  private readonly tpmWindow: RollingWindow;
  private readonly windowMs: number;
  private readonly listeners = new Set<() => void>();
  /** Latencies of fresh answers, by {@link latencyBucket}: constant memory and time per row. */
  private latencies = new Uint32Array(LATENCY_BUCKETS);
  private latencyCount = 0;
  /** Per-model tallies: one Map lookup per row. */
  private models = new Map<string, ModelStats>();

  constructor(private readonly options: TokenStatsOptions = {}) {
    const windowMs = options.windowMs ?? 60_000;
    this.pacing = { rpm: options.rpmLimit ?? null, tpm: options.tpmLimit ?? null, source: null, concurrency: null, autoConcurrency: false };
    this.windowMs = windowMs;
    this.rpmWindow = new RollingWindow(windowMs);
    this.tpmWindow = new RollingWindow(windowMs);
  }

  /** Starts a new run: counters back to zero. */
  reset(total: number | null = null): void {
    Object.assign(this, {
      total, done: 0, succeeded: 0, failed: 0, retries: 0, throttledCount: 0, apiCalls: 0, inFlight: 0, cacheHits: 0,
      dedupHits: 0, fresh: zero(), cached: zero(), spent: 0, saved: 0, startedAt: Date.now(), finishedAt: null,
      providerCacheHits: 0, providerCachedTokens: 0, reasoningTokens: 0, truncatedCount: 0, schemaInvalid: 0,
      latencies: new Uint32Array(LATENCY_BUCKETS), latencyCount: 0, models: new Map(),
    });
    this.changed();
  }

  /** Calls `listener` after every change; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** An HTTP attempt is about to be sent. */
  attemptStarted(): void {
    this.apiCalls++;
    this.inFlight++;
    this.rpmWindow.add(1);
    this.changed();
  }

  attemptEnded(): void {
    this.inFlight--;
  }

  retried(): void {
    this.retries++;
  }

  /** A rate-limit 429 came back (it is retried as well). */
  throttled(): void {
    this.throttledCount++;
    this.changed();
  }

  /** The limits and concurrency in force changed (learned from the server, slowed, tuned). */
  setLimits(pacing: PacingInForce): void {
    this.pacing = pacing;
    this.changed();
  }

  /**
   * A row got a fresh answer from the server. `answer.schemaInvalid`: the answer did not match its
   * JSON schema, so the row counts as failed (its tokens were still spent and are counted).
   * `latencyMs` feeds the latency percentiles.
   */
  freshSuccess(model: string, usage: Usage | undefined, answer: AnswerFlags = {}, latencyMs?: number): void {
    this.done++;
    this.countAnswer(answer);
    const m = this.model(model);
    m.rows++;
    if (answer.schemaInvalid) m.failed++;
    if (latencyMs !== undefined && Number.isFinite(latencyMs)) {
      this.latencies[latencyBucket(latencyMs)]!++;
      this.latencyCount++;
    }
    addUsage(this.fresh, usage);
    if (usage) {
      this.tpmWindow.add(usage.total_tokens || usage.prompt_tokens + usage.completion_tokens);
      const cost = costOfUsage(model, usage, this.options.prices);
      this.spent += cost;
      m.cost += cost;
      m.promptTokens += usage.prompt_tokens || 0;
      m.completionTokens += usage.completion_tokens || 0;
      if (usage.cached_tokens) {
        this.providerCacheHits++;
        this.providerCachedTokens += usage.cached_tokens;
      }
      this.reasoningTokens += usage.reasoning_tokens ?? 0;
    }
    this.changed();
  }

  /** A row was answered without a call: from the cache, or de-duplicated onto an identical call. */
  reusedSuccess(model: string, usage: Usage | undefined, how: 'cache' | 'dedup', answer: AnswerFlags = {}): void {
    this.done++;
    this.countAnswer(answer);
    if (how === 'cache') this.cacheHits++;
    else this.dedupHits++;
    const m = this.model(model);
    m.rows++;
    m.reused++;
    if (answer.schemaInvalid) m.failed++;
    addUsage(this.cached, usage);
    if (usage) this.saved += costOfUsage(model, usage, this.options.prices);
    this.changed();
  }

  private countAnswer(answer: AnswerFlags): void {
    if (answer.schemaInvalid) {
      this.failed++;
      this.schemaInvalid++;
    } else {
      this.succeeded++;
    }
    if (answer.truncated) this.truncatedCount++;
  }

  /** A row ended in an error record; `model`: the row's (none for a row that could not be read). */
  failure(model?: string): void {
    this.done++;
    this.failed++;
    if (model !== undefined) {
      const m = this.model(model);
      m.rows++;
      m.failed++;
    }
    this.changed();
  }

  private model(name: string): ModelStats {
    let m = this.models.get(name);
    if (!m) this.models.set(name, (m = emptyModelStats(name)));
    return m;
  }

  finish(): void {
    this.finishedAt = Date.now();
    this.changed();
  }

  snapshot(now = Date.now()): StatsSnapshot {
    const end = this.finishedAt ?? now;
    const elapsedMs = Math.max(0, end - this.startedAt);
    const secs = elapsedMs / 1000;
    const rpmLimit = this.pacing.rpm;
    const tpmLimit = this.pacing.tpm;
    const rpmUsed = this.rpmWindow.total(now);
    const tpmUsed = this.tpmWindow.total(now);
    const rate = secs > 0 ? this.done / secs : 0;
    // The window holds at most the time since the start: before it is full, scale to a minute over
    // what it covers (at least a second, so that the first call does not read as 60/min × 1000).
    const covered = Math.max(1000, Math.min(this.windowMs, now - this.startedAt));
    const perMinute = (used: number) => (used * 60_000) / covered;
    return {
      total: this.total,
      done: this.done,
      succeeded: this.succeeded,
      failed: this.failed,
      retries: this.retries,
      throttled: this.throttledCount,
      apiCalls: this.apiCalls,
      inFlight: this.inFlight,
      cacheHits: this.cacheHits,
      dedupHits: this.dedupHits,
      hitRatio: this.succeeded > 0 ? (this.cacheHits + this.dedupHits) / this.succeeded : 0,
      fresh: { ...this.fresh },
      cached: { ...this.cached },
      providerCache: { hits: this.providerCacheHits, tokens: this.providerCachedTokens },
      reasoningTokens: this.reasoningTokens,
      truncated: this.truncatedCount,
      schemaInvalid: this.schemaInvalid,
      freshTokensPerSec: secs > 0 ? this.fresh.total / secs : 0,
      requestsPerSec: rate,
      rpm: { used: rpmUsed, limit: rpmLimit, saturation: rpmLimit ? rpmUsed / rpmLimit : null, perMinute: perMinute(rpmUsed) },
      tpm: { used: tpmUsed, limit: tpmLimit, saturation: tpmLimit ? tpmUsed / tpmLimit : null, perMinute: perMinute(tpmUsed) },
      pacing: { source: this.pacing.source, concurrency: this.pacing.concurrency, autoConcurrency: this.pacing.autoConcurrency },
      etaSeconds:
        this.total !== null && rate > 0 && this.finishedAt === null
          ? Math.max(0, (this.total - this.done) / rate)
          : null,
      cost: { spent: this.spent, saved: this.saved },
      startedAt: this.startedAt,
      elapsedMs,
      finished: this.finishedAt !== null,
      latency: this.latencyCount ? { p50: this.latencyAt(0.5), p95: this.latencyAt(0.95), p99: this.latencyAt(0.99) } : null,
      latencyHistogram: coarseHistogram(this.latencies, LATENCY_BASE),
      models: [...this.models.values()].map((m) => ({ ...m })),
    };
  }

  /** The `q` quantile of the fresh latencies: the upper bound of the bucket that holds it. */
  private latencyAt(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.latencyCount));
    let seen = 0;
    for (let b = 0; b < LATENCY_BUCKETS; b++) {
      seen += this.latencies[b]!;
      if (seen >= rank) return Math.round(LATENCY_BASE ** (b + 1));
    }
    return Math.round(LATENCY_BASE ** LATENCY_BUCKETS);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}
