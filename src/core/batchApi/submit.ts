/**
 * Submitting an input file as OpenAI Batch jobs: the rows the cache cannot answer are written as
 * Batch API input JSONL (one file per endpoint and model, split at the request and size limits),
 * uploaded with purpose `batch`, and each file becomes a job with a 24 h window.
 *
 * Rows are never sent twice: a row whose request the cache already holds is left out, and so is a
 * row that repeats an earlier row's request (the same request hash): fetch gives both the answer.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { readBatch } from '../batch/readers';
import type { CacheProvider } from '../cache/cacheProvider';
import { computeRequestHash, normalizeBaseURL } from '../hash';
import { silentLogger, type Logger } from '../log';
import type { EndpointScope } from '../providers/provider';
import type { EndpointKind } from '../types';
import type { BatchApiClient } from './client';
import { batchLine, requestFingerprint, stableJson } from './fingerprint';
import { withRetries, type RetryOptions } from './poll';
import { applyBatch, readState, statePathFor, unfetchedJobs, writeState, type BatchState, type JobState } from './state';
import type { BatchObject } from './types';

/** OpenAI's limits on one batch input file. */
export const MAX_BATCH_REQUESTS = 50_000;
export const MAX_BATCH_BYTES = 200 * 1024 * 1024;

/** Options of {@link submitBatch}. */
export interface SubmitBatchOptions {
  /** The input file (.txt, .jsonl, .csv). */
  input: string;
  /** How rows become requests (as for a live run). Its `signal` is ignored. @default {} */
  reader?: BatchState['reader'];
  client: BatchApiClient;
  /** The scope a live run would use (the provider's), for cache keys. */
  scope: EndpointScope;
  /** Rows it already answers are not sent. @default undefined (send every row) */
  cache?: CacheProvider;
  /** Requests per job at most. @default 50000 (OpenAI's limit) */
  maxRequests?: number;
  /** Bytes of one job's input file at most. @default 209715200 (200 MB, OpenAI's limit) */
  maxBytes?: number;
  /** Where the state is saved. @default `<input>.batch.json` */
  statePath?: string;
  /**
   * Submit even though the state file has jobs whose results were not fetched: that state is
   * moved to {@link replacedStatePath} (its jobs stay fetchable from there), and every row is
   * sent again. Without it such a submit throws {@link SubmissionExistsError}. @default false
   */
  force?: boolean;
  /** Uploads that fail for a passing reason are retried. @default { giveUpAfterMs: 300000 } */
  retry?: RetryOptions;
  signal?: AbortSignal;
  logger?: Logger;
}

/** Thrown by {@link submitBatch} when the state file still has jobs whose results were not fetched. */
export class SubmissionExistsError extends Error {
  constructor(
    readonly statePath: string,
    readonly state: BatchState,
    readonly unfetched: JobState[],
  ) {
    super(
      `${statePath} holds ${unfetched.length} Batch API job(s) whose results were not fetched (submitted ${new Date(state.submittedAt).toISOString().slice(0, 16).replace('T', ' ')}); ` +
        'they are paid for: fetch them first, or submit again with force to replace that state',
    );
    this.name = 'SubmissionExistsError';
  }
}

/** Where a forced submit keeps the state it replaces: `<input>.<submitted time>.batch.json`. */
export function replacedStatePath(statePath: string, state: BatchState): string {
  const stamp = new Date(state.submittedAt).toISOString().replace(/[:.]/g, '-');
  return statePath.replace(/\.batch\.json$/, '') + `.${stamp}.batch.json`;
}

/** A job's input file being written. */
interface Part {
  kind: EndpointKind;
  model: string;
  path: string;
  stream: WriteStream;
  requests: number;
  bytes: number;
  ranges: [number, number][];
  sent: Record<string, string>;
  /** Over the part's lines: tells the part apart in its job's metadata, to find a job created whose answer was lost. */
  hash: Hash;
}

async function writeLine(stream: WriteStream, line: string): Promise<void> {
  if (!stream.write(line)) await once(stream, 'drain');
}

/**
 * Writes, uploads and creates the jobs of one input file, saving the state after each job.
 * Returns the state (also saved at `statePath`). A file whose rows are all cached or invalid
 * creates no job: fetch then writes its results at once.
 *
 * An existing state file is never lost: with jobs not fetched it is refused (unless `force`); if
 * it is of a submission that stopped half-way (`complete: false`), this one resumes it: rows
 * whose request a job already accepted are not sent again, and a job that the server created
 * although its answer never arrived is found (by the part's hash in its metadata) and adopted.
 *
 * @example
 * const state = await submitBatch({ input: 'prompts.jsonl', client, scope: provider.scope, cache });
 * console.log(state.jobs.map((j) => j.id));
 */
export async function submitBatch(options: SubmitBatchOptions): Promise<BatchState> {
  const input = resolve(options.input);
  const statePath = options.statePath ?? statePathFor(input);
  const maxRequests = Math.max(1, options.maxRequests ?? MAX_BATCH_REQUESTS);
  const maxBytes = Math.max(1, options.maxBytes ?? MAX_BATCH_BYTES);
  const logger = options.logger ?? silentLogger;
  const { size, mtimeMs } = await stat(input);
  const reader = { kind: options.reader?.kind, template: options.reader?.template, defaults: options.reader?.defaults };
  const earlier = await earlierSubmission(statePath, options, reader);
  const state: BatchState = {
    version: 1,
    id: earlier?.id ?? randomBytes(9).toString('base64url'),
    complete: false,
    input,
    baseURL: options.scope.baseURL,
    reader,
    inputStat: { size, mtimeMs },
    submittedAt: earlier?.submittedAt ?? Date.now(),
    rows: 0,
    cachedRows: 0,
    invalidRows: 0,
    repeatRows: 0,
    jobs: earlier?.jobs ?? [],
    fetched: null,
  };
  // Requests a job of the submission being resumed already accepted.
  const accepted = new Set(state.jobs.flatMap((j) => Object.values(j.sent ?? {})));

  const work = await mkdtemp(join(tmpdir(), 'fastllm-batch-'));
  const open = new Map<string, Part>();
  const parts: Part[] = [];
  const newPart = (kind: EndpointKind, model: string): Part => {
    const path = join(work, `part-${parts.length + 1}.jsonl`);
    const part: Part = { kind, model, path, stream: createWriteStream(path), requests: 0, bytes: 0, ranges: [], sent: {}, hash: createHash('sha256') };
    parts.push(part);
    return part;
  };
  try {
    const seen = new Set<string>();
    let index = -1;
    for await (const item of readBatch(input, { ...reader, signal: options.signal })) {
      index++;
      state.rows++;
      if (item.kind === 'invalid') {
        state.invalidRows++;
        continue;
      }
      const key = computeRequestHash(item, options.scope);
      if (seen.has(key)) {
        state.repeatRows++;
        continue;
      }
      seen.add(key);
      const line = batchLine(item, options.client);
      const fingerprint = requestFingerprint(line);
      if (accepted.has(fingerprint)) continue;
      if (options.cache && (await cacheHas(options.cache, key, logger))) {
        state.cachedRows++;
        continue;
      }
      const text = JSON.stringify(line) + '\n';
      const bytes = Buffer.byteLength(text);
      const model = options.client.deployment ?? String(item.body.model ?? '');
      const group = `${item.kind}\u0000${model}`;
      let part = open.get(group);
      if (!part || part.requests + 1 > maxRequests || (part.requests > 0 && part.bytes + bytes > maxBytes)) {
        part?.stream.end();
        part = newPart(item.kind, model);
        open.set(group, part);
      }
      if (bytes > maxBytes) logger.warn(`${input}: row ${item.line} alone is over the ${maxBytes}-byte limit of a batch file; the server may refuse its job`);
      await writeLine(part.stream, text);
      part.hash.update(text);
      part.requests++;
      part.bytes += bytes;
      part.sent[item.custom_id] = fingerprint;
      const last = part.ranges[part.ranges.length - 1];
      if (last && last[1] === index) last[1] = index + 1;
      else part.ranges.push([index, index + 1]);
    }
    for (const part of parts) {
      if (!part.stream.writableEnded) part.stream.end();
      await finished(part.stream);
    }
    // Saved before the first upload: a submit that dies from here on leaves a state to resume.
    await writeState(statePath, state);

    const created = earlier && parts.length > 0 ? await jobsCreatedFor(state, options.client, options.signal) : new Map<string, BatchObject>();
    for (const [i, part] of parts.entries()) {
      options.signal?.throwIfAborted();
      const partHash = part.hash.digest('base64url').slice(0, 32);
      let batch = created.get(partHash);
      let inputFileId = batch?.input_file_id;
      if (batch) {
        logger.info(`Batch job ${batch.id} was created although its answer was lost; adopting it instead of sending part ${i + 1} again`);
      } else {
        const name = `${basename(input)}.part-${i + 1}-of-${parts.length}.jsonl`;
        // An upload can be repeated safely (at worst an unused file); a job creation cannot (it would bill twice).
        const file = await withRetries(`upload ${name}`, () => options.client.uploadFile(part.path, name, options.signal), { giveUpAfterMs: 300_000, signal: options.signal, ...options.retry });
        inputFileId = file.id;
        batch = await options.client.createBatch(
          {
            inputFileId: file.id,
            endpoint: options.client.endpointUrl(part.kind),
            completionWindow: '24h',
            metadata: {
              fastllm_input: basename(input).slice(0, 500),
              fastllm_part: `${i + 1}/${parts.length}`,
              fastllm_submission: state.id!,
              fastllm_part_hash: partHash,
            },
          },
          options.signal,
        );
      }
      const job: JobState = {
        id: batch.id,
        kind: part.kind,
        model: part.model,
        inputFileId: inputFileId ?? batch.input_file_id,
        requests: part.requests,
        bytes: part.bytes,
        ranges: part.ranges,
        status: batch.status,
        counts: { total: part.requests, completed: 0, failed: 0 },
        createdAt: batch.created_at,
        expiresAt: null,
        endedAt: null,
        outputFileId: null,
        errorFileId: null,
        errors: null,
        sent: part.sent,
      };
      state.jobs.push(applyBatch(job, batch));
      await writeState(statePath, state);
      logger.info(`Batch job ${batch.id}: ${part.requests} ${part.kind} requests to ${part.model} (${part.bytes} bytes)`);
    }
    state.complete = true;
    await writeState(statePath, state);
    return state;
  } finally {
    for (const part of parts) part.stream.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The state at `statePath` when this submit resumes it; undefined when there is none or it may
 * be replaced. Throws {@link SubmissionExistsError} when it has jobs not fetched (and no `force`;
 * with `force` it is moved aside), and a plain error when it cannot be resumed as asked.
 */
async function earlierSubmission(statePath: string, options: SubmitBatchOptions, reader: BatchState['reader']): Promise<BatchState | undefined> {
  if (!existsSync(statePath)) return undefined;
  let earlier: BatchState;
  try {
    earlier = await readState(statePath);
  } catch (e) {
    if (!options.force) throw new Error(`${(e as Error).message}; move it away, or submit with force to replace it`);
    return undefined;
  }
  if (options.force) {
    if (unfetchedJobs(earlier).length > 0) {
      const aside = replacedStatePath(statePath, earlier);
      await rename(statePath, aside);
      options.logger?.warn(`${statePath} had jobs not fetched: it was moved to ${aside}, from where they can still be fetched`);
    }
    return undefined;
  }
  if (earlier.complete === false) {
    if (normalizeBaseURL(earlier.baseURL) !== normalizeBaseURL(options.scope.baseURL)) {
      throw new Error(`${statePath}: the submission being resumed went to ${earlier.baseURL}, not ${options.scope.baseURL}; use that base URL, or submit with force to start over`);
    }
    if (stableJson(earlier.reader) !== stableJson(reader)) {
      throw new Error(`${statePath}: the submission being resumed was made with other options (${stableJson(earlier.reader)}); give the same ones, or submit with force to start over`);
    }
    return earlier;
  }
  const unfetched = unfetchedJobs(earlier);
  if (unfetched.length > 0) throw new SubmissionExistsError(statePath, earlier, unfetched);
  return undefined;
}

/**
 * Jobs of this submission that the server has but the state does not (created, but the answer
 * to the create call was lost), by their part hash. Best effort: the list is newest first, and
 * is read back to the submission's start.
 */
async function jobsCreatedFor(state: BatchState, client: BatchApiClient, signal?: AbortSignal): Promise<Map<string, BatchObject>> {
  const known = new Set(state.jobs.map((j) => j.id));
  const found = new Map<string, BatchObject>();
  const since = Math.floor(state.submittedAt / 1000) - 300;
  let after: string | undefined;
  for (let page = 0; page < 50; page++) {
    const { data, has_more } = await client.listBatches({ limit: 100, after }, signal);
    for (const b of data) {
      const hash = b.metadata?.fastllm_part_hash;
      if (b.metadata?.fastllm_submission === state.id && hash && !known.has(b.id) && !found.has(hash)) found.set(hash, b);
    }
    const last = data[data.length - 1];
    if (!has_more || !last || last.created_at < since) break;
    after = last.id;
  }
  return found;
}

async function cacheHas(cache: CacheProvider, key: string, logger: Logger): Promise<boolean> {
  try {
    return await cache.has(key);
  } catch (e) {
    logger.warn(`Cache read failed, sending the row: ${(e as Error).message}`);
    return false;
  }
}
