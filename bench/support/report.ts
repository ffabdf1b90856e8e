/** The result table: printed as it grows, and written as Markdown to bench/results.md. */
import { median } from './measure';

export interface Row {
  /** "1 throughput", … */
  scenario: string;
  measure: string;
  value: string;
  /** The bar, e.g. "≥ 0.90"; absent for figures given for context. */
  bar?: string;
  /** Whether the bar was met; absent when there is no bar. */
  pass?: boolean;
}

export interface ScenarioResult {
  rows: Row[];
  /** Extra lines for the notes under the table (set-up, caveats, what was loaded, …). */
  notes: string[];
}

/** Checks `value` against a bar and returns the row. */
export function barRow(scenario: string, measure: string, value: number, op: '>=' | '<' | '==', limit: number, show: (n: number) => string): Row {
  const pass = op === '>=' ? value >= limit : op === '<' ? value < limit : value === limit;
  const sign = op === '>=' ? '≥' : op === '<' ? '<' : '=';
  return { scenario, measure, value: show(value), bar: `${sign} ${show(limit)}`, pass };
}

/**
 * A bar over several rounds: judged on their median, with the best round shown beside it (the
 * best is what noise cannot fake upwards; the median is what one lucky round cannot move).
 */
export function roundsBarRow(
  scenario: string,
  measure: string,
  rounds: readonly number[],
  op: '>=' | '<',
  limit: number,
  show: (n: number) => string,
): Row {
  const best = op === '>=' ? Math.max(...rounds) : Math.min(...rounds);
  const label = rounds.length > 1 ? `${measure} (median of ${rounds.length})` : measure;
  const row = barRow(scenario, label, median(rounds), op, limit, show);
  return rounds.length > 1 ? { ...row, value: `${row.value} (best ${show(best)})` } : row;
}

/** The median of several rounds, best beside it, for a figure without a bar. */
export function roundsInfoRow(scenario: string, measure: string, rounds: readonly number[], higherIsBetter: boolean, show: (n: number) => string): Row {
  const best = higherIsBetter ? Math.max(...rounds) : Math.min(...rounds);
  const value = rounds.length > 1 ? `${show(median(rounds))} (best ${show(best)})` : show(median(rounds));
  return infoRow(scenario, rounds.length > 1 ? `${measure} (median of ${rounds.length})` : measure, value);
}

export function infoRow(scenario: string, measure: string, value: string): Row {
  return { scenario, measure, value };
}

const verdict = (r: Row) => (r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS');

/** A fixed-width table for the terminal. */
export function textTable(rows: Row[]): string {
  const cells = rows.map((r) => [r.scenario, r.measure, r.value, r.bar ?? '', verdict(r)]);
  const head = ['scenario', 'measure', 'value', 'bar', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

export function markdownTable(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = ['| Scenario | Measure | Value | Bar | Result |', '|---|---|--:|---|---|'];
  for (const r of rows) out.push(`| ${esc(r.scenario)} | ${esc(r.measure)} | ${esc(r.value)} | ${esc(r.bar ?? '')} | ${verdict(r)} |`);
  return out.join('\n');
}
