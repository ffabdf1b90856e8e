import { ProviderError } from './providers/provider';

/**
 * Which failures are worth another attempt, and which stop the run.
 *
 * - `rateLimited`: a 429 that is about the rate (OpenAI's `rate_limit_exceeded`, any 429 without
 *   a code). Retried for as long as the run still makes progress; it never uses up a row's
 *   `maxRetries`, which is for the failures below.
 * - `retry`: 408 (request timeout), 409 (conflict), every 5xx, and failures with no HTTP answer
 *   (connection reset, timeout, a reply that was not valid JSON).
 * - `quota`: a 429 whose code or type is `insufficient_quota`: the account has no credit left,
 *   and waiting does not help (OpenAI's error codes guide). Stops the run.
 * - `auth`: 401, and a 403 that is about the key ({@link isAboutTheKey}). Stops the run.
 * - `forbidden`: any other 403, e.g. OpenRouter's answer to one prompt flagged by moderation. That
 *   row's final error (the run stops only if the first few requests all get one).
 * - `final`: 400, 404, 422 and the other 4xx, which would fail the same way again.
 */
export type FailureKind = 'retry' | 'rateLimited' | 'quota' | 'auth' | 'forbidden' | 'final' | 'cancelled';

const RETRYABLE_STATUS = new Set([408, 409]);
const RETRYABLE_CODES = new Set(['timeout', 'connection_error', 'bad_response']);

export function classifyFailure(err: ProviderError): FailureKind {
  if (err.code === 'aborted') return 'cancelled';
  const s = err.status;
  if (s === undefined) return RETRYABLE_CODES.has(err.code) ? 'retry' : 'final';
  if (s === 429) return isQuotaError(err) ? 'quota' : 'rateLimited';
  if (s === 401) return 'auth';
  if (s === 403) return isAboutTheKey(err) ? 'auth' : 'forbidden';
  if (RETRYABLE_STATUS.has(s) || s >= 500) return 'retry';
  return 'final';
}

/** OpenAI's "You exceeded your current quota, please check your plan and billing details." */
export function isQuotaError(err: ProviderError): boolean {
  return /insufficient_quota|billing_hard_limit|quota_exceeded/i.test(err.code);
}

/**
 * A 403 whose error code or type says it is about the credentials or the account, rather than
 * about this one request: OpenAI's `invalid_api_key`, `unsupported_country_region_territory`,
 * Azure's `PermissionDenied`, or a message that names the API key.
 */
export function isAboutTheKey(err: ProviderError): boolean {
  const codes = /api[_ -]?key|auth|unauthori[sz]ed|permission|credential|organization|account|country|region|territory/i;
  return codes.test(err.code) || /\b(api[ -]?key|access token|credentials?)\b/i.test(err.message);
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
