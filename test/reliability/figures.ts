/**
 * The figures the reliability tests measure, written where `scripts/reliability-figures.mjs` finds
 * them to render the tables of docs/reliability.md (and, with `--check`, to check that the doc's
 * deterministic columns still say what the tests measured).
 *
 * Each test file has its own table, `out/reliability/<table>.json` (`out/` is git-ignored): an
 * object of rows by key, in the order the tests ran. A row is recorded at the end of its test, so
 * only after its assertions passed. Each file starts its table afresh when it loads, so the JSON
 * always holds one run, whole or (a test filtered out) partial, which the renderer refuses.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LLMRequest, ResultRecord } from '../../src/core/types';

export const FIGURES_DIR = resolve(__dirname, '../../out/reliability');

/** One row of a figures table: numbers the renderer puts in columns, and text it shows as is. */
export type FigureRow = Record<string, number | string | boolean>;

export class FiguresTable {
  private readonly rows: Record<string, FigureRow> = {};
  private readonly file: string;

  constructor(readonly table: 'faults' | 'crash' | 'input') {
    this.file = join(FIGURES_DIR, `${table}.json`);
    this.write();
  }

  /** Records (and prints, as a test diagnostic) the figures of the row `key`. */
  record(t: { diagnostic(message: string): void }, key: string, row: FigureRow): void {
    this.rows[key] = row;
    this.write();
    t.diagnostic(`figures: ${JSON.stringify({ key, ...row })}`);
  }

  private write(): void {
    mkdirSync(FIGURES_DIR, { recursive: true });
    writeFileSync(this.file, `${JSON.stringify({ table: this.table, at: new Date().toISOString(), node: process.version, rows: this.rows }, null, 2)}\n`);
  }
}

/** What a row's record must carry: its custom_id and line, and (for rows that must succeed) the answer. */
export interface ExpectedRecord {
  custom_id: string;
  line: number;
  /** Choice 0's text; undefined for a row whose record may be an error. */
  answer?: string;
}

/** Choice 0's text of a record, or undefined (no assertion: this only counts). */
function textOf(record: ResultRecord): string | undefined {
  const body = record.response?.body as { choices?: { message?: { content?: unknown } }[] } | undefined;
  const content = body?.choices?.[0]?.message?.content;
  return typeof content === 'string' ? content : undefined;
}

/**
 * "Records lost": rows of `expected` that have no record of their own among `records`, counted
 * from what was read back. A row's record has its custom_id and line and, when an answer is
 * expected, that answer with no error. Each record stands for one row only, so a duplicate does
 * not hide a missing row.
 */
export function recordsLost(expected: readonly ExpectedRecord[], records: readonly ResultRecord[]): number {
  const unused = new Map<string, ResultRecord[]>();
  for (const r of records) {
    const k = `${r.custom_id}\u0000${r.line}`;
    const list = unused.get(k) ?? [];
    list.push(r);
    unused.set(k, list);
  }
  let lost = 0;
  for (const row of expected) {
    const list = unused.get(`${row.custom_id}\u0000${row.line}`) ?? [];
    const at = list.findIndex((r) => row.answer === undefined || (r.error === null && textOf(r) === row.answer));
    if (at === -1) lost++;
    else list.splice(at, 1);
  }
  return lost;
}

/** {@link ExpectedRecord}s of RequestManager rows; rows in `failing` may end in an error record. */
export function expectedOf(rows: readonly LLMRequest[], answer: (row: LLMRequest) => string, failing: ReadonlySet<string> = new Set()): ExpectedRecord[] {
  return rows.map((r) => ({ custom_id: r.custom_id, line: r.line, answer: failing.has(r.custom_id) ? undefined : answer(r) }));
}
