/**
 * The messages between the extension host and the Compare page, typed on both sides.
 *
 * The page shows untrusted text (model answers), so the host uses a page message only after
 * {@link parseComparePageMessage} has passed it. A page message names a row by its index in the
 * current view, never a path: the worst a crafted one can do is open the diff of another listed row.
 *
 * Imported by host code and page code: no `vscode`, no Node.
 */
import type { CompareSummary, DiffKind, SideTotals } from '../core/compare';

export type { DiffKind, SideTotals };

/** One listed row. Previews are the start of each answer, untrusted text. */
export interface CompareRowView {
  custom_id: string;
  kind: DiffKind;
  lineA: number | null;
  lineB: number | null;
  /** The start of A's answer, or null when the row is only in B. */
  previewA: string | null;
  previewB: string | null;
}

/** Everything the page shows: the summary's counts and totals, with the rows as previews. */
export interface CompareView extends Omit<CompareSummary, 'rows'> {
  /** File names, for the heading. */
  nameA: string;
  nameB: string;
  /** The files' full paths: the page keeps them (with the rest of the view) so that a restart can compare them again. */
  fileA: string;
  fileB: string;
  rows: CompareRowView[];
}

export type CompareHostMessage = { type: 'view'; view: CompareView } | { type: 'busy'; busy: boolean };

export type ComparePageMessage =
  | { type: 'ready' }
  /** Opens row `index` of the current view in the diff editor. */
  | { type: 'openDiff'; index: number };

/** Longest preview sent to the page, in characters. */
export const PREVIEW_CHARS = 160;

/** Returns the message if it is a well-formed {@link ComparePageMessage}, else undefined. */
export function parseComparePageMessage(x: unknown): ComparePageMessage | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const m = x as Record<string, unknown>;
  if (m.type === 'ready') return { type: 'ready' };
  if (m.type === 'openDiff' && typeof m.index === 'number' && Number.isInteger(m.index) && m.index >= 0) return { type: 'openDiff', index: m.index };
  return undefined;
}

/** The two files named by a state the page saved with `setState` (its last view), if it is well formed. */
export function parseCompareState(x: unknown): { fileA: string; fileB: string } | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const { fileA, fileB } = x as Record<string, unknown>;
  const ok = (f: unknown): f is string => typeof f === 'string' && f.length > 0 && f.length <= 4096 && !f.includes('\0');
  return ok(fileA) && ok(fileB) ? { fileA, fileB } : undefined;
}

/** Element ids of the page (each also a `data-testid`), for the UI tests. */
export const COMPARE_IDS = {
  root: 'compare-root',
  title: 'compare-title',
  status: 'compare-status',
  counts: 'compare-counts',
  sides: 'compare-sides',
  rows: 'compare-rows',
  more: 'compare-more',
} as const;
