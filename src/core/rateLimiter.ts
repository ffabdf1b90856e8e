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
   * Extra time a settled grant stays counted after its window, for timer granularity. (Network
   * delay needs no margin: a grant counts until its call settles, then for a whole window.)
   * @default 10
   */
  marginMs?: number;
}

/** A granted slot: the tokens it reserved can be corrected once the real usage is known. */
export interface Reservation {
  readonly at: number;
  tokens: number;
  /** Set by {@link RateLimiter.settle}: from then on the grant expires one window later. */
  settled: boolean;
}

interface Waiter {
  tokens: number;
  resolve: (r: Reservation) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** A settled grant, kept in a min-heap by the time it leaves the window. */
interface Spent {
  expiresAt: number;
  tokens: number;
}

/**
 * A sliding-window limiter for requests and tokens per window, with a global pause.
 *
 * A server counts a request when it arrives, which is some time after we grant it and before we
 * see its answer. So a grant counts against the budget from the moment it is granted until one
 * window (plus `marginMs`) after it settles (its answer or error came back): never less than the
 * server counts it, whatever the network delay. The cost is a rate of about W / (W + latency) of
 * the limit, in exchange for no 429s. Waiters are served first in, first out, so a large request
 * is not starved by small ones. `pauseUntil` holds back every waiter (a 429 with `retry-after`
 * pauses the whole run, not just the failed request).
 */
export class RateLimiter {
  private readonly rpm: number;
  private readonly tpm: number;
  private readonly windowMs: number;
  private readonly marginMs: number;
  /** Grants still in flight: they count until they settle. */
  private inFlight = 0;
  private inFlightTokens = 0;
  /** Settled grants not yet out of the window (a binary min-heap on expiresAt). */
  private spent: Spent[] = [];
  private spentTokens = 0;
  private waiters: Waiter[] = [];
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RateLimiterOptions = {}) {
    this.rpm = options.rpm && options.rpm > 0 ? options.rpm : Infinity;
    this.tpm = options.tpm && options.tpm > 0 ? options.tpm : Infinity;
    this.windowMs = options.windowMs ?? 60_000;
    this.marginMs = options.marginMs ?? 10;
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
   * window is empty, rather than waiting for ever. Every grant must be {@link settle}d.
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation> {
    if (!this.limited && this.waiters.length === 0 && this.pausedUntil <= Date.now()) {
      return Promise.resolve({ at: Date.now(), tokens, settled: false });
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

  /** Replaces a reservation's estimate with the tokens the server reported (before it settles). */
  reconcile(reservation: Reservation, actualTokens: number): void {
    if (!Number.isFinite(actualTokens) || actualTokens < 0 || reservation.settled) return;
    if (this.limited) this.inFlightTokens += actualTokens - reservation.tokens;
    reservation.tokens = actualTokens;
  }

  /**
   * The call of this grant has ended (answer or error): from now it counts for one more window.
   * Idempotent.
   */
  settle(reservation: Reservation): void {
    if (reservation.settled) return;
    reservation.settled = true;
    if (!this.limited) return;
    this.inFlight--;
    this.inFlightTokens -= reservation.tokens;
    this.push({ expiresAt: Date.now() + this.windowMs + this.marginMs, tokens: reservation.tokens });
    this.spentTokens += reservation.tokens;
    // Waiters blocked only by calls in flight had no timer: now one can be armed.
    if (this.waiters.length > 0) this.pump();
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
    while (this.spent.length > 0 && this.spent[0]!.expiresAt <= now) this.spentTokens -= this.pop().tokens;
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
      const inWindow = this.inFlight + this.spent.length;
      const requestsOk = inWindow < this.rpm;
      const tokensOk = this.inFlightTokens + this.spentTokens + w.tokens <= this.tpm || inWindow === 0;
      if (!requestsOk || !tokensOk) {
        // The earliest settled grant to leave frees room; if all are in flight, settle() pumps.
        if (this.spent.length > 0) this.arm(this.spent[0]!.expiresAt - now);
        return;
      }
      this.waiters.shift();
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      this.inFlight++;
      this.inFlightTokens += w.tokens;
      w.resolve({ at: now, tokens: w.tokens, settled: false });
    }
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }

  private push(item: Spent): void {
    const h = this.spent;
    h.push(item);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.expiresAt <= h[i]!.expiresAt) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private pop(): Spent {
    const h = this.spent;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.expiresAt < h[m]!.expiresAt) m = l;
        if (r < h.length && h[r]!.expiresAt < h[m]!.expiresAt) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
