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
  /**
   * With more than two files: every file compared with A, in order (B is one of them). The page
   * offers to switch between them. Absent (or one entry) for two files.
   */
  group?: { name: string; file: string }[];
  rows: CompareRowView[];
}

export type CompareHostMessage = { type: 'view'; view: CompareView } | { type: 'busy'; busy: boolean };

export type ComparePageMessage =
  | { type: 'ready' }
  /** Opens row `index` of the current view in the diff editor. */
  | { type: 'openDiff'; index: number }
  /** Compares A with entry `index` of the view's group instead. */
  | { type: 'compareWith'; index: number };

/** Longest preview sent to the page, in characters. */
export const PREVIEW_CHARS = 160;

/** Returns the message if it is a well-formed {@link ComparePageMessage}, else undefined. */
export function parseComparePageMessage(x: unknown): ComparePageMessage | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const m = x as Record<string, unknown>;
  if (m.type === 'ready') return { type: 'ready' };
  const index = typeof m.index === 'number' && Number.isInteger(m.index) && m.index >= 0 ? m.index : undefined;
  if (m.type === 'openDiff' && index !== undefined) return { type: 'openDiff', index };
  if (m.type === 'compareWith' && index !== undefined) return { type: 'compareWith', index };
  return undefined;
}

/** Most files a comparison takes: A and up to this many others. */
export const MAX_GROUP = 10;

/**
 * The files named by a state the page saved with `setState` (its last view), if it is well formed:
 * A, the B it showed, and the files compared with A (B alone for two files).
 */
export function parseCompareState(x: unknown): { fileA: string; fileB: string; group: string[] } | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const { fileA, fileB, group } = x as Record<string, unknown>;
  const ok = (f: unknown): f is string => typeof f === 'string' && f.length > 0 && f.length <= 4096 && !f.includes('\0');
  if (!ok(fileA) || !ok(fileB)) return undefined;
  const files = Array.isArray(group) ? group.map((g) => (g as { file?: unknown } | null)?.file).filter(ok).slice(0, MAX_GROUP) : [];
  return { fileA, fileB, group: files.includes(fileB) ? files : [fileB] };
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
  group: 'compare-group',
} as const;
