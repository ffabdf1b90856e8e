/**
 * The messages between the extension host and the two webview pages, typed on both sides.
 *
 * Direction matters for trust: a page runs untrusted text (prompts, model output) and could in
 * principle be subverted, so the host never uses a message from a page before it has passed the
 * matching `parse…` function below. Page messages name cache keys and page numbers only, never a
 * path: the worst a crafted message can do is ask for a cache entry, or ask the host to delete
 * entries, which the host confirms with a modal dialog for anything but a single entry.
 *
 * This file is imported by host code and by page code, so it must not import `vscode` or Node.
 */
import type { StatsSnapshot } from '../core/stats';
import type { LatencyBin, ModelStats, ThroughputSample } from '../core/statsSeries';

export type { LatencyBin, ModelStats, StatsSnapshot, ThroughputSample };

// ---------------------------------------------------------------- Token Stats

/** Totals of every run since VS Code started (the stats of one run reset when the next starts). */
export interface SessionTotals {
  runs: number;
  requests: number;
  succeeded: number;
  /** Rows that failed (cancelled and stopped rows not counted: see `unfinished`). */
  failed: number;
  /** Rows left unfinished by a cancel or a stop (`cancelled`, `run_stopped`): not failures. */
  unfinished: number;
  retries: number;
  /** Rate-limit 429s received (absent in totals saved before). */
  throttled?: number;
  apiCalls: number;
  cacheHits: number;
  dedupHits: number;
  /** Fresh answers whose input the provider partly served from its prompt cache (absent in totals saved before). */
  providerCacheHits?: number;
  /** Their cached input tokens (part of `fresh.prompt`). */
  providerCachedTokens?: number;
  /** Reasoning tokens of fresh answers (part of `fresh.completion`). */
  reasoningTokens?: number;
  /** (cacheHits + dedupHits) / succeeded, 0..1. */
  hitRatio: number;
  fresh: { prompt: number; completion: number; total: number };
  cached: { prompt: number; completion: number; total: number };
  cost: { spent: number; saved: number };
  /** Milliseconds spent in runs. */
  busyMs: number;
}

/** The estimate shown before a batch ran (the confirmation's), kept with the run for Token Stats. */
export interface RunEstimate {
  /** Estimated dollars for the rows that were not expected cache hits. */
  cost: number;
  /** Rows on models without a price: not in `cost`. */
  unpricedRows: number;
}

/** How a run ended: it finished, the user cancelled it, or it stopped (a rejected key, …). */
export type RunEndState = 'finished' | 'cancelled' | 'stopped';

/** The end of a run, as its results file tells it. */
export interface RunEnding {
  state: RunEndState;
  /** Rows that failed, cancelled and stopped ones not counted. */
  failed: number;
  /** Rows that carry `cancelled` or `run_stopped`: never sent, or abandoned in flight. */
  unfinished: number;
}

/** Everything the stats page shows; also what it keeps with `setState` across restarts. */
export interface StatsView {
  /** The running (or last finished) run, or null before the first run. */
  current: StatsSnapshot | null;
  /** What the current run is: `prompts.jsonl`, `selection`, … */
  label: string | null;
  running: boolean;
  /** How the run shown ended; null while it runs (or before the first run). */
  ending: RunEnding | null;
  session: SessionTotals;
  history: ThroughputSample[];
  /**
   * Per model, over the runs that went together (one run, or the runs of *Run on Several Models*).
   * Absent in views kept by older versions.
   */
  models?: ModelStats[];
  /** The estimate made before the run shown; null when none was made (absent in older views). */
  estimate?: RunEstimate | null;
}

export type StatsHostMessage = { type: 'stats'; view: StatsView };

export type StatsPageMessage =
  | { type: 'ready' }
  /** Runs one of the host commands that the page offers as buttons. */
  | { type: 'command'; command: StatsPageCommand };

/** The only commands a stats page may ask for. */
export const STATS_PAGE_COMMANDS = ['cancelRun', 'openCacheBrowser', 'showLog'] as const;
export type StatsPageCommand = (typeof STATS_PAGE_COMMANDS)[number];

// ---------------------------------------------------------------- Cache Browser

/** One row of the cache browser list. */
export interface CacheRow {
  key: string;
  /** Epoch ms. */
  created: number;
  /** Epoch ms, or null for never. */
  expires: number | null;
  model: string;
  /** The start of the last user message (or embeddings input), untrusted text. */
  preview: string;
  /** The start of the answer (or the shape of an embedding), untrusted text. */
  answer: string;
  /** Total tokens of the answer's usage. */
  tokens: number;
  /** Bytes of the entry's JSON. */
  size: number;
}

export interface CachePageView {
  rows: CacheRow[];
  /** Entries matching the filter. */
  total: number;
  /** Entries in the cache. */
  totalAll: number;
  offset: number;
  limit: number;
  filter: string;
  /** Bytes of the cache file (with its journal), or null when unknown. */
  fileSize: number | null;
  /** Where the cache lives, for the footer. */
  location: string;
  enabled: boolean;
}

/** The full entry, pretty-printed, and how its key was composed. */
export interface CacheEntryView {
  key: string;
  /** The last user message (or embeddings input), cut at 2,000 characters: the detail's heading. Untrusted text. */
  prompt: string;
  request: string;
  response: string;
  meta: { model: string; baseURL: string; kind: string; created: number; expires: number | null; requestId: string | null };
  usage: { prompt: number; completion: number; total: number };
  hash: { version: string; canonical: string; key: string; matches: boolean; parts: { name: string; value: string }[] };
}

export type CacheHostMessage =
  | { type: 'page'; page: CachePageView }
  | { type: 'entry'; entry: CacheEntryView | null; key: string }
  | { type: 'error'; message: string }
  | { type: 'busy'; busy: boolean }
  /** One entry was deleted; the page offers to undo it (the host keeps the entry until the next delete). */
  | { type: 'deleted'; key: string; prompt: string };

export type CachePageMessage =
  | { type: 'ready' }
  | { type: 'list'; offset: number; limit: number; filter: string }
  | { type: 'show'; key: string }
  | { type: 'delete'; key: string }
  | { type: 'deleteFiltered'; filter: string }
  /** Puts back the entry deleted last (only that one: the host keeps it, the page names nothing). */
  | { type: 'undoDelete' }
  | { type: 'clearAll' };

/** What the cache page keeps with `setState`, so a restored panel shows the same page. */
export interface CachePageState {
  filter: string;
  offset: number;
  limit: number;
}

// ---------------------------------------------------------------- validation (host side)

/** Largest page a page may ask for. */
export const MAX_PAGE_SIZE = 500;
/** Longest search text accepted. */
export const MAX_FILTER_LENGTH = 1000;
/** A cache key: printable, no path separators, bounded. `v1:<64 hex>` in practice. */
const KEY_PATTERN = /^[A-Za-z0-9:_.-]{1,200}$/;

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
}

function isFilter(x: unknown): x is string {
  return typeof x === 'string' && x.length <= MAX_FILTER_LENGTH;
}

export function isCacheKey(x: unknown): x is string {
  return typeof x === 'string' && KEY_PATTERN.test(x);
}

/** Returns the message if it is a well-formed {@link StatsPageMessage}, else undefined. */
export function parseStatsPageMessage(x: unknown): StatsPageMessage | undefined {
  if (!isObj(x)) return undefined;
  if (x.type === 'ready') return { type: 'ready' };
  if (x.type === 'command' && (STATS_PAGE_COMMANDS as readonly unknown[]).includes(x.command)) {
    return { type: 'command', command: x.command as StatsPageCommand };
  }
  return undefined;
}

/**
 * Returns the message if it is a well-formed {@link CachePageMessage}, else undefined. The result
 * is a fresh object holding only the known fields.
 */
export function parseCachePageMessage(x: unknown): CachePageMessage | undefined {
  if (!isObj(x)) return undefined;
  switch (x.type) {
    case 'ready':
      return { type: 'ready' };
    case 'clearAll':
      return { type: 'clearAll' };
    case 'undoDelete':
      return { type: 'undoDelete' };
    case 'list':
      if (!isCount(x.offset, Number.MAX_SAFE_INTEGER) || !isCount(x.limit, MAX_PAGE_SIZE) || x.limit < 1 || !isFilter(x.filter)) {
        return undefined;
      }
      return { type: 'list', offset: x.offset, limit: x.limit, filter: x.filter };
    case 'show':
    case 'delete':
      return isCacheKey(x.key) ? { type: x.type, key: x.key } : undefined;
    case 'deleteFiltered':
      // An empty filter would mean "everything": that is clearAll, which says so in its dialog.
      return isFilter(x.filter) && x.filter.trim() !== '' ? { type: 'deleteFiltered', filter: x.filter } : undefined;
    default:
      return undefined;
  }
}

/** Parses what a page saved with `setState`; falls back to the first page. */
export function parseCachePageState(x: unknown): CachePageState {
  const fallback: CachePageState = { filter: '', offset: 0, limit: 50 };
  if (!isObj(x)) return fallback;
  return {
    filter: isFilter(x.filter) ? x.filter : fallback.filter,
    offset: isCount(x.offset, Number.MAX_SAFE_INTEGER) ? x.offset : fallback.offset,
    limit: isCount(x.limit, MAX_PAGE_SIZE) && x.limit > 0 ? x.limit : fallback.limit,
  };
}

/**
 * Element ids of the pages, for the UI tests (each element also has the same `data-testid`).
 * Stats figures are `stat-run-<metric>` and `stat-session-<metric>` for each of
 * {@link STATS_METRIC_KEYS}; their `data-value` holds the raw number behind the shown text.
 */
export const STATS_IDS = {
  root: 'stats-root',
  label: 'stats-label',
  state: 'stats-state',
  cancel: 'stats-cancel',
  progress: 'stats-progress',
  table: 'stats-table',
  chart: 'stats-chart',
  chartPeak: 'stats-chart-peak',
  chartRowsPeak: 'stats-chart-rows-peak',
  // Issue 12: each chart's own axis (`data-value`: its round top), the marks strip (marks are
  // `stats-mark-429` / `stats-mark-retry` with `data-count` and `data-t`) and their totals.
  chartRows: 'stats-chart-rows',
  axisTokens: 'stats-axis-tokens',
  axisRows: 'stats-axis-rows',
  marks: 'stats-marks',
  marks429: 'stats-marks-429',
  marksRetries: 'stats-marks-retries',
  // Latency figures (`data-value` in ms) and the histogram (bars `stats-latency-bar` with `data-count`).
  latencyP50: 'stats-latency-p50',
  latencyP95: 'stats-latency-p95',
  latencyP99: 'stats-latency-p99',
  latencyHistogram: 'stats-latency-histogram',
  // Cost so far (`data-value`) against the estimate (`data-value`, empty without one).
  costSpent: 'stats-cost-spent',
  costEstimate: 'stats-cost-estimate',
  // Per model: rows `tr[data-testid="stats-model-row"][data-model]`, cells `td[data-col][data-value]`.
  models: 'stats-models',
} as const;

export const STATS_METRIC_KEYS = [
  'requests', 'succeeded', 'failed', 'unfinished', 'retries', 'apiCalls', 'cacheHits', 'providerCacheHits', 'dedupHits', 'hitRatio', 'promptTokens',
  'providerCachedTokens', 'completionTokens', 'reasoningTokens', 'freshTokens', 'cachedTokens', 'tokensPerSec', 'rowsPerSec', 'latency', 'rpm', 'tpm', 'eta', 'elapsed', 'cost', 'saved',
] as const;

/**
 * Cache browser ids. List rows are `tr[data-testid="cache-row"][data-key]`, with cells
 * `cache-row-model`, `cache-row-preview`, `cache-row-answer`, `cache-row-tokens` and the button
 * `button[data-testid="cache-row-delete"][data-key]`. `cache-count` has `data-total` (matching
 * entries), `cache-total` has `data-value` (all entries).
 */
export const CACHE_IDS = {
  search: 'cache-search',
  count: 'cache-count',
  prev: 'cache-prev',
  next: 'cache-next',
  deleteFiltered: 'cache-delete-filtered',
  clearAll: 'cache-clear-all',
  error: 'cache-error',
  rows: 'cache-rows',
  detail: 'cache-detail',
  detailMeta: 'cache-detail-meta',
  detailRequest: 'cache-detail-request',
  detailResponse: 'cache-detail-response',
  detailHash: 'cache-detail-hash',
  detailDelete: 'cache-detail-delete',
  detailTitle: 'cache-detail-title',
  undo: 'cache-undo',
  undoButton: 'cache-undo-button',
  totalAll: 'cache-total',
  fileSize: 'cache-file-size',
  location: 'cache-location',
} as const;
