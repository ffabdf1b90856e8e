/**
 * Compares two results files (two models, two prompt versions, two dates) row by row.
 *
 * Rows are joined by `custom_id` (a row without one by its line), the n-th occurrence of an id in A
 * with the n-th in B. Both files are streamed in lockstep: a row waits in a per-side map only until
 * its partner turns up, so two files in the same order (two runs of one input) hold a handful of
 * rows in memory whatever their size; only rows present in one file, or far apart, are held to the end.
 * The differing rows themselves go to `onRow` as they are found; the summary keeps at most
 * `maxRows` of them.
 */
import { isResponsesBody, outputText } from './answer';
import { costOfUsage, type PriceTable } from './pricing';
import { usageOf } from './tokens';
import { isPlainObject } from './request';
import { readResults } from './batch/writer';
import type { ResultRecord } from './types';

/** The answer of one row, reduced to what is compared. */
export interface Answer {
  /** False when the row failed (an `error`, no response, or an HTTP error status). */
  ok: boolean;
  /**
   * What is shown and written: the choices' `message.content` (joined when there are several), the
   * embedding vectors one number per line, or `error <code>: <message>` for a failed row.
   */
  text: string;
  /** Embedding vectors, compared with a tolerance instead of as text. */
  vectors?: number[][];
}

/** Why a row is listed. */
export type DiffKind = 'differ' | 'failed' | 'onlyA' | 'onlyB';

/** A row whose answers differ, or that is in one file only. */
export interface DiffRow {
  custom_id: string;
  kind: DiffKind;
  /** The line in A, or null when the row is only in B. */
  lineA: number | null;
  /** The line in B, or null when the row is only in A. */
  lineB: number | null;
  /** A's answer text, or null when the row is only in B. */
  a: string | null;
  /** B's answer text, or null when the row is only in A. */
  b: string | null;
}

/** Totals of one file. */
export interface SideTotals {
  /** The file as given. */
  path: string;
  rows: number;
  succeeded: number;
  failed: number;
  /** Rows answered from the cache. */
  cached: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Estimated dollars at list price for all answers (cached ones included), 0 for unknown models. */
  cost: number;
  /** The models that answered, in order of first appearance (at most {@link MAX_MODELS}). */
  models: string[];
}

/** The result of {@link compareResults}. Matched rows are `same + differ + failed`. */
export interface CompareSummary {
  a: SideTotals;
  b: SideTotals;
  /** Rows in both files that succeeded on both sides with equal answers. */
  same: number;
  /** Rows in both files that succeeded on both sides with different answers. */
  differ: number;
  /** Rows in both files that failed on either side (both failing the same way is not a difference). */
  failed: number;
  onlyA: number;
  onlyB: number;
  /** Rows listed as different: `differ + onlyA + onlyB +` the failed rows whose answers differ. */
  differing: number;
  /** True when no row differs. */
  identical: boolean;
  /** The first `maxRows` differing rows, ordered by their line in A (then in B). */
  rows: DiffRow[];
  /** True when more rows differ than `rows` holds. */
  truncated: boolean;
}

/** Options of {@link compareResults}. */
export interface CompareOptions {
  /**
   * Largest difference between two embedding components that still counts as equal.
   * @default 1e-6
   */
  tolerance?: number;
  /** Differing rows kept in {@link CompareSummary.rows}; the counts go on regardless. @default 1000 */
  maxRows?: number;
  /** Prices for the cost totals. @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** Called with every differing row as it is found (e.g. to write them all to a file). */
  onRow?: (row: DiffRow) => void | Promise<void>;
  /** Stops reading: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export const DEFAULT_TOLERANCE = 1e-6;
export const DEFAULT_MAX_ROWS = 1000;
const MAX_MODELS = 5;

/** The answer of a record: what {@link compareResults} compares. */
export function answerOf(record: ResultRecord): Answer {
  const status = record.response?.status_code ?? 0;
  if (record.error || !record.response || status >= 400) {
    const err = record.error ?? errorOfBody(record.response?.body) ?? { code: record.response ? `http_${status}` : 'no_response', message: '' };
    return { ok: false, text: `error ${err.code}: ${err.message}`.trimEnd() };
  }
  const body = record.response.body;
  // Responses API: the answer is its output_text (computed from output[] when the body lacks it).
  if (isResponsesBody(body)) return { ok: true, text: outputText(body) };
  if (isPlainObject(body) && Array.isArray(body.choices)) {
    const texts = body.choices.map((c) => choiceText(c));
    return { ok: true, text: texts.length === 1 ? texts[0]! : texts.map((t, i) => `--- choice ${i} ---\n${t}`).join('\n') };
  }
  if (isPlainObject(body) && Array.isArray(body.data)) {
    const vectors = body.data.map((d) => (isPlainObject(d) && Array.isArray(d.embedding) ? (d.embedding as unknown[]).map(Number) : []));
    const text = vectors.map((v, i) => (vectors.length > 1 ? `--- embedding ${i} (${v.length}) ---\n` : '') + v.join('\n')).join('\n');
    return { ok: true, text, vectors };
  }
  return { ok: true, text: JSON.stringify(body, null, 2) ?? '' };
}

/** True when two answers count as the same (vectors within `tolerance`, else equal text). */
export function sameAnswer(x: Answer, y: Answer, tolerance = DEFAULT_TOLERANCE): boolean {
  if (x.ok !== y.ok) return false;
  if (x.vectors && y.vectors) {
    if (x.vectors.length !== y.vectors.length) return false;
    return x.vectors.every((v, i) => {
      const w = y.vectors![i]!;
      return v.length === w.length && v.every((n, j) => Math.abs(n - w[j]!) <= tolerance);
    });
  }
  return x.text === y.text;
}

function choiceText(choice: unknown): string {
  if (!isPlainObject(choice)) return '';
  const message = choice.message;
  if (!isPlainObject(message)) return typeof choice.text === 'string' ? choice.text : '';
  const { content, tool_calls: toolCalls } = message;
  let text = typeof content === 'string' ? content : Array.isArray(content) ? content.map((p) => (isPlainObject(p) && typeof p.text === 'string' ? p.text : '')).join('') : '';
  if (Array.isArray(toolCalls) && toolCalls.length) text += (text ? '\n' : '') + JSON.stringify(toolCalls, null, 2);
  return text;
}

function errorOfBody(body: unknown): { code: string; message: string } | undefined {
  if (!isPlainObject(body) || !isPlainObject(body.error)) return undefined;
  const { code, type, message } = body.error;
  return { code: String(code ?? type ?? 'error'), message: typeof message === 'string' ? message : '' };
}

function emptyTotals(path: string): SideTotals {
  return { path, rows: 0, succeeded: 0, failed: 0, cached: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, cost: 0, models: [] };
}

function count(t: SideTotals, record: ResultRecord, answer: Answer, prices: PriceTable | undefined): void {
  t.rows++;
  if (answer.ok) t.succeeded++;
  else t.failed++;
  if (record.cached) t.cached++;
  const body = record.response?.body;
  if (!isPlainObject(body)) return;
  // Chat and Responses usage alike (input_tokens / output_tokens), cached input at its own price.
  const usage = usageOf(body) ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  t.promptTokens += usage.prompt_tokens;
  t.completionTokens += usage.completion_tokens;
  t.totalTokens += usage.total_tokens;
  if (typeof body.model === 'string') {
    t.cost += costOfUsage(body.model, usage, prices);
    if (t.models.length < MAX_MODELS && !t.models.includes(body.model)) t.models.push(body.model);
  }
}


/** A row waiting for its partner. */
interface Pending {
  custom_id: string;
  line: number;
  answer: Answer;
}

/**
 * Compares two results files. Rejects with `<file>:<line>: …` on a line that is not a result
 * record (an unterminated last line, left by an interrupted run, is skipped), and with the file
 * system's error when a file cannot be read.
 */
export async function compareResults(pathA: string, pathB: string, options: CompareOptions = {}): Promise<CompareSummary> {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const { prices, signal, onRow } = options;
  const totals = { a: emptyTotals(pathA), b: emptyTotals(pathB) };
  const summary: CompareSummary = { a: totals.a, b: totals.b, same: 0, differ: 0, failed: 0, onlyA: 0, onlyB: 0, differing: 0, identical: true, rows: [], truncated: false };
  // FIFO per key, so that the n-th occurrence of a repeated id meets the n-th on the other side.
  const waiting = { a: new Map<string, Pending[]>(), b: new Map<string, Pending[]>() };

  const list = async (row: DiffRow) => {
    summary.differing++;
    if (summary.rows.length < maxRows) summary.rows.push(row);
    else summary.truncated = true;
    await onRow?.(row);
  };

  const take = async (side: 'a' | 'b', record: ResultRecord) => {
    const answer = answerOf(record);
    count(totals[side], record, answer, prices);
    const key = record.custom_id !== '' ? `id:${record.custom_id}` : `line:${record.line}`;
    const other = side === 'a' ? 'b' : 'a';
    const queue = waiting[other].get(key);
    const mine: Pending = { custom_id: record.custom_id, line: record.line, answer };
    if (!queue) {
      const own = waiting[side].get(key);
      if (own) own.push(mine);
      else waiting[side].set(key, [mine]);
      return;
    }
    const partner = queue.shift()!;
    if (!queue.length) waiting[other].delete(key);
    const [pa, pb] = side === 'a' ? [mine, partner] : [partner, mine];
    const equal = sameAnswer(pa.answer, pb.answer, tolerance);
    if (!pa.answer.ok || !pb.answer.ok) summary.failed++;
    else if (equal) summary.same++;
    else summary.differ++;
    if (!equal) {
      await list({
        custom_id: pa.custom_id,
        kind: pa.answer.ok && pb.answer.ok ? 'differ' : 'failed',
        lineA: pa.line,
        lineB: pb.line,
        a: pa.answer.text,
        b: pb.answer.text,
      });
    }
  };

  const readerA = readResults(pathA, { signal });
  const readerB = readResults(pathB, { signal });
  try {
    let doneA = false;
    let doneB = false;
    while (!doneA || !doneB) {
      if (!doneA) {
        const next = await readerA.next();
        if (next.done) doneA = true;
        else await take('a', next.value);
      }
      if (!doneB) {
        const next = await readerB.next();
        if (next.done) doneB = true;
        else await take('b', next.value);
      }
    }
  } finally {
    await readerA.return(undefined);
    await readerB.return(undefined);
  }

  // What is left waiting is in one file only: A's first, in A's order, then B's.
  for (const [side, kind] of [['a', 'onlyA'], ['b', 'onlyB']] as const) {
    const rest = [...waiting[side].values()].flat().sort((x, y) => x.line - y.line);
    for (const p of rest) {
      summary[kind]++;
      await list({ custom_id: p.custom_id, kind, lineA: side === 'a' ? p.line : null, lineB: side === 'b' ? p.line : null, a: side === 'a' ? p.answer.text : null, b: side === 'b' ? p.answer.text : null });
    }
  }
  summary.rows.sort((x, y) => (x.lineA ?? Infinity) - (y.lineA ?? Infinity) || (x.lineB ?? Infinity) - (y.lineB ?? Infinity));
  summary.identical = summary.differing === 0;
  return summary;
}
