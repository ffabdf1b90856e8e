/** Following jobs: one refresh of a submission's jobs, waiting with back-off, and cancelling. */
import { sleep } from '../retry';
import type { BatchApiClient } from './client';
import { allTerminal, applyBatch, type BatchState } from './state';
import { isTerminal } from './types';

/** Asks the server for every job not yet final and updates `state` in place; true if anything changed. */
export async function refreshJobs(state: BatchState, client: BatchApiClient, signal?: AbortSignal): Promise<boolean> {
  let changed = false;
  for (const job of state.jobs) {
    if (isTerminal(job.status)) continue;
    const before = JSON.stringify(job);
    applyBatch(job, await client.retrieveBatch(job.id, signal));
    if (JSON.stringify(job) !== before) changed = true;
  }
  return changed;
}

/** Options of {@link waitForJobs}. */
export interface WaitOptions {
  /** First wait between polls. @default 5000 */
  minIntervalMs?: number;
  /** Longest wait between polls: the wait doubles up to this while nothing changes. @default 300000 */
  maxIntervalMs?: number;
  /** Called after each poll (also the first). */
  onPoll?: (state: BatchState) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * Polls until every job is final. The interval starts at `minIntervalMs`, doubles while nothing
 * changes (jobs take minutes to hours: no need to ask every few seconds), and falls back to the
 * minimum after a change, when the job is moving.
 */
export async function waitForJobs(state: BatchState, client: BatchApiClient, options: WaitOptions = {}): Promise<BatchState> {
  const min = Math.max(1, options.minIntervalMs ?? 5_000);
  const max = Math.max(min, options.maxIntervalMs ?? 300_000);
  let interval = min;
  for (;;) {
    const changed = await refreshJobs(state, client, options.signal);
    await options.onPoll?.(state);
    if (allTerminal(state)) return state;
    interval = changed ? min : Math.min(max, interval * 2);
    await sleep(interval, options.signal);
  }
}

/** Asks the server to cancel every job not yet final; returns the ids it asked for. */
export async function cancelJobs(state: BatchState, client: BatchApiClient, signal?: AbortSignal): Promise<string[]> {
  const asked: string[] = [];
  for (const job of state.jobs) {
    if (isTerminal(job.status) || job.status === 'cancelling') continue;
    applyBatch(job, await client.cancelBatch(job.id, signal));
    asked.push(job.id);
  }
  return asked;
}
