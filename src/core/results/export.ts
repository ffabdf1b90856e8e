/**
 * Exports of the Results view: a CSV of the rows (input columns, answer, error, tokens), and for a
 * CSV input the input again with the answers as a new column. Both write a new file, never the
 * input; rows are read from the results file a block at a time, so the size of the run does not matter.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { csvRecords } from '../batch/csv';
import { readLines } from '../batch/lines';
import { sameFile } from '../batch/paths';
import type { InputFile } from './input';
import type { ResultsTable, TableRow } from './table';

/** One CSV field: quoted when it holds a comma, quote, line break or leading/trailing space (RFC 4180). */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(fields: (string | number)[]): string {
  return fields.map(csvField).join(',') + '\r\n';
}

/** The columns {@link exportCsv} adds after the input's. */
export const EXPORT_COLUMNS = ['custom_id', 'line', 'answer', 'error', 'prompt_tokens', 'completion_tokens', 'cost'] as const;

const BLOCK = 1000;

/** A line-by-line writer with back-pressure. */
async function writeAll(out: string, produce: (write: (text: string) => Promise<void>) => Promise<void>): Promise<void> {
  const stream = createWriteStream(out, { flags: 'w' });
  await once(stream, 'open');
  const write = async (text: string) => {
    if (!stream.write(text)) await once(stream, 'drain');
  };
  try {
    await produce(write);
  } finally {
    stream.end();
  }
  await finished(stream);
}

async function refuseInput(out: string, input: InputFile | undefined): Promise<void> {
  if (input && (await sameFile(out, input.path))) throw new Error(`${out} is the input file: choose another file for the export`);
}

/**
 * Writes `rows` (row indexes of `table`, in that order; default all, in file order) as CSV:
 * the input's columns (CSV input: its header; else `prompt`), then {@link EXPORT_COLUMNS}.
 * Returns the number of rows written.
 */
export async function exportCsv(table: ResultsTable, input: InputFile | undefined, out: string, rows?: ArrayLike<number>): Promise<number> {
  await refuseInput(out, input);
  const order = rows ? Array.from(rows) : Array.from({ length: table.count }, (_, i) => i);
  const inputColumns = input?.format === 'csv' && input.header ? input.header : ['prompt'];
  let written = 0;
  await writeAll(out, async (write) => {
    await write('\ufeff' + csvLine([...inputColumns, ...EXPORT_COLUMNS])); // the BOM: Excel reads UTF-8
    for (let b = 0; b < order.length; b += BLOCK) {
      for (const row of await table.rows(order.slice(b, b + BLOCK))) {
        const left = await inputCells(input, row, inputColumns.length);
        await write(csvLine([...left, ...resultCells(row)]));
        written++;
      }
    }
  });
  return written;
}

function resultCells(row: TableRow): (string | number)[] {
  const r = row.record;
  const error = row.ok ? '' : r.error ? `${r.error.code}: ${r.error.message}` : row.answer;
  return [r.custom_id, r.line, row.ok ? row.answer : '', error, row.promptTokens, row.completionTokens, row.cost ? Number(row.cost.toFixed(6)) : 0];
}

async function inputCells(input: InputFile | undefined, row: TableRow, width: number): Promise<string[]> {
  if (!input) return [''];
  const r = await input.row(row.record.line);
  if (input.format === 'csv') return Array.from({ length: width }, (_, i) => r.fields?.[i] ?? '');
  return [r.prompt];
}

/**
 * For a CSV input: writes the input to `out` with one more column, the answer of each row (empty
 * for a row without an answer). The column is named `answer`, or `answer_2`, … when the input has
 * one. Throws when `out` is the input. Returns the number of data rows written.
 */
export async function writeAnswersColumn(table: ResultsTable, input: InputFile, out: string, column = 'answer'): Promise<number> {
  if (input.format !== 'csv') throw new Error(`${input.path} is not a CSV file`);
  await refuseInput(out, input);
  // Input line → row index (the first record of a line wins; a rerun rewrites the file in input order).
  const byLine = new Map<number, number>();
  for (let i = 0; i < table.count; i++) if (!byLine.has(table.lineOf(i))) byLine.set(table.lineOf(i), i);
  let rows = 0;
  await writeAll(out, async (write) => {
    let header: string[] | undefined;
    let pending: { fields: string[]; row: number | undefined }[] = [];
    const flush = async () => {
      const wanted = pending.map((p) => p.row).filter((r): r is number => r !== undefined);
      const answers = new Map((await table.rows(wanted)).map((r) => [r.index, r.ok ? r.answer : ''] as const));
      for (const p of pending) {
        await write(csvLine([...p.fields, p.row === undefined ? '' : (answers.get(p.row) ?? '')]));
        rows++;
      }
      pending = [];
    };
    for await (const record of csvRecords(readLines(input.path))) {
      if (!header) {
        header = record.fields;
        let name = column;
        for (let n = 2; header.includes(name); n++) name = `${column}_${n}`;
        await write('\ufeff' + csvLine([...header, name]));
        continue;
      }
      pending.push({ fields: record.fields, row: byLine.get(record.line) });
      if (pending.length >= BLOCK) await flush();
    }
    await flush();
  });
  return rows;
}
