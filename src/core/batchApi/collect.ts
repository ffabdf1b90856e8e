/**
 * Fetching a submission's results: the output and error files of its jobs are downloaded (to disk,
 * streamed), indexed by custom_id, and joined back to the input in input order in the results
 * format of a live run; every answer goes into the cache under the key a live run would use, so
 * that a later live run of the same rows makes no call.
 *
 * An answer is accepted only for the request it answers: each job records the fingerprint of every
 * request it sent (JobState.sent), and a row takes the answer sent with the fingerprint its request
 * has today. A row edited since submission gets `batch_input_changed`; a row that only moved (a
 * line inserted above it, so its `line-N` id changed) still gets its own answer.
 *
 * Where each row's record comes from, in order:
 * 1. invalid input: the reader's error, as in a live run;
 * 2. an earlier row with the same request (it was sent once; `cached: true`, like de-duplication);
 * 3. the line that answers the request sent with this row's fingerprint, in an output or error file;
 * 4. the cache (rows not sent because the cache had them at submission);
 * 5. otherwise an error that says why: `batch_expired`, `batch_cancelled`, `batch_failed`,
 *    `batch_missing` (a completed job without the row), `batch_input_changed` (the row's request
 *    is not the one sent under its custom_id), `batch_unverified` (an old state file, and the
 *    job's input file could not be read to check), or `batch_not_sent`.
 *
 * The results file is written atomically (ResultsWriter's `atomic` mode): a fetch that fails or
 * is stopped leaves the previous results file as it was.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readLines } from '../batch/lines';
import { readBatch } from '../batch/readers';
import { answerMarks } from '../schema';
import { defaultResultsPath, ResultsWriter } from '../batch/writer';
import type { CacheProvider } from '../cache/cacheProvider';
import { computeRequestHash } from '../hash';
import { silentLogger, type Logger } from '../log';
import { batchPrices, DEFAULT_PRICES, type PriceTable } from '../pricing';
import { TokenStats, type StatsSnapshot } from '../stats';
import { usageOf } from '../tokens';
import type { CacheEntry, LLMRequest, ResultRecord } from '../types';
import type { BatchApiClient } from './client';
import { batchLine, requestFingerprint } from './fingerprint';
import { OutputIndex } from './outputIndex';
import { withRetries, type RetryOptions } from './poll';
import { writeState, type BatchState, type JobState } from './state';
import { isTerminal, type BatchInputLine, type BatchOutputLine } from './types';

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
  /** Downloads that fail for a passing reason are retried (see withRetries). @default { giveUpAfterMs: 600000 } */
  retry?: RetryOptions;
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

/** The result of one sent request. */
type Outcome =
  | { ok: true; status: number; requestId: string | null; body: unknown }
  | { ok: false; response: ResultRecord['response']; error: { code: string; message: string } };

/**
 * What a later row with the same request reuses: where to read the answer again (never the answer
 * itself, which for an embedding is tens of kilobytes; the join holds no answers in memory).
 */
type Reuse = { from: 'line'; jobId: string; customId: string } | { from: 'cache' } | { from: 'error'; outcome: Outcome & { ok: false } };

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
 * job is not final, unless `partial`. When it throws after starting to write, the previous results
 * file is untouched and the error message names the partial file.
 */
export async function fetchResults(options: FetchResultsOptions): Promise<FetchSummary> {
  const { state, client } = options;
  const logger = options.logger ?? silentLogger;
  const pending = state.jobs.filter((j) => !isTerminal(j.status));
  if (pending.length > 0 && !options.partial) {
    throw new Error(`Not finished yet: ${pending.map((j) => `${j.id} (${j.status})`).join(', ')}`);
  }
  if (state.complete === false && !options.partial) {
    throw new Error(`${state.input} was not completely submitted (the submission stopped half-way): submit it again to send the rest, then fetch`);
  }
  const now = await stat(state.input).catch(() => undefined);
  if (!now) throw new Error(`${state.input}: the input file is gone; results are joined to it by custom_id`);
  if (now.size !== state.inputStat.size || now.mtimeMs !== state.inputStat.mtimeMs) {
    logger.warn(`${state.input} changed since it was submitted; rows whose request changed get batch_input_changed, and are not answered from the batch`);
  }
  const out = options.out ?? defaultResultsPath(state.input);
  // Downloads go beside the results, not to the system temp folder, which may be a RAM disk.
  await mkdir(dirname(out), { recursive: true });
  const work = await mkdtemp(join(dirname(out), '.fastllm-batch-download-'));
  const index = new OutputIndex();
  const retry: RetryOptions = { giveUpAfterMs: 600_000, signal: options.signal, ...options.retry };
  const download = (fileId: string, dest: string) => withRetries(`download ${fileId}`, () => client.downloadFile(fileId, dest, options.signal), retry);
  try {
    const unverified = new Set<string>();
    for (const job of state.jobs) {
      if (!job.sent) {
        const sent = await sentFromInputFile(job, join(work, `${job.id}.input.jsonl`), download, logger);
        if (sent) job.sent = sent;
        else unverified.add(job.id);
      }
      // Error lines first, output lines over them: a row is answered if any line answers it.
      for (const [which, fileId] of [['error', job.errorFileId], ['output', job.outputFileId]] as const) {
        if (!fileId) continue;
        const dest = join(work, `${job.id}.${which}.jsonl`);
        await download(fileId, dest);
        await index.add({ jobId: job.id, path: dest }, logger, options.signal);
      }
    }
    const summary = await joinRows(options, index, unverified, out, logger);
    state.fetched = { at: Date.now(), out };
    if (options.statePath) await writeState(options.statePath, state);
    return summary;
  } finally {
    await index.close();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * For a job from a state file written before `sent` existed: what it sent, read back from its
 * input file on the server. Undefined (with a warning) when that file cannot be read.
 */
async function sentFromInputFile(
  job: JobState,
  dest: string,
  download: (fileId: string, dest: string) => Promise<void>,
  logger: Logger,
): Promise<Record<string, string> | undefined> {
  try {
    await download(job.inputFileId, dest);
    const sent: Record<string, string> = {};
    for await (const { text } of readLines(dest)) {
      if (text.trim() === '') continue;
      const line = JSON.parse(text) as BatchInputLine;
      sent[line.custom_id] = requestFingerprint(line);
    }
    return sent;
  } catch (e) {
    logger.warn(`Batch job ${job.id}: its answers cannot be matched to rows safely: the state file predates request fingerprints, and the job's input file ${job.inputFileId} could not be read (${(e as Error).message}). Its rows get batch_unverified.`);
    return undefined;
  }
}

/** The join itself: reads the input once, writes one record per row, atomically. */
async function joinRows(options: FetchResultsOptions, index: OutputIndex, unverified: Set<string>, out: string, logger: Logger): Promise<FetchSummary> {
  const { state, client, cache } = options;
  const scope = { baseURL: state.baseURL };
  // Which job sent which request: by fingerprint (to find the answer) and by custom_id (to tell a changed row).
  const sentByFingerprint = new Map<string, { job: JobState; customId: string }>();
  const sentIds = new Set<string>();
  for (const job of state.jobs) {
    for (const [customId, fingerprint] of Object.entries(job.sent ?? {})) {
      sentByFingerprint.set(fingerprint, { job, customId });
      sentIds.add(customId);
    }
  }
  const stats = new TokenStats({ prices: batchPrices(options.prices ?? DEFAULT_PRICES) });
  stats.reset(state.rows);
  const writer = await ResultsWriter.open(out, { atomic: true });
  const byKey = new Map<string, Reuse>();
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
  const cacheGet = async (key: string): Promise<CacheEntry | undefined> => {
    try {
      return await cache?.get(key);
    } catch (e) {
      if (cacheFailures++ === 0) logger.warn(`Cache read failed: ${(e as Error).message}`);
      return undefined;
    }
  };
  try {
    let i = -1;
    for await (const item of readBatch(state.input, { ...state.reader, signal: options.signal })) {
      i++;
      if (item.kind === 'invalid') {
        await write({ id: `fastllm-invalid-${item.line}`, custom_id: item.custom_id, response: null, error: item.error, line: item.line, cached: false, attempts: 0, latency_ms: 0 });
        continue;
      }
      const key = computeRequestHash(item, scope);
      const base = { id: `fastllm-${key.slice(3, 15)}-${i + 1}`, custom_id: item.custom_id, line: item.line };
      const model = String(item.body.model ?? '');

      const reuse = byKey.get(key);
      if (reuse) {
        const earlier = reuse.from === 'error' ? reuse.outcome : reuse.from === 'cache' ? fromCache(await cacheGet(key)) : await fromLine(index, reuse.jobId, reuse.customId);
        if (earlier?.ok) {
          const marks = answerMarks(item, earlier.body);
          stats.reusedSuccess(model, usageOf(earlier.body), 'dedup', marks.flags);
          await write({ ...base, response: { status_code: earlier.status, request_id: earlier.requestId, body: earlier.body }, error: marks.error, cached: true, attempts: 0, latency_ms: 0, ...marks.fields });
          continue;
        }
        if (earlier) {
          await write({ ...base, response: earlier.response, error: earlier.error, cached: false, attempts: 0, latency_ms: 0 });
          continue;
        }
      }

      const sent = sentByFingerprint.get(requestFingerprint(batchLine(item, client)));
      if (sent) {
        const line = await index.get(sent.job.id, sent.customId);
        const latency = sent.job.endedAt ? Math.max(0, (sent.job.endedAt - sent.job.createdAt) * 1000) : 0;
        const outcome: Outcome = line ? outcomeOf(line) : { ok: false, response: null, error: unansweredError(sent.job) };
        if (outcome.ok) {
          byKey.set(key, { from: 'line', jobId: sent.job.id, customId: sent.customId });
          fromBatch++;
          const marks = answerMarks(item, outcome.body);
          stats.freshSuccess(model, usageOf(outcome.body), marks.flags);
          if (cache) {
            try {
              await cache.set(key, cacheEntry(item, scope.baseURL, outcome, options.cacheTtlMs ?? null), options.cacheTtlMs ?? undefined);
            } catch (e) {
              if (cacheFailures++ === 0) logger.warn(`Cache write failed (the answer is kept in the results): ${(e as Error).message}`);
            }
          }
          await write({ ...base, response: { status_code: outcome.status, request_id: outcome.requestId, body: outcome.body }, error: marks.error, cached: false, attempts: 1, latency_ms: latency, ...marks.fields });
        } else {
          byKey.set(key, { from: 'error', outcome });
          await write({ ...base, response: outcome.response, error: outcome.error, cached: false, attempts: line ? 1 : 0, latency_ms: line ? latency : 0 });
        }
        continue;
      }

      const hit = await cacheGet(key);
      if (hit) {
        byKey.set(key, { from: 'cache' });
        const marks = answerMarks(item, hit.response);
        stats.reusedSuccess(model, usageOf(hit.response), 'cache', marks.flags);
        await write({ ...base, response: { status_code: 200, request_id: hit.request_id, body: hit.response }, error: marks.error, cached: true, attempts: 0, latency_ms: 0, ...marks.fields });
        continue;
      }
      const error = notAnsweredError(item, i, state.jobs, sentIds, unverified);
      byKey.set(key, { from: 'error', outcome: { ok: false, response: null, error } });
      await write({ ...base, response: null, error, cached: false, attempts: 0, latency_ms: 0 });
    }
    stats.finish();
    await writer.commit();
  } catch (e) {
    stats.finish();
    await writer.close().catch(() => undefined);
    const err = new Error(`${(e as Error).message} (${out} was left as it was; the ${records} records written before the failure are in ${writer.path})`, { cause: e });
    throw err;
  }
  return { input: state.input, out, records, succeeded, failed: records - succeeded, fromBatch, errors, stats: stats.snapshot() };
}

/** Why a row with no answer and no cache entry has none. */
function notAnsweredError(item: LLMRequest, index: number, jobs: JobState[], sentIds: Set<string>, unverified: Set<string>): { code: string; message: string } {
  const legacy = jobOf(jobs, index);
  if (legacy && unverified.has(legacy.id)) {
    return {
      code: 'batch_unverified',
      message: `Batch job ${legacy.id} may hold an answer for this row, but it cannot be matched safely (the state file is from an older FastLLM and the job's input file could not be read). Run the row again.`,
    };
  }
  if (sentIds.has(item.custom_id)) {
    return {
      code: 'batch_input_changed',
      message: `The input changed after submission: the request sent as ${item.custom_id} is not this row's request any more, so its answer was not used. Run the row again.`,
    };
  }
  return { code: 'batch_not_sent', message: 'Not sent: the cache answered this row at submission but no longer has it, or the row is new since. Run it again.' };
}

async function fromLine(index: OutputIndex, jobId: string, customId: string): Promise<Outcome | undefined> {
  const line = await index.get(jobId, customId);
  return line ? outcomeOf(line) : undefined;
}

function fromCache(hit: CacheEntry | undefined): Outcome | undefined {
  return hit ? { ok: true, status: 200, requestId: hit.request_id, body: hit.response } : undefined;
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
