import type { RequestManager } from '../manager';
import { RunStoppedError } from '../manager';
import type { StatsSnapshot } from '../stats';
import type { ResultRecord } from '../types';
import { countRows, readBatch, type ReaderOptions } from './readers';
import { ResultsWriter } from './writer';

export interface BatchRunOptions {
  /** The input file (.txt, .jsonl, .csv). */
  input: string;
  /** The results file; replaced unless `append`. */
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
  out: string;
  /** Records written (one per input row). */
  records: number;
  succeeded: number;
  failed: number;
  cancelled: boolean;
  /** Set when the run stopped early (for example, the API key was rejected). */
  stopped: { code: string; message: string } | null;
  stats: StatsSnapshot;
}

/**
 * Reads a batch file, runs it, and writes one JSONL record per row in input order. Records are
 * appended as they become ready, so an interrupted run leaves a valid prefix and the cache holds
 * every answer that arrived.
 */
export async function runBatch(options: BatchRunOptions): Promise<BatchSummary> {
  const { input, out, manager, signal } = options;
  const total = await countRows(input);
  // The reader gets no signal: on cancellation the manager stops pulling and closes it, and
  // delivers a record for every row already read, so a cancelled run ends in a summary.
  const reader = readBatch(input, options.reader);
  // Read the first row before touching the results file: a file refused whole (binary, unknown
  // type, missing template columns) throws here and leaves the previous results as they were.
  const first = await reader.next();
  const items = (async function* () {
    if (first.done) return;
    yield first.value;
    yield* reader;
  })();
  const writer = await ResultsWriter.open(out);
  let records = 0;
  let succeeded = 0;
  let stopped: BatchSummary['stopped'] = null;
  try {
    for await (const record of manager.run(items, { signal, total })) {
      await writer.write(record);
      records++;
      if (!record.error) succeeded++;
      options.onRecord?.(record);
    }
  } catch (e) {
    if (!(e instanceof RunStoppedError)) throw e;
    stopped = { code: e.code, message: e.message };
  } finally {
    await writer.close();
  }
  return summarize({ input, out, records, succeeded, stopped, signal, manager });
}

/** The summary of a run over `input` that wrote `records` records (`succeeded` of them ok) to `out`. */
export function summarize(run: {
  input: string;
  out: string;
  records: number;
  succeeded: number;
  stopped: BatchSummary['stopped'];
  signal?: AbortSignal;
  manager: RequestManager;
}): BatchSummary {
  const { input, out, records, succeeded, stopped } = run;
  return {
    input,
    out,
    records,
    succeeded,
    failed: records - succeeded,
    cancelled: !!run.signal?.aborted && !stopped,
    stopped,
    stats: run.manager.stats.snapshot(),
  };
}
