import { rm, stat } from 'node:fs/promises';
import type { RequestManager } from '../manager';
import { RunStoppedError } from '../manager';
import type { StatsSnapshot } from '../stats';
import type { ResultRecord } from '../types';
import { InputFeed, unsentRecord, type Unsent } from './feed';
import { checkResultsPath } from './paths';
import { countRows, readBatch, type ReaderOptions } from './readers';
import { RecordTally, type FailureKind } from './tally';
import { ResultsWriter } from './writer';

export type { FailureKind } from './tally';

export interface BatchRunOptions {
  /** The input file (.txt, .jsonl, .csv). */
  input: string;
  /**
   * The results file. The run writes to its partial file (`partialResultsPath(out)`) and moves
   * that over `out` when the run ends; see {@link BatchSummary.partial} for when it does not.
   */
  out: string;
  manager: RequestManager;
  reader: ReaderOptions;
  signal?: AbortSignal;
  /** Called with every record as it is written, in input order. */
  onRecord?: (record: ResultRecord) => void;
}

/** How a batch run ended. */
export interface BatchSummary {
  input: string;
  /** The results file (the previous one, untouched, when {@link partial} is set). */
  out: string;
  /** Records written: one per input row, cancelled and stopped runs included. */
  records: number;
  succeeded: number;
  /** Records with an error of their own (not `cancelled` or `run_stopped`). */
  failed: number;
  /** Records of rows the run did not finish (error `cancelled` or `run_stopped`), sent or not. */
  unfinished: number;
  /** The kinds of the {@link failed} records, most frequent first, each with its first message. */
  failures: FailureKind[];
  /** The user cancelled the run before every row finished. */
  cancelled: boolean;
  /** Set when the run stopped early (for example, the API key was rejected). */
  stopped: { code: string; message: string } | null;
  /**
   * Where this run's records are when they did not replace {@link out}: the run stopped, or it
   * was cancelled while a previous results file existed (kept whole). Null when they are in `out`.
   */
  partial: string | null;
  stats: StatsSnapshot;
}

/**
 * Reads a batch file, runs it, and writes one JSONL record per input row in input order, rows of
 * a cancelled or stopped run included (those not finished say `cancelled` or `run_stopped`, and
 * rows never read are not sent). Records go to the partial file as they become ready, so a
 * killed run leaves a valid prefix there, and the cache holds every answer that arrived.
 *
 * The partial file replaces `out` when the run ends: finished, or cancelled when there was no
 * previous results file. A run that stops (rejected key, no quota) or crashes, or one cancelled
 * over a previous results file, leaves `out` as it was and says where its records are
 * ({@link BatchSummary.partial}).
 */
export async function runBatch(options: BatchRunOptions): Promise<BatchSummary> {
  const { input, out, manager, signal } = options;
  await checkResultsPath(input, out);
  const total = await countRows(input);
  // The reader gets no signal: on cancellation the manager stops pulling, and the rest of the
  // file is read (not sent) below, so that every row has a record.
  const source = readBatch(input, options.reader);
  try {
    // Read the first row before touching any results file: a file refused whole (binary, unknown
    // type, missing template columns) throws here and leaves everything as it was.
    const first = await source.next();
    const feed = new InputFeed(source, first.done ? undefined : first.value);
    const previous = await exists(out);
    const writer = await ResultsWriter.open(out, { atomic: true });
    const tally = new RecordTally();
    const write = async (record: ResultRecord) => {
      await writer.write(record);
      tally.add(record);
      options.onRecord?.(record);
    };
    let stopped: BatchSummary['stopped'] = null;
    let rowCode = 'run_stopped';
    let moved = false;
    try {
      try {
        for await (const record of manager.run(feed.forManager(), { signal, total })) {
          feed.delivered();
          await write(record);
        }
      } catch (e) {
        if (!(e instanceof RunStoppedError)) throw e;
        stopped = { code: e.code, message: e.message };
        rowCode = e.rowCode;
      }
      const why: Unsent = stopped ? { code: rowCode, reason: stopped.message } : { code: 'cancelled' };
      for await (const item of feed.rest()) await write(unsentRecord(item, why));
      const cancelled = !stopped && !!signal?.aborted && tally.unfinished > 0;
      if (!stopped && !(cancelled && previous)) {
        await writer.commit();
        moved = true;
      }
      return summarize({ input, out, tally, stopped, cancelled, partial: moved ? null : writer.path, manager });
    } finally {
      // Reached without a commit when the run stopped, was cancelled over a previous file, or
      // failed: the partial file keeps what was written, and `out` is untouched.
      if (!moved) {
        await writer.close().catch(() => undefined);
        // Nothing written (the run failed before its first record): no partial file to point to.
        if (writer.count === 0) await rm(writer.path, { force: true });
      }
    }
  } finally {
    await source.return(undefined);
  }
}

/** The summary of a run over `input` whose records, counted in `tally`, went to `out` (or to `partial`). */
export function summarize(run: {
  input: string;
  out: string;
  tally: RecordTally;
  stopped: BatchSummary['stopped'];
  cancelled: boolean;
  partial: string | null;
  manager: RequestManager;
}): BatchSummary {
  const { input, out, tally, stopped, cancelled, partial } = run;
  return {
    input,
    out,
    records: tally.records,
    succeeded: tally.succeeded,
    failed: tally.failed,
    unfinished: tally.unfinished,
    failures: tally.failures(),
    cancelled,
    stopped,
    partial,
    stats: run.manager.stats.snapshot(),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
