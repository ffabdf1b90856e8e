/**
 * OpenAI Batch API mode: an input file sent as Batch jobs (half price, no synchronous rate
 * limits, answers within 24 h) instead of live calls, with results in the live-run format.
 *
 * submitBatch → (refreshJobs | waitForJobs) → fetchResults; cancelJobs at any time.
 */
export { BatchApiClient, BatchApiError, type BatchApiClientOptions, type CreateBatchOptions } from './client';
export { fetchResults, type FetchResultsOptions, type FetchSummary } from './collect';
export { cancelJobs, refreshJobs, waitForJobs, type WaitOptions } from './poll';
export {
  addToJobIndex,
  allTerminal,
  applyBatch,
  jobIndexPath,
  readJobIndex,
  readState,
  statePathFor,
  writeState,
  type BatchState,
  type JobState,
} from './state';
export { MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, submitBatch, type SubmitBatchOptions } from './submit';
export { isTerminal, TERMINAL_STATUSES, type BatchObject, type BatchOutputLine, type BatchStatus, type FileObject, type RequestCounts } from './types';
