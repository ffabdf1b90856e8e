import { ProviderError } from './providers/provider';

export interface RateLimiterOptions {
  /** Requests allowed per `windowMs`; null or 0 = unlimited. @default null */
  rpm?: number | null;
  /** Tokens allowed per `windowMs`; null or 0 = unlimited. @default null */
  tpm?: number | null;
  /** The period the limits are given for. Tests and benchmarks shrink it; providers use a minute. @default 60000 */
  windowMs?: number;
  /**
   * The share of each limit that grants are paced at. The rest is headroom: it absorbs variation in
   * the delay between a grant and its arrival at the server (two requests granted one interval
   * apart may arrive closer together) and small differences between our token count and the
   * server's. 0.98 of the limit still reaches the "≥ 0.95 of the limit" the limiter promises.
   * @default 0.98
   */
  utilization?: number;
  /**
   * How far ahead of its even slot a grant may go: a small burst allowance that keeps a late timer
   * (the event loop is busy) from costing throughput, without letting more than about
   * `limit / window` requests start in any second.
   * @default 20
   */
  burstMs?: number;
  /**
   * For this long from the first grant, grants are spaced twice as far apart. A run's first
   * requests each open a connection, whose set-up time varies (TLS handshakes, a cold client), so
   * the first ones can reach the server later than those granted after them and arrive bunched;
   * that is when a per-second window is most easily overrun.
   * @default windowMs / 60 (a second, for limits per minute)
   */
  warmupMs?: number;
}

/** A granted request: what it was charged, so that the charge can be raised once usage is known. */
export interface Reservation {
  /** Epoch ms of the grant. */
  readonly at: number;
  /** Tokens charged against the token budget. */
  tokens: number;
}

/** The limits in force, per `windowMs` (null = none). */
export interface Limits {
  rpm: number | null;
  tpm: number | null;
}

interface Waiter {
  tokens: number;
  resolve: (r: Reservation) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * One budget paced by GCRA (the generic cell rate algorithm, "virtual scheduling"): each unit has
 * an even slot `intervalMs` after the previous one; a grant may go once the clock is within
 * `burstMs` of the budget's theoretical arrival time (TAT), and moves the TAT on by its cost.
 *
 * Invariant: over any span of `w` ms it grants at most `(w + burstMs) / intervalMs` units plus the
 * cost of one request; over a long run it grants exactly `1 / intervalMs` units per ms.
 */
class Pacer {
  /** Ms per unit; 0 = unlimited. */
  intervalMs = 0;
  /** When the budget is next free of debt (epoch ms). */
  private tat = 0;
  /** End of the warm-up (epoch ms), set by the first grant. */
  private warmEnd: number | undefined;

  constructor(
    private readonly burstMs: number,
    private readonly warmupMs: number,
  ) {}

  get limited(): boolean {
    return this.intervalMs > 0;
  }

  /** Sets the rate: `limit` units per `windowMs` at `utilization`. */
  setLimit(limit: number | null, windowMs: number, utilization: number): void {
    this.intervalMs = limit && limit > 0 && Number.isFinite(limit) ? windowMs / (limit * utilization) : 0;
  }

  /** Epoch ms from which a grant conforms (≤ now when it may go at once). */
  conformsAt(): number {
    return this.intervalMs > 0 ? this.tat - this.burstMs : 0;
  }

  /** Charges `units` at `now`. */
  charge(units: number, now: number): void {
    if (this.intervalMs <= 0) return;
    this.warmEnd ??= now + this.warmupMs;
    const interval = now < this.warmEnd ? 2 * this.intervalMs : this.intervalMs;
    this.tat = Math.max(this.tat, now) + units * interval;
  }

  /** Adds `units` to what was already charged (a request that turned out bigger than its estimate). */
  addDebt(units: number): void {
    if (this.intervalMs > 0 && units > 0) this.tat += units * this.intervalMs;
  }
}

/**
 * Paces requests and tokens per window evenly, first in first out, with a global pause.
 *
 * Providers enforce their per-minute limits over much shorter periods: Azure OpenAI evaluates RPM
 * over 1- or 10-second windows ("a 600-RPM deployment" is limited "if more than 10 requests are
 * received during each 1-second period", Microsoft's quota guide), and OpenAI says its limits "can
 * be quantized, … enforced over shorter periods of time (e.g. 60,000 requests/minute may be
 * enforced as 1,000 requests/second)". A sliding minute lets a whole minute's requests through in
 * the first second, which those servers refuse. So each budget is a GCRA pacer: grants are spaced
 * evenly at `utilization` of the limit, with a burst allowance of `burstMs`, and at half that
 * rate for the first `warmupMs` of a run, while its connections are being opened.
 *
 * A request is charged when it is granted, before the server can have seen it, so latency never
 * lets more through; the headroom (`1 - utilization`) covers variation in the delay between grant
 * and arrival. The token charge is an estimate made at admission, as the servers' own is (prompt
 * tokens plus `max_tokens` × `n`); {@link charge} only ever raises it, because a short answer does
 * not give back tokens the server already counted. {@link pauseUntil} holds back every waiter (a
 * 429 with `retry-after` pauses the whole run, not only the failed request).
 */
export class RateLimiter {
  private readonly windowMs: number;
  private readonly utilization: number;
  private readonly requests: Pacer;
  private readonly tokens: Pacer;
  private limits: Limits;
  private waiters: Waiter[] = [];
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RateLimiterOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.utilization = Math.min(1, Math.max(0.01, options.utilization ?? 0.98));
    const burst = Math.max(0, options.burstMs ?? 20);
    const warmup = Math.max(0, options.warmupMs ?? this.windowMs / 60);
    this.requests = new Pacer(burst, warmup);
    this.tokens = new Pacer(burst, warmup);
    this.limits = { rpm: null, tpm: null };
    this.setLimits({ rpm: options.rpm ?? null, tpm: options.tpm ?? null });
  }

  /** True when a request or token limit is in force (token estimates are then needed). */
  get limited(): boolean {
    return this.requests.limited || this.tokens.limited;
  }

  /** True when a token limit is in force. */
  get limitsTokens(): boolean {
    return this.tokens.limited;
  }

  /** The limits in force, per window. */
  get current(): Limits {
    return { ...this.limits };
  }

  /** Epoch ms until which dispatch is paused (0 = not paused). */
  get pausedUntilMs(): number {
    return this.pausedUntil > Date.now() ? this.pausedUntil : 0;
  }

  /**
   * Changes the limits (learned from the server, or lowered after 429s). Debt already charged is
   * kept; grants from now on are spaced at the new rate.
   */
  setLimits(limits: Limits): void {
    const clean = (n: number | null) => (n && n > 0 && Number.isFinite(n) ? n : null);
    this.limits = { rpm: clean(limits.rpm), tpm: clean(limits.tpm) };
    this.requests.setLimit(this.limits.rpm, this.windowMs, this.utilization);
    this.tokens.setLimit(this.limits.tpm, this.windowMs, this.utilization);
    if (this.waiters.length > 0) this.pump();
  }

  /**
   * Waits until one request of `tokens` may go (its slot in both budgets has come, and no pause is
   * in force), then charges it. A request larger than a whole window's tokens is let through when
   * its turn comes; the requests after it then wait until its tokens are paid off.
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation> {
    if (this.waiters.length === 0) {
      // Nobody queued and the slot has come (always, without limits): grant without queueing.
      const now = Date.now();
      if (this.pausedUntil <= now && this.requests.conformsAt() <= now && (tokens <= 0 || this.tokens.conformsAt() <= now)) {
        this.requests.charge(1, now);
        this.tokens.charge(tokens, now);
        return Promise.resolve({ at: now, tokens });
      }
    }
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new ProviderError('Cancelled', undefined, 'aborted'));
      const w: Waiter = { tokens, resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new ProviderError('Cancelled', undefined, 'aborted'));
          this.pump();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
      this.pump();
    });
  }

  /**
   * The server reported how many tokens the request really used. When that is more than it was
   * charged (no `max_tokens` was set, or our tokenizer counted fewer), the difference is charged
   * now. Never lowers a charge: the server counted the estimate at admission, and a short answer
   * does not give those tokens back.
   */
  charge(reservation: Reservation, actualTokens: number): void {
    if (!Number.isFinite(actualTokens) || actualTokens <= reservation.tokens) return;
    this.tokens.addDebt(actualTokens - reservation.tokens);
    reservation.tokens = actualTokens;
  }

  /** Holds back all dispatch until `until` (epoch ms); never shortens an existing pause. */
  pauseUntil(until: number): void {
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.pump();
    }
  }

  /** Stops timers and rejects waiters (at the end of a run). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new ProviderError('Cancelled', undefined, 'aborted'));
    }
    this.waiters = [];
  }

  /** Grants what may go now, in order; arms one timer for when the next waiter may go. */
  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.waiters.length > 0) {
      const now = Date.now();
      const w = this.waiters[0]!;
      const at = Math.max(this.pausedUntil, this.requests.conformsAt(), w.tokens > 0 ? this.tokens.conformsAt() : 0);
      if (at > now) return this.arm(at - now);
      this.waiters.shift();
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      this.requests.charge(1, now);
      this.tokens.charge(w.tokens, now);
      w.resolve({ at: now, tokens: w.tokens });
    }
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }
}
