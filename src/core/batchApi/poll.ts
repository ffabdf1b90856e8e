/**
 * Following jobs: one refresh of a submission's jobs, waiting with back-off, retrying calls that
 * failed for a passing reason (a 502, a reset connection), and cancelling.
 *
 * A wait can last 24 hours; a proxy hiccup in the middle must not end it. Every call made while
 * following jobs (polls, downloads, cancels) is retried like a live call is: with growing,
 * jittered waits (backoffMs), honouring the server's `retry-after`. Only a long stretch of
 * failures ({@link RetryOptions.giveUpAfterMs}) or a failure that cannot pass (401, 404) ends it.
 */
import { backoffMs, sleep as realSleep } from '../retry';
import { BatchApiError, type BatchApiClient } from './client';
import { allTerminal, applyBatch, type BatchState } from './state';
import { isTerminal } from './types';

/** Time as the waits see it; tests pass a fake one. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now(), sleep: realSleep };

/** Options of {@link withRetries}. */
export interface RetryOptions {
  /** Give up once calls have failed for this long without one success. @default 3600000 (1 h) */
  giveUpAfterMs?: number;
  /** First wait after a failure (then doubling, jittered). @default 1000 */
  baseMs?: number;
  /** Longest wait between attempts. @default 60000 */
  maxMs?: number;
  /** Called before each wait, e.g. to log "poll failed, again in 4 s". */
  onRetry?: (error: BatchApiError, attempt: number, waitMs: number) => void;
  signal?: AbortSignal;
  /** @default systemClock */
  clock?: Clock;
  /** Jitter source, for tests. @default Math.random */
  random?: () => number;
}

/**
 * True for a failure that can pass: no answer at all (reset, timeout), 408, 409, 429 and every
 * 5xx. A 4xx such as 401 or 404 would fail the same way again.
 */
export function isTransient(e: unknown): e is BatchApiError {
  if (!(e instanceof BatchApiError) || e.code === 'aborted') return false;
  if (e.status === undefined) return e.code === 'connection_error' || e.code === 'timeout' || e.code === 'bad_response';
  return e.status === 408 || e.status === 409 || e.status === 429 || e.status >= 500;
}

/**
 * Runs `call` until it succeeds, waiting between attempts after transient failures. Throws the
 * first failure that is not transient, or, after `giveUpAfterMs` of failures, an error that says
 * how long it tried and what the last failure was.
 */
export async function withRetries<T>(what: string, call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const clock = options.clock ?? systemClock;
  const giveUpAfter = options.giveUpAfterMs ?? 3_600_000;
  let failingSince: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!isTransient(e) || options.signal?.aborted) throw e;
      failingSince ??= clock.now();
      const failedFor = clock.now() - failingSince;
      if (failedFor >= giveUpAfter) {
        throw new BatchApiError(
          `${what}: gave up after ${attempt} failed attempts over ${describeMs(failedFor)}; the last said: ${e.message}`,
          e.status,
          e.code === 'connection_error' || e.code === 'timeout' ? e.code : 'gave_up',
        );
      }
      const wait = Math.max(backoffMs(attempt, { baseMs: options.baseMs ?? 1000, maxMs: options.maxMs ?? 60_000 }, options.random), e.retryAfterMs ?? 0);
      options.onRetry?.(e, attempt, wait);
      await clock.sleep(wait, options.signal);
    }
  }
}

function describeMs(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`;
}

/** Asks the server for every job not yet final and updates `state` in place; true if anything changed. */
export async function refreshJobs(state: BatchState, client: BatchApiClient, signal?: AbortSignal, retry?: RetryOptions): Promise<boolean> {
  let changed = false;
  for (const job of state.jobs) {
    if (isTerminal(job.status)) continue;
    const before = JSON.stringify(job);
    const batch = retry ? await withRetries(`poll ${job.id}`, () => client.retrieveBatch(job.id, signal), { signal, ...retry }) : await client.retrieveBatch(job.id, signal);
    applyBatch(job, batch);
    if (JSON.stringify(job) !== before) changed = true;
  }
  return changed;
}

/**
 * The wait before the next poll: the minimum after a change (the jobs are moving), else the last
 * wait doubled, up to the maximum (jobs take minutes to hours: no need to ask every few seconds).
 */
export function nextPollInterval(last: number, changed: boolean, min: number, max: number): number {
  return changed ? min : Math.min(max, Math.max(min, last * 2));
}

/** Options of {@link waitForJobs}. */
export interface WaitOptions {
  /** First wait between polls. @default 5000 */
  minIntervalMs?: number;
  /** Longest wait between polls: the wait doubles up to this while nothing changes. @default 300000 */
  maxIntervalMs?: number;
  /**
   * Failed polls are retried (see {@link withRetries}) with waits from `minIntervalMs` up to
   * `maxIntervalMs`; this says when to give up. @default { giveUpAfterMs: 3600000 }
   */
  retry?: Pick<RetryOptions, 'giveUpAfterMs' | 'onRetry' | 'random'>;
  /** Called after each poll (also the first). */
  onPoll?: (state: BatchState) => void | Promise<void>;
  signal?: AbortSignal;
  /** @default systemClock */
  clock?: Clock;
}

/** Polls until every job is final, backing off while nothing changes (see {@link nextPollInterval}). */
export async function waitForJobs(state: BatchState, client: BatchApiClient, options: WaitOptions = {}): Promise<BatchState> {
  const min = Math.max(1, options.minIntervalMs ?? 5_000);
  const max = Math.max(min, options.maxIntervalMs ?? 300_000);
  const clock = options.clock ?? systemClock;
  const retry: RetryOptions = { baseMs: min, maxMs: max, clock, signal: options.signal, ...options.retry };
  let interval = min;
  for (;;) {
    const changed = await refreshJobs(state, client, options.signal, retry);
    await options.onPoll?.(state);
    if (allTerminal(state)) return state;
    interval = nextPollInterval(interval, changed, min, max);
    await clock.sleep(interval, options.signal);
  }
}

/**
 * Asks the server to cancel jobs not yet final: those named in `only`, else every one. Returns
 * the ids it asked for.
 */
export async function cancelJobs(state: BatchState, client: BatchApiClient, signal?: AbortSignal, only?: readonly string[], retry?: RetryOptions): Promise<string[]> {
  const asked: string[] = [];
  for (const job of state.jobs) {
    if (isTerminal(job.status) || job.status === 'cancelling') continue;
    if (only && !only.includes(job.id)) continue;
    const call = () => client.cancelBatch(job.id, signal);
    applyBatch(job, retry ? await withRetries(`cancel ${job.id}`, call, { signal, ...retry }) : await call());
    asked.push(job.id);
  }
  return asked;
}
