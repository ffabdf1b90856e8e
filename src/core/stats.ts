import { costOf, type PriceTable } from './pricing';
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
  /** Fresh tokens per second since start; cached tokens are never counted here. */
  freshTokensPerSec: number;
  /** Rows (records) per second since start. */
  requestsPerSec: number;
  /** API calls in the last 60 s, and the configured limit (null = none). */
  rpm: { used: number; limit: number | null; saturation: number | null };
  /** Fresh tokens in the last 60 s, and the configured limit (null = none). */
  tpm: { used: number; limit: number | null; saturation: number | null };
  /** Estimated seconds to finish, when `total` is known and some rows are done. */
  etaSeconds: number | null;
  /** Estimated dollars spent on fresh tokens; and saved by cache hits. */
  cost: { spent: number; saved: number };
  startedAt: number;
  elapsedMs: number;
  finished: boolean;
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
  private apiCalls = 0;
  private inFlight = 0;
  private cacheHits = 0;
  private dedupHits = 0;
  private fresh = zero();
  private cached = zero();
  private spent = 0;
  private saved = 0;
  private startedAt = Date.now();
  private finishedAt: number | null = null;
  private readonly rpmWindow: RollingWindow;
  private readonly tpmWindow: RollingWindow;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: TokenStatsOptions = {}) {
    const windowMs = options.windowMs ?? 60_000;
    this.rpmWindow = new RollingWindow(windowMs);
    this.tpmWindow = new RollingWindow(windowMs);
  }

  /** Starts a new run: counters back to zero. */
  reset(total: number | null = null): void {
    Object.assign(this, {
      total, done: 0, succeeded: 0, failed: 0, retries: 0, apiCalls: 0, inFlight: 0, cacheHits: 0,
      dedupHits: 0, fresh: zero(), cached: zero(), spent: 0, saved: 0, startedAt: Date.now(), finishedAt: null,
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

  /** A row succeeded with a fresh answer from the server. */
  freshSuccess(model: string, usage: Usage | undefined): void {
    this.done++;
    this.succeeded++;
    addUsage(this.fresh, usage);
    if (usage) {
      this.tpmWindow.add(usage.total_tokens || usage.prompt_tokens + usage.completion_tokens);
      this.spent += costOf(model, usage.prompt_tokens, usage.completion_tokens, this.options.prices);
    }
    this.changed();
  }

  /** A row succeeded without a call: from the cache, or de-duplicated onto an identical call. */
  reusedSuccess(model: string, usage: Usage | undefined, how: 'cache' | 'dedup'): void {
    this.done++;
    this.succeeded++;
    if (how === 'cache') this.cacheHits++;
    else this.dedupHits++;
    addUsage(this.cached, usage);
    if (usage) this.saved += costOf(model, usage.prompt_tokens, usage.completion_tokens, this.options.prices);
    this.changed();
  }

  /** A row ended in an error record. */
  failure(): void {
    this.done++;
    this.failed++;
    this.changed();
  }

  finish(): void {
    this.finishedAt = Date.now();
    this.changed();
  }

  snapshot(now = Date.now()): StatsSnapshot {
    const end = this.finishedAt ?? now;
    const elapsedMs = Math.max(0, end - this.startedAt);
    const secs = elapsedMs / 1000;
    const rpmLimit = this.options.rpmLimit ?? null;
    const tpmLimit = this.options.tpmLimit ?? null;
    const rpmUsed = this.rpmWindow.total(now);
    const tpmUsed = this.tpmWindow.total(now);
    const rate = secs > 0 ? this.done / secs : 0;
    return {
      total: this.total,
      done: this.done,
      succeeded: this.succeeded,
      failed: this.failed,
      retries: this.retries,
      apiCalls: this.apiCalls,
      inFlight: this.inFlight,
      cacheHits: this.cacheHits,
      dedupHits: this.dedupHits,
      hitRatio: this.succeeded > 0 ? (this.cacheHits + this.dedupHits) / this.succeeded : 0,
      fresh: { ...this.fresh },
      cached: { ...this.cached },
      freshTokensPerSec: secs > 0 ? this.fresh.total / secs : 0,
      requestsPerSec: rate,
      rpm: { used: rpmUsed, limit: rpmLimit, saturation: rpmLimit ? rpmUsed / rpmLimit : null },
      tpm: { used: tpmUsed, limit: tpmLimit, saturation: tpmLimit ? tpmUsed / tpmLimit : null },
      etaSeconds:
        this.total !== null && rate > 0 && this.finishedAt === null
          ? Math.max(0, (this.total - this.done) / rate)
          : null,
      cost: { spent: this.spent, saved: this.saved },
      startedAt: this.startedAt,
      elapsedMs,
      finished: this.finishedAt !== null,
    };
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}
