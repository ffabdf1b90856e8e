import { ProviderError } from './providers/provider';

/**
 * Which failures are worth another attempt, and how long to wait before it.
 *
 * Retried: 408 (request timeout), 409 (conflict), 429 (rate limited), every 5xx, and failures with
 * no HTTP answer (connection reset, timeout, a reply that was not valid JSON). Never retried: 400,
 * 404, 422 and the other 4xx, which would fail the same way again and only burn budget.
 * 401/403 are fatal for the whole run (a rejected key fails every row).
 */
export type FailureKind = 'retry' | 'fatal' | 'final' | 'cancelled';

const RETRYABLE_STATUS = new Set([408, 409, 429]);
const RETRYABLE_CODES = new Set(['timeout', 'connection_error', 'bad_response']);

export function classifyFailure(err: ProviderError): FailureKind {
  if (err.code === 'aborted') return 'cancelled';
  const s = err.status;
  if (s === undefined) return RETRYABLE_CODES.has(err.code) ? 'retry' : 'final';
  if (s === 401 || s === 403) return 'fatal';
  if (RETRYABLE_STATUS.has(s) || s >= 500) return 'retry';
  return 'final';
}

/**
 * The server's requested wait in milliseconds: `retry-after-ms` (OpenAI), else `retry-after` as
 * seconds or an HTTP date. Undefined when absent or unparsable.
 */
export function parseRetryAfter(headers: Record<string, string>, now = Date.now()): number | undefined {
  const ms = headers['retry-after-ms'];
  if (ms !== undefined && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers['retry-after'];
  if (ra === undefined || ra.trim() === '') return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/**
 * OpenAI's reset durations (`x-ratelimit-reset-requests: 1s`, `6m0s`, `120ms`, `1h2m3.5s`) in
 * milliseconds; undefined if unparsable.
 */
export function parseResetDuration(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (let m = re.exec(v); m; m = re.exec(v)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    matched += m[0];
  }
  return matched.length === v.length && matched.length > 0 ? total : undefined;
}

export interface BackoffOptions {
  /** Wait before the first retry. @default 500 */
  baseMs?: number;
  /** Longest wait between attempts. @default 30000 */
  maxMs?: number;
}

/**
 * Exponential backoff with "equal jitter": half of min(max, base·2^(attempt-1)) for sure, plus a
 * uniform draw over the other half. The sure half makes the waits grow, so the default budget
 * (5 retries, 500 ms base) rides out an outage of at least 7.75 s; the jitter spreads the retries
 * of many rows that failed together.
 * @param attempt 1 for the first retry.
 */
export function backoffMs(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}

/** Resolves after `ms`, or rejects with an AbortError-like ProviderError when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ProviderError('Cancelled', undefined, 'aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new ProviderError('Cancelled', undefined, 'aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
