import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BatchSummary } from '../core/batch/runBatch';
import type { CacheProvider } from '../core/cache/cacheProvider';
import { compact, formatCost, progressLine } from '../core/progress';
import type { Config } from './config';
import type { Engine } from './engine';
import type { BatchEstimate } from './lazy/estimate';
import type { Log } from './log';
import type { RunTracker, StatsSource } from './runs';

const INPUT_EXTENSIONS = ['.txt', '.jsonl', '.csv'];
/** Results files we wrote, newest first: results path → input path (for Rerun Failed Rows). */
const RUNS_KEY = 'fastllm.batchRuns';
const MAX_REMEMBERED = 20;

export interface BatchCommandOptions {
  /** Ask before a large or costly batch. @default true */
  confirm?: boolean;
}

/**
 * Run Batch from File… and Rerun Failed Rows: picks the input, asks before a large or costly
 * batch, runs it under a cancellable progress notification, writes `<name>.results.jsonl` and
 * opens it. Cancelling keeps what finished: the results file holds a record for every row read
 * (unfinished ones say `cancelled`), and every answer that arrived is in the cache.
 */
export class BatchCommand {
  /** The summary of the last batch (or rerun) that finished, for tests. */
  lastSummary: BatchSummary | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly runs: RunTracker,
    private readonly log: Log,
    private readonly memento: vscode.Memento,
  ) {}

  async run(uri?: vscode.Uri, options?: BatchCommandOptions | unknown): Promise<BatchSummary | undefined> {
    // From a context menu the second argument is the list of selected files: not options.
    const opts: BatchCommandOptions = options && typeof options === 'object' && !Array.isArray(options) ? options : {};
    const input = await this.pickInput(uri);
    if (!input) return undefined;
    if (this.runs.batchRunning) {
      void vscode.window.showWarningMessage('FastLLM: a batch is already running. Cancel it first, or wait for it to finish.');
      return undefined;
    }
    const out = this.resultsPath(input);
    if (path.resolve(out) === path.resolve(input)) {
      void vscode.window.showErrorMessage(`FastLLM: ${path.basename(input)} is a results file; pick the input file instead.`);
      return undefined;
    }
    const provider = await this.engine.provider();
    if (!provider) return undefined;
    const cache = await this.engine.runCache();
    const mod = this.engine.load();
    const reader = this.engine.readerOptions();

    let rows: number;
    try {
      rows = await mod.countRows(input);
    } catch (e) {
      void vscode.window.showErrorMessage(`FastLLM: ${this.log.mask((e as Error).message)}`);
      return undefined;
    }
    if (rows === 0) {
      void vscode.window.showInformationMessage(`FastLLM: ${path.basename(input)} has no rows to run.`);
      return undefined;
    }
    if (opts.confirm !== false && !(await this.confirm(input, rows, cache, provider.scope))) return undefined;

    const manager = this.engine.manager(provider, cache);
    const label = path.basename(input);
    this.log.info(`Batch: ${input} (${rows} rows) → ${out}`);
    const summary = await this.withProgress(label, manager.stats, (signal) =>
      mod.runBatch({ input, out, manager, reader, signal }),
    );
    if (summary) await this.finished(summary);
    return summary;
  }

  async rerunFailed(resultsUri?: vscode.Uri): Promise<BatchSummary | undefined> {
    const remembered = this.memento.get<[string, string][]>(RUNS_KEY, []);
    const entry = resultsUri ? remembered.find(([out]) => out === resultsUri.fsPath) : remembered[0];
    if (!entry) {
      void vscode.window.showInformationMessage(
        resultsUri
          ? `FastLLM: ${path.basename(resultsUri.fsPath)} was not written by a batch run in this workspace.`
          : 'FastLLM: no results file yet. Run a batch first.',
      );
      return undefined;
    }
    const [out, input] = entry;
    if (this.runs.batchRunning) {
      void vscode.window.showWarningMessage('FastLLM: a batch is already running.');
      return undefined;
    }
    const provider = await this.engine.provider();
    if (!provider) return undefined;
    const cache = await this.engine.runCache();
    const mod = this.engine.load();
    const manager = this.engine.manager(provider, cache);
    let failed = 0;
    const summary = await this.withProgress(`${path.basename(input)} (failed rows)`, manager.stats, (signal) =>
      mod.rerunFailed({ input, out, manager, reader: this.engine.readerOptions(), signal, onTotal: (n) => (failed = n) }),
    );
    if (!summary) return undefined;
    if (failed === 0) {
      void vscode.window.showInformationMessage(`FastLLM: ${path.basename(out)} has no failed rows.`);
      return summary;
    }
    await this.finished(summary);
    return summary;
  }

  private async withProgress(
    label: string,
    stats: StatsSource,
    work: (signal: AbortSignal) => Promise<BatchSummary>,
  ): Promise<BatchSummary | undefined> {
    const handle = this.runs.begin(label, 'batch', stats);
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `FastLLM: ${label}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => handle.cancel());
          let reported = 0;
          const tick = () => {
            const s = stats.snapshot();
            const fraction = s.total ? Math.min(1, s.done / s.total) : 0;
            const increment = Math.max(0, fraction * 100 - reported);
            reported += increment;
            progress.report({ increment, message: progressLine(s) });
          };
          const timer = setInterval(tick, 250);
          try {
            return await work(handle.signal);
          } finally {
            clearInterval(timer);
          }
        },
      );
    } catch (e) {
      const message = this.log.mask((e as Error).message);
      this.log.error(`Batch ${label} failed: ${message}`);
      void vscode.window.showErrorMessage(`FastLLM: ${label}: ${message}`);
      return undefined;
    } finally {
      handle.end();
    }
  }

  /** Remembers, reports and opens the results of a finished run. */
  private async finished(summary: BatchSummary): Promise<void> {
    this.lastSummary = summary;
    const remembered = this.memento.get<[string, string][]>(RUNS_KEY, []).filter(([out]) => out !== summary.out);
    await this.memento.update(RUNS_KEY, [[summary.out, summary.input], ...remembered].slice(0, MAX_REMEMBERED));
    const s = summary.stats;
    const text =
      `${summary.records} rows: ${summary.succeeded} ok, ${summary.failed} failed` +
      (s.cacheHits ? `, ${s.cacheHits} from cache` : '') +
      ` · ${compact(s.fresh.total)} fresh tokens · ${formatCost(s.cost.spent)}`;
    this.log.info(`Batch ${summary.cancelled ? 'cancelled' : 'done'}: ${path.basename(summary.input)}: ${text} → ${summary.out}`);

    if (summary.stopped) {
      if (summary.stopped.code === 'auth_failed') this.engine.keyRejected('The server rejected the API key');
      void vscode.window.showErrorMessage(`FastLLM: the run stopped: ${this.log.mask(summary.stopped.message)}`, 'Set API Key').then((pick) => {
        if (pick) void vscode.commands.executeCommand('fastllm.setApiKey');
      });
    } else {
      const actions = summary.failed > 0 ? ['Open Results', 'Rerun Failed Rows'] : ['Open Results'];
      const show = summary.failed > 0 ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
      void show(`FastLLM: ${summary.cancelled ? 'cancelled after ' : ''}${text}`, ...actions).then((pick) => {
        if (pick === 'Open Results') void this.open(summary.out);
        if (pick === 'Rerun Failed Rows') void vscode.commands.executeCommand('fastllm.rerunFailed', vscode.Uri.file(summary.out));
      });
    }
    if (this.config.openResultsWhenDone) await this.open(summary.out);
  }

  private async open(file: string): Promise<void> {
    try {
      await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true, preserveFocus: false });
    } catch (e) {
      this.log.warn(`Could not open ${file}: ${(e as Error).message}`);
    }
  }

  /** The given file, else the active editor's batch file, else a file picker. */
  private async pickInput(uri: vscode.Uri | undefined): Promise<string | undefined> {
    const isBatch = (u: vscode.Uri) => u.scheme === 'file' && INPUT_EXTENSIONS.includes(path.extname(u.fsPath).toLowerCase());
    if (uri instanceof vscode.Uri) {
      if (isBatch(uri)) return uri.fsPath;
      void vscode.window.showErrorMessage(`FastLLM: pick a .txt, .jsonl or .csv file (not ${path.basename(uri.fsPath)}).`);
      return undefined;
    }
    const doc = vscode.window.activeTextEditor?.document;
    if (doc && isBatch(doc.uri)) {
      // The run reads the file from disk: make the disk match what the user sees.
      if (doc.isDirty) await doc.save();
      return doc.uri.fsPath;
    }
    const picked = await vscode.window.showOpenDialog({
      title: 'FastLLM: Run Batch from File',
      canSelectMany: false,
      openLabel: 'Run Batch',
      filters: { 'Prompt files': ['txt', 'jsonl', 'csv'] },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    return picked?.[0]?.fsPath;
  }

  /** `<name>.results.jsonl` beside the input, or in `fastllm.results.location`. */
  resultsPath(input: string): string {
    const name = `${path.basename(input, path.extname(input))}.results.jsonl`;
    const location = this.config.resultsLocation;
    if (!location) return path.join(path.dirname(input), name);
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(input))?.uri.fsPath ?? path.dirname(input);
    return path.join(path.resolve(folder, location), name);
  }

  /** Asks before a batch at or above the row threshold, or above the cost threshold. */
  private async confirm(
    input: string,
    rows: number,
    cache: CacheProvider | undefined,
    scope: { baseURL: string },
  ): Promise<boolean> {
    const rowLimit = this.config.confirmRowThreshold;
    const costLimit = this.config.confirmCostThreshold;
    const bigBatch = rowLimit > 0 && rows >= rowLimit;
    if (!bigBatch && costLimit === 0) return true;
    const mod = this.engine.load();
    let estimate: BatchEstimate | undefined;
    try {
      estimate = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `FastLLM: estimating ${path.basename(input)}…`, cancellable: true },
        async (progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          return mod.estimateBatch(input, this.engine.readerOptions(), {
            scope,
            cache,
            prices: this.engine.prices(),
            signal: controller.signal,
            onProgress: (n) => progress.report({ message: `${n}/${rows} rows`, increment: (1000 / rows) * 100 }),
          });
        },
      );
    } catch (e) {
      if ((e as Error).name === 'AbortError') return false;
      this.log.warn(`Estimate failed: ${(e as Error).message}`);
    }
    const costly = !!estimate && costLimit > 0 && estimate.cost > costLimit;
    if (!bigBatch && !costly) return true;
    const detail = estimate
      ? [
          `Rows: ${rows.toLocaleString()}${estimate.invalid ? ` (${estimate.invalid} cannot be read)` : ''}`,
          `Estimated tokens: ${compact(estimate.promptTokens)} prompt + up to ${compact(estimate.completionTokens)} completion`,
          `Expected cache hits: ${estimate.cacheHits.toLocaleString()} (${rows ? Math.round((estimate.cacheHits / rows) * 100) : 0}%)`,
          `Estimated cost: ${formatCost(estimate.cost)}${estimate.unpricedModels.length ? ` (no price for ${estimate.unpricedModels.join(', ')})` : ''}`,
          `Results: ${this.resultsPath(input)}`,
        ].join('\n')
      : `Rows: ${rows.toLocaleString()}`;
    const pick = await vscode.window.showWarningMessage(
      `Run ${rows.toLocaleString()} prompts from ${path.basename(input)}?`,
      { modal: true, detail },
      'Run',
    );
    return pick === 'Run';
  }
}
