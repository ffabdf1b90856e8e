/**
 * CSV input: an RFC 4180 record parser fed line by line, and the reader that turns records into
 * requests.
 *
 * Parsing works on decoded lines (see lines.ts), so a record's line number is the number of the
 * line it starts on and invalid UTF-8 spoils only the record it is in. A line break inside a quoted
 * field becomes `\n`, whatever the file used.
 */
import type { EndpointKind, InputItem } from '../types';
import { checkId, IdRegistry, invalidItem, promptItem, type ReaderOptions, type RowContext } from './common';
import type { TextLine } from './lines';

/** One CSV record, or the reason it could not be read. */
export interface CsvRecord {
  /** The line the record starts on. */
  line: number;
  fields: string[];
  error?: string;
}

/** Options of {@link CsvParser}. */
export interface CsvParserOptions {
  /**
   * Longest record kept, in characters. An unclosed quote would otherwise pull the rest of the file
   * into one field; past this size the record is reported and parsing starts again on the next line.
   * @default 67108864
   */
  maxRecordChars?: number;
}

/**
 * A streaming RFC 4180 parser: quoted fields may hold commas, doubled quotes (`""`) and line breaks.
 * Lenient where files in the wild are: a quote inside an unquoted field, or text after a closing
 * quote, is kept as text. Lines that are blank outside a quoted field are skipped.
 */
export class CsvParser {
  private fields: string[] = [];
  private field = '';
  private inQuotes = false;
  private startLine = 0;
  private size = 0;
  private error: string | undefined;
  private readonly maxRecordChars: number;

  constructor(options: CsvParserOptions = {}) {
    this.maxRecordChars = options.maxRecordChars ?? 64 * 1024 * 1024;
  }

  /** Feeds one line; returns the record it completes, if any. */
  push(line: TextLine): CsvRecord | undefined {
    if (!this.inQuotes) {
      if (line.text.trim() === '' && !line.error) return undefined;
      this.startLine = line.line;
    }
    if (line.error && !this.error) {
      this.error = line.line === this.startLine ? line.error : `on line ${line.line}: ${line.error}`;
    }
    this.size += line.text.length;
    if (this.size > this.maxRecordChars) {
      const record = this.take(`the record is longer than ${this.maxRecordChars} characters (is a quote missing its closing quote?); skipped through line ${line.line}`);
      this.inQuotes = false;
      return record;
    }
    return this.parse(line.text) ? this.take(this.error) : undefined;
  }

  /** Call at end of input: returns an unfinished record (an unclosed quote) as an error. */
  end(): CsvRecord | undefined {
    if (!this.inQuotes) return undefined;
    this.inQuotes = false;
    return this.take(`a quoted field is not closed by the end of the file (it starts on line ${this.startLine})`);
  }

  /** Parses one line into the current record; returns true if the record is complete. */
  private parse(text: string): boolean {
    let i = 0;
    for (;;) {
      if (this.inQuotes) {
        const q = text.indexOf('"', i);
        if (q === -1) {
          this.field += text.slice(i) + '\n';
          return false;
        }
        this.field += text.slice(i, q);
        if (text.charCodeAt(q + 1) === 34) {
          this.field += '"';
          i = q + 2;
          continue;
        }
        this.inQuotes = false;
        // Anything between the closing quote and the next comma is kept (lenient).
        const comma = text.indexOf(',', q + 1);
        this.field += text.slice(q + 1, comma === -1 ? undefined : comma);
        this.fields.push(this.field);
        this.field = '';
        if (comma === -1) return true;
        i = comma + 1;
      }
      if (text.charCodeAt(i) === 34) {
        this.inQuotes = true;
        i++;
        continue;
      }
      const comma = text.indexOf(',', i);
      this.fields.push(text.slice(i, comma === -1 ? undefined : comma));
      if (comma === -1) return true;
      i = comma + 1;
    }
  }

  private take(error: string | undefined): CsvRecord {
    const record: CsvRecord = { line: this.startLine, fields: this.fields };
    if (error) record.error = error;
    this.fields = [];
    this.field = '';
    this.size = 0;
    this.error = undefined;
    return record;
  }
}

/** Yields the records of a stream of lines. */
export async function* csvRecords(lines: AsyncIterable<TextLine>, options?: CsvParserOptions): AsyncGenerator<CsvRecord> {
  const parser = new CsvParser(options);
  for await (const line of lines) {
    const record = parser.push(line);
    if (record) yield record;
  }
  const last = parser.end();
  if (last) yield last;
}

/** The placeholders of a template: `{{ name }}` → `name`. */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Column positions found in the header. */
interface Columns {
  names: string[];
  prompt: number;
  custom_id: number;
  system: number;
  model: number;
  /** Template pieces: literal text at even indexes, column indexes at odd ones. */
  template?: (string | number)[];
}

function findColumns(header: string[], file: string, template: string | undefined): Columns {
  const names = header.map((h) => h.trim());
  const find = (name: string) => names.findIndex((n) => n.toLowerCase() === name);
  const cols: Columns = { names, prompt: find('prompt'), custom_id: find('custom_id'), system: find('system'), model: find('model') };
  const listed = names.map((n) => `'${n}'`).join(', ');
  if (template !== undefined) {
    const pieces = template.split(PLACEHOLDER);
    const missing: string[] = [];
    for (let i = 1; i < pieces.length; i += 2) {
      const at = names.indexOf(pieces[i]);
      if (at === -1 && !missing.includes(pieces[i])) missing.push(pieces[i]);
    }
    if (missing.length) {
      const which = missing.map((m) => `'${m}'`).join(', ');
      throw new Error(`${file}: the template uses column${missing.length > 1 ? 's' : ''} ${which}, not in the header (columns: ${listed})`);
    }
    cols.template = pieces.map((p, i) => (i % 2 === 1 ? names.indexOf(p) : p));
  } else if (cols.prompt === -1) {
    throw new Error(`${file}: no 'prompt' column (columns: ${listed}); add one, or give a template such as "{{${names[0] ?? 'text'}}}"`);
  }
  return cols;
}

function render(pieces: (string | number)[], fields: string[]): string {
  let out = '';
  for (let i = 0; i < pieces.length; i++) out += i % 2 === 1 ? fields[pieces[i] as number] : pieces[i];
  return out;
}

/**
 * Yields one item per CSV record after the header. Throws before any row if the header lacks a
 * `prompt` column (without a template) or a column the template names.
 */
export async function* csvItems(lines: AsyncIterable<TextLine>, file: string, options: ReaderOptions): AsyncGenerator<InputItem> {
  const kind: EndpointKind = options.kind ?? 'chat';
  const ids = new IdRegistry();
  let cols: Columns | undefined;
  for await (const record of csvRecords(lines)) {
    if (!cols) {
      if (record.error) throw new Error(`${file}:${record.line}: cannot read the header: ${record.error}`);
      cols = findColumns(record.fields, file, options.template);
      continue;
    }
    const ctx: RowContext = { file, line: record.line, defaults: options.defaults ?? {}, ids };
    yield rowItem(record, cols, kind, ctx);
  }
}

function rowItem(record: CsvRecord, cols: Columns, kind: EndpointKind, ctx: RowContext): InputItem {
  const cell = (i: number) => (i === -1 ? '' : record.fields[i]);
  const ownId = record.fields.length === cols.names.length ? cell(cols.custom_id).trim() : '';
  const custom_id = ownId || `line-${record.line}`;
  let item: InputItem;
  if (record.error) {
    item = invalidItem(ctx.file, record.line, record.error, custom_id);
  } else if (record.fields.length !== cols.names.length) {
    const msg = `the record has ${record.fields.length} field${record.fields.length === 1 ? '' : 's'}, but the header has ${cols.names.length}`;
    item = invalidItem(ctx.file, record.line, msg, custom_id);
  } else {
    const prompt = cols.template ? render(cols.template, record.fields) : cell(cols.prompt);
    const model = cell(cols.model).trim();
    const system = cell(cols.system);
    item = promptItem(prompt, { custom_id, system: system || undefined, params: model ? { model } : {} }, kind, ctx);
  }
  return checkId(item, ownId !== '', ctx);
}
