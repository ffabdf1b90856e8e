import type { ReaderOptions } from '../../core/batch/common';
import { unsentRecord, type Unsent } from '../../core/batch/feed';
import { checkResultsPath } from '../../core/batch/paths';
import { countRows, readBatch } from '../../core/batch/readers';
import { ResultsIndex, type RecordRef } from '../../core/batch/resultsIndex';
import { summarize, type BatchSummary } from '../../core/batch/runBatch';
import { RecordTally, UNFINISHED_CODES } from '../../core/batch/tally';
import { ResultsWriter } from '../../core/batch/writer';
import { RunStoppedError, type RequestManager } from '../../core/manager';
import type { InputItem, ResultRecord } from '../../core/types';

export interface RerunOptions {
  /** The input file the results came from. */
  input: string;
  /** The results file; failed records in it are replaced, and the file is rewritten in input order. */
  out: string;
  manager: RequestManager;
  reader: ReaderOptions;
  signal?: AbortSignal;
  onRecord?: (record: ResultRecord) => void;
  /** Called with the number of rows to run again (failed, or without a record), before they are sent. */
  onTotal?: (failed: number) => void;
  /**
   * Run again exactly the rows with these custom_ids (failed or not) instead of the failed ones:
   * the Results view's *Rerun* on chosen rows. @default undefined
   */
  rows?: ReadonlySet<string>;
}

/**
 * One input row's place in the new file: its old record, or the row that runs again and, once
 * the manager delivers it, its new record.
 */
interface Slot {
  old: RecordRef | undefined;
  /** The row, when it runs again (undefined: the old record is kept). */
  row?: InputItem;
  record?: ResultRecord;
  /** Set once nothing more will come for this row (its record arrived, or the run ended without it). */
  settled: boolean;
}

/**
 * Runs again the rows of `input` whose records in `out` carry an error, and the rows that have
 * none, then writes `out` anew: one record per input row, in input order, the new record in place
 * of a failed one. A row that does not finish again (cancelled, stopped) keeps its old record, which
 * says more than "cancelled"; a row without an old record then says why it has no answer. Rows are
 * matched to records by `custom_id`; records of rows no longer in the input are left out.
 *
 * The new file is written beside `out` (its partial file) and moved over it when the rerun ends,
 * cancelled or not: every row keeps at least its old record, so nothing is lost. A rerun that stops
 * (rejected key) or fails leaves `out` as it was and says where the partial file is.
 */
export async function rerunFailed(options: RerunOptions): Promise<BatchSummary & { rerun: number }> {
  const { input, out, manager, signal } = options;
  await checkResultsPath(input, out);
  const old = await ResultsIndex.open(out);
  try {
    const total = options.rows ? options.rows.size : old.failed + Math.max(0, (await countRows(input)) - old.records);
    options.onTotal?.(total);
    const writer = await ResultsWriter.open(out, { atomic: true });
    const tally = new RecordTally();
    let moved = false;
    try {
      const output = new OrderedOutput(async (slot, why) => {
        const record = await recordOf(slot, old, why);
        await writer.write(record);
        tally.add(record);
        options.onRecord?.(record);
      });
      const stopped = await runAgain(options, old, output, total);
      await output.finish();
      const cancelled = !stopped && !!signal?.aborted;
      if (!stopped) {
        await old.close(); // before the rename: Windows cannot replace a file that is open
        await writer.commit();
        moved = true;
      }
      return { ...summarize({ input, out, tally, stopped, cancelled, partial: moved ? null : writer.path, manager }), rerun: total };
    } finally {
      if (!moved) await writer.close().catch(() => undefined);
    }
  } finally {
    await old.close();
  }
}

/**
 * Reads the input once: rows to run again go to the manager, every row takes its place in
 * `output`. Returns how the run stopped, if it did. After a cancel or a stop, the rest of the
 * input is still read (not sent), so that every row gets a record.
 */
async function runAgain(options: RerunOptions, old: ResultsIndex, output: OrderedOutput, total: number): Promise<BatchSummary['stopped']> {
  const source = readBatch(options.input, options.reader);
  /** Slots given to the manager, waiting for their records (in input order). */
  const sent: Slot[] = [];
  const place = (row: InputItem): Slot | undefined => {
    const ref = old.take(row.custom_id);
    const again = options.rows ? options.rows.has(row.custom_id) : !ref || ref.failed;
    // An answer that broke its JSON schema is in the cache: ask the server again, not the cache.
    if (again && ref?.refresh && row.kind !== 'invalid') row.refresh = true;
    const slot: Slot = again ? { old: ref, row, settled: false } : { old: ref, settled: true };
    output.push(slot);
    return again ? slot : undefined;
  };
  async function* rowsToRun(): AsyncGenerator<InputItem> {
    // next(), not `for await`: the manager's early stop must not close the file (see feed.ts).
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      const slot = place(next.value);
      if (!slot) continue;
      sent.push(slot);
      yield next.value;
    }
  }
  let stopped: BatchSummary['stopped'] = null;
  let rowCode = 'run_stopped';
  try {
    try {
      for await (const record of options.manager.run(rowsToRun(), { signal: options.signal, total })) {
        const slot = sent.shift()!;
        slot.record = record;
        slot.settled = true;
        output.pump();
      }
    } catch (e) {
      if (!(e instanceof RunStoppedError)) throw e;
      stopped = { code: e.code, message: e.message };
      rowCode = e.rowCode;
    }
    output.ended(stopped ? { code: rowCode, reason: stopped.message } : { code: 'cancelled' });
    // Rows the manager read but gave no record for, then the rows it never read.
    for (const slot of sent) slot.settled = true;
    for (;;) {
      const next = await source.next();
      if (next.done) break;
      const slot = place(next.value);
      if (slot) slot.settled = true;
      output.pump();
    }
    return stopped;
  } finally {
    await source.return(undefined);
  }
}

/** The record written for a slot. */
async function recordOf(slot: Slot, old: ResultsIndex, why: Unsent): Promise<ResultRecord> {
  const fresh = slot.record;
  if (fresh && !(fresh.error && UNFINISHED_CODES.has(fresh.error.code) && slot.old)) return fresh;
  if (slot.old) return old.read(slot.old);
  return unsentRecord(slot.row!, why);
}

/**
 * Writes slots in the order they were pushed, each once it is settled; one write at a time. A
 * row's old record can only be written after every row before it, whose new record may still be
 * on its way: the slots wait here (a few numbers each), not the records.
 */
class OrderedOutput {
  private slots: Slot[] = [];
  private head = 0;
  private running: Promise<void> | undefined;
  private failure: unknown;
  /** Why rows left without a record were not sent: set by {@link ended}. */
  private why: Unsent = { code: 'cancelled' };

  constructor(private readonly write: (slot: Slot, why: Unsent) => Promise<void>) {}

  push(slot: Slot): void {
    this.slots.push(slot);
    this.pump();
  }

  /** Starts writing what is ready, unless a write is already under way (it goes on to the new slots). */
  pump(): void {
    if (this.running || this.failure !== undefined || !this.ready()) return;
    this.running = this.drain()
      .catch((e: unknown) => {
        this.failure = e;
      })
      .finally(() => {
        this.running = undefined;
        this.pump(); // a slot may have settled while this write was finishing
      });
  }

  /** The run has ended; rows left without a record were not sent because of `why`. Call before settling them. */
  ended(why: Unsent): void {
    this.why = why;
  }

  /** Writes every slot left; rethrows a write's failure. */
  async finish(): Promise<void> {
    for (const slot of this.slots.slice(this.head)) slot.settled = true;
    this.pump();
    while (this.running) await this.running;
    if (this.failure !== undefined) throw this.failure;
  }

  private ready(): boolean {
    return this.head < this.slots.length && this.slots[this.head]!.settled;
  }

  private async drain(): Promise<void> {
    while (this.ready()) {
      const slot = this.slots[this.head]!;
      // A row settles without a record only after ended() said why.
      await this.write(slot, this.why);
      this.slots[this.head++] = undefined as unknown as Slot; // let the record go
      if (this.head > 1024 && this.head * 2 > this.slots.length) {
        this.slots = this.slots.slice(this.head);
        this.head = 0;
      }
    }
  }
}
