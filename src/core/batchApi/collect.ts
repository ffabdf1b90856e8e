/**
 * Fetching a submission's results: the output and error files of its jobs are downloaded, joined
 * back to the input by `custom_id`, and written in input order in the results format of a live
 * run; every answer goes into the cache under the key a live run would use, so that a later live
 * run of the same rows makes no call.
 *
 * Where each row's record comes from, in order:
 * 1. invalid input: the reader's error, as in a live run;
 * 2. the row's line in an output or error file;
 * 3. an earlier row with the same request (it was sent once; `cached: true`, like de-duplication);
 * 4. the cache (rows not sent because the cache had them at submission);
 * 5. otherwise an error that says why: `batch_expired`, `batch_cancelled`, `batch_failed`,
 *    `batch_missing` (a completed job without the row), `batch_pending` (job not final) or
 *    `batch_not_sent` (the cache had it at submission but no longer does).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLines } from '../batch/lines';
import { readBatch } from '../batch/readers';
import { defaultResultsPath, ResultsWriter } from '../batch/writer';
import type { CacheProvider } from '../cache/cacheProvider';
import { computeRequestHash } from '../hash';
import { silentLogger, type Logger } from '../log';
import { batchPrices, DEFAULT_PRICES, type PriceTable } from '../pricing';
import { TokenStats, type StatsSnapshot } from '../stats';
import type { CacheEntry, LLMRequest, ResultRecord } from '../types';
import type { BatchApiClient } from './client';
import { writeState, type BatchState, type JobState } from './state';
import { isTerminal, type BatchOutputLine } from './types';
import { usageOf } from '../tokens';

/** Options of {@link fetchResults}. */
export interface FetchResultsOptions {
  state: BatchState;
  /** Where the state is saved (updated with `fetched`). @default not saved */
  statePath?: string;
  client: BatchApiClient;
  /** Receives every answer; also answers rows not sent because it had them. @default undefined */
  cache?: CacheProvider;
  /** Cache entries expire after this long. @default null (never) */
  cacheTtlMs?: number | null;
  /** The results file. @default `<input>.results.jsonl` beside the input */
  out?: string;
  /** Live prices; costs are counted at batch prices ({@link batchPrices}). @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** Write results even if some jobs are not final (their rows get `batch_pending`). @default false */
  partial?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called with every record as it is written, in input order. */
  onRecord?: (record: ResultRecord) => void;
}

/** How a fetch ended. */
export interface FetchSummary {
  input: string;
  out: string;
  records: number;
  succeeded: number;
  failed: number;
  /** Rows answered by the batch jobs (not from the cache or an earlier row). */
  fromBatch: number;
  /** Error records by code. */
  errors: Record<string, number>;
  /** Statistics, with costs at batch prices. */
  stats: StatsSnapshot;
}

/** The result of one sent request, shared with any later row asking the same. */
type Outcome =
  | { ok: true; status: number; requestId: string | null; body: unknown }
  | { ok: false; response: ResultRecord['response']; error: { code: string; message: string } };


/** What a line of an output or error file says about its request. */
function outcomeOf(line: BatchOutputLine): Outcome {
  const r = line.response;
  if (r && r.status_code >= 200 && r.status_code < 300) {
    return { ok: true, status: r.status_code, requestId: r.request_id ?? null, body: r.body };
  }
  const bodyError = (r?.body as { error?: { code?: string | null; message?: string } } | null)?.error;
  const code = line.error?.code ?? bodyError?.code ?? (r ? `http_${r.status_code}` : 'batch_error');
  const message = line.error?.message ?? bodyError?.message ?? (r ? `HTTP ${r.status_code}` : 'The batch reported an error for this row.');
  return {
    ok: false,
    response: r ? { status_code: r.status_code, request_id: r.request_id ?? null, body: r.body } : null,
    error: { code, message },
  };
}

/** Reads one downloaded output or error file into `into`, by custom_id. */
async function readOutputFile(path: string, into: Map<string, BatchOutputLine>, logger: Logger): Promise<void> {
  for await (const { line, text } of readLines(path)) {
    if (text.trim() === '') continue;
    try {
      const parsed = JSON.parse(text) as BatchOutputLine;
      if (typeof parsed.custom_id === 'string') into.set(parsed.custom_id, parsed);
    } catch (e) {
      logger.warn(`${path}:${line}: not a batch output line (${(e as Error).message})`);
    }
  }
}

/** The job whose ranges hold input item `index`, if any. */
function jobOf(jobs: JobState[], index: number): JobState | undefined {
  return jobs.find((j) => j.ranges.some(([from, to]) => index >= from && index < to));
}

/** The error of a row the job never answered, from the job's status. */
function unansweredError(job: JobState): { code: string; message: string } {
  switch (job.status) {
    case 'expired':
      return { code: 'batch_expired', message: `Not answered: batch job ${job.id} expired before reaching this row. Run it again.` };
    case 'cancelled':
    case 'cancelling':
      return { code: 'batch_cancelled', message: `Not answered: batch job ${job.id} was cancelled.` };
    case 'failed':
      return { code: 'batch_failed', message: `Batch job ${job.id} failed${job.errors ? `: ${job.errors}` : ''}.` };
    case 'completed':
      return { code: 'batch_missing', message: `Batch job ${job.id} completed without an answer for this row.` };
    default:
      return { code: 'batch_pending', message: `Batch job ${job.id} is still ${job.status}.` };
  }
}

/**
 * Writes the results of a submission (see the module comment) and fills the cache. Throws if some
 * job is not final, unless `partial`.
 */
export async function fetchResults(options: FetchResultsOptions): Promise<FetchSummary> {
  const { state, client, cache } = options;
  const logger = options.logger ?? silentLogger;
  const pending = state.jobs.filter((j) => !isTerminal(j.status));
  if (pending.length > 0 && !options.partial) {
    throw new Error(`Not finished yet: ${pending.map((j) => `${j.id} (${j.status})`).join(', ')}`);
  }
  const now = await stat(state.input).catch(() => undefined);
  if (!now) throw new Error(`${state.input}: the input file is gone; results are joined to it by custom_id`);
  if (now.size !== state.inputStat.size || now.mtimeMs !== state.inputStat.mtimeMs) {
    logger.warn(`${state.input} changed since it was submitted; rows that changed get no batch answer`);
  }

  const answers = new Map<string, BatchOutputLine>();
  const work = await mkdtemp(join(tmpdir(), 'fastllm-batch-out-'));
  try {
    for (const job of state.jobs) {
      for (const [which, fileId] of [['error', job.errorFileId], ['output', job.outputFileId]] as const) {
        if (!fileId) continue;
        const dest = join(work, `${job.id}.${which}.jsonl`);
        await client.downloadFile(fileId, dest, options.signal);
        // Error lines first, output lines over them: a row is answered if any line answers it.
        await readOutputFile(dest, answers, logger);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }

  const scope = { baseURL: state.baseURL };
  const stats = new TokenStats({ prices: batchPrices(options.prices ?? DEFAULT_PRICES) });
  stats.reset(state.rows);
  const out = options.out ?? defaultResultsPath(state.input);
  const writer = await ResultsWriter.open(out);
  const byKey = new Map<string, Outcome>();
  const errors: Record<string, number> = {};
  let records = 0;
  let succeeded = 0;
  let fromBatch = 0;
  let cacheFailures = 0;
  const write = async (record: ResultRecord) => {
    await writer.write(record);
    records++;
    if (record.error) {
      errors[record.error.code] = (errors[record.error.code] ?? 0) + 1;
      stats.failure();
    } else succeeded++;
    options.onRecord?.(record);
  };
  try {
    let index = -1;
    for await (const item of readBatch(state.input, { ...state.reader, signal: options.signal })) {
      index++;
      if (item.kind === 'invalid') {
        await write({ id: `fastllm-invalid-${item.line}`, custom_id: item.custom_id, response: null, error: item.error, line: item.line, cached: false, attempts: 0, latency_ms: 0 });
        continue;
      }
      const key = computeRequestHash(item, scope);
      const id = `fastllm-${key.slice(3, 15)}-${index + 1}`;
      const base = { id, custom_id: item.custom_id, line: item.line };
      const model = String(item.body.model ?? '');
      const job = jobOf(state.jobs, index);
      const latency = job?.endedAt ? Math.max(0, (job.endedAt - job.createdAt) * 1000) : 0;

      const line = answers.get(item.custom_id);
      if (line && !byKey.has(key)) {
        const outcome = outcomeOf(line);
        byKey.set(key, outcome);
        if (outcome.ok) {
          fromBatch++;
          stats.freshSuccess(model, usageOf(outcome.body));
          if (cache) {
            try {
              await cache.set(key, cacheEntry(item, scope.baseURL, outcome, options.cacheTtlMs ?? null), options.cacheTtlMs ?? undefined);
            } catch (e) {
              if (cacheFailures++ === 0) logger.warn(`Cache write failed (the answer is kept in the results): ${(e as Error).message}`);
            }
          }
          await write({ ...base, response: { status_code: outcome.status, request_id: outcome.requestId, body: outcome.body }, error: null, cached: false, attempts: 1, latency_ms: latency });
        } else {
          await write({ ...base, response: outcome.response, error: outcome.error, cached: false, attempts: 1, latency_ms: latency });
        }
        continue;
      }
      const earlier = byKey.get(key);
      if (earlier) {
        if (earlier.ok) {
          stats.reusedSuccess(model, usageOf(earlier.body), 'dedup');
          await write({ ...base, response: { status_code: earlier.status, request_id: earlier.requestId, body: earlier.body }, error: null, cached: true, attempts: 0, latency_ms: 0 });
        } else {
          await write({ ...base, response: earlier.response, error: earlier.error, cached: false, attempts: 0, latency_ms: 0 });
        }
        continue;
      }
      let hit: CacheEntry | undefined;
      try {
        hit = await cache?.get(key);
      } catch (e) {
        if (cacheFailures++ === 0) logger.warn(`Cache read failed: ${(e as Error).message}`);
      }
      if (hit) {
        const outcome: Outcome = { ok: true, status: 200, requestId: hit.request_id, body: hit.response };
        byKey.set(key, outcome);
        stats.reusedSuccess(model, usageOf(hit.response), 'cache');
        await write({ ...base, response: { status_code: 200, request_id: hit.request_id, body: hit.response }, error: null, cached: true, attempts: 0, latency_ms: 0 });
        continue;
      }
      const error = job
        ? unansweredError(job)
        : { code: 'batch_not_sent', message: 'Not sent: the cache answered this row at submission but no longer has it (or the row changed since). Run it again.' };
      byKey.set(key, { ok: false, response: null, error });
      await write({ ...base, response: null, error, cached: false, attempts: 0, latency_ms: 0 });
    }
  } finally {
    await writer.close();
    stats.finish();
  }
  state.fetched = { at: Date.now(), out };
  if (options.statePath) await writeState(options.statePath, state);
  return { input: state.input, out, records, succeeded, failed: records - succeeded, fromBatch, errors, stats: stats.snapshot() };
}

/** The cache entry a live run would have written for this answer. */
function cacheEntry(request: LLMRequest, baseURL: string, outcome: Outcome & { ok: true }, ttlMs: number | null): CacheEntry {
  const now = Date.now();
  return {
    request: request.body as Record<string, unknown>,
    endpoint: { kind: request.kind, baseURL },
    response: outcome.body,
    request_id: outcome.requestId,
    model: (outcome.body as { model?: string } | null)?.model ?? request.body.model,
    created: now,
    expires: ttlMs ? now + ttlMs : null,
    usage: usageOf(outcome.body) ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}
