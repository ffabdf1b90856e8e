import { rename, rm } from 'node:fs/promises';
import type { ReaderOptions } from '../../core/batch/common';
import { countRows, readBatch } from '../../core/batch/readers';
import { summarize, type BatchSummary } from '../../core/batch/runBatch';
import { ResultsWriter, readResults } from '../../core/batch/writer';
import { RunStoppedError, type RequestManager } from '../../core/manager';
import type { InputItem, ResultRecord } from '../../core/types';

export interface RerunOptions {
  /** The input file the results came from. */
  input: string;
  /** The results file; failed records in it are replaced in place (order kept). */
  out: string;
  manager: RequestManager;
  reader: ReaderOptions;
  signal?: AbortSignal;
  onRecord?: (record: ResultRecord) => void;
  /** Called with the number of failed rows found, before they are sent. */
  onTotal?: (failed: number) => void;
}

/**
 * Runs again the rows whose records in `out` carry an error, and the rows that have no record
 * (a cancelled run stops reading), then rewrites `out` with the new records in place of the old
 * ones and the missing rows' records at the end. The file is rewritten through a temporary file and a rename,
 * so an interruption leaves the old results intact. Rows are matched by `custom_id`.
 */
export async function rerunFailed(options: RerunOptions): Promise<BatchSummary & { rerun: number }> {
  const { input, out, manager, signal } = options;
  const failedIds = new Set<string>();
  const seenIds = new Set<string>();
  for await (const record of readResults(out, { onInvalid: () => undefined })) {
    seenIds.add(record.custom_id);
    if (record.error) failedIds.add(record.custom_id);
  }
  // Rows with no record at all (a cancelled run stops reading) are run too.
  const missing = Math.max(0, (await countRows(input)) - seenIds.size);
  const total = failedIds.size + missing;
  options.onTotal?.(total);

  const fresh = new Map<string, ResultRecord>();
  let stopped: BatchSummary['stopped'] = null;
  if (total > 0) {
    async function* failedItems(): AsyncGenerator<InputItem> {
      // No signal here: an aborted reader throws, and the manager stops pulling on cancel anyway.
      for await (const item of readBatch(input, options.reader)) {
        if (failedIds.has(item.custom_id) || !seenIds.has(item.custom_id)) yield item;
      }
    }
    try {
      for await (const record of manager.run(failedItems(), { signal, total })) {
        // A cancelled row keeps its old record: "cancelled" says less than the first error did.
        if (record.error?.code !== 'cancelled') fresh.set(record.custom_id, record);
        options.onRecord?.(record);
      }
    } catch (e) {
      if (!(e instanceof RunStoppedError)) throw e;
      stopped = { code: e.code, message: e.message };
    }
  }

  const tmp = `${out}.tmp-${process.pid}`;
  const writer = await ResultsWriter.open(tmp);
  let records = 0;
  let succeeded = 0;
  try {
    const write = async (record: ResultRecord) => {
      await writer.write(record);
      records++;
      if (!record.error) succeeded++;
    };
    for await (const old of readResults(out, { onInvalid: () => undefined })) {
      await write(fresh.get(old.custom_id) ?? old);
      fresh.delete(old.custom_id);
    }
    // What is left answers rows that had no record: they come after the old ones, in input order.
    for (const record of fresh.values()) await write(record);
    await writer.close();
    await rename(tmp, out);
  } catch (e) {
    await writer.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
  return { ...summarize({ input, out, records, succeeded, stopped, signal, manager }), rerun: total };
}
