/**
 * OpenAI Batch API mode: an input file sent as Batch jobs (half price, no synchronous rate
 * limits, answers within 24 h) instead of live calls, with results in the live-run format.
 *
 * submitBatch → (refreshJobs | waitForJobs) → fetchResults; cancelJobs at any time.
 */
export { BatchApiClient, BatchApiError, type BatchApiClientOptions, type CreateBatchOptions } from './client';
export { fetchResults, type FetchResultsOptions, type FetchSummary } from './collect';
export { batchBody, batchLine, requestFingerprint } from './fingerprint';
export { OutputIndex } from './outputIndex';
export {
  cancelJobs,
  isTransient,
  nextPollInterval,
  refreshJobs,
  systemClock,
  waitForJobs,
  withRetries,
  type Clock,
  type RetryOptions,
  type WaitOptions,
} from './poll';
export {
  addToJobIndex,
  allTerminal,
  applyBatch,
  checkState,
  isInside,
  jobIndexPath,
  readJobIndex,
  readState,
  statePathFor,
  unfetchedJobs,
  writeState,
  type BatchState,
  type CheckStateOptions,
  type JobState,
  type StateProblem,
} from './state';
export { MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, replacedStatePath, SubmissionExistsError, submitBatch, type SubmitBatchOptions } from './submit';
export { isTerminal, TERMINAL_STATUSES, type BatchObject, type BatchOutputLine, type BatchStatus, type FileObject, type RequestCounts } from './types';
