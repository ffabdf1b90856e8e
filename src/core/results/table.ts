/**
 * The table behind the Results view: a results file indexed by byte offsets, a few numbers per
 * record (line, flags, attempts, latency, tokens, cost, a hash of the answer), never the records
 * themselves. 100,000 rows cost a few megabytes; a page of rows is read back from the file on demand.
 *
 * Invariant: row `i` is the i-th whole result record in the file, in file order. A file that only
 * grew (a run appending) is indexed from where the last scan stopped ({@link ResultsTable.refresh});
 * any other change (a rename over it, a rewrite) starts again from zero.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { answerOf } from '../compare';
import { costOf, type PriceTable } from '../pricing';
import { isPlainObject } from '../request';
import type { ResultRecord } from '../types';
import { marksOf } from './marks';

/** Row flags. */
export const FAILED = 1;
export const CACHED = 2;
/** The token limit cut the answer short (see marksOf, ./marks.ts). */
export const TRUNCATED = 4;
/** The record carries `schema_valid`: its request asked for a JSON schema. */
export const SCHEMA = 8;
/** The answer did not match its JSON schema (`schema_valid: false`). */
export const SCHEMA_INVALID = 16;

/** Which rows a query keeps. `changed`: the answer differs from the {@link ResultsTable.baseline}. */
export type RowFilter = 'all' | 'failed' | 'cached' | 'changed';
/** What a query sorts by; `line` is file order. */
export type SortKey = 'line' | 'latency' | 'tokens' | 'cost';

/** A query over the table. */
export interface RowQuery {
  /** @default 'all' */
  filter?: RowFilter;
  /** Case-insensitive text looked for in the answer, the custom_id, the error and the input row. @default '' */
  search?: string;
  /** @default 'line' */
  sort?: SortKey;
  /** Largest first. @default false */
  desc?: boolean;
}

/** Totals over every row of the table. */
export interface TableTotals {
  rows: number;
  failed: number;
  cached: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  /** Answers cut short by the token limit. */
  truncated: number;
  /** Rows whose request asked for a JSON schema (records with `schema_valid`), and of them the invalid ones. */
  schemaRows: number;
  schemaInvalid: number;
  /** Latency percentiles in ms over rows that were sent (not cached), null without any. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  models: string[];
}

/** One row, read back from the file. */
export interface TableRow {
  index: number;
  record: ResultRecord;
  /** The answer as text (`error <code>: …` for a failed row). */
  answer: string;
  ok: boolean;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  model: string | null;
}

/** Options of {@link ResultsTable.open}. */
export interface TableOptions {
  /** Prices for the cost column. @default DEFAULT_PRICES */
  prices?: PriceTable;
  /**
   * Index at most this many bytes in {@link ResultsTable.open}; the next {@link ResultsTable.refresh}
   * indexes the rest. A view paints its first rows without waiting for the whole file.
   * @default Infinity
   */
  firstBytes?: number;
}

/** A 32-bit FNV-1a hash of a string: enough to notice that an answer changed. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The token counts, model and cost of a record. */
export function usageOf(record: ResultRecord, prices?: PriceTable): { promptTokens: number; completionTokens: number; model: string | null; cost: number } {
  const body = record.response?.body;
  if (!isPlainObject(body)) return { promptTokens: 0, completionTokens: 0, model: null, cost: 0 };
  const usage = isPlainObject(body.usage) ? body.usage : {};
  const promptTokens = num(usage.prompt_tokens ?? usage.input_tokens);
  const completionTokens = num(usage.completion_tokens ?? usage.output_tokens);
  const model = typeof body.model === 'string' ? body.model : null;
  return { promptTokens, completionTokens, model, cost: model ? costOf(model, promptTokens, completionTokens, prices) : 0 };
}

const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);

/** The index of one results file. Create with {@link ResultsTable.open}; always `close()`. */
export class ResultsTable {
  /** Rows indexed. */
  count = 0;
  /** Answers of an earlier run by custom_id (see {@link setBaseline}); empty: no earlier run known. */
  baseline = new Map<string, number>();
  private start = new Float64Array(1024);
  private length = new Uint32Array(1024);
  private lines = new Uint32Array(1024);
  private flags = new Uint8Array(1024);
  private attempts = new Uint16Array(1024);
  private latency = new Float64Array(1024);
  private tokensIn = new Uint32Array(1024);
  private tokensOut = new Uint32Array(1024);
  private costs = new Float64Array(1024);
  private hashes = new Uint32Array(1024);
  private modelOf = new Uint16Array(1024);
  private ids: string[] = [];
  private byId: Map<string, number> | undefined;
  private byIdCount = 0;
  private models: string[] = [];
  /** The answers the file held before it was last replaced (a run's commit), if it was. */
  previous: Map<string, number> | undefined;
  /** Bytes of the file scanned so far (always the end of a whole line). */
  private scanned = 0;
  /** The inode scanned: another inode means the file was replaced. */
  private ino: bigint | undefined;
  private fh: FileHandle | undefined;

  private constructor(
    readonly path: string,
    private readonly options: TableOptions,
  ) {}

  /** Indexes the file at `path`; a missing file gives an empty table that {@link refresh} fills once it appears. */
  static async open(path: string, options: TableOptions = {}): Promise<ResultsTable> {
    const table = new ResultsTable(path, options);
    await table.refresh(options.firstBytes);
    return table;
  }

  /** False while the file has bytes not indexed yet (see {@link TableOptions.firstBytes}). */
  complete = true;

  /**
   * Brings the index up to date with the file: appends the rows written since the last scan, or
   * indexes the file again when it was replaced or shrank. Returns 'same', 'grew' or 'reset'.
   */
  async refresh(limitBytes = Infinity): Promise<'same' | 'grew' | 'reset'> {
    const s = await stat(this.path, { bigint: true }).catch(() => undefined);
    this.complete = true;
    if (!s) {
      if (this.count === 0 && this.ino === undefined) return 'same';
      await this.reset();
      this.ino = undefined;
      return 'reset';
    }
    const size = Number(s.size);
    if (this.ino !== undefined && s.ino === this.ino && size >= this.scanned) {
      if (size === this.scanned) return 'same';
      await this.scan(this.until(size, limitBytes));
      return 'grew';
    }
    const fresh = this.ino === undefined && this.count === 0;
    await this.reset();
    this.ino = s.ino;
    this.fh = await open(this.path, 'r');
    await this.scan(this.until(size, limitBytes));
    return fresh ? 'grew' : 'reset';
  }

  /** Where a scan limited to `limit` bytes stops; notes that the file is not all indexed. */
  private until(size: number, limit: number): number {
    if (this.scanned + limit >= size) return size;
    this.complete = false;
    return this.scanned + limit;
  }

  /** The answers of this table by custom_id: what {@link setBaseline} of a later table compares with. */
  answerHashes(): Map<string, number> {
    const map = new Map<string, number>();
    for (let i = 0; i < this.count; i++) map.set(this.ids[i]!, this.hashes[i]!);
    return map;
  }

  /** Sets the answers of an earlier run, for the `changed` filter. */
  setBaseline(hashes: Map<string, number>): void {
    this.baseline = hashes;
  }

  /** True when row `i`'s answer differs from the baseline's (or the baseline lacks the row). */
  changed(i: number): boolean {
    if (this.baseline.size === 0) return false;
    const before = this.baseline.get(this.ids[i]!);
    return before === undefined || before !== this.hashes[i];
  }

  lineOf(i: number): number {
    return this.lines[i]!;
  }

  /** The first row with this custom_id, or -1. */
  rowOfId(id: string): number {
    if (!this.byId || this.byIdCount !== this.count) {
      this.byId ??= new Map();
      if (this.byIdCount > this.count) {
        this.byId.clear();
        this.byIdCount = 0;
      }
      for (let i = this.byIdCount; i < this.count; i++) if (!this.byId.has(this.ids[i]!)) this.byId.set(this.ids[i]!, i);
      this.byIdCount = this.count;
    }
    return this.byId.get(id) ?? -1;
  }

  /** The model that answered row `i`, if the record names one. */
  modelOfRow(i: number): string | null {
    const m = this.modelOf[i]!;
    return m === 0 ? null : this.models[m - 1]!;
  }

  idOf(i: number): string {
    return this.ids[i]!;
  }

  failed(i: number): boolean {
    return (this.flags[i]! & FAILED) !== 0;
  }

  /** The row whose input line is `line`, or -1. */
  rowOfLine(line: number): number {
    for (let i = 0; i < this.count; i++) if (this.lines[i] === line) return i;
    return -1;
  }

  /** Totals over all rows. */
  totals(): TableTotals {
    let failed = 0;
    let cached = 0;
    let promptTokens = 0;
    let completionTokens = 0;
    let cost = 0;
    let truncated = 0;
    let schemaRows = 0;
    let schemaInvalid = 0;
    const sent: number[] = [];
    for (let i = 0; i < this.count; i++) {
      const f = this.flags[i]!;
      if (f & FAILED) failed++;
      if (f & TRUNCATED) truncated++;
      if (f & SCHEMA) schemaRows++;
      if (f & SCHEMA_INVALID) schemaInvalid++;
      if (f & CACHED) cached++;
      else sent.push(this.latency[i]!);
      promptTokens += this.tokensIn[i]!;
      completionTokens += this.tokensOut[i]!;
      cost += this.costs[i]!;
    }
    const sorted = Float64Array.from(sent).sort();
    return {
      rows: this.count,
      failed,
      cached,
      promptTokens,
      completionTokens,
      cost,
      truncated,
      schemaRows,
      schemaInvalid,
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99),
      models: [...this.models],
    };
  }

  /**
   * The rows a query keeps, in its order, as row indexes. `inputText(lines)`, when given, returns
   * the raw input text of those lines, so that a search also finds a row by its prompt.
   */
  async query(q: RowQuery, inputText?: (lines: number[]) => Promise<Map<number, string>>): Promise<Uint32Array> {
    const filter = q.filter ?? 'all';
    let keep: number[] = [];
    for (let i = 0; i < this.count; i++) {
      const f = this.flags[i]!;
      if (filter === 'failed' && !(f & FAILED)) continue;
      if (filter === 'cached' && !(f & CACHED)) continue;
      if (filter === 'changed' && !this.changed(i)) continue;
      keep.push(i);
    }
    const needle = (q.search ?? '').trim().toLowerCase();
    if (needle) keep = await this.search(keep, needle, inputText);
    const sort = q.sort ?? 'line';
    const key: ((i: number) => number) | undefined =
      sort === 'latency' ? (i) => this.latency[i]! : sort === 'tokens' ? (i) => this.tokensIn[i]! + this.tokensOut[i]! : sort === 'cost' ? (i) => this.costs[i]! : undefined;
    if (key) keep.sort((a, b) => key(a) - key(b) || a - b);
    if (q.desc) keep.reverse();
    return Uint32Array.from(keep);
  }

  /** Reads rows back from the file (one read per run of neighbouring rows). */
  async rows(indexes: ArrayLike<number>): Promise<TableRow[]> {
    const out: TableRow[] = [];
    for (const [i, text] of await this.texts(Array.from(indexes))) {
      const record = JSON.parse(text) as ResultRecord;
      const answer = answerOf(record);
      const u = usageOf(record, this.options.prices);
      out.push({ index: i, record, answer: answer.text, ok: answer.ok, ...u });
    }
    return out;
  }

  /** Closes the file; safe to call more than once. */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async search(rows: number[], needle: string, inputText?: (lines: number[]) => Promise<Map<number, string>>): Promise<number[]> {
    const found: number[] = [];
    const BLOCK = 2000;
    for (let b = 0; b < rows.length; b += BLOCK) {
      const block = rows.slice(b, b + BLOCK);
      const inputs = inputText ? await inputText(block.map((i) => this.lines[i]!)) : undefined;
      for (const [i, text] of await this.texts(block)) {
        let hit = this.ids[i]!.toLowerCase().includes(needle) || (inputs?.get(this.lines[i]!)?.toLowerCase().includes(needle) ?? false);
        if (!hit) {
          try {
            hit = answerOf(JSON.parse(text) as ResultRecord).text.toLowerCase().includes(needle);
          } catch {
            hit = false;
          }
        }
        if (hit) found.push(i);
      }
    }
    return found;
  }

  /** The raw text of each row, in the order given; neighbouring rows come from one read. */
  private async texts(indexes: number[]): Promise<[number, string][]> {
    const fh = this.fh;
    if (!fh || indexes.length === 0) return [];
    const order = [...indexes].sort((a, b) => a - b);
    const byIndex = new Map<number, string>();
    const MAX = 4 * 1024 * 1024;
    for (let k = 0; k < order.length; ) {
      let j = k;
      const from = this.start[order[k]!]!;
      // Extend the read over following rows while they are close and the read stays small.
      while (j + 1 < order.length) {
        const next = order[j + 1]!;
        const end = this.start[next]! + this.length[next]!;
        if (end - from > MAX || this.start[next]! - (this.start[order[j]!]! + this.length[order[j]!]!) > 64 * 1024) break;
        j++;
      }
      const last = order[j]!;
      const size = this.start[last]! + this.length[last]! - from;
      const buffer = Buffer.alloc(size);
      await fh.read(buffer, 0, size, from);
      for (let m = k; m <= j; m++) {
        const i = order[m]!;
        const at = this.start[i]! - from;
        byIndex.set(i, buffer.toString('utf8', at, at + this.length[i]!));
      }
      k = j + 1;
    }
    return indexes.map((i) => [i, byIndex.get(i)!]);
  }

  private async reset(): Promise<void> {
    // What the file held before it was replaced: the run before, for the `changed` filter.
    if (this.count > 0) this.previous = this.answerHashes();
    await this.close();
    this.count = 0;
    this.scanned = 0;
    this.ids = [];
    this.byId = undefined;
    this.byIdCount = 0;
  }

  /** Indexes whole lines from {@link scanned} up to `size`. */
  private async scan(size: number): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    const CHUNK = 1024 * 1024;
    let pos = this.scanned;
    let carry: Buffer | undefined;
    let carryStart = pos;
    while (pos < size) {
      const want = Math.min(CHUNK, size - pos);
      const chunk = Buffer.alloc(want);
      const { bytesRead } = await fh.read(chunk, 0, want, pos);
      if (bytesRead === 0) break;
      const data = carry ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const base = carry ? carryStart : pos;
      let from = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, from)) {
        this.add(data.subarray(from, nl), base + from);
        from = nl + 1;
      }
      carry = from < data.length ? data.subarray(from) : undefined;
      carryStart = base + from;
      pos += bytesRead;
      this.scanned = base + from; // only whole lines count: a run may be writing the next one
    }
  }

  private add(line: Buffer, start: number): void {
    let record: ResultRecord;
    try {
      const value: unknown = JSON.parse(line.toString('utf8'));
      if (!isPlainObject(value) || typeof value.custom_id !== 'string') return;
      record = value as unknown as ResultRecord;
    } catch {
      return;
    }
    const i = this.count;
    if (i === this.start.length) this.grow();
    const answer = answerOf(record);
    const u = usageOf(record, this.options.prices);
    this.start[i] = start;
    this.length[i] = line.length;
    this.lines[i] = Number.isInteger(record.line) && record.line > 0 ? record.line : 0;
    const marks = marksOf(record, false);
    this.flags[i] =
      (answer.ok ? 0 : FAILED) | (record.cached ? CACHED : 0) | (marks.truncated ? TRUNCATED : 0) | (marks.schemaValid !== null ? SCHEMA : 0) | (marks.schemaValid === false ? SCHEMA_INVALID : 0);
    this.attempts[i] = Math.min(65535, num(record.attempts));
    this.latency[i] = num(record.latency_ms);
    this.tokensIn[i] = Math.min(0xffffffff, u.promptTokens);
    this.tokensOut[i] = Math.min(0xffffffff, u.completionTokens);
    this.costs[i] = u.cost;
    this.hashes[i] = hashText(answer.text);
    let m = u.model === null ? -1 : this.models.indexOf(u.model);
    if (u.model !== null && m === -1 && this.models.length < 65535) m = this.models.push(u.model) - 1;
    this.modelOf[i] = m + 1;
    this.ids[i] = record.custom_id;
    this.count++;
  }

  private grow(): void {
    const n = this.start.length * 2;
    const grow = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.start = grow(this.start, (k) => new Float64Array(k));
    this.length = grow(this.length, (k) => new Uint32Array(k));
    this.lines = grow(this.lines, (k) => new Uint32Array(k));
    this.flags = grow(this.flags, (k) => new Uint8Array(k));
    this.attempts = grow(this.attempts, (k) => new Uint16Array(k));
    this.latency = grow(this.latency, (k) => new Float64Array(k));
    this.tokensIn = grow(this.tokensIn, (k) => new Uint32Array(k));
    this.tokensOut = grow(this.tokensOut, (k) => new Uint32Array(k));
    this.costs = grow(this.costs, (k) => new Float64Array(k));
    this.hashes = grow(this.hashes, (k) => new Uint32Array(k));
    this.modelOf = grow(this.modelOf, (k) => new Uint16Array(k));
  }
}

/** The `q` percentile (nearest rank) of sorted values, or null when there are none. */
export function percentile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}
