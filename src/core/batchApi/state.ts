/**
 * The job state file (`<input>.batch.json`, beside the input): what was sent where, so that
 * `status`, `fetch` and `cancel` need only the input file or a job id, in a later process, and the
 * extension's job list survives restarts.
 *
 * Invariant: the file is rewritten whole through a temporary file and a rename, so a reader never
 * sees half of it; it is saved after every job created, so a submit that dies half-way still
 * leaves the jobs it created findable (and cancellable).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { EndpointKind } from '../types';
import type { RequestDefaults } from '../request';
import type { BatchObject, BatchStatus, RequestCounts } from './types';

/** One Batch API job of a submission. */
export interface JobState {
  id: string;
  /** `chat` or `embeddings` (OpenAI's `endpoint`: one per job). */
  kind: EndpointKind;
  /** The model of every request of this job (OpenAI wants one model per input file). */
  model: string;
  inputFileId: string;
  /** Requests sent in this job, and the bytes of its input file. */
  requests: number;
  bytes: number;
  /**
   * Input item indices (0-based, half-open `[from, to)`) whose requests went to this job. Rows in
   * a range that were not sent (cached, invalid, repeats) are told apart by the cache and hash.
   */
  ranges: [number, number][];
  status: BatchStatus;
  counts: RequestCounts;
  /** Epoch seconds, as the server reports them. */
  createdAt: number;
  expiresAt: number | null;
  /** When the job reached its final status (epoch seconds), if it has. */
  endedAt: number | null;
  outputFileId: string | null;
  errorFileId: string | null;
  /** Job-level errors (a rejected input file), joined into one message. */
  errors: string | null;
}

/** A submission: one input file sent as one or more jobs. */
export interface BatchState {
  version: 1;
  /** Absolute path of the input file. */
  input: string;
  /** The endpoint scope the answers belong to (the cache key's base URL). */
  baseURL: string;
  /** How rows became requests at submission; fetch reads the input again with the same options. */
  reader: { kind?: EndpointKind; template?: string; defaults?: RequestDefaults };
  /** Input size and modification time at submission, to warn when it changed since. */
  inputStat: { size: number; mtimeMs: number };
  /** Epoch ms. */
  submittedAt: number;
  /** Input rows, and how many of them were not sent because the cache had them, or they were invalid, or repeats of an earlier row. */
  rows: number;
  cachedRows: number;
  invalidRows: number;
  repeatRows: number;
  jobs: JobState[];
  /** Set once the results were written. */
  fetched: { at: number; out: string } | null;
}

/** `<input>.batch.json`. */
export function statePathFor(input: string): string {
  return `${resolve(input)}.batch.json`;
}

export async function readState(path: string): Promise<BatchState> {
  const state = JSON.parse(await readFile(path, 'utf8')) as BatchState;
  if (state?.version !== 1 || !Array.isArray(state.jobs)) throw new Error(`${path}: not a FastLLM batch state file`);
  return state;
}

export async function writeState(path: string, state: BatchState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
  await rename(tmp, path);
}

/** Copies a batch object's status, counts, times and files into a job's state. */
export function applyBatch(job: JobState, b: BatchObject): JobState {
  job.status = b.status;
  job.counts = { total: b.request_counts?.total ?? job.counts.total, completed: b.request_counts?.completed ?? 0, failed: b.request_counts?.failed ?? 0 };
  job.createdAt = b.created_at ?? job.createdAt;
  job.expiresAt = b.expires_at ?? job.expiresAt;
  job.endedAt = b.completed_at ?? b.failed_at ?? b.expired_at ?? b.cancelled_at ?? job.endedAt;
  job.outputFileId = b.output_file_id ?? job.outputFileId;
  job.errorFileId = b.error_file_id ?? job.errorFileId;
  const errors = b.errors?.data?.map((e) => `${e.code ?? 'error'}${e.line ? ` (line ${e.line})` : ''}: ${e.message ?? ''}`);
  if (errors && errors.length > 0) job.errors = errors.join('; ');
  return job;
}

/** The job index that maps a job id to its state file: `<dir>/batch-jobs.json`. */
export function jobIndexPath(dir: string): string {
  return join(dir, 'batch-jobs.json');
}

/** Records `jobIds` → `statePath` in the index (best effort: a job id is a convenience, the input always works). */
export async function addToJobIndex(indexPath: string, jobIds: string[], statePath: string): Promise<void> {
  const index = await readJobIndex(indexPath);
  for (const id of jobIds) index[id] = statePath;
  await mkdir(dirname(indexPath), { recursive: true });
  const tmp = `${indexPath}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(index, null, 2) + '\n');
  await rename(tmp, indexPath);
}

export async function readJobIndex(indexPath: string): Promise<Record<string, string>> {
  if (!existsSync(indexPath)) return {};
  try {
    return JSON.parse(await readFile(indexPath, 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** True when every job has reached a final status (a submission with no jobs is done at once). */
export function allTerminal(state: BatchState): boolean {
  return state.jobs.every((j) => ['failed', 'completed', 'expired', 'cancelled'].includes(j.status));
}
