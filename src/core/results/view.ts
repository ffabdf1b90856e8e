/**
 * The model of one Results view: the results file shown (or the partial file of a run writing it),
 * the results of the same input from other models beside it, the input file, the current query and
 * its rows. It serves pages of rows and row details as plain data; the host posts them to the page.
 * No `vscode` here: the editor provider (src/vscode/results) owns the watching and the messages.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { ReaderOptions } from '../batch/common';
import { partialResultsPath } from '../batch/writer';
import type { PriceTable } from '../pricing';
import { isPlainObject } from '../request';
import { InputFile } from './input';
import { marksOf } from './marks';
import { findInput, siblingResults } from './naming';
import { ResultsTable, type RowQuery, type TableTotals } from './table';

/** Longest prompt and answer sent with a grid row (the detail has them whole). */
export const PREVIEW_CHARS = 2000;
/** Largest page the host serves. */
export const MAX_PAGE = 200;
/** Most models shown side by side. */
export const MAX_MODELS = 6;

/** One model's results file, as a column. */
export interface ModelColumn {
  /** What the column is called: the model that answered, else the file name. */
  label: string;
  file: string;
  totals: TableTotals;
}

/** What the page shows above the grid. */
export interface ResultsMeta {
  title: string;
  /** The file shown: the results file, or the partial file of a run in progress or stopped. */
  shown: string;
  /** Set while the view shows a partial file. */
  partial: boolean;
  /** Set while the file is not all indexed yet (a big file: the first rows are shown first). */
  indexing: boolean;
  input: string | null;
  /** Rows the query keeps, and rows in the file. */
  count: number;
  rows: number;
  /** Totals per model; the first is the file opened. */
  models: ModelColumn[];
  /** True when the `changed` filter has an earlier run to compare with. */
  hasBaseline: boolean;
  /** True when the input is a CSV file (answers can be written back as a column). */
  csvInput: boolean;
  /** True when rows of the file shown asked for a JSON schema: the grid gets a column of parsed fields. */
  hasSchema: boolean;
  query: Required<RowQuery>;
}

/** One row of the grid. Strings are untrusted text. */
export interface RowView {
  /** Position in the current query's order. */
  position: number;
  line: number;
  custom_id: string;
  prompt: string;
  answer: string;
  ok: boolean;
  /** `ok`, or the error code. */
  status: string;
  cached: boolean;
  attempts: number;
  latency_ms: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  changed: boolean;
  /** The other models' answers, in the order of {@link ResultsMeta.models} (without the first); null: no record. */
  others: ({ answer: string; ok: boolean } | null)[];
  /** True when another model's answer differs from this one. */
  differs: boolean;
  /** The token limit cut the answer short (`finish_reason: "length"`, Responses `status: "incomplete"`). */
  truncated: boolean;
  /** The record's `schema_valid`: null when its request asked for no JSON schema. */
  schemaValid: boolean | null;
  /** The answer's top-level JSON fields as `key: value · …` text (see marksOf), '' without a schema. */
  fields: string;
  /** The validator's message when the answer did not match its schema, else null. */
  schemaMessage: string | null;
}

/** Everything about one row, for the detail pane: the grid's fields plus the whole request and response. */
export interface RowDetail
  extends Pick<
    RowView,
    | 'position' | 'custom_id' | 'line' | 'prompt' | 'answer' | 'ok' | 'cached' | 'attempts' | 'latency_ms'
    | 'promptTokens' | 'completionTokens' | 'cost' | 'truncated' | 'schemaValid' | 'schemaMessage'
  > {
  /** The request as the reader makes it from the input row (JSON), or why there is none. */
  request: string;
  /** The response envelope as recorded (JSON), or 'none'. */
  response: string;
  error: { code: string; message: string } | null;
  /** The message of the server's error body, when it sent one. */
  serverMessage: string | null;
  model: string | null;
  others: { label: string; answer: string | null }[];
  /** The answer's top-level JSON fields as `[key, value text]`; null without a schema or a JSON object answer. */
  fields: [string, string][] | null;
  /** Why there are no fields, or the fields as one line; '' without a schema. */
  fieldsText: string;
}

const clip = (s: string) => (s.length > PREVIEW_CHARS ? s.slice(0, PREVIEW_CHARS) + '…' : s);

/** Options of {@link ResultsModel.open}. */
export interface ResultsModelOptions {
  /** The input file, when known (else found by name beside the results). */
  input?: string;
  reader?: ReaderOptions;
  prices?: PriceTable;
  /** Show the results of other models of the same input beside this file. @default true */
  siblings?: boolean;
  /** Bytes of the file indexed by `open`; {@link ResultsModel.refresh} indexes the rest. @default 8 MiB */
  firstBytes?: number;
}

export class ResultsModel {
  private table!: ResultsTable;
  private others: ResultsTable[] = [];
  private inputFile: InputFile | undefined;
  private order: Uint32Array = new Uint32Array(0);
  private q: Required<RowQuery> = { filter: 'all', search: '', sort: 'line', desc: false };
  private shownPath: string;

  private constructor(
    readonly file: string,
    private readonly options: ResultsModelOptions,
  ) {
    this.shownPath = file;
  }

  static async open(file: string, options: ResultsModelOptions = {}): Promise<ResultsModel> {
    const model = new ResultsModel(file, options);
    await model.load();
    return model;
  }

  /** The row indexes of the current query, in order (for exports and reruns of the filtered rows). */
  get rowsInOrder(): Uint32Array {
    return this.order;
  }

  get primary(): ResultsTable {
    return this.table;
  }

  get input(): InputFile | undefined {
    return this.inputFile;
  }

  /** Re-reads what changed on disk; true when the rows may have changed (the page should ask again). */
  async refresh(): Promise<boolean> {
    let changed = false;
    const want = this.wantedPath();
    if (want !== this.shownPath) {
      const before = this.table.count ? this.table.answerHashes() : undefined;
      const baseline = this.table.baseline;
      await this.table.close();
      this.shownPath = want;
      this.table = await ResultsTable.open(want, { prices: this.options.prices });
      // Partial → file: the same run, committed; keep comparing with the run before it.
      this.table.setBaseline(want === this.file && baseline.size ? baseline : (before ?? new Map()));
      changed = true;
    } else {
      const how = await this.table.refresh();
      if (how === 'reset' && this.table.previous) this.table.setBaseline(this.table.previous);
      changed = how !== 'same';
    }
    for (const t of this.others) if ((await t.refresh()) !== 'same') changed = true;
    if (changed) this.order = await this.table.query(this.q, this.inputText);
    return changed;
  }

  async setQuery(q: RowQuery): Promise<void> {
    this.q = { filter: q.filter ?? 'all', search: q.search ?? '', sort: q.sort ?? 'line', desc: q.desc ?? false };
    this.order = await this.table.query(this.q, this.inputText);
  }

  meta(): ResultsMeta {
    const label = (t: ResultsTable) => t.totals().models[0] ?? basename(t.path);
    const models = [this.table, ...this.others].map((t) => ({ label: label(t), file: t.path, totals: t.totals() }));
    return {
      title: basename(this.file),
      shown: this.shownPath,
      partial: this.shownPath !== this.file,
      indexing: !this.table.complete,
      input: this.inputFile?.path ?? null,
      count: this.order.length,
      rows: this.table.count,
      models,
      hasBaseline: this.table.baseline.size > 0,
      csvInput: this.inputFile?.format === 'csv',
      hasSchema: models[0]!.totals.schemaRows > 0,
      query: { ...this.q },
    };
  }

  /** Rows `start … start+count` of the current query. */
  async page(start: number, count: number): Promise<RowView[]> {
    const end = Math.min(this.order.length, start + Math.min(count, MAX_PAGE));
    if (start >= end) return [];
    const indexes = Array.from(this.order.subarray(start, end));
    const rows = await this.table.rows(indexes);
    const others = await Promise.all(this.others.map((t) => this.matching(t, rows.map((r) => r.record.custom_id))));
    const out: RowView[] = [];
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k]!;
      const r = row.record;
      const input = this.inputFile ? await this.inputFile.row(r.line) : undefined;
      const theirs = others.map((m) => m[k] ?? null);
      const marks = marksOf(r);
      out.push({
        position: start + k,
        line: r.line,
        custom_id: r.custom_id,
        prompt: clip(input ? input.prompt : ''),
        answer: clip(row.answer),
        ok: row.ok,
        status: row.ok ? 'ok' : (r.error?.code ?? (r.response ? `http_${r.response.status_code}` : 'error')),
        cached: r.cached,
        attempts: r.attempts,
        latency_ms: r.latency_ms,
        promptTokens: row.promptTokens,
        completionTokens: row.completionTokens,
        cost: row.cost,
        changed: this.table.changed(row.index),
        others: theirs.map((o) => (o ? { answer: clip(o.answer), ok: o.ok } : null)),
        differs: theirs.some((o) => o !== null && o.answer !== row.answer),
        truncated: marks.truncated,
        schemaValid: marks.schemaValid,
        fields: clip(marks.fieldsText),
        schemaMessage: marks.schemaMessage === null ? null : clip(marks.schemaMessage),
      });
    }
    return out;
  }

  /** The row at `position` of the current query, whole. */
  async detail(position: number): Promise<RowDetail | undefined> {
    const index = this.order[position];
    if (index === undefined) return undefined;
    const [row] = await this.table.rows([index]);
    if (!row) return undefined;
    const r = row.record;
    const input = this.inputFile ? await this.inputFile.row(r.line) : undefined;
    const others = await Promise.all(this.others.map((t) => this.matching(t, [r.custom_id])));
    const labels = this.meta().models.slice(1);
    const body = r.response?.body;
    const marks = marksOf(r);
    const serverMessage = isPlainObject(body) && isPlainObject(body.error) && typeof body.error.message === 'string' ? body.error.message : null;
    return {
      position,
      custom_id: r.custom_id,
      line: r.line,
      prompt: input?.prompt ?? '',
      request: input?.request ? JSON.stringify(input.request, null, 2) : input ? `No request: ${input.error ?? 'the row could not be read'}` : 'The input file was not found.',
      response: r.response ? JSON.stringify(r.response, null, 2) : 'none',
      answer: row.answer,
      ok: row.ok,
      error: r.error,
      serverMessage,
      cached: r.cached,
      attempts: r.attempts,
      latency_ms: r.latency_ms,
      promptTokens: row.promptTokens,
      completionTokens: row.completionTokens,
      cost: row.cost,
      model: row.model,
      others: others.map((o, i) => ({ label: labels[i]?.label ?? '', answer: o[0]?.answer ?? null })),
      truncated: marks.truncated,
      schemaValid: marks.schemaValid,
      fields: marks.fields,
      fieldsText: marks.fieldsText,
      schemaMessage: marks.schemaMessage,
    };
  }

  /** custom_ids and lines of the rows at these positions (all of the query when none are given). */
  rowsAt(positions?: number[]): { custom_id: string; line: number; index: number }[] {
    const picks = positions ? positions.map((p) => this.order[p]).filter((i): i is number => i !== undefined) : Array.from(this.order);
    return picks.map((i) => ({ custom_id: this.table.idOf(i), line: this.table.lineOf(i), index: i }));
  }

  async close(): Promise<void> {
    await this.table?.close();
    for (const t of this.others) await t.close();
    await this.inputFile?.close();
  }

  private readonly inputText = async (lines: number[]) => (this.inputFile ? this.inputFile.raw(lines) : new Map<number, string>());

  private async matching(t: ResultsTable, ids: string[]): Promise<({ answer: string; ok: boolean } | undefined)[]> {
    const idx = ids.map((id) => t.rowOfId(id));
    const rows = new Map((await t.rows(idx.filter((i) => i >= 0))).map((r) => [r.index, r] as const));
    return idx.map((i) => {
      const r = rows.get(i);
      return r ? { answer: r.answer, ok: r.ok } : undefined;
    });
  }

  /** The partial file while it is newer than the results file (a run writing, or one that stopped), else the file. */
  private wantedPath(): string {
    const partial = partialResultsPath(this.file);
    const p = mtime(partial);
    if (p === undefined) return this.file;
    const f = mtime(this.file);
    return f === undefined || p >= f ? partial : this.file;
  }

  private async load(): Promise<void> {
    const { options } = this;
    const inputPath = options.input && existsSync(options.input) ? options.input : findInput(this.file);
    if (inputPath) {
      try {
        this.inputFile = await InputFile.open(inputPath, options.reader ?? {});
      } catch {
        this.inputFile = undefined; // shown without prompts; the page says the input is missing
      }
    }
    this.shownPath = this.wantedPath();
    this.table = await ResultsTable.open(this.shownPath, { prices: options.prices, firstBytes: options.firstBytes ?? 8 * 1024 * 1024 });
    const partial = partialResultsPath(this.file);
    // The other side of "changed since the last run": the committed file while a partial is shown,
    // else an older partial (a run that stopped before this file was written).
    const other = this.shownPath === this.file ? (existsSync(partial) ? partial : undefined) : this.file;
    if (other) {
      const t = await ResultsTable.open(other, { prices: options.prices });
      this.table.setBaseline(t.answerHashes());
      await t.close();
    }
    if (options.siblings !== false) {
      let names: string[] = [];
      try {
        names = readdirSync(dirname(this.file));
      } catch {
        names = [];
      }
      const files = siblingResults(this.file, names, inputPath).filter((f) => f !== this.file).slice(0, MAX_MODELS - 1);
      for (const f of files) this.others.push(await ResultsTable.open(f, { prices: options.prices }));
    }
    this.order = await this.table.query(this.q, this.inputText);
  }
}

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
