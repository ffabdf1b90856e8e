/**
 * An index of a results file by `custom_id`: where each record's line is and whether it failed,
 * so that Rerun Failed Rows can write the rows it does not run again in input order, reading each
 * old record only when it is written. Memory holds a few numbers per record, not the records
 * (an embeddings run's records are tens of kilobytes each).
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { isPlainObject } from '../request';
import type { ResultRecord } from '../types';

/** Where one record's line is in the file, and whether it carries an error. */
export interface RecordRef {
  start: number;
  length: number;
  failed: boolean;
  /**
   * The record's answer did not match its JSON schema (`schema_valid: false`): the cache holds
   * that answer, so running the row again must ask the server afresh (`refresh`).
   */
  refresh?: boolean;
}

/** The records of one results file, by `custom_id`. Create with {@link ResultsIndex.open}; always `close()`. */
export class ResultsIndex {
  /** Records indexed (lines that are result records). */
  records = 0;
  /** Of those, records with an error. */
  failed = 0;
  /** Refs by `custom_id`; several for an id that repeats, in file order. */
  private readonly refs = new Map<string, RecordRef | RecordRef[]>();

  private constructor(private fh: FileHandle | undefined) {}

  /**
   * Indexes the file at `path`; a missing file gives an empty index. Lines that are not result
   * records (and a torn last line left by a killed run) are skipped.
   */
  static async open(path: string): Promise<ResultsIndex> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new ResultsIndex(undefined);
      throw e;
    }
    const index = new ResultsIndex(fh);
    try {
      await index.scan(path);
    } catch (e) {
      await fh.close();
      throw e;
    }
    return index;
  }

  /** Takes the next (in file order) record of `customId`, or undefined when it has none left. */
  take(customId: string): RecordRef | undefined {
    const found = this.refs.get(customId);
    if (found === undefined) return undefined;
    if (!Array.isArray(found)) {
      this.refs.delete(customId);
      return found;
    }
    const ref = found.shift();
    if (found.length === 0) this.refs.delete(customId);
    return ref;
  }

  /** Reads the record at `ref`. */
  async read(ref: RecordRef): Promise<ResultRecord> {
    const buffer = Buffer.alloc(ref.length);
    if (!this.fh) throw new Error('ResultsIndex: read after close');
    await this.fh.read(buffer, 0, ref.length, ref.start);
    return JSON.parse(buffer.toString('utf8')) as ResultRecord;
  }

  /** Closes the file; safe to call more than once. */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async scan(path: string): Promise<void> {
    let offset = 0; // file offset of the current chunk
    let lineStart = 0; // file offset of the line being assembled
    let parts: Buffer[] = [];
    for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      let from = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
        const piece = chunk.subarray(from, nl);
        this.add(parts.length ? Buffer.concat([...parts, piece]) : piece, lineStart);
        parts = [];
        from = nl + 1;
        lineStart = offset + from;
      }
      if (from < chunk.length) parts.push(chunk.subarray(from));
      offset += chunk.length;
    }
    // A last line without a newline is indexed only if it is a whole record (not torn by a kill).
    if (parts.length) this.add(Buffer.concat(parts), lineStart);
  }

  private add(line: Buffer, start: number): void {
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      return;
    }
    if (!isPlainObject(value) || typeof value.custom_id !== 'string') return;
    const ref: RecordRef = { start, length: line.length, failed: value.error !== null && value.error !== undefined };
    if (value.schema_valid === false) ref.refresh = true;
    this.records++;
    if (ref.failed) this.failed++;
    const existing = this.refs.get(value.custom_id);
    if (existing === undefined) this.refs.set(value.custom_id, ref);
    else if (Array.isArray(existing)) existing.push(ref);
    else this.refs.set(value.custom_id, [existing, ref]);
  }
}
