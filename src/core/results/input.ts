/**
 * The input side of the Results view: the input file indexed by line starts, so that a results
 * record (which carries its input `line`) is joined to its row by reading just that row. The prompt
 * and the request shown are what the batch reader makes of the row, with the same options.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { IdRegistry, promptItem, type ReaderOptions, type RowContext } from '../batch/common';
import { csvItems, CsvParser } from '../batch/csv';
import { jsonlItem } from '../batch/jsonl';
import type { TextLine } from '../batch/lines';
import { inputFormat, type InputFormat } from '../batch/readers';
import { isPlainObject } from '../request';
import type { InputItem } from '../types';

/** One input row as the Results view shows it. */
export interface InputRow {
  line: number;
  /** The prompt (the last user message, or an embeddings input), as text. */
  prompt: string;
  /** The request body the reader makes of the row (defaults applied), or null when the row is invalid. */
  request: Record<string, unknown> | null;
  /** Why the row is not a request, if it is not. */
  error?: string;
  /** CSV only: the row's fields, in header order. */
  fields?: string[];
}

/** Longest span read for one row (a CSV record with quoted line breaks may span several lines). */
const MAX_ROW_LINES = 10_000;

/** An input file, indexed by line. Create with {@link InputFile.open}; always `close()`. */
export class InputFile {
  /** CSV only: the header's column names. */
  header: string[] | undefined;
  private lineStart = new Float64Array(1024);
  /** Physical lines indexed. */
  private lineCount = 0;
  private size = 0;
  private headerLines: TextLine[] = [];

  private constructor(
    readonly path: string,
    readonly format: InputFormat,
    private readonly reader: ReaderOptions,
    private fh: FileHandle | undefined,
  ) {}

  /** Indexes `path`; throws when its type is not an input type, or it cannot be read. */
  static async open(path: string, reader: ReaderOptions = {}): Promise<InputFile> {
    const format = inputFormat(path);
    const fh = await open(path, 'r');
    const file = new InputFile(path, format, reader, fh);
    try {
      await file.scan();
      if (format === 'csv') await file.readHeader();
    } catch (e) {
      await fh.close();
      throw e;
    }
    return file;
  }

  /** Physical lines in the file. */
  get lines(): number {
    return this.lineCount;
  }

  /** The raw text of each given row (for CSV, the whole record), by line. */
  async raw(lines: number[]): Promise<Map<number, string>> {
    const map = new Map<number, string>();
    for (const line of lines) {
      if (map.has(line)) continue;
      const text = await this.rowLines(line);
      map.set(line, text.map((l) => l.text).join('\n'));
    }
    return map;
  }

  /** The row that starts on `line`, as the batch reader reads it. */
  async row(line: number): Promise<InputRow> {
    const texts = await this.rowLines(line);
    if (texts.length === 0) return { line, prompt: '', request: null, error: `line ${line} is not in ${this.path}` };
    const defaults = this.reader.defaults ?? {};
    const kind = this.reader.kind ?? 'chat';
    const ctx: RowContext = { file: this.path, line, defaults, ids: new IdRegistry() };
    let item: InputItem;
    let fields: string[] | undefined;
    if (this.format === 'txt') {
      item = promptItem(texts[0]!.text, { custom_id: `line-${line}` }, kind, ctx);
    } else if (this.format === 'jsonl') {
      item = jsonlItem(texts[0]!.text, kind, ctx);
    } else {
      const parser = new CsvParser();
      for (const t of texts) {
        const rec = parser.push(t);
        if (rec) {
          fields = rec.fields;
          break;
        }
      }
      try {
        const all = [...this.headerLines, ...texts];
        const items = csvItems(
          (async function* () {
            yield* all;
          })(),
          this.path,
          this.reader,
        );
        const first = await items.next();
        await items.return(undefined);
        if (first.done) return { line, prompt: '', request: null, fields, error: 'no record' };
        item = first.value;
      } catch (e) {
        // No prompt column and no template: show the fields themselves.
        return { line, prompt: (fields ?? []).join(', '), request: null, fields, error: (e as Error).message };
      }
    }
    if (item.kind === 'invalid') return { line, prompt: texts.map((t) => t.text).join('\n'), request: null, error: item.error.message, fields };
    return { line, prompt: promptOf(item.body as unknown as Record<string, unknown>), request: item.body as unknown as Record<string, unknown>, fields };
  }

  /** Closes the file; safe to call more than once. */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  /** The physical lines of the row starting on `line`: one, or for CSV those of its record. */
  private async rowLines(line: number): Promise<TextLine[]> {
    if (line < 1 || line > this.lineCount) return [];
    if (this.format !== 'csv') return [await this.readLine(line)];
    const parser = new CsvParser();
    const out: TextLine[] = [];
    for (let n = line; n <= this.lineCount && n < line + MAX_ROW_LINES; n++) {
      const t = await this.readLine(n);
      out.push(t);
      if (parser.push(t)) break;
    }
    return out;
  }

  private async readLine(line: number): Promise<TextLine> {
    const fh = this.fh;
    if (!fh) throw new Error('InputFile: read after close');
    const from = this.lineStart[line - 1]!;
    const to = line < this.lineCount ? this.lineStart[line]! : this.size;
    const buffer = Buffer.alloc(to - from);
    await fh.read(buffer, 0, buffer.length, from);
    let text = buffer.toString('utf8');
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    text = text.replace(/\r?\n$/, '');
    return { line, text };
  }

  private async readHeader(): Promise<void> {
    const parser = new CsvParser();
    for (let n = 1; n <= this.lineCount && n <= MAX_ROW_LINES; n++) {
      const t = await this.readLine(n);
      this.headerLines.push(t);
      const rec = parser.push(t);
      if (rec) {
        this.header = rec.fields;
        return;
      }
    }
  }

  private async scan(): Promise<void> {
    const fh = this.fh!;
    this.size = Number((await stat(this.path)).size);
    const CHUNK = 1024 * 1024;
    const chunk = Buffer.alloc(CHUNK);
    let pos = 0;
    this.lineCount = this.size > 0 ? 1 : 0;
    this.lineStart[0] = 0;
    while (pos < this.size) {
      const { bytesRead } = await fh.read(chunk, 0, Math.min(CHUNK, this.size - pos), pos);
      if (bytesRead === 0) break;
      for (let nl = chunk.indexOf(10); nl !== -1 && nl < bytesRead; nl = chunk.indexOf(10, nl + 1)) {
        const next = pos + nl + 1;
        if (next >= this.size) break; // a final newline starts no line
        if (this.lineCount === this.lineStart.length) {
          const grown = new Float64Array(this.lineStart.length * 2);
          grown.set(this.lineStart);
          this.lineStart = grown;
        }
        this.lineStart[this.lineCount++] = next;
      }
      pos += bytesRead;
    }
  }
}

/** The prompt of a request body: its last user message (text parts joined), or its embeddings input. */
export function promptOf(body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) {
    const messages = body.messages.filter(isPlainObject);
    const user = [...messages].reverse().find((m) => m.role === 'user') ?? messages[messages.length - 1];
    const content = user?.content;
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) return content.map((p) => (isPlainObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
    return '';
  }
  if (typeof body.input === 'string') return body.input;
  if (body.input !== undefined) return JSON.stringify(body.input);
  return '';
}
