/**
 * The wire shapes of OpenAI's Files and Batches endpoints that Batch API mode reads, reduced to the
 * fields we use (servers send more; extra fields are ignored).
 */

/** A batch job's status, as OpenAI reports it. */
export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** Statuses after which a job never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<BatchStatus> = new Set(['failed', 'completed', 'expired', 'cancelled']);

/** True once a job has finished for good (its output and error files, if any, are final). */
export function isTerminal(status: BatchStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** `request_counts` of a batch. */
export interface RequestCounts {
  total: number;
  completed: number;
  failed: number;
}

/** A batch object (`GET /v1/batches/{id}`). Times are epoch seconds, as OpenAI sends them. */
export interface BatchObject {
  id: string;
  object?: 'batch';
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id?: string | null;
  error_file_id?: string | null;
  created_at: number;
  expires_at?: number | null;
  completed_at?: number | null;
  failed_at?: number | null;
  expired_at?: number | null;
  cancelled_at?: number | null;
  request_counts?: RequestCounts | null;
  /** Job-level errors (e.g. an input file that failed validation). */
  errors?: { data?: { code?: string; message?: string; line?: number | null }[] } | null;
  metadata?: Record<string, string> | null;
}

/** A file object (`POST /v1/files`). */
export interface FileObject {
  id: string;
  bytes: number;
  filename: string;
  purpose: string;
  created_at: number;
}

/** One line of a Batch API input file. */
export interface BatchInputLine {
  custom_id: string;
  method: 'POST';
  url: string;
  body: Record<string, unknown>;
}

/**
 * One line of a Batch API output or error file. A request the server answered has a `response`
 * (a non-2xx status lands in the error file with the server's error body); a request that never
 * ran (expired, cancelled) may have only `error`.
 */
export interface BatchOutputLine {
  id?: string;
  custom_id: string;
  response: { status_code: number; request_id?: string | null; body: unknown } | null;
  error: { code?: string | null; message?: string | null } | null;
}
