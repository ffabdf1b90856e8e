import type { Logger } from './log';
import type { Limits, RateLimiter } from './rateLimiter';
import { parseResetDuration } from './retry';

/** Where the limit in force comes from. */
export type LimitSource = 'user' | 'server' | 'adaptive';

/** The request and token limits in force, per window, and what set the binding one. */
export interface RateInForce extends Limits {
  /** null when nothing limits the run. */
  source: LimitSource | null;
}

export interface RateControllerOptions {
  /** The limiter whose limits this controller sets. */
  limiter: RateLimiter;
  /** The user's own limits (`--rpm`/`--tpm`, `fastllm.rpm`/`fastllm.tpm`); null = none given. */
  user: Limits;
  /** The period the limits are given for. @default 60000 */
  windowMs?: number;
  /** @default silent */
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** Factor applied to the dispatch rate on a 429 that says nothing (AIMD decrease). @default 0.7 */
  decrease?: number;
  /**
   * Rate added back each second without a 429, as a share of the rate before the last decrease
   * (AIMD increase): from 70 % of the rate back to all of it in six seconds.
   * @default 0.05
   */
  increase?: number;
  /** Called after the limits in force change. @default none */
  onChange?: () => void;
}

/** Successful calls remembered to measure what the server lets through at the moment of a 429. */
const RECENT = 256;
/** The span over which that rate is measured. */
const MEASURE_MS = 2000;
/**
 * The shortest span a rate is measured over: servers enforce per-second windows, and a run that
 * started 50 ms ago may have had a whole second's worth let through at once.
 */
const MIN_SPAN_MS = 1000;

/**
 * How long after a decrease a 429 still belongs to its episode: the requests sent before the
 * decrease stay in a server's per-second window (Azure's shortest, and OpenAI's quantum) for that
 * long, and a request sent then may be refused for them, whatever the new rate.
 */
const EPISODE_MS = 1000;

/**
 * Decides the limits a run paces at, from three sources, the lowest winning:
 *
 * 1. **The user's** `rpm`/`tpm`.
 * 2. **The server's**, learned from OpenAI's `x-ratelimit-limit-requests` / `-tokens` headers,
 *    which OpenAI sends on every reply ("the maximum number of requests/tokens that are permitted
 *    before exhausting the rate limit", per minute). A user's number above the server's is lowered
 *    to it, with one line in the log. When the server says a budget is spent
 *    (`x-ratelimit-remaining-*: 0`), dispatch pauses until its `x-ratelimit-reset-*` (Go
 *    durations: `1s`, `6m0s`, `12ms`). Azure sends only `remaining-*` (per 10-second window for
 *    requests), which is read the same way.
 * 3. **Adaptive** (AIMD), for 429s that come with neither a `retry-after` nor rate-limit headers:
 *    the dispatch rate of the whole run drops to 70 % of what the server was letting through
 *    (successful calls over the last two seconds), at most once per congestion episode (a 429 of
 *    a request granted before, or within a second after, the last decrease is the same episode),
 *    and recovers additively while no 429 comes.
 */
export class RateController {
  private readonly limiter: RateLimiter;
  private readonly user: Limits;
  private readonly windowMs: number;
  private readonly logger: Pick<Logger, 'info' | 'warn'> | undefined;
  private readonly decrease: number;
  private readonly increase: number;
  private readonly onChange: (() => void) | undefined;
  private server: Limits = { rpm: null, tpm: null };
  /** Requests per window allowed by AIMD; null while it is not engaged. */
  private adaptive: number | null = null;
  private step = 0;
  /** The rate the last decrease was cut from. */
  private basis = 0;
  private lastDecreaseAt = 0;
  private lastIncreaseAt = 0;
  /** Times of recent successful calls. */
  private readonly successes: number[] = [];
  private firstSuccessAt: number | undefined;
  private told = { rpm: false, tpm: false };

  constructor(options: RateControllerOptions) {
    this.limiter = options.limiter;
    this.user = { rpm: options.user.rpm || null, tpm: options.user.tpm || null };
    this.windowMs = options.windowMs ?? 60_000;
    this.logger = options.logger;
    this.decrease = options.decrease ?? 0.7;
    this.increase = options.increase ?? 0.05;
    this.onChange = options.onChange;
    this.apply(false);
  }

  /** The limits in force, and what set them. */
  get inForce(): RateInForce {
    const { rpm, tpm } = this.limiter.current;
    // Described by the request budget when there is one, else by the token budget.
    let source: LimitSource | null = null;
    if (this.adaptive !== null && rpm === this.adaptive) source = 'adaptive';
    else if (rpm !== null) source = rpm === this.user.rpm ? 'user' : 'server';
    else if (tpm !== null) source = tpm === this.user.tpm ? 'user' : 'server';
    return { rpm, tpm, source };
  }

  /**
   * Reads the rate-limit headers of any reply (success or error). Returns true when they said
   * something about the limits (so a 429 that carries them is not a 429 "without information").
   */
  observe(headers: Record<string, string>, now = Date.now()): boolean {
    let informative = false;
    const learned: Limits = { ...this.server };
    for (const [kind, key] of [['requests', 'rpm'], ['tokens', 'tpm']] as const) {
      const limit = Number(headers[`x-ratelimit-limit-${kind}`]);
      if (headers[`x-ratelimit-limit-${kind}`] !== undefined && Number.isFinite(limit) && limit > 0) {
        learned[key] = limit;
        informative = true;
      }
      const remainingHeader = headers[`x-ratelimit-remaining-${kind}`];
      if (remainingHeader !== undefined) {
        informative = true;
        const reset = parseResetDuration(headers[`x-ratelimit-reset-${kind}`]);
        if (Number(remainingHeader) <= 0 && reset !== undefined) this.limiter.pauseUntil(now + reset);
      }
    }
    if (learned.rpm !== this.server.rpm || learned.tpm !== this.server.tpm) {
      this.server = learned;
      this.apply();
    }
    return informative;
  }

  /**
   * A 429 that came with neither `retry-after` nor rate-limit headers, for a request granted at
   * `grantedAt`: the AIMD decrease, once per congestion episode.
   */
  congested(grantedAt: number, now = Date.now()): void {
    const measured = this.goodput(now);
    if (this.adaptive !== null && grantedAt < this.lastDecreaseAt + EPISODE_MS) {
      // The same episode. Its first 429 may have been read before the successes of the same burst
      // (one round of replies comes back in any order): when more is now seen to have got
      // through, the cut is from that, not from the first, short count.
      if (measured !== null && measured > this.basis) this.cut(measured, now);
      return;
    }
    // Nothing measured and no limit known (a 429 before any success): there is no rate to cut
    // from, and a guess would be a stall (1 request a minute was one). Each row then backs off on
    // its own until something succeeds.
    const basis = this.adaptive ?? measured ?? this.ceiling().rpm;
    if (basis !== null) this.cut(basis, now);
  }

  /** The AIMD decrease to {@link decrease} × `basis`, and the increase step that goes with it. */
  private cut(basis: number, now: number): void {
    this.basis = basis;
    this.adaptive = Math.max(1, basis * this.decrease);
    this.step = Math.max(basis * this.increase, 1e-3);
    this.lastDecreaseAt = now;
    this.lastIncreaseAt = now;
    this.logger?.info(`Rate limited without a retry-after: dispatch slowed to ${fmtRate(this.adaptive, this.windowMs)}.`);
    this.apply();
  }

  /** A call succeeded: the AIMD increase, one step per second since the last change. */
  succeeded(now = Date.now()): void {
    this.firstSuccessAt ??= now;
    this.successes.push(now);
    if (this.successes.length > RECENT) this.successes.shift();
    if (this.adaptive === null || now - this.lastIncreaseAt < 1000) return;
    const steps = Math.floor((now - this.lastIncreaseAt) / 1000);
    this.lastIncreaseAt += steps * 1000;
    this.adaptive += steps * this.step;
    const ceiling = this.ceiling().rpm;
    if (ceiling !== null && this.adaptive >= ceiling) this.adaptive = null;
    this.apply();
  }

  /** The lowest of the user's and the server's limits. */
  private ceiling(): Limits {
    const min = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
    return { rpm: min(this.user.rpm, this.server.rpm), tpm: min(this.user.tpm, this.server.tpm) };
  }

  /** Sets the limiter's limits from the three sources; `notify`: tell {@link RateControllerOptions.onChange}. */
  private apply(notify = true): void {
    const ceiling = this.ceiling();
    for (const key of ['rpm', 'tpm'] as const) {
      const user = this.user[key];
      const server = this.server[key];
      if (user !== null && server !== null && server < user && !this.told[key]) {
        this.told[key] = true;
        const what = key === 'rpm' ? 'requests' : 'tokens';
        this.logger?.warn(`The server allows ${server} ${what} per minute, fewer than the ${user} you set: pacing at the server's limit.`);
      }
    }
    const rpm = this.adaptive === null ? ceiling.rpm : Math.min(this.adaptive, ceiling.rpm ?? Infinity);
    this.limiter.setLimits({ rpm, tpm: ceiling.tpm });
    if (notify) this.onChange?.();
  }

  /**
   * Successful calls per window over the last {@link MEASURE_MS} (at least {@link MIN_SPAN_MS}):
   * what the server was letting through. Null before any success.
   */
  private goodput(now: number): number | null {
    if (this.firstSuccessAt === undefined) return null;
    const recent = this.successes.filter((t) => now - t <= MEASURE_MS).length;
    const span = Math.max(MIN_SPAN_MS, Math.min(MEASURE_MS, now - this.firstSuccessAt));
    return Math.max(1, (recent / span) * this.windowMs);
  }
}

function fmtRate(perWindow: number, windowMs: number): string {
  return windowMs === 60_000 ? `${Math.round(perWindow * 10) / 10} requests/min` : `${Math.round(perWindow * 10) / 10} requests per ${windowMs} ms`;
}
