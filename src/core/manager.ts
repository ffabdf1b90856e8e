import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import type { CacheProvider } from './cache/cacheProvider';
import { invalidRecord } from './batch/feed';
import { callWithRetries, RunContext, RunStoppedError, type CallSettings, type Outcome } from './call';
import { ConcurrencyTuner } from './concurrency';
import { computeRequestHash } from './hash';
import { silentLogger, type Logger } from './log';
import type { PriceTable } from './pricing';
import type { Provider, ProviderResponse } from './providers/provider';
import { RateController } from './rateControl';
import { RateLimiter } from './rateLimiter';
import { TokenStats } from './stats';
import { usageOf } from './tokens';
import { answerMarks, SCHEMA_INVALID } from './schema';
import type { CacheEntry, InputItem, LLMRequest, ResultRecord } from './types';
import { Wakeup } from './wakeup';

export { RunStoppedError, SCHEMA_INVALID };

/** What to do with the cache: read and write it, only write it, or leave it alone. */
export type CachePolicy = 'use' | 'refresh' | 'bypass';

export interface RequestManagerOptions {
  provider: Provider;
  /** Where answers are kept between runs; none = no caching. @default undefined */
  cache?: CacheProvider;
  /**
   * Requests in flight at once, or `'auto'`: found while the run goes, for servers that publish no
   * limits (see {@link ConcurrencyTuner}).
   * @default 16
   */
  concurrency?: number | 'auto';
  /**
   * Requests per minute (per `rateWindowMs`), paced evenly; null = none of ours (the server's, from
   * its `x-ratelimit-*` headers, are still kept). @default null
   */
  rpm?: number | null;
  /** Tokens per minute (per `rateWindowMs`), paced evenly; null = none of ours. @default null */
  tpm?: number | null;
  /** The period `rpm` and `tpm` are given for. @default 60000 */
  rateWindowMs?: number;
  /**
   * Retries after the first attempt, for failures that can succeed later (5xx, timeouts, resets).
   * Rate-limit 429s do not use them up: see `rateLimitGiveUpMs`. @default 5
   */
  maxRetries?: number;
  /**
   * Rate-limit 429s are retried for as long as the run makes progress; after this long without a
   * single successful call, the run gives up and ends its remaining rows with `rate_limited`.
   * @default 300000 (5 minutes)
   */
  rateLimitGiveUpMs?: number;
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

/** `concurrency: 'auto'` starts here, and never goes past {@link AUTO_MAX}. */
const AUTO_INITIAL = 4;
const AUTO_MAX = 256;
/** Calls in flight before the server's first answer, when the user set no limits. */
const FIRST_ROUND = 4;

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
  private readonly opts: Required<Omit<RequestManagerOptions, 'cache' | 'prices' | 'exactTokens' | 'orderWindow' | 'concurrency'>> &
    Pick<RequestManagerOptions, 'cache'>;
  /** Fixed concurrency, or the most `'auto'` may reach. */
  private readonly concurrency: number;
  private readonly autoConcurrency: boolean;
  private readonly exactTokens: boolean;
  private readonly orderWindow: number;

  constructor(options: RequestManagerOptions) {
    this.opts = {
      provider: options.provider,
      cache: options.cache,
      rpm: options.rpm ?? null,
      tpm: options.tpm ?? null,
      rateWindowMs: options.rateWindowMs ?? 60_000,
      maxRetries: Math.max(0, options.maxRetries ?? 5),
      rateLimitGiveUpMs: options.rateLimitGiveUpMs ?? 300_000,
      timeoutMs: options.timeoutMs ?? 120_000,
      cachePolicy: options.cachePolicy ?? 'use',
      cacheTtlMs: options.cacheTtlMs ?? null,
      retryBaseMs: options.retryBaseMs ?? 500,
      retryMaxMs: options.retryMaxMs ?? 30_000,
      logger: options.logger ?? silentLogger,
    };
    this.autoConcurrency = options.concurrency === 'auto';
    this.concurrency = options.concurrency === 'auto' ? AUTO_MAX : Math.max(1, options.concurrency ?? 16);
    this.exactTokens = options.exactTokens ?? !!options.tpm;
    this.orderWindow = options.orderWindow ?? Math.max(256, 8 * (this.autoConcurrency ? 32 : this.concurrency));
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
   * finished carry the error `cancelled`; when the run has to stop (a rejected key, no quota left,
   * rate limits with no progress for `rateLimitGiveUpMs`), the remaining rows read so far carry
   * the stop's code (`run_stopped`, or `rate_limited`), and the generator then throws
   * {@link RunStoppedError}. Any unexpected error in a row becomes that row's `internal_error`.
   */
  async *run(input: AsyncIterable<InputItem> | Iterable<InputItem>, options: RunOptions = {}): AsyncGenerator<ResultRecord> {
    const ctx = this.newContext();
    // Every call in flight listens on this one signal; that is by design, not a leak.
    setMaxListeners(0, ctx.stop);
    const onOuterAbort = () => ctx.abort();
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (options.signal?.aborted) ctx.abort();

    const ready = new Map<number, ResultRecord>();
    const wake = new Wakeup();
    // A stopped run must wake a reader blocked on back-pressure, so that it closes its input.
    ctx.stop.addEventListener('abort', () => wake.notify(), { once: true });
    let read = 0;
    let emitted = 0;
    /** Rows read that are neither in a call nor finished: looking up the cache, or queued for a slot. */
    let waiting = 0;
    let readerDone = false;
    let readerError: unknown;
    this.stats.reset(options.total ?? null);
    this.showLimits(ctx.rates, ctx.queue);

    const reader = (async () => {
      try {
        await this.recoverCache(ctx);
        for await (const item of input) {
          if (ctx.stop.aborted) break;
          const index = read++;
          if (item.kind === 'invalid') {
            ready.set(index, invalidRecord(item));
            this.stats.failure();
            wake.notify();
          } else {
            // The row looks itself up in the cache (or joins an identical row) before it queues
            // for a slot, so that a slot is only ever held by a call.
            waiting++;
            let left = false;
            const leftWaiting = () => {
              if (left) return;
              left = true;
              waiting--;
              wake.notify();
            };
            void this.process(item, { index, leftWaiting }, ctx).then((record) => {
              leftWaiting();
              ready.set(index, record);
              wake.notify();
            });
          }
          // Back-pressure: at most one window of rows not yet in a call, and of undelivered results.
          while (!ctx.stop.aborted && (waiting >= ctx.queue.concurrency || read - emitted >= this.orderWindow)) {
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
      // Reached also when the consumer stops early: abort what is left (the calls in flight end,
      // each row settles and leaves this run's in-flight map) and release the limiter.
      options.signal?.removeEventListener('abort', onOuterAbort);
      ctx.abort();
      ctx.queue.clear();
      ctx.limiter.dispose();
      this.stats.finish();
      if (ctx.cacheFailures > 1) {
        this.opts.logger.warn(`${ctx.cacheFailures} cache reads and writes failed in this run (the first is shown above).`);
      }
    }
  }

  /** A run's shared state: its slots, its limiter and the controllers that tune them. */
  private newContext(): RunContext {
    const { rpm, tpm, rateWindowMs: windowMs, logger } = this.opts;
    const limiter = new RateLimiter({ rpm, tpm, windowMs });
    // Without limits of the user's, the first round keeps few calls in flight: the replies' headers
    // (or their absence) say how fast to go before a burst of `concurrency` calls meets the server.
    const full = this.autoConcurrency ? AUTO_INITIAL : this.concurrency;
    const cautious = !rpm && !tpm && full > FIRST_ROUND;
    const queue = new PQueue({ concurrency: cautious ? FIRST_ROUND : full });
    // The limits in force, shown in the statistics each time they change (never during construction).
    const show = () => this.showLimits(rates, queue);
    const rates: RateController = new RateController({ limiter, user: { rpm, tpm }, windowMs, logger, onChange: show });
    const tuner = this.autoConcurrency
      ? new ConcurrencyTuner({
          initial: AUTO_INITIAL,
          max: this.concurrency,
          onChange: (limit, why) => {
            queue.concurrency = limit;
            logger.info(`Concurrency ${limit} (auto: ${why}).`);
            show();
          },
        })
      : undefined;
    return new RunContext(queue, limiter, rates, tuner, logger, () => {
      if (cautious && queue.concurrency === FIRST_ROUND) queue.concurrency = tuner ? tuner.current : full;
      show();
    });
  }

  /** Tells the statistics which limits and concurrency are in force (shown in progress lines). */
  private showLimits(rates: RateController, queue: PQueue): void {
    const { rpm, tpm, source } = rates.inForce;
    const perMinute = (n: number | null) => (n === null ? null : (n * 60_000) / this.opts.rateWindowMs);
    this.stats.setLimits({
      rpm: perMinute(rpm),
      tpm: perMinute(tpm),
      source,
      concurrency: queue.concurrency,
      autoConcurrency: this.autoConcurrency,
    });
  }

  /**
   * One row: de-duplication, cache, a slot for the call with retries, then its record. Never
   * throws: an unexpected error becomes the row's `internal_error` record. The row leaves the
   * waiting count (`row.leftWaiting`) once it needs no slot (it joined an identical row, or the
   * cache answered) or once it has one.
   */
  private async process(request: LLMRequest, row: RowSlot, ctx: RunContext): Promise<ResultRecord> {
    const timing: Timing = { started: Date.now() };
    let key = '';
    try {
      key = computeRequestHash(request, this.opts.provider.scope);
      let outcome: Outcome;
      let shared = false;
      const existing = ctx.inflight.get(key);
      if (ctx.stop.aborted) {
        row.leftWaiting();
        outcome = ctx.stopped(0);
      } else if (existing) {
        shared = true;
        row.leftWaiting();
        outcome = await existing;
      } else {
        const p = this.lookupOrCall(request, key, ctx, row, timing);
        ctx.inflight.set(key, p);
        try {
          outcome = await p;
        } finally {
          ctx.inflight.delete(key);
        }
      }
      return this.record(request, key, row, timing, outcome, shared);
    } catch (e) {
      this.opts.logger.error(`Row ${request.line} (${request.custom_id}) failed unexpectedly: ${(e as Error)?.stack ?? String(e)}`);
      const outcome: Outcome = { ok: false, code: 'internal_error', message: `Unexpected error: ${(e as Error)?.message ?? String(e)}`, attempts: 0 };
      return this.record(request, key, row, timing, outcome, false);
    }
  }

  /** The record of a row's outcome (and its statistics). */
  private record(request: LLMRequest, key: string, row: RowSlot, timing: Timing, outcome: Outcome, shared: boolean): ResultRecord {
    const model = request.body.model;
    const base = { custom_id: request.custom_id, line: request.line, latency_ms: timing.latencyMs ?? Date.now() - timing.started };
    const id = `fastllm-${key ? key.slice(3, 15) : 'unhashed'}-${row.index + 1}`;
    if (outcome.ok) {
      const body = outcome.response.body;
      const usage = usageOf(body);
      const reused = outcome.cached || shared;
      // Structured outputs: an answer that does not match the schema its request asked for is a
      // failed row (exit status, Rerun Failed Rows), with the server's body kept in the record.
      const marks = answerMarks(request, body);
      if (reused) this.stats.reusedSuccess(model, usage, outcome.cached ? 'cache' : 'dedup', marks.flags);
      else this.stats.freshSuccess(model, usage, marks.flags, base.latency_ms);
      return {
        id,
        ...base,
        response: { status_code: outcome.response.status, request_id: outcome.response.requestId, body },
        error: marks.error,
        cached: reused,
        attempts: shared ? 0 : outcome.attempts,
        ...marks.fields,
      };
    }
    this.stats.failure(model);
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
    if (cache && cachePolicy === 'use' && !request.refresh) {
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
      if (ctx.stop.aborted) return { outcome: ctx.stopped(0) };
      timing.started = Date.now();
      const result = await callWithRetries(request, ctx, this.callSettings());
      timing.latencyMs = Date.now() - timing.started;
      // The write starts before the slot goes to the next call, and is awaited after: SqliteCache
      // journals the entry synchronously, so a killed run re-sends only the calls in flight.
      return { outcome: result, stored: result.ok ? this.store(request, key, result.response, ctx) : undefined };
    });
    await stored;
    return outcome;
  }

  /**
   * Before the first lookup: stores the answers a writer that has ended since the cache was opened
   * left in its journal (see SqliteCache.recover), so that none of them is paid for again.
   */
  private async recoverCache(ctx: RunContext): Promise<void> {
    const { cache, cachePolicy } = this.opts;
    if (!cache?.recover || cachePolicy === 'bypass') return;
    try {
      const n = await cache.recover();
      if (n > 0) this.opts.logger.info(`Cache: stored ${n} answer(s) that an ended run had journaled but not written.`);
    } catch (e) {
      this.cacheFailed(ctx, 'Cache recovery failed (answers another process left in its journal are not used)', e);
    }
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

  private callSettings(): CallSettings {
    const o = this.opts;
    return {
      provider: o.provider,
      maxRetries: o.maxRetries,
      timeoutMs: o.timeoutMs,
      retryBaseMs: o.retryBaseMs,
      retryMaxMs: o.retryMaxMs,
      rateLimitGiveUpMs: o.rateLimitGiveUpMs,
      exactTokens: this.exactTokens,
      logger: o.logger,
      stats: this.stats,
    };
  }
}
