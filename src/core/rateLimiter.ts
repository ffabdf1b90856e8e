import { ProviderError } from './providers/provider';
import { parseResetDuration } from './retry';

export interface RateLimiterOptions {
  /** Requests allowed per window; null or 0 = unlimited. @default null */
  rpm?: number | null;
  /** Tokens allowed per window; null or 0 = unlimited. @default null */
  tpm?: number | null;
  /** Window length. Tests and benchmarks shrink it; servers use a minute. @default 60000 */
  windowMs?: number;
  /**
   * Extra time a spent unit stays counted after its window, so that requests the server sees a
   * little later than we sent them still fall inside our accounting (no 429 at the boundary).
   * @default max(20 ms, 0.5 % of windowMs)
   */
  marginMs?: number;
}

/** A granted slot: the tokens it reserved can be corrected once the real usage is known. */
export interface Reservation {
  readonly at: number;
  tokens: number;
}

interface Waiter {
  tokens: number;
  resolve: (r: Reservation) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A sliding-window limiter for requests and tokens per window, with a global pause.
 *
 * Every grant is logged with its time; a unit counts against the budget until `windowMs +
 * marginMs` after it was granted, exactly as a server with a sliding window counts it. Waiters are
 * served first-in first-out, so a large request is not starved by small ones. `pauseUntil` holds
 * back every waiter (a 429 with `retry-after` pauses the whole run, not just the failed request).
 */
export class RateLimiter {
  private readonly rpm: number;
  private readonly tpm: number;
  private readonly windowMs: number;
  private readonly marginMs: number;
  /** Grants in time order; `head` is the oldest not yet expired. */
  private grants: Reservation[] = [];
  private head = 0;
  private tokensInWindow = 0;
  private waiters: Waiter[] = [];
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RateLimiterOptions = {}) {
    this.rpm = options.rpm && options.rpm > 0 ? options.rpm : Infinity;
    this.tpm = options.tpm && options.tpm > 0 ? options.tpm : Infinity;
    this.windowMs = options.windowMs ?? 60_000;
    this.marginMs = options.marginMs ?? Math.max(20, this.windowMs * 0.005);
  }

  get limited(): boolean {
    return this.rpm !== Infinity || this.tpm !== Infinity;
  }

  /** Epoch ms until which dispatch is paused (0 = not paused). */
  get pausedUntilMs(): number {
    return this.pausedUntil > Date.now() ? this.pausedUntil : 0;
  }

  /**
   * Waits until one request of `tokens` fits in both budgets (and no pause is in force), then
   * records it. A request larger than the whole token budget is let through alone, once the
   * window is empty, rather than waiting for ever.
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation> {
    if (!this.limited && this.waiters.length === 0 && this.pausedUntil <= Date.now()) {
      return Promise.resolve({ at: Date.now(), tokens });
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

  /** Replaces a reservation's estimate with the tokens the server reported. */
  reconcile(reservation: Reservation, actualTokens: number): void {
    if (!Number.isFinite(actualTokens) || actualTokens < 0) return;
    const delta = actualTokens - reservation.tokens;
    reservation.tokens = actualTokens;
    // Only grants still in the window count; older ones were already subtracted.
    if (reservation.at > Date.now() - this.windowMs - this.marginMs) this.tokensInWindow += delta;
    if (delta < 0) this.pump();
  }

  /** Holds back all dispatch until `until` (epoch ms); never shortens an existing pause. */
  pauseUntil(until: number): void {
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.pump();
    }
  }

  /**
   * Reads OpenAI's `x-ratelimit-remaining-*` / `x-ratelimit-reset-*` headers: when the server
   * says a budget is exhausted, pause until it says it resets.
   */
  observeHeaders(headers: Record<string, string>): void {
    for (const kind of ['requests', 'tokens']) {
      const remaining = headers[`x-ratelimit-remaining-${kind}`];
      if (remaining !== undefined && Number(remaining) <= 0) {
        const reset = parseResetDuration(headers[`x-ratelimit-reset-${kind}`]);
        if (reset !== undefined) this.pauseUntil(Date.now() + reset);
      }
    }
  }

  /** Stops timers and rejects waiters (at the end of a run). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters) w.reject(new ProviderError('Cancelled', undefined, 'aborted'));
    this.waiters = [];
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs - this.marginMs;
    const g = this.grants;
    while (this.head < g.length && g[this.head]!.at <= cutoff) {
      this.tokensInWindow -= g[this.head]!.tokens;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > g.length) {
      this.grants = g.slice(this.head);
      this.head = 0;
    }
  }

  /** Grants what fits now, in order; arms one timer for when the next waiter may fit. */
  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.waiters.length > 0) {
      const now = Date.now();
      if (this.pausedUntil > now) return this.arm(this.pausedUntil - now);
      this.expire(now);
      const w = this.waiters[0]!;
      const inWindow = this.grants.length - this.head;
      const requestsOk = inWindow < this.rpm;
      const tokensOk = this.tokensInWindow + w.tokens <= this.tpm || inWindow === 0;
      if (!requestsOk || !tokensOk) return this.arm(this.nextExpiry(now, w.tokens, requestsOk));
      this.waiters.shift();
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      const r: Reservation = { at: now, tokens: w.tokens };
      this.grants.push(r);
      this.tokensInWindow += w.tokens;
      w.resolve(r);
    }
  }

  /** How long until enough of the window expires for the head waiter. */
  private nextExpiry(now: number, tokens: number, requestsOk: boolean): number {
    const life = this.windowMs + this.marginMs;
    const g = this.grants;
    if (!requestsOk) return g[this.head]!.at + life - now;
    // Walk forward until enough tokens would have expired.
    let freed = 0;
    const need = this.tokensInWindow + tokens - this.tpm;
    for (let i = this.head; i < g.length; i++) {
      freed += g[i]!.tokens;
      if (freed >= need) return g[i]!.at + life - now;
    }
    return g[g.length - 1]!.at + life - now;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }
}
