/**
 * One row's call, with its retries: what the RequestManager does between taking a slot and
 * giving it back. Pacing, learned limits, AIMD, `concurrency: 'auto'` and the reasons a run stops
 * all meet here, so each rule about a failure is in one place.
 */
import type PQueue from 'p-queue';
import type { ConcurrencyTuner } from './concurrency';
import type { Logger } from './log';
import { RunStoppingProviderError } from './providers/languageModel';
import { ProviderError, type Provider, type ProviderResponse } from './providers/provider';
import type { RateController } from './rateControl';
import type { RateLimiter } from './rateLimiter';
import { backoffMs, classifyFailure, parseRetryAfter, sleep } from './retry';
import type { TokenStats } from './stats';
import { estimateRequestTokens, usageOf } from './tokens';
import type { LLMRequest } from './types';

/** Thrown by RequestManager.run (after all records are delivered) when the run had to stop. */
export class RunStoppedError extends Error {
  constructor(
    message: string,
    /** Why: `auth_failed`, `insufficient_quota` or `rate_limited`. */
    readonly code: string,
    /** The error code given to the rows the stop left unfinished. @default 'run_stopped' */
    readonly rowCode = 'run_stopped',
  ) {
    super(message);
    this.name = 'RunStoppedError';
  }
}

/** How one row ended. */
export type Outcome =
  | { ok: true; response: ProviderResponse; attempts: number; cached: boolean }
  | { ok: false; code: string; message: string; status?: number; body?: unknown; requestId?: string | null; attempts: number };

/** The settings a call needs from the RequestManager's options. */
export interface CallSettings {
  provider: Provider;
  maxRetries: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Give up on rate limits after this long without a successful call. */
  rateLimitGiveUpMs: number;
  exactTokens: boolean;
  logger: Logger;
  stats: TokenStats;
}

/** Completed attempts whose status decides whether 403s are about the key (all of them 403: yes). */
const FIRST_FEW = 3;

/** What one run shares between its rows. */
export class RunContext {
  /** Aborted on cancellation, on a fatal error, or when the consumer stops early. */
  readonly stop: AbortSignal;
  /** Set when the run had to stop. */
  fatal: RunStoppedError | undefined;
  /** Identical requests in flight in this run share one outcome (keyed by request hash). */
  readonly inflight = new Map<string, Promise<Outcome>>();
  /** Cache reads and writes that failed; only the first is a warning (a damaged file fails every row). */
  cacheFailures = 0;
  /** Epoch ms of the last successful call (or of the run's start): rate limits give up after long without one. */
  lastProgressAt = Date.now();
  /**
   * Models that answered 400 "Unsupported parameter: 'max_tokens' … Use 'max_completion_tokens'
   * instead" in this run: their requests go with `max_completion_tokens` from then on (see
   * {@link withLearnedParams}), so the lesson costs one call per model, not one per row.
   */
  readonly maxCompletionModels = new Set<string>();
  /** Statuses of the first {@link FIRST_FEW} completed attempts (200 for an answer). */
  private readonly firstStatuses: number[] = [];
  private readonly controller: AbortController;

  constructor(
    /** Its slots: a row holds one for its call (with retries) only. */
    readonly queue: PQueue,
    readonly limiter: RateLimiter,
    readonly rates: RateController,
    readonly tuner: ConcurrencyTuner | undefined,
    private readonly logger: Logger,
    /** Called at the server's first answer. */
    private firstReply?: () => void,
  ) {
    this.controller = new AbortController();
    this.stop = this.controller.signal;
  }

  /** Stops the run: aborts calls in flight and stops dispatch. */
  abort(): void {
    this.controller.abort();
  }

  /** Stops the run for good, with the reason every unfinished row will carry. The first reason wins. */
  onFatal(e: RunStoppedError): void {
    if (this.fatal) return;
    this.fatal = e;
    // Info, not error: the caller shows the reason once (the CLI's last line, VS Code's message).
    this.logger.info(`The run stopped: ${e.message}`);
    this.abort();
  }

  /** The outcome of a row that did not finish because the run stopped or was cancelled. */
  stopped(attempts: number): Outcome {
    const f = this.fatal;
    return f
      ? { ok: false, code: f.rowCode, message: `Not finished: the run stopped. ${f.message}`, attempts }
      : { ok: false, code: 'cancelled', message: 'Not finished: the run was cancelled.', attempts };
  }

  /**
   * The server answered (anything with an HTTP status). Until its first answer, a run without
   * limits of its own keeps few calls in flight (see RequestManager), so that it learns the
   * server's limits from one round of replies rather than from a burst of 429s.
   */
  replied(): void {
    if (this.firstReply) {
      const f = this.firstReply;
      this.firstReply = undefined;
      // Widened after the caller has read the reply: a 429's pause (or `remaining: 0`) is in force
      // before the calls this lets in ask the limiter for a slot.
      queueMicrotask(f);
    }
  }

  /** Notes the status of a completed attempt; true once the first few were all 403. */
  noteStatus(status: number): boolean {
    if (this.firstStatuses.length < FIRST_FEW) this.firstStatuses.push(status);
    return this.firstStatuses.length === FIRST_FEW && this.firstStatuses.every((s) => s === 403);
  }
}

/**
 * Sends one request until it succeeds or must stop: retries what can succeed later, within
 * `maxRetries` for failures and without limit for rate limits (429) while the run makes progress.
 * Never throws.
 */
export async function callWithRetries(original: LLMRequest, ctx: RunContext, s: CallSettings): Promise<Outcome> {
  const { provider, stats, logger } = s;
  let request = withLearnedParams(original, ctx);
  const { stop, limiter, rates, tuner } = ctx;
  let attempts = 0;
  /** Failures other than rate limits, counted against `maxRetries`. */
  let retries = 0;
  /** Rate-limit 429s of this row in a row, for the backoff when the server gives no wait. */
  let throttled = 0;
  for (;;) {
    let failure: ProviderError;
    let grantedAt = Date.now();
    try {
      if (stop.aborted) return ctx.stopped(attempts);
      const estimate = limiter.limitsTokens ? estimateRequestTokens(request, s.exactTokens) : 0;
      const reservation = await limiter.acquire(estimate, stop);
      grantedAt = reservation.at;
      attempts++;
      stats.attemptStarted();
      const started = Date.now();
      try {
        const response = await provider.send(request, { signal: stop, timeoutMs: s.timeoutMs });
        const now = Date.now();
        ctx.replied();
        rates.observe(response.headers, now);
        const usage = usageOf(response.body);
        if (usage) limiter.charge(reservation, usage.total_tokens);
        rates.succeeded(now);
        tuner?.completed(started, now - started, now);
        ctx.noteStatus(response.status);
        ctx.lastProgressAt = now;
        return { ok: true, response, attempts, cached: false };
      } finally {
        stats.attemptEnded();
      }
    } catch (e) {
      failure = e instanceof ProviderError ? e : new ProviderError(String((e as Error)?.message ?? e), undefined, 'internal_error');
    }

    if (!stop.aborted && refusesMaxTokens(failure, request)) {
      // Sent again at once with the field the model takes; not a retry, and not a failure.
      const model = String(request.body.model);
      if (!ctx.maxCompletionModels.has(model)) logger.info(`${model} takes max_completion_tokens, not max_tokens (its 400 says so): sending that from now on.`);
      ctx.maxCompletionModels.add(model);
      ctx.replied();
      request = withLearnedParams(original, ctx);
      continue;
    }
    const kind = stop.aborted ? 'cancelled' : classifyFailure(failure);
    const fail = (code: string, message: string): Outcome => ({
      ok: false,
      code,
      message,
      status: failure.status,
      body: failure.status !== undefined ? { error: { message: failure.message, code: failure.code } } : undefined,
      requestId: failure.headers['x-request-id'] ?? null,
      attempts,
    });
    if (kind === 'cancelled') return ctx.stopped(attempts);
    if (failure instanceof RunStoppingProviderError) {
      // The provider knows that every row would fail alike (VS Code's LM API: no permission, model gone).
      ctx.onFatal(new RunStoppedError(failure.message, failure.stopCode));
      return fail(failure.stopCode, failure.message);
    }
    if (failure.status !== undefined) {
      ctx.replied();
      rates.observe(failure.headers);
    }
    const allForbidden = failure.status !== undefined && ctx.noteStatus(failure.status);

    if (kind === 'quota') {
      const msg =
        `The account has no quota left (HTTP 429 ${failure.code}): ${failure.message} ` +
        "Add credit or raise the spending limit on your provider's billing page " +
        '(OpenAI: https://platform.openai.com/settings/organization/billing), then run again.';
      ctx.onFatal(new RunStoppedError(msg, 'insufficient_quota'));
      return fail('insufficient_quota', msg);
    }
    if (kind === 'auth' || (kind === 'forbidden' && allForbidden)) {
      const msg =
        kind === 'auth'
          ? `The server rejected the API key (HTTP ${failure.status}): ${failure.message}. ` +
            'Check the key (and that it is meant for this base URL), then run again.'
          : `The server refused each of the first ${FIRST_FEW} requests (HTTP 403): ${failure.message}. ` +
            "Check that the key may use this model and endpoint, then run again.";
      ctx.onFatal(new RunStoppedError(msg, 'auth_failed'));
      return fail('auth_failed', msg);
    }
    if (kind === 'forbidden' || kind === 'final') {
      const code = failure.status !== undefined ? failure.code || `http_${failure.status}` : failure.code;
      return fail(code, failure.message);
    }

    // Rate limited, or a failure that can succeed later. A server-given wait is honoured exactly
    // (never undercut), and a 429's pauses everyone.
    const now = Date.now();
    const retryAfter = parseRetryAfter(failure.headers, now);
    let wait: number;
    if (kind === 'rateLimited') {
      stats.throttled();
      tuner?.overloaded(now);
      throttled++;
      const informative = failure.status !== undefined && hasRateHeaders(failure.headers);
      if (retryAfter === undefined && !informative) rates.congested(grantedAt, now);
      wait = retryAfter !== undefined ? Math.max(retryAfter, 1) : backoffMs(throttled, { baseMs: s.retryBaseMs, maxMs: s.retryMaxMs });
      if (retryAfter !== undefined) limiter.pauseUntil(now + wait);
      const patience = ctx.lastProgressAt + s.rateLimitGiveUpMs;
      if (now >= patience || (retryAfter !== undefined && now + wait > patience)) {
        const quiet = Math.round((now - ctx.lastProgressAt) / 1000);
        const msg =
          retryAfter !== undefined && now + wait > patience && now < patience
            ? `Rate limited: the server asks to wait ${Math.round(wait / 1000)} s, longer than the ${Math.round(s.rateLimitGiveUpMs / 1000)} s the run waits without progress. Run again later, or raise the give-up time.`
            : `Rate limited: no request has succeeded for ${quiet} s. The run gave up; run again later (the answers so far are kept), or lower the rate.`;
        ctx.onFatal(new RunStoppedError(msg, 'rate_limited', 'rate_limited'));
        return fail('rate_limited', msg);
      }
    } else {
      if (failure.status === 503) tuner?.overloaded(now);
      retries++;
      if (retries > s.maxRetries) return fail(failure.status !== undefined ? failure.code || `http_${failure.status}` : failure.code, `${failure.message} (gave up after ${attempts} attempts)`);
      wait = retryAfter !== undefined ? Math.max(retryAfter, 1) : backoffMs(retries, { baseMs: s.retryBaseMs, maxMs: s.retryMaxMs });
    }
    stats.retried();
    logger.debug(`Retrying row ${request.line} in ${wait} ms after ${failure.status ?? failure.code}: ${failure.message}`);
    try {
      await sleep(wait, stop);
    } catch {
      return ctx.stopped(attempts);
    }
  }
}

/**
 * The request as it goes out: for a model learned to refuse `max_tokens` (see
 * {@link RunContext.maxCompletionModels}), `max_tokens` becomes `max_completion_tokens`. The cache
 * key is the original request's, so a file's cache entries do not depend on what was learned.
 */
export function withLearnedParams(request: LLMRequest, ctx: RunContext): LLMRequest {
  if (request.kind !== 'chat' || request.body.max_tokens === undefined || !ctx.maxCompletionModels.has(String(request.body.model))) return request;
  const { max_tokens, ...rest } = request.body;
  return { ...request, body: { ...rest, max_completion_tokens: rest.max_completion_tokens ?? max_tokens } };
}

/**
 * True for OpenAI's 400 to `max_tokens` sent to a reasoning model: code `unsupported_parameter`,
 * param `max_tokens`, "Unsupported parameter: 'max_tokens' is not supported with this model. Use
 * 'max_completion_tokens' instead." (https://platform.openai.com/docs/guides/reasoning), for a chat
 * request that did send `max_tokens` (so sending it again another way can help).
 */
function refusesMaxTokens(failure: ProviderError, request: LLMRequest): boolean {
  if (failure.status !== 400 || request.kind !== 'chat' || request.body.max_tokens === undefined) return false;
  return /max_tokens/.test(failure.message) && (failure.code === 'unsupported_parameter' || /max_completion_tokens/.test(failure.message));
}

/** True when a reply carries OpenAI's or Azure's rate-limit headers. */
function hasRateHeaders(headers: Record<string, string>): boolean {
  return Object.keys(headers).some((h) => h.startsWith('x-ratelimit-'));
}
