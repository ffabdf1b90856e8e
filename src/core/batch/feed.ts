/**
 * The input of a run, shared by the RequestManager and what comes after it: when a run is
 * cancelled or stopped, the manager stops reading, and the rows it never finished still get a
 * record each (`cancelled` / `run_stopped`), written without sending them.
 */
import type { InputError, InputItem, ResultRecord } from '../types';

/**
 * Why rows were not sent: the run was cancelled, or it stopped (with the stop's message, and the
 * code its unfinished rows carry: `run_stopped`, or `rate_limited` when it gave up on rate limits).
 */
export type Unsent = { code: 'cancelled' } | { code: string; reason: string };

/**
 * The rows of one input file, read once. {@link forManager} hands them to the manager without
 * letting its early stop close the file; {@link delivered} matches each record the manager yields
 * (in input order) to its row; {@link rest} is then every row that has no record yet: rows the
 * manager read but dropped, and rows never read.
 */
export class InputFeed {
  /** Rows given to the manager that have no record yet, oldest first (at most the manager's read-ahead). */
  private taken: InputItem[] = [];
  private head = 0;

  constructor(
    private readonly source: AsyncGenerator<InputItem>,
    /** A row already read from `source` (the first one, read to check the file), if any. */
    private first?: InputItem,
  ) {}

  /**
   * The rows, for `RequestManager.run`. Stopping early (return()) does not close the source: it
   * is pulled with next(), never with a `for await` that would close it on the way out.
   */
  async *forManager(): AsyncGenerator<InputItem> {
    for (;;) {
      let row = this.pull();
      if (!row) {
        const next = await this.source.next();
        if (next.done) return;
        row = next.value;
      }
      this.taken.push(row);
      yield row;
    }
  }

  /** The manager yielded the record of the oldest row it was given. */
  delivered(): void {
    this.head++;
    // Compact now and then, so that the array does not keep every row of the run.
    if (this.head > 1024 && this.head * 2 > this.taken.length) {
      this.taken = this.taken.slice(this.head);
      this.head = 0;
    }
  }

  /** Every row without a record: the ones the manager was given but gave no record for, then the rest of the file. */
  async *rest(): AsyncGenerator<InputItem> {
    while (this.head < this.taken.length) yield this.taken[this.head++]!;
    const first = this.pull();
    if (first) yield first;
    for (;;) {
      const next = await this.source.next();
      if (next.done) return;
      yield next.value;
    }
  }

  private pull(): InputItem | undefined {
    const first = this.first;
    this.first = undefined;
    return first;
  }
}

/**
 * The record of a row that was not sent: an invalid row keeps its own error (it could never be
 * sent), any other row says why it was not.
 */
export function unsentRecord(item: InputItem, why: Unsent): ResultRecord {
  if (item.kind === 'invalid') return invalidRecord(item);
  const message = 'reason' in why ? `Not sent: the run stopped. ${why.reason}` : 'Not sent: the run was cancelled.';
  return {
    id: `fastllm-unsent-${item.line}`,
    custom_id: item.custom_id,
    response: null,
    error: { code: why.code, message },
    line: item.line,
    cached: false,
    attempts: 0,
    latency_ms: 0,
  };
}

/** The record of a row that could not be read: the RequestManager's and the unsent rows' alike. */
export function invalidRecord(item: InputError): ResultRecord {
  return {
    id: `fastllm-invalid-${item.line}`,
    custom_id: item.custom_id,
    response: null,
    error: item.error,
    line: item.line,
    cached: false,
    attempts: 0,
    latency_ms: 0,
  };
}
