import type * as vscode from 'vscode';
import type { BatchSummary } from '../core/batch/runBatch';
import type { StatsView } from '../webview/protocol';
import type { BatchCommandOptions } from './batchCommand';
import type { SelectionResult } from './selectionCommand';

/**
 * What `activate()` returns: a small API for integration tests running in the extension host
 * (`vscode.extensions.getExtension('fastllm.fastllm-vscode').exports`), and for other extensions.
 * Everything here is also reachable through the commands; this adds what commands cannot show.
 */
export interface FastLLMApi {
  /** Runs a batch file like the command does; `{ confirm: false }` skips the size/cost dialog. */
  runBatchFile(uri: vscode.Uri, options?: BatchCommandOptions): Promise<BatchSummary | undefined>;
  /** Reruns the failed rows of a results file (default: the last one). */
  rerunFailed(resultsUri?: vscode.Uri): Promise<BatchSummary | undefined>;
  /** Runs the active editor's selection like the command does. */
  runSelection(): Promise<SelectionResult | undefined>;
  /** The summary of the last batch run or rerun that finished. */
  readonly lastSummary: BatchSummary | undefined;
  /** The text and buttons of the notification that ended the last batch run or rerun. */
  readonly lastBatchNotice: { text: string; actions: string[] } | undefined;
  /** What the Token Stats panel shows right now. */
  stats(): StatsView;
  /** The status bar item's text, e.g. `$(sparkle) 12.3k tok · 45% cached`. */
  statusBarText(): string;
  /** The status bar item's tooltip (Markdown source). */
  statusBarTooltip(): string;
  /** Whether the status bar item shows (only once FastLLM has been used in the workspace). */
  statusBarVisible(): boolean;
  /** True while any run is in progress. */
  isRunning(): boolean;
  /** Cancels every run in progress; returns how many. */
  cancelRun(): number;
  /** The workspace cache's SQLite file. */
  cachePath(): string;
  /** Live entries in the cache (optionally matching a filter). */
  cacheCount(filter?: string): Promise<number>;
  /** Deletes every cache entry without asking; returns how many. */
  clearCache(): Promise<number>;
  /** Stores an API key for the configured base URL (as Set API Key does). */
  setApiKey(key: string): Promise<void>;
  /** True once the engine bundle (SDK, SQLite, tokenizer) has been loaded. */
  engineLoaded(): boolean;
}
