/**
 * How the fake server limits rates, as the real providers document it (not as our client assumes):
 *
 * - **`openai`** (default): a token bucket per budget. OpenAI's rate-limit guide: limits "can be
 *   quantized, meaning they are enforced over shorter periods of time (e.g. 60,000
 *   requests/minute may be enforced as 1,000 requests/second)", so the bucket holds `quantumMs`
 *   worth of the per-minute limit and refills continuously. Every reply, success or error, carries
 *   `x-ratelimit-limit-{requests,tokens}` (the per-minute limit), `x-ratelimit-remaining-*` (what
 *   the bucket holds) and `x-ratelimit-reset-*` ("the time until the rate limit resets to its
 *   initial state", a Go duration such as `1s`, `6m0s` or `12ms`). A 429 says `rate_limit_exceeded`.
 * - **`azure`**: Azure OpenAI's quota guide: RPM "is evaluated over a small period of time,
 *   typically 1 or 10 seconds … rate limiting will occur for a 600-RPM deployment if more than 10
 *   requests are received during each 1-second period". So: sliding windows of `shortWindows`
 *   besides the minute. Replies carry only `x-ratelimit-remaining-requests` (per 10-second window)
 *   and `x-ratelimit-remaining-tokens` (per minute), and a 429 carries `retry-after-ms` and
 *   `retry-after`.
 * - **`none`**: a server that limits but says nothing: no rate-limit headers and a bare 429
 *   without `retry-after` (many OpenAI-compatible gateways).
 *
 * Token charges are what OpenAI and Azure count at admission: prompt tokens plus `max_tokens` (or
 * `max_completion_tokens`) × `n`; without either, the answer's tokens.
 */
import { formatResetDuration } from './fakeReplies';

export interface FakeRateLimit {
  /** Requests per `windowMs` (the per-minute limit). */
  rpm?: number;
  /** Tokens per `windowMs`. */
  tpm?: number;
  /** The period of `rpm`/`tpm`. @default 60000 */
  windowMs?: number;
  /** Which provider to behave like. @default 'openai' */
  style?: 'openai' | 'azure' | 'none';
  /**
   * `openai`: how much of the per-window limit the bucket holds (the quantization period).
   * @default windowMs (a whole window: not quantized)
   */
  quantumMs?: number;
  /**
   * `azure` (and `none`): shorter windows enforced besides `windowMs`, each a sliding window with
   * its own request and/or token limit, e.g. `[{ windowMs: 1000, requests: 11 }]`.
   * @default []
   */
  shortWindows?: { windowMs: number; requests?: number; tokens?: number }[];
}

/** What the limiter decides for one request. */
export interface Admission {
  /** Headers for the reply (also on a 429). */
  headers: Record<string, string>;
  /** 0 = admitted; otherwise ms until it would be, for `retry-after`. */
  waitMs: number;
  /** Whether a 429 should carry `retry-after(-ms)`. */
  retryAfter: boolean;
}

/** A sliding-window log of (time, amount) entries. */
class SlidingWindow {
  private at: number[] = [];
  private amount: number[] = [];
  private head = 0;
  used = 0;

  constructor(
    readonly windowMs: number,
    readonly limit: number,
  ) {}

  prune(now: number): void {
    while (this.head < this.at.length && this.at[this.head]! <= now - this.windowMs) this.used -= this.amount[this.head++]!;
    if (this.head > 4096 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.amount = this.amount.slice(this.head);
      this.head = 0;
    }
  }

  /** Ms until `need` more fits (0 if it fits now). Call after prune(). */
  waitFor(now: number, need: number): number {
    let used = this.used;
    for (let i = this.head; i < this.at.length && used + need > this.limit; i++) {
      used -= this.amount[i]!;
      if (used + need <= this.limit) return this.at[i]! + this.windowMs - now;
    }
    return used + need > this.limit ? this.windowMs : 0;
  }

  /** Ms until the oldest entry leaves (when capacity next grows). */
  nextFree(now: number): number {
    return this.head < this.at.length ? this.at[this.head]! + this.windowMs - now : 0;
  }

  add(now: number, n: number): void {
    this.at.push(now);
    this.amount.push(n);
    this.used += n;
  }
}

/** A continuously refilling token bucket (OpenAI's model). */
class Bucket {
  private level: number;
  private last = Date.now();

  constructor(
    /** Units per ms. */
    private readonly rate: number,
    private readonly capacity: number,
  ) {
    this.level = capacity;
  }

  private refill(now: number): void {
    this.level = Math.min(this.capacity, this.level + (now - this.last) * this.rate);
    this.last = now;
  }

  /** Ms until `need` is in the bucket (0 = now). A request larger than the bucket waits for a full one. */
  waitFor(now: number, need: number): number {
    this.refill(now);
    const want = Math.min(need, this.capacity);
    return this.level >= want ? 0 : (want - this.level) / this.rate;
  }

  take(now: number, n: number): void {
    this.refill(now);
    this.level -= n;
  }

  remaining(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.level));
  }

  /** Ms until the bucket is full again ("until the rate limit resets to its initial state"). */
  resetMs(now: number): number {
    this.refill(now);
    return (this.capacity - Math.max(0, this.level)) / this.rate;
  }
}

/** The rate limiter of one fake server; `reset()` by making a new one. */
export class FakeRateLimiter {
  private readonly style: 'openai' | 'azure' | 'none';
  private readonly windowMs: number;
  private readonly buckets: { requests?: Bucket; tokens?: Bucket } = {};
  private readonly windows: { kind: 'requests' | 'tokens'; w: SlidingWindow }[] = [];

  constructor(private readonly config: FakeRateLimit) {
    this.style = config.style ?? 'openai';
    this.windowMs = config.windowMs ?? 60_000;
    if (this.style === 'openai') {
      const quantum = Math.min(config.quantumMs ?? this.windowMs, this.windowMs);
      for (const [kind, limit] of [['requests', config.rpm], ['tokens', config.tpm]] as const) {
        if (limit !== undefined) this.buckets[kind] = new Bucket(limit / this.windowMs, (limit * quantum) / this.windowMs);
      }
    } else {
      if (config.rpm !== undefined) this.windows.push({ kind: 'requests', w: new SlidingWindow(this.windowMs, config.rpm) });
      if (config.tpm !== undefined) this.windows.push({ kind: 'tokens', w: new SlidingWindow(this.windowMs, config.tpm) });
      for (const s of config.shortWindows ?? []) {
        if (s.requests !== undefined) this.windows.push({ kind: 'requests', w: new SlidingWindow(s.windowMs, s.requests) });
        if (s.tokens !== undefined) this.windows.push({ kind: 'tokens', w: new SlidingWindow(s.windowMs, s.tokens) });
      }
    }
  }

  /** Decides for a request charged `charge` tokens; `consume` false for requests failed by other means. */
  admit(charge: number, consume: boolean, now = Date.now()): Admission {
    const need = { requests: 1, tokens: charge };
    let waitMs = 0;
    if (this.style === 'openai') {
      for (const kind of ['requests', 'tokens'] as const) waitMs = Math.max(waitMs, this.buckets[kind]?.waitFor(now, need[kind]) ?? 0);
      if (waitMs === 0 && consume) for (const kind of ['requests', 'tokens'] as const) this.buckets[kind]?.take(now, need[kind]);
    } else {
      for (const { kind, w } of this.windows) {
        w.prune(now);
        waitMs = Math.max(waitMs, w.waitFor(now, need[kind]));
      }
      if (waitMs === 0 && consume) for (const { kind, w } of this.windows) w.add(now, need[kind]);
    }
    return { headers: this.headers(now), waitMs, retryAfter: this.style !== 'none' };
  }

  private headers(now: number): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.style === 'openai') {
      for (const [kind, limit] of [['requests', this.config.rpm], ['tokens', this.config.tpm]] as const) {
        const b = this.buckets[kind];
        if (!b || limit === undefined) continue;
        h[`x-ratelimit-limit-${kind}`] = String(limit);
        h[`x-ratelimit-remaining-${kind}`] = String(b.remaining(now));
        h[`x-ratelimit-reset-${kind}`] = formatResetDuration(b.resetMs(now));
      }
    } else if (this.style === 'azure') {
      // Azure reports requests left in its 10-second window (or the shortest it has) and tokens left in the minute.
      const requestWindows = this.windows.filter((x) => x.kind === 'requests').map((x) => x.w);
      const r = requestWindows.find((w) => w.windowMs === 10_000) ?? requestWindows.sort((a, b) => a.windowMs - b.windowMs)[0];
      if (r) h['x-ratelimit-remaining-requests'] = String(Math.max(0, r.limit - r.used));
      const t = this.windows.find((x) => x.kind === 'tokens' && x.w.windowMs === this.windowMs)?.w;
      if (t) h['x-ratelimit-remaining-tokens'] = String(Math.max(0, t.limit - t.used));
    }
    return h;
  }
}
