/**
 * The messages between the extension host and the Results view page, typed on both sides.
 *
 * The page shows untrusted text (prompts, model answers), so the host uses a page message only
 * after {@link parseResultsPageMessage} has passed it. A page message names rows by their position
 * in the current query, never a path: the worst a crafted one can do is ask for another row, or
 * start an action the host confirms where it costs money (reruns).
 *
 * Imported by host code and page code: no `vscode`, no Node.
 */
import type { ResultsMeta, RowDetail, RowView } from '../core/results/view';
import type { RowFilter, SortKey } from '../core/results/table';

export type { ResultsMeta, RowDetail, RowView, RowFilter, SortKey };

export type ResultsHostMessage =
  /** The query's size, totals and the file shown; `generation` goes up whenever rows may have changed. */
  | { type: 'meta'; meta: ResultsMeta; generation: number }
  /** Rows `start…` of the current query, for `generation`. */
  | { type: 'page'; start: number; rows: RowView[]; generation: number }
  | { type: 'detail'; detail: RowDetail }
  /** A short status line (export written, copied, rerun started). */
  | { type: 'notice'; text: string };

export type ResultsAction = 'rerun' | 'copy' | 'openInput' | 'exportCsv' | 'writeAnswers' | 'rerunRows';

export type ResultsPageMessage =
  | { type: 'ready' }
  | { type: 'query'; filter: RowFilter; search: string; sort: SortKey; desc: boolean }
  | { type: 'page'; start: number; count: number }
  | { type: 'detail'; position: number }
  /**
   * `rerun`, `copy`, `openInput`: the row at `positions[0]`. `rerunRows`: the rows at `positions`,
   * or every row of the current query when there are none. Exports: the current query's rows.
   */
  | { type: 'action'; action: ResultsAction; positions: number[] };

const FILTERS: readonly RowFilter[] = ['all', 'failed', 'cached', 'changed'];
const SORTS: readonly SortKey[] = ['line', 'latency', 'tokens', 'cost'];
const ACTIONS: readonly ResultsAction[] = ['rerun', 'copy', 'openInput', 'exportCsv', 'writeAnswers', 'rerunRows'];
/** Most positions one action may name. */
export const MAX_POSITIONS = 100_000;

const isIndex = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 31;

/** Returns the message if it is a well-formed {@link ResultsPageMessage}, else undefined. */
export function parseResultsPageMessage(x: unknown): ResultsPageMessage | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const m = x as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
      return { type: 'ready' };
    case 'query':
      if (!FILTERS.includes(m.filter as RowFilter) || !SORTS.includes(m.sort as SortKey) || typeof m.search !== 'string' || m.search.length > 1000 || typeof m.desc !== 'boolean') return undefined;
      return { type: 'query', filter: m.filter as RowFilter, search: m.search, sort: m.sort as SortKey, desc: m.desc };
    case 'page':
      return isIndex(m.start) && isIndex(m.count) ? { type: 'page', start: m.start, count: m.count } : undefined;
    case 'detail':
      return isIndex(m.position) ? { type: 'detail', position: m.position } : undefined;
    case 'action':
      if (!ACTIONS.includes(m.action as ResultsAction) || !Array.isArray(m.positions) || m.positions.length > MAX_POSITIONS || !m.positions.every(isIndex)) return undefined;
      return { type: 'action', action: m.action as ResultsAction, positions: [...(m.positions as number[])] };
    default:
      return undefined;
  }
}

/** Element ids of the page (each also a `data-testid`), for the UI tests. */
export const RESULTS_IDS = {
  root: 'results-root',
  title: 'results-title',
  status: 'results-status',
  totals: 'results-totals',
  filter: 'results-filter',
  search: 'results-search',
  sort: 'results-sort',
  grid: 'results-grid',
  detail: 'results-detail',
  notice: 'results-notice',
} as const;
