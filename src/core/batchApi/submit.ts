/**
 * Submitting an input file as OpenAI Batch jobs: the rows the cache cannot answer are written as
 * Batch API input JSONL (one file per endpoint and model, split at the request and size limits),
 * uploaded with purpose `batch`, and each file becomes a job with a 24 h window.
 *
 * Rows are never sent twice: a row whose request the cache already holds is left out, and so is a
 * row that repeats an earlier row's request (the same request hash): fetch gives both the answer.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { readBatch } from '../batch/readers';
import type { CacheProvider } from '../cache/cacheProvider';
import { computeRequestHash } from '../hash';
import { silentLogger, type Logger } from '../log';
import type { EndpointScope } from '../providers/provider';
import type { EndpointKind, LLMRequest } from '../types';
import type { BatchApiClient } from './client';
import { applyBatch, statePathFor, writeState, type BatchState, type JobState } from './state';
import type { BatchInputLine } from './types';

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
  signal?: AbortSignal;
  logger?: Logger;
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
}

/**
 * The body as a batch line carries it: no streaming flags, none of our `_` fields; on an Azure
 * deployment, that deployment as the model (as a live call to its URL would use it).
 */
function batchBody(request: LLMRequest, deployment: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request.body)) {
    if (k === 'stream' || k === 'stream_options' || k.startsWith('_')) continue;
    out[k] = v;
  }
  if (deployment) out.model = deployment;
  return out;
}

async function writeLine(stream: WriteStream, line: string): Promise<void> {
  if (!stream.write(line)) await once(stream, 'drain');
}

/**
 * Writes, uploads and creates the jobs of one input file, saving the state after each job.
 * Returns the state (also saved at `statePath`). A file whose rows are all cached or invalid
 * creates no job: fetch then writes its results at once.
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
  const state: BatchState = {
    version: 1,
    input,
    baseURL: options.scope.baseURL,
    reader,
    inputStat: { size, mtimeMs },
    submittedAt: Date.now(),
    rows: 0,
    cachedRows: 0,
    invalidRows: 0,
    repeatRows: 0,
    jobs: [],
    fetched: null,
  };

  const work = await mkdtemp(join(tmpdir(), 'fastllm-batch-'));
  const open = new Map<string, Part>();
  const parts: Part[] = [];
  const newPart = (kind: EndpointKind, model: string): Part => {
    const path = join(work, `part-${parts.length + 1}.jsonl`);
    const part: Part = { kind, model, path, stream: createWriteStream(path), requests: 0, bytes: 0, ranges: [] };
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
      if (options.cache && (await cacheHas(options.cache, key, logger))) {
        state.cachedRows++;
        continue;
      }
      const line: BatchInputLine = { custom_id: item.custom_id, method: 'POST', url: options.client.endpointUrl(item.kind), body: batchBody(item, options.client.deployment) };
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
      part.requests++;
      part.bytes += bytes;
      const last = part.ranges[part.ranges.length - 1];
      if (last && last[1] === index) last[1] = index + 1;
      else part.ranges.push([index, index + 1]);
    }
    for (const part of parts) {
      if (!part.stream.writableEnded) part.stream.end();
      await finished(part.stream);
    }

    for (const [i, part] of parts.entries()) {
      options.signal?.throwIfAborted();
      const name = `${basename(input)}.part-${i + 1}-of-${parts.length}.jsonl`;
      const file = await options.client.uploadFile(part.path, name, options.signal);
      const batch = await options.client.createBatch(
        {
          inputFileId: file.id,
          endpoint: options.client.endpointUrl(part.kind),
          completionWindow: '24h',
          metadata: { fastllm_input: basename(input).slice(0, 500), fastllm_part: `${i + 1}/${parts.length}` },
        },
        options.signal,
      );
      const job: JobState = {
        id: batch.id,
        kind: part.kind,
        model: part.model,
        inputFileId: file.id,
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
      };
      state.jobs.push(applyBatch(job, batch));
      await writeState(statePath, state);
      logger.info(`Batch job ${batch.id}: ${part.requests} ${part.kind} requests to ${part.model} (${part.bytes} bytes)`);
    }
    await writeState(statePath, state);
    return state;
  } finally {
    for (const part of parts) part.stream.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

async function cacheHas(cache: CacheProvider, key: string, logger: Logger): Promise<boolean> {
  try {
    return await cache.has(key);
  } catch (e) {
    logger.warn(`Cache read failed, sending the row: ${(e as Error).message}`);
    return false;
  }
}
