/**
 * Counting the records of a run for its summary: how many succeeded, failed, or were not finished,
 * and which kinds of failure there were (so that "6 failed" can say why).
 */
import type { ResultRecord } from '../types';

/** One kind of failure in a run: an error code and HTTP status, how often, and its first message. */
export interface FailureKind {
  /** The record's `error.code`, e.g. `invalid_request_error`, `timeout`, `invalid_input`. */
  code: string;
  /** The HTTP status the server answered with, or null when none came (timeout, reset, bad input). */
  status: number | null;
  /** Records with this code and status. */
  count: number;
  /** The message of the first such record. */
  message: string;
}

/** Error codes of rows that did not finish because the run was cancelled or stopped (not failures of their own). */
export const UNFINISHED_CODES: ReadonlySet<string> = new Set(['cancelled', 'run_stopped']);

/** More distinct kinds than this are counted under one last kind, so that a server inventing codes cannot grow the summary without bound. */
const MAX_KINDS = 50;

/** Adds up records as they are written. */
export class RecordTally {
  records = 0;
  succeeded = 0;
  /** Records with an error other than `cancelled` / `run_stopped`. */
  failed = 0;
  /** Records with the error `cancelled` or `run_stopped`. */
  unfinished = 0;
  private readonly kinds = new Map<string, FailureKind>();

  add(record: ResultRecord): void {
    this.records++;
    if (!record.error) {
      this.succeeded++;
      return;
    }
    if (UNFINISHED_CODES.has(record.error.code)) {
      this.unfinished++;
      return;
    }
    this.failed++;
    const status = record.response?.status_code ?? null;
    let id = `${record.error.code}\u0000${status ?? ''}`;
    if (!this.kinds.has(id) && this.kinds.size >= MAX_KINDS) id = 'other';
    const kind = this.kinds.get(id);
    if (kind) kind.count++;
    else if (id === 'other') this.kinds.set(id, { code: 'other', status: null, count: 1, message: record.error.message });
    else this.kinds.set(id, { code: record.error.code, status, count: 1, message: record.error.message });
  }

  /** The failure kinds, most frequent first (ties: the one seen first). */
  failures(): FailureKind[] {
    // Array.prototype.sort is stable, and the map iterates in insertion (first seen) order.
    return [...this.kinds.values()].map((k) => ({ ...k })).sort((a, b) => b.count - a.count);
  }
}
