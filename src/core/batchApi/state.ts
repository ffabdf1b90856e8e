/**
 * The job state file (`<input>.batch.json`, beside the input): what was sent where, so that
 * `status`, `fetch` and `cancel` need only the input file or a job id, in a later process, and the
 * extension's job list survives restarts.
 *
 * Invariant: the file is rewritten whole through a temporary file and a rename, so a reader never
 * sees half of it; it is saved after every job created, so a submit that dies half-way still
 * leaves the jobs it created findable (and cancellable).
 */
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { normalizeBaseURL } from '../hash';
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
  /**
   * custom_id → {@link requestFingerprint} of every request sent in this job. Fetch accepts an
   * answer only for a row whose request today has the fingerprint that was sent. Absent in state
   * files written before it existed: fetch then reads it from the job's input file on the server.
   */
  sent?: Record<string, string>;
}

/** A submission: one input file sent as one or more jobs. */
export interface BatchState {
  version: 1;
  /** A random id of this submission, also in each job's metadata (`fastllm_submission`). Absent in older files. */
  id?: string;
  /**
   * False while submit is still sending parts: submitting again resumes (only rows no job has
   * accepted are sent). Absent in older files, which were only written by a finished submit's jobs.
   */
  complete?: boolean;
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

/**
 * Reads a state file. The file sits in a workspace where anyone may have written it, so its
 * shape is checked here: later code can trust the types (not the values: see {@link checkState}).
 */
export async function readState(path: string): Promise<BatchState> {
  let state: BatchState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as BatchState;
  } catch (e) {
    throw new Error(`${path}: not a FastLLM batch state file (${(e as Error).message})`);
  }
  const problem = shapeProblem(state);
  if (problem) throw new Error(`${path}: not a FastLLM batch state file (${problem})`);
  return state;
}

function shapeProblem(state: BatchState): string | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(state) || state.version !== 1) return 'no "version": 1';
  if (typeof state.input !== 'string' || typeof state.baseURL !== 'string') return '"input" and "baseURL" must be strings';
  if (!Array.isArray(state.jobs)) return '"jobs" must be a list';
  if (!isObject(state.reader ?? {}) || !isObject(state.inputStat)) return '"reader" and "inputStat" must be objects';
  for (const [i, job] of state.jobs.entries()) {
    if (!isObject(job) || typeof job.id !== 'string' || typeof job.status !== 'string' || !Array.isArray(job.ranges) || !isObject(job.counts)) {
      return `job ${i + 1} lacks an id, status, ranges or counts`;
    }
    if (job.sent !== undefined && (!isObject(job.sent) || Object.values(job.sent).some((v) => typeof v !== 'string'))) return `job ${job.id}: "sent" must map ids to strings`;
  }
  if (state.fetched !== null && state.fetched !== undefined && (!isObject(state.fetched) || typeof state.fetched.out !== 'string')) return '"fetched" must be null or name its "out" file';
  return undefined;
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

/**
 * Jobs that may hold answers not yet written to a results file: every job but a `failed` one
 * (rejected as a whole: nothing ran) of a submission not fetched since.
 */
export function unfetchedJobs(state: BatchState): JobState[] {
  return state.fetched ? [] : state.jobs.filter((j) => j.status !== 'failed');
}

/** Why a state file must not be used as it is (see {@link checkState}). */
export type StateProblem =
  /** The state names another server than the configured one: the API key would go there. */
  | { code: 'base_url'; stateURL: string; configuredURL: string; message: string }
  /** The state's input (where results are written beside) is not the file the state sits beside. */
  | { code: 'input_elsewhere'; input: string; message: string }
  /** The state's input or results file is outside every allowed folder (the workspace). */
  | { code: 'outside'; path: string; message: string };

/** Options of {@link checkState}. */
export interface CheckStateOptions {
  /** The base URL the user configured (flag, environment, setting). */
  baseURL: string;
  /** Another base URL the user already accepted for this state file. @default none */
  acceptedBaseURL?: string;
  /** Folders the input and results must be inside (VS Code: the workspace folders). @default anywhere */
  roots?: readonly string[];
}

/**
 * What is wrong with using `state` (read from `statePath`) as it is; empty when nothing.
 *
 * A state file decides where the API key goes (its `baseURL`) and where results are written
 * (beside its `input`). It lives in a folder others can write to (a cloned repository, a shared
 * drive), so it is believed only as far as the user's own configuration agrees with it.
 */
export function checkState(state: BatchState, statePath: string, options: CheckStateOptions): StateProblem[] {
  const problems: StateProblem[] = [];
  const stateURL = normalizeBaseURL(state.baseURL);
  const configuredURL = normalizeBaseURL(options.baseURL);
  const accepted = options.acceptedBaseURL === undefined ? undefined : normalizeBaseURL(options.acceptedBaseURL);
  if (stateURL !== configuredURL && stateURL !== accepted) {
    problems.push({
      code: 'base_url',
      stateURL,
      configuredURL,
      message: `${statePath} was submitted to ${stateURL}, but the configured base URL is ${configuredURL}; the API key is only sent to the configured one`,
    });
  }
  if (!isStateOf(resolve(statePath), state.input)) {
    problems.push({ code: 'input_elsewhere', input: state.input, message: `${statePath} names ${state.input} as its input, not the file it sits beside` });
  }
  if (options.roots) {
    for (const path of [state.input, ...(state.fetched ? [state.fetched.out] : [])]) {
      if (!options.roots.some((root) => isInside(path, root))) {
        problems.push({ code: 'outside', path, message: `${statePath} points at ${path}, outside the workspace` });
      }
    }
  }
  return problems;
}

/**
 * True when `statePath` is where a state of `input` is kept: `<input>.batch.json`, or a state a
 * forced submit set aside, `<input>.<time>.batch.json`, in the same folder.
 */
function isStateOf(statePath: string, input: string): boolean {
  const abs = resolve(input);
  if (statePath === statePathFor(abs)) return true;
  return dirname(statePath) === dirname(abs) && statePath.startsWith(`${abs}.`) && /^\.[^./\\]+\.batch\.json$/.test(statePath.slice(abs.length));
}

/** True when `path` is `root` or below it, also after resolving symbolic links of existing folders. */
export function isInside(path: string, root: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const within = (p: string, r: string) => {
    const rel = relative(r, p);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  const abs = resolve(path);
  return within(abs, resolve(root)) && within(join(real(dirname(abs)), relative(dirname(abs), abs)), real(root));
}

/** True when every job has reached a final status (a submission with no jobs is done at once). */
export function allTerminal(state: BatchState): boolean {
  return state.jobs.every((j) => ['failed', 'completed', 'expired', 'cancelled'].includes(j.status));
}
