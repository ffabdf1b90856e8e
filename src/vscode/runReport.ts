import type { BatchSummary } from '../core/batch/runBatch';
import { UNFINISHED_CODES, type FailureKind } from '../core/batch/tally';
import { compact, formatCost } from '../core/progress';

export { failureText } from '../core/progress';
import type { ResultRecord } from '../core/types';
import type { RunEnding } from '../webview/protocol';

/**
 * Counts which unfinished rows had been sent (abandoned in flight) and which were never sent: the
 * one thing the core summary (`failed`, `unfinished`, `failures`) does not say.
 */
export class RecordTally {
  /** Records with `cancelled`/`run_stopped` that had been sent at least once. */
  abandoned = 0;

  add(record: ResultRecord): void {
    if (record.error && UNFINISHED_CODES.has(record.error.code) && record.attempts > 0) this.abandoned++;
  }
}

/** The summary's failures and unfinished rows, with those abandoned in flight counted apart. */
export function outcomeOf(summary: BatchSummary, tally: RecordTally): { failures: FailureKind[]; failed: number; unfinished: number; abandoned: number } {
  return { failures: summary.failures, failed: summary.failed, unfinished: summary.unfinished, abandoned: Math.min(tally.abandoned, summary.unfinished) };
}

/** How the run ended, for Token Stats. */
export function endingOf(summary: BatchSummary, tally: RecordTally): RunEnding {
  const { failed, unfinished } = outcomeOf(summary, tally);
  return { state: summary.stopped ? 'stopped' : summary.cancelled ? 'cancelled' : 'finished', failed, unfinished };
}

/**
 * The one-line account of a run: `200 rows: 80 ok, 32 cancelled, 88 not run · 1.2k fresh tokens ·
 * $0.01`. Cancelled and stopped rows are counted apart from failures: "cancelled" were sent and
 * abandoned, "not run" were never sent.
 */
export function runLine(summary: BatchSummary, tally: RecordTally): string {
  const { failed, unfinished, abandoned } = outcomeOf(summary, tally);
  const s = summary.stats;
  const parts = [`${summary.succeeded} ok`];
  if (failed) parts.push(`${failed} failed`);
  if (summary.stopped) {
    if (unfinished) parts.push(`${unfinished} not run (the run stopped)`);
  } else {
    if (abandoned) parts.push(`${abandoned} cancelled`);
    if (unfinished - abandoned) parts.push(`${unfinished - abandoned} not run`);
  }
  if (s.cacheHits) parts.push(`${s.cacheHits} from cache`);
  return `${summary.records} rows: ${parts.join(', ')} · ${compact(s.fresh.total)} fresh tokens · ${formatCost(s.cost.spent)}`;
}
