import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import type { CacheProvider } from './cache/cacheProvider';
import { computeRequestHash } from './hash';
import { silentLogger, type Logger } from './log';
import type { PriceTable } from './pricing';
import { ProviderError, type Provider, type ProviderResponse } from './providers/provider';
import { RateLimiter } from './rateLimiter';
import { backoffMs, classifyFailure, parseRetryAfter, sleep } from './retry';
import { TokenStats } from './stats';
import { estimateRequestTokens, usageOf } from './tokens';
import type { CacheEntry, InputError, InputItem, LLMRequest, ResultRecord } from './types';
import { Wakeup } from './wakeup';

/** What to do with the cache: read and write it, only write it, or leave it alone. */
export type CachePolicy = 'use' | 'refresh' | 'bypass';

export interface RequestManagerOptions {
  provider: Provider;
  /** Where answers are kept between runs; none = no caching. @default undefined */
  cache?: CacheProvider;
  /** Requests in flight at once. @default 16 */
  concurrency?: number;
  /** Requests per minute (per `rateWindowMs`); null = unlimited. @default null */
  rpm?: number | null;
  /** Tokens per minute (per `rateWindowMs`); null = unlimited. @default null */
  tpm?: number | null;
  /** The rate-limit window. @default 60000 */
  rateWindowMs?: number;
  /** Retries after the first attempt, for failures that can succeed later. @default 5 */
  maxRetries?: number;
  /** Per-attempt timeout. @default 120000 */
  timeoutMs?: number;
  /** @default 'use' */
  cachePolicy?: CachePolicy;
  /** Cache entries expire after this long; null = never. @default null */
  cacheTtlMs?: number | null;
  /** First retry waits about this long, doubling each time. @default 500 */
  retryBaseMs?: number;
  /** Longest wait between attempts (a longer `retry-after` is still honoured). @default 30000 */
  retryMaxMs?: number;
  /**
   * Count prompt tokens with the real tokenizer. Needed for an exact TPM budget; otherwise the
   * 4-characters-a-token estimate is used, since tokenizing every prompt costs CPU.
   * @default true when `tpm` is set
   */
  exactTokens?: boolean;
  /** Results that may wait for an earlier, slower row before being delivered. @default max(256, 8 × concurrency) */
  orderWindow?: number;
  prices?: PriceTable;
  logger?: Logger;
}

export interface RunOptions {
  /** Stops dispatch and aborts calls in flight; every finished result is still delivered. */
  signal?: AbortSignal;
  /** Number of rows expected, for the ETA. */
  total?: number;
}

/** Thrown by {@link RequestManager.run} (after all records are delivered) when the run had to stop. */
export class RunStoppedError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'RunStoppedError';
  }
}

/** What one run shares between its rows. */
interface RunContext {
  /** Aborted on cancellation, on a fatal error, or when the consumer stops early. */
  stop: AbortSignal;
  /** Its `concurrency` slots: a row takes one for its call (with retries) only. */
  queue: PQueue;
  limiter: RateLimiter;
  /** Set when a 401/403 stopped the run. */
  fatal?: RunStoppedError;
  onFatal(e: RunStoppedError): void;
  /** Cache reads and writes that failed; only the first is a warning (a damaged file fails every row). */
  cacheFailures: number;
}

/** A row's place in its run. */
interface RowSlot {
  index: number;
  /** Called once, when the row stops waiting (it has a slot, or needs none). */
  leftWaiting(): void;
}

/** When a row started, and how long its call took (a record's `latency_ms`); without a call, until its outcome. */
interface Timing {
  started: number;
  latencyMs?: number;
}

type Outcome =
  | { ok: true; response: ProviderResponse; attempts: number; cached: boolean }
  | { ok: false; code: string; message: string; status?: number; body?: unknown; requestId?: string | null; attempts: number };


/**
 * Runs a stream of requests through one provider as fast as the limits allow (FastLLM's
 * RequestManager).
 *
 * - A rolling window: up to `concurrency` calls in flight; the next starts as soon as any ends.
 * - Back-pressure: input is pulled only as fast as results drain, so memory stays bounded.
 * - Results come out in input order, each as soon as it and all earlier ones are done.
 * - Identical requests in flight at once share one call; cached answers make none. A row looks
 *   itself up before it queues for a slot, so slots are held by calls only, never by cache reads.
 * - Retries only what can succeed later; a 401/403 stops the whole run.
 *
 * Invariant: every input item yields exactly one record, unless the consumer stops iterating.
 */
export class RequestManager {
  readonly stats: TokenStats;
  private readonly opts: Required<Omit<RequestManagerOptions, 'cache' | 'prices' | 'exactTokens' | 'orderWindow'>> &
    Pick<RequestManagerOptions, 'cache'>;
  private readonly exactTokens: boolean;
  private readonly orderWindow: number;
  private readonly inflight = new Map<string, Promise<Outcome>>();

  constructor(options: RequestManagerOptions) {
    this.opts = {
      provider: options.provider,
      cache: options.cache,
      concurrency: Math.max(1, options.concurrency ?? 16),
      rpm: options.rpm ?? null,
      tpm: options.tpm ?? null,
      rateWindowMs: options.rateWindowMs ?? 60_000,
      maxRetries: Math.max(0, options.maxRetries ?? 5),
      timeoutMs: options.timeoutMs ?? 120_000,
      cachePolicy: options.cachePolicy ?? 'use',
      cacheTtlMs: options.cacheTtlMs ?? null,
      retryBaseMs: options.retryBaseMs ?? 500,
      retryMaxMs: options.retryMaxMs ?? 30_000,
      logger: options.logger ?? silentLogger,
    };
    this.exactTokens = options.exactTokens ?? !!options.tpm;
    this.orderWindow = options.orderWindow ?? Math.max(256, 8 * this.opts.concurrency);
    this.stats = new TokenStats({ rpmLimit: this.opts.rpm, tpmLimit: this.opts.tpm, prices: options.prices });
  }

  /** Runs a single request (run on selection, tests); returns its record. */
  async runOne(request: LLMRequest, options: RunOptions = {}): Promise<ResultRecord> {
    for await (const record of this.run([request], options)) return record;
    throw new Error('unreachable: run() yielded no record');
  }

  /**
   * Runs every item of `input` and yields one record per item, in input order. Invalid input
   * items become error records in place. When cancelled, the records of rows that had not
   * finished carry the error `cancelled`; after a 401/403 the remaining rows read so far carry
   * `run_stopped`, and the generator then throws {@link RunStoppedError}.
   */
  async *run(input: AsyncIterable<InputItem> | Iterable<InputItem>, options: RunOptions = {}): AsyncGenerator<ResultRecord> {
    const { concurrency } = this.opts;
    const stop = new AbortController();
    // Every call in flight listens on this one signal; that is by design, not a leak.
    setMaxListeners(0, stop.signal);
    const onOuterAbort = () => stop.abort();
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (options.signal?.aborted) stop.abort();

    const limiter = new RateLimiter({ rpm: this.opts.rpm, tpm: this.opts.tpm, windowMs: this.opts.rateWindowMs });
    const queue = new PQueue({ concurrency });
    const ready = new Map<number, ResultRecord>();
    const wake = new Wakeup();
    let read = 0;
    let emitted = 0;
    /** Rows read that are neither in a call nor finished: looking up the cache, or queued for a slot. */
    let waiting = 0;
    let readerDone = false;
    let readerError: unknown;
    this.stats.reset(options.total ?? null);
    const ctx: RunContext = {
      stop: stop.signal,
      queue,
      limiter,
      cacheFailures: 0,
      onFatal: (e) => {
        if (ctx.fatal) return;
        ctx.fatal = e;
        this.opts.logger.error(e.message);
        stop.abort();
      },
    };

    const reader = (async () => {
      try {
        for await (const item of input) {
          if (stop.signal.aborted) break;
          const index = read++;
          if (item.kind === 'invalid') {
            ready.set(index, this.invalidRecord(item));
            this.stats.failure();
            wake.notify();
          } else {
            // The row looks itself up in the cache (or joins an identical row) before it queues
            // for a slot, so that a slot is only ever held by a call.
            waiting++;
            const leftWaiting = () => {
              waiting--;
              wake.notify();
            };
            void this.process(item, { index, leftWaiting }, ctx).then((record) => {
              ready.set(index, record);
              wake.notify();
            });
          }
          // Back-pressure: at most one window of rows not yet in a call, and of undelivered results.
          while (!stop.signal.aborted && (waiting >= concurrency || read - emitted >= this.orderWindow)) {
            await wake.wait();
          }
        }
      } catch (e) {
        readerError = e;
      } finally {
        readerDone = true;
        wake.notify();
      }
    })();

    try {
      for (;;) {
        while (ready.has(emitted)) {
          const record = ready.get(emitted)!;
          ready.delete(emitted);
          emitted++;
          wake.notify();
          yield record;
        }
        if (readerDone && emitted === read) break;
        await wake.wait();
      }
      await reader;
      if (readerError) throw readerError;
      if (ctx.fatal) throw ctx.fatal;
    } finally {
      // Reached also when the consumer stops early: abort what is left and release the limiter.
      options.signal?.removeEventListener('abort', onOuterAbort);
      stop.abort();
      queue.clear();
      limiter.dispose();
      this.stats.finish();
      if (ctx.cacheFailures > 1) {
        this.opts.logger.warn(`${ctx.cacheFailures} cache reads and writes failed in this run (the first is shown above).`);
      }
    }
  }

  private invalidRecord(item: InputError): ResultRecord {
    return {
      id: `fastllm-invalid-${item.line}`,
      custom_id: item.custom_id,
      response: null,
      error: item.error,
      line: item.line,
      cached: false,
      attempts: 0,
      latency_ms: 0,
    };
  }

  /**
   * One row: de-duplication, cache, a slot for the call with retries, then its record. Never
   * throws. The row leaves the waiting count (`row.leftWaiting`) once it needs no slot (it joined
   * an identical row, or the cache answered) or once it has one.
   */
  private async process(request: LLMRequest, row: RowSlot, ctx: RunContext): Promise<ResultRecord> {
    const timing: Timing = { started: Date.now() };
    const key = computeRequestHash(request, this.opts.provider.scope);
    let outcome: Outcome;
    let shared = false;
    const existing = this.inflight.get(key);
    if (ctx.stop.aborted) {
      row.leftWaiting();
      outcome = this.stopped(ctx, 0);
    } else if (existing) {
      shared = true;
      row.leftWaiting();
      outcome = await existing;
    } else {
      const p = this.lookupOrCall(request, key, ctx, row, timing);
      this.inflight.set(key, p);
      try {
        outcome = await p;
      } finally {
        this.inflight.delete(key);
      }
    }

    const model = request.body.model;
    const base = { custom_id: request.custom_id, line: request.line, latency_ms: timing.latencyMs ?? Date.now() - timing.started };
    const id = `fastllm-${key.slice(3, 15)}-${row.index + 1}`;
    if (outcome.ok) {
      const usage = usageOf(outcome.response.body);
      const reused = outcome.cached || shared;
      if (reused) this.stats.reusedSuccess(model, usage, outcome.cached ? 'cache' : 'dedup');
      else this.stats.freshSuccess(model, usage);
      return {
        id,
        ...base,
        response: { status_code: outcome.response.status, request_id: outcome.response.requestId, body: outcome.response.body },
        error: null,
        cached: reused,
        attempts: shared ? 0 : outcome.attempts,
      };
    }
    this.stats.failure();
    return {
      id,
      ...base,
      response:
        outcome.status !== undefined
          ? { status_code: outcome.status, request_id: outcome.requestId ?? null, body: outcome.body ?? null }
          : null,
      error: { code: outcome.code, message: outcome.message },
      cached: false,
      attempts: shared ? 0 : outcome.attempts,
    };
  }

  /** The outcome of a row that did not finish because the run stopped or was cancelled. */
  private stopped(ctx: RunContext, attempts: number): Outcome {
    return ctx.fatal
      ? { ok: false, code: 'run_stopped', message: `Not finished: the run stopped. ${ctx.fatal.message}`, attempts }
      : { ok: false, code: 'cancelled', message: 'Not finished: the run was cancelled.', attempts };
  }

  /**
   * The cache's answer, or else the call's (made in a slot of `ctx.queue`, which the row leaves
   * once its answer is on its way to the cache). Sets `timing.latencyMs` to the call's, when it made one.
   */
  private async lookupOrCall(
    request: LLMRequest,
    key: string,
    ctx: RunContext,
    row: RowSlot,
    timing: Timing,
  ): Promise<Outcome> {
    const { cache, cachePolicy } = this.opts;
    if (cache && cachePolicy === 'use') {
      try {
        const hit = await cache.get(key);
        if (hit) {
          row.leftWaiting();
          return {
            ok: true,
            cached: true,
            attempts: 0,
            response: { status: 200, requestId: hit.request_id, body: hit.response, headers: {} },
          };
        }
      } catch (e) {
        this.cacheFailed(ctx, 'Cache read failed, calling the API instead', e);
      }
    }
    const { outcome, stored } = await ctx.queue.add(async () => {
      row.leftWaiting();
      if (ctx.stop.aborted) return { outcome: this.stopped(ctx, 0) };
      timing.started = Date.now();
      const result = await this.callWithRetries(request, ctx);
      timing.latencyMs = Date.now() - timing.started;
      // The write starts before the slot goes to the next call, and is awaited after: SqliteCache
      // journals the entry synchronously, so a killed run re-sends only the calls in flight.
      return { outcome: result, stored: result.ok ? this.store(request, key, result.response, ctx) : undefined };
    });
    await stored;
    return outcome;
  }

  /** Writes an answer to the cache (unless the policy is `bypass`). Never rejects. */
  private async store(request: LLMRequest, key: string, response: ProviderResponse, ctx: RunContext): Promise<void> {
    const { cache, cachePolicy } = this.opts;
    if (!cache || cachePolicy === 'bypass') return;
    try {
      await cache.set(key, this.cacheEntry(request, response), this.opts.cacheTtlMs ?? undefined);
    } catch (e) {
      this.cacheFailed(ctx, 'Cache write failed (the result is kept in the results)', e);
    }
  }

  /** Warns of the first cache failure of a run; later ones go to debug, so that a damaged file does not warn once per row. */
  private cacheFailed(ctx: RunContext, what: string, e: unknown): void {
    const message = `${what}: ${(e as Error)?.message ?? String(e)}`;
    if (ctx.cacheFailures++ === 0) this.opts.logger.warn(message);
    else this.opts.logger.debug(message);
  }

  private cacheEntry(request: LLMRequest, response: ProviderResponse): CacheEntry {
    const now = Date.now();
    const ttl = this.opts.cacheTtlMs;
    return {
      request: request.body as Record<string, unknown>,
      endpoint: { kind: request.kind, baseURL: this.opts.provider.scope.baseURL },
      response: response.body,
      request_id: response.requestId,
      model: (response.body as { model?: string } | null)?.model ?? request.body.model,
      created: now,
      expires: ttl ? now + ttl : null,
      usage: usageOf(response.body) ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    };
  }

  private async callWithRetries(request: LLMRequest, ctx: RunContext): Promise<Outcome> {
    const { provider, maxRetries, timeoutMs, logger } = this.opts;
    const { stop, limiter } = ctx;
    const estimate = limiter.limited ? estimateRequestTokens(request, this.exactTokens) : 0;
    let attempts = 0;
    for (;;) {
      let failure: ProviderError;
      try {
        const reservation = await limiter.acquire(estimate, stop);
        attempts++;
        this.stats.attemptStarted();
        try {
          const response = await provider.send(request, { signal: stop, timeoutMs });
          const usage = usageOf(response.body);
          if (usage) limiter.reconcile(reservation, usage.total_tokens);
          limiter.observeHeaders(response.headers);
          return { ok: true, response, attempts, cached: false };
        } finally {
          limiter.settle(reservation);
          this.stats.attemptEnded();
        }
      } catch (e) {
        failure = e instanceof ProviderError ? e : new ProviderError(String((e as Error)?.message ?? e), undefined, 'internal_error');
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
      if (kind === 'cancelled') return this.stopped(ctx, attempts);
      if (kind === 'fatal') {
        const msg =
          `The server rejected the API key (HTTP ${failure.status}): ${failure.message}. ` +
          'Check the key (and that it is meant for this base URL), then run again.';
        ctx.onFatal(new RunStoppedError(msg, 'auth_failed'));
        return fail('auth_failed', msg);
      }
      if (kind === 'final' || attempts > maxRetries) {
        const code = failure.status !== undefined ? failure.code || `http_${failure.status}` : failure.code;
        const suffix = kind === 'retry' ? ` (gave up after ${attempts} attempts)` : '';
        return fail(code, failure.message + suffix);
      }

      // Retry. A server-given wait is honoured exactly (never undercut); a 429 pauses everyone.
      const retryAfter = parseRetryAfter(failure.headers);
      let wait = backoffMs(attempts, { baseMs: this.opts.retryBaseMs, maxMs: this.opts.retryMaxMs });
      if (retryAfter !== undefined) wait = Math.max(retryAfter, 1);
      if (failure.status === 429) limiter.pauseUntil(Date.now() + wait);
      this.stats.retried();
      logger.debug(`Retrying row ${request.line} in ${wait} ms after ${failure.status ?? failure.code}: ${failure.message}`);
      try {
        await sleep(wait, stop);
      } catch {
        return this.stopped(ctx, attempts);
      }
    }
  }
}
