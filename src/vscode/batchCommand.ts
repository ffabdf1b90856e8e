import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkResultsPath } from '../core/batch/paths';
import type { ReaderOptions } from '../core/batch/common';
import type { BatchSummary } from '../core/batch/runBatch';
import type { CacheProvider } from '../core/cache/cacheProvider';
import { compact, formatCost, progressLine } from '../core/progress';
import { isLoopbackUrl } from '../core/providers/keyScope';
import type { Provider } from '../core/providers/provider';
import { COMPARE_COMMAND } from './compare';
import { pickInputFile, prepareBatch } from './batchInput';
import type { Config } from './config';
import type { Engine } from './engine';
import type { BatchEstimate } from './lazy/estimate';
import type { Log } from './log';
import type { RunEstimate } from '../webview/protocol';
import { chooseResultsPath, rememberModels, type ResultsTarget } from './resultsNaming';
import { endingOf, failureText, outcomeOf, RecordTally, runLine } from './runReport';
import type { BeginOptions, RunTracker, StatsSource } from './runs';

/** Results files we wrote, newest first: results path → input path (for Rerun Failed Rows). */
const RUNS_KEY = 'fastllm.batchRuns';
/** Input files whose first run the user confirmed (fastllm.confirm.firstRun), newest last. */
const CONFIRMED_KEY = 'fastllm.confirmedFiles';
/** How many of them are remembered. */
const MAX_CONFIRMED = 1000;
const MAX_REMEMBERED = 20;

/**
 * What the message of a stopped run offers, by the stop's code: a rejected key → set it; no quota
 * left → the provider's billing page (OpenAI's; others have theirs); given up on rate limits → run
 * the file again (later).
 */
const STOP_ACTIONS: Record<string, { actions: string[]; run: (pick: string, summary: BatchSummary) => void }> = {
  auth_failed: { actions: ['Set API Key'], run: () => void vscode.commands.executeCommand('fastllm.setApiKey') },
  insufficient_quota: {
    actions: ['Open Billing Page'],
    run: () => void vscode.env.openExternal(vscode.Uri.parse('https://platform.openai.com/settings/organization/billing')),
  },
  // Running the file again costs only the rows not answered: the others come from the cache.
  // VS Code's Language Model API refused the model (profile of kind vscode-lm).
  lm_no_permissions: { actions: ['Select Profile'], run: () => void vscode.commands.executeCommand('fastllm.selectProfile') },
  lm_model_not_found: { actions: ['Select Model'], run: () => void vscode.commands.executeCommand('fastllm.selectModel') },
  rate_limited: { actions: ['Run Again'], run: (_pick, summary) => void vscode.commands.executeCommand('fastllm.runBatch', vscode.Uri.file(summary.input)) },
};

export interface BatchCommandOptions {
  /** Ask before a large or costly batch. @default true */
  confirm?: boolean;
  /**
   * Send to this provider instead of the configured base URL and key (the demo's server:
   * ./demo/tryDemo.ts). @default the configured one
   */
  provider?: Provider;
  /** Use this cache instead of the workspace's (the demo's own). @default the workspace cache */
  cache?: CacheProvider;
}

/** Called before the run starts, inside its progress notification; false stops there. */
type Prepare = (progress: vscode.Progress<{ message?: string }>, signal: AbortSignal) => Promise<boolean>;

/**
 * Run Batch from File… and Rerun Failed Rows: picks the input, asks before a large or costly
 * batch, runs it under one cancellable progress notification, writes `<name>.results.jsonl` (or
 * `<name>.<model>.results.jsonl` when the former holds another model's answers) and opens it in
 * the background, never taking the keyboard. Cancelling keeps what finished: every answer that
 * arrived is in the cache and the results file, and unfinished rows are counted apart from failures.
 */
export class BatchCommand {
  /** The summary of the last batch (or rerun) that finished, for tests. */
  lastSummary: BatchSummary | undefined;
  /** What the last finish notification said and offered, for tests. */
  lastNotice: { text: string; actions: string[] } | undefined;

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
    const input = await pickInputFile(uri);
    if (!input) return undefined;
    if (this.runs.refuseSecondBatch()) return undefined;
    try {
      // The engine checks again when it runs; this is before any key is asked for or cache opened.
      await checkResultsPath(input, this.resultsPath(input));
    } catch (e) {
      void vscode.window.showErrorMessage(`FastLLM: ${(e as Error).message}`);
      return undefined;
    }
    const prepared = await prepareBatch(input, this.engine, this.memento, this.log, opts);
    if (!prepared) return undefined;
    const { reader, provider, cache, mod } = prepared;

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
    const target = await chooseResultsPath(this.resultsPath(input), input, reader, mod, this.memento);
    const out = target.out;
    try {
      await checkResultsPath(input, out);
    } catch (e) {
      void vscode.window.showErrorMessage(`FastLLM: ${(e as Error).message}`);
      return undefined;
    }

    const manager = this.engine.manager(provider, cache);
    const label = path.basename(input);
    const tally = new RecordTally();
    // The estimate made before the run, for Token Stats' "cost so far of estimated".
    let estimate: RunEstimate | undefined;
    const prepare: Prepare | undefined =
      opts.confirm === false
        ? undefined
        : (progress, signal) => this.confirm(input, rows, reader, cache, provider.scope, out, progress, signal, (e) => (estimate = { cost: e.cost, unpricedRows: e.unpricedRows }));
    this.log.info(`Batch: ${input} (${rows} rows) → ${out}${target.kept ? ` (${path.basename(target.kept.file)} holds ${target.kept.model}'s answers: kept)` : ''}`);
    const summary = await this.withProgress(
      label,
      manager.stats,
      tally,
      prepare,
      (signal) => mod.runBatch({ input, out, manager, reader, signal, onRecord: (r) => tally.add(r) }),
      () => ({ estimate }),
    );
    if (summary) {
      await rememberModels(summary.out, input, reader, mod, this.memento).catch(() => undefined);
      await this.finished(summary, tally, target);
    }
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
    if (this.runs.refuseSecondBatch()) return undefined;
    const prepared = await prepareBatch(input, this.engine, this.memento, this.log);
    if (!prepared) return undefined;
    const { reader, provider, cache, mod } = prepared;
    const manager = this.engine.manager(provider, cache);
    const tally = new RecordTally();
    let failed = 0;
    const summary = await this.withProgress(`${path.basename(input)} (failed rows)`, manager.stats, tally, undefined, (signal) =>
      mod.rerunFailed({ input, out, manager, reader, signal, onRecord: (r) => tally.add(r), onTotal: (n) => (failed = n) }),
    );
    if (!summary) return undefined;
    if (failed === 0) {
      void vscode.window.showInformationMessage(`FastLLM: ${path.basename(out)} has no failed rows.`);
      return summary;
    }
    await this.finished(summary, tally, { out });
    return summary;
  }

  /**
   * Runs again the rows of a results file with these custom_ids (the Results view's *Rerun*), with
   * `refresh` asking the server again instead of answering from the cache. The file is rewritten in
   * input order with the new records in place (see `rerunFailed` in lazy/rerun.ts).
   */
  async rerunRows(resultsUri: vscode.Uri, ids: readonly string[], options: { refresh?: boolean } = {}): Promise<BatchSummary | undefined> {
    const remembered = this.memento.get<[string, string][]>(RUNS_KEY, []);
    const out = resultsUri.fsPath;
    const input = remembered.find(([o]) => o === out)?.[1] ?? this.engine.load().findInput(out);
    if (!input) {
      void vscode.window.showErrorMessage(`FastLLM: the input file of ${path.basename(out)} was not found beside it; run the input again instead.`);
      return undefined;
    }
    if (this.runs.refuseSecondBatch()) return undefined;
    const prepared = await prepareBatch(input, this.engine, this.memento, this.log);
    if (!prepared) return undefined;
    const { reader, provider, cache, mod } = prepared;
    const manager = this.engine.manager(provider, cache, options.refresh ? { cachePolicy: 'refresh' } : {});
    const tally = new RecordTally();
    const rows = new Set(ids);
    const label = `${path.basename(input)} (${rows.size === 1 ? [...rows][0] : `${rows.size} rows`})`;
    const summary = await this.withProgress(label, manager.stats, tally, undefined, (signal) =>
      mod.rerunFailed({ input, out, manager, reader, signal, rows, onRecord: (r) => tally.add(r) }),
    );
    if (summary) {
      this.lastSummary = summary;
      this.log.info(`Batch rerun of ${rows.size} rows: ${path.basename(input)}: ${runLine(summary, tally)} → ${summary.partial ?? summary.out}`);
    }
    return summary;
  }

  /**
   * One progress notification for the whole run: `prepare` (the estimate and its question) inside
   * it, then the run. Returns undefined when `prepare` said no or the run threw (said in an error
   * message).
   */
  private async withProgress(
    label: string,
    stats: StatsSource,
    tally: RecordTally,
    prepare: Prepare | undefined,
    work: (signal: AbortSignal) => Promise<BatchSummary>,
    begin: () => BeginOptions = () => ({}),
  ): Promise<BatchSummary | undefined> {
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `FastLLM: ${label}`, cancellable: true },
        async (progress, token) => {
          if (prepare) {
            const controller = new AbortController();
            const sub = token.onCancellationRequested(() => controller.abort());
            try {
              if (!(await prepare(progress, controller.signal)) || token.isCancellationRequested) return undefined;
            } finally {
              sub.dispose();
            }
          }
          const handle = this.runs.begin(label, 'batch', stats, begin());
          let summary: BatchSummary | undefined;
          token.onCancellationRequested(() => handle.cancel());
          let reported = 0;
          const tick = () => {
            const s = stats.snapshot();
            const fraction = s.total ? Math.min(1, s.done / s.total) : 0;
            const increment = Math.max(0, fraction * 100 - reported);
            reported += increment;
            const waiting = this.engine.waitingForKey;
            progress.report({ increment, message: waiting ? `paused: ${waiting} asks for an API key` : progressLine(s) });
          };
          const timer = setInterval(tick, 250);
          try {
            summary = await work(handle.signal);
            return summary;
          } finally {
            clearInterval(timer);
            handle.end(summary ? endingOf(summary, tally) : undefined);
          }
        },
      );
    } catch (e) {
      const message = this.log.mask((e as Error).message);
      this.log.error(`Batch ${label} failed: ${message}`);
      void vscode.window.showErrorMessage(`FastLLM: ${label}: ${message}`);
      return undefined;
    }
  }

  /** Remembers, reports and opens (in the background) the results of a finished run. */
  private async finished(summary: BatchSummary, tally: RecordTally, target: ResultsTarget): Promise<void> {
    this.lastSummary = summary;
    const remembered = this.memento.get<[string, string][]>(RUNS_KEY, []).filter(([out]) => out !== summary.out);
    await this.memento.update(RUNS_KEY, [[summary.out, summary.input], ...remembered].slice(0, MAX_REMEMBERED));
    const outcome = outcomeOf(summary, tally);
    const line = runLine(summary, tally);
    const why = outcome.failures.length ? failureText(outcome.failures) : '';
    const state = summary.stopped ? 'stopped' : summary.cancelled ? 'cancelled' : 'done';
    // The run's records did not replace the results file (it stopped, or was cancelled over a previous one).
    const shown = summary.partial ?? summary.out;
    const partial = summary.partial ? ` Partial results are in ${path.basename(summary.partial)}; ${path.basename(summary.out)} was kept as it was.` : '';
    this.log.info(`Batch ${state}: ${path.basename(summary.input)}: ${line} → ${shown}`);
    if (why) this.log.warn(`Failures in ${path.basename(summary.input)}: ${this.log.mask(why)}`);

    // Never in front of what the user is doing: a background tab, and no focus.
    if (this.config.openResultsWhenDone) await this.openInBackground(shown);

    if (summary.stopped) {
      const stop = STOP_ACTIONS[summary.stopped.code] ?? STOP_ACTIONS.auth_failed!;
      if (summary.stopped.code === 'auth_failed') this.engine.keyRejected('The server rejected the API key');
      const text = `FastLLM: the run stopped: ${this.log.mask(summary.stopped.message)} (${line}).${partial}`;
      this.lastNotice = { text, actions: stop.actions };
      const showStop = summary.stopped.code === 'rate_limited' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
      void showStop(text, ...stop.actions).then((pick) => pick && stop.run(pick, summary));
      return;
    }
    const open = this.resultsAction(summary.out);
    const actions = [
      ...(open ? [open] : []),
      ...(outcome.failed + outcome.unfinished > 0 ? ['Rerun Failed Rows'] : []),
      ...(target.kept ? ['Compare'] : []),
    ];
    const kept = target.kept ? ` Written to ${path.basename(summary.out)}: ${path.basename(target.kept.file)} keeps the answers of ${target.kept.model}.` : '';
    const reasons = why ? ` ${this.log.mask(why)}.` : '';
    const show = outcome.failed > 0 ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const text = `FastLLM: ${summary.cancelled ? 'cancelled: ' : ''}${line}.${reasons}${kept}${partial}`;
    this.lastNotice = { text, actions };
    void show(text, ...actions).then((pick) => {
      if (pick === 'Open Results' || pick === 'Show Results') void this.reveal(shown);
      if (pick === 'Rerun Failed Rows') void vscode.commands.executeCommand('fastllm.rerunFailed', vscode.Uri.file(summary.out));
      if (pick === 'Compare' && target.kept) {
        const files = [vscode.Uri.file(target.kept.file), vscode.Uri.file(summary.out)];
        void vscode.commands.executeCommand(COMPARE_COMMAND, files[0], files);
      }
    });
  }

  /** Opens `file` in a tab behind the active one: the user's editor keeps its place and the keyboard. */
  private async openInBackground(file: string): Promise<void> {
    if (!existsSync(file)) return;
    try {
      // `background` (VS Code's `inactive`) is an option of the vscode.open command only.
      await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file), { background: true, preview: false, preserveFocus: true });
    } catch (e) {
      this.log.warn(`Could not open ${file}: ${(e as Error).message}`);
    }
  }

  /** Brings the results to the front, when the user asks for them. */
  private async reveal(file: string): Promise<void> {
    try {
      await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file), { preview: false });
    } catch (e) {
      this.log.warn(`Could not open ${file}: ${(e as Error).message}`);
    }
  }

  /** The toast's button for the results: none when they are in view, *Show* when in a tab behind another, else *Open*. */
  private resultsAction(file: string): 'Open Results' | 'Show Results' | undefined {
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => tabFile(t) === file);
    if (tabs.length === 0) return 'Open Results';
    return tabs.some((t) => t.isActive) ? undefined : 'Show Results';
  }

  /** `<name>.results.jsonl` beside the input, or in `fastllm.results.location`. */
  resultsPath(input: string): string {
    const name = `${path.basename(input, path.extname(input))}.results.jsonl`;
    const location = this.config.resultsLocation;
    if (!location) return path.join(path.dirname(input), name);
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(input))?.uri.fsPath ?? path.dirname(input);
    return path.join(path.resolve(folder, location), name);
  }

  /**
   * Asks before the first run of a file (unless `fastllm.confirm.firstRun` is off), and before a
   * batch at or above the row threshold, above the cost threshold, or whose cost is unknown (a
   * model without a price, on a server that is not this machine's). The estimate runs
   * inside the run's progress notification: one notification from start to end.
   */
  private async confirm(
    input: string,
    rows: number,
    reader: ReaderOptions,
    cache: CacheProvider | undefined,
    scope: { baseURL: string },
    out: string,
    progress: vscode.Progress<{ message?: string }>,
    signal: AbortSignal,
    onEstimate: (estimate: BatchEstimate) => void = () => undefined,
  ): Promise<boolean> {
    const rowLimit = this.config.confirmRowThreshold;
    const costLimit = this.config.confirmCostThreshold;
    const bigBatch = rowLimit > 0 && rows >= rowLimit;
    // The first run of a file asks whatever the thresholds (fastllm.confirm.firstRun).
    const confirmed = this.memento.get<string[]>(CONFIRMED_KEY, []);
    const firstRun = this.config.confirmFirstRun && !confirmed.includes(input);
    if (!bigBatch && costLimit === 0 && !firstRun) return true;
    const mod = this.engine.load();
    let estimate: BatchEstimate | undefined;
    progress.report({ message: 'estimating…' });
    try {
      estimate = await mod.estimateBatch(input, reader, {
        scope,
        cache,
        prices: this.engine.prices(),
        signal,
        onProgress: (n) => progress.report({ message: `estimating… ${n}/${rows} rows` }),
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError' || signal.aborted) return false;
      this.log.warn(`Estimate failed: ${(e as Error).message}`);
    }
    if (estimate) onEstimate(estimate);
    // A model with no price costs an unknown amount, not $0 (on a local server it costs nothing).
    const question = mod.runQuestion(rows, estimate, { rowThreshold: rowLimit, costThreshold: costLimit, localServer: isLoopbackUrl(scope.baseURL) });
    const { unknownCost } = question;
    if (!question.bigBatch && !question.costly && !unknownCost && !firstRun) return true;
    const cost = !estimate
      ? ''
      : unknownCost
        ? `Estimated cost: unknown: no price for ${estimate.unpricedModels.join(', ')} (${estimate.unpricedRows.toLocaleString()} rows)` +
          `${estimate.cost > 0 ? `, ${formatCost(estimate.cost)} for the rest` : ''}. Add it to fastllm.prices to see an estimate.`
        : `Estimated cost: ${formatCost(estimate.cost)}`;
    const detail = estimate
      ? [
          `Rows: ${rows.toLocaleString()}${estimate.invalid ? ` (${estimate.invalid} cannot be read)` : ''}`,
          `Estimated tokens: ${compact(estimate.promptTokens)} prompt + up to ${compact(estimate.completionTokens)} completion`,
          `Expected cache hits: ${estimate.cacheHits.toLocaleString()} (${rows ? Math.round((estimate.cacheHits / rows) * 100) : 0}%)`,
          cost,
          `Results: ${out}`,
        ].join('\n')
      : `Rows: ${rows.toLocaleString()}`;
    const why = unknownCost ? ' Their cost is unknown.' : firstRun && !question.bigBatch && !question.costly ? ' (The first run of this file.)' : '';
    const pick = await vscode.window.showWarningMessage(`Run ${rows.toLocaleString()} prompts from ${path.basename(input)}?${why}`, { modal: true, detail }, 'Run');
    if (pick !== 'Run') return false;
    if (firstRun) await this.memento.update(CONFIRMED_KEY, [...confirmed.filter((f) => f !== input), input].slice(-MAX_CONFIRMED));
    return true;
  }
}

/** The file a tab shows (text editor, or a custom editor such as a results view), if any. */
function tabFile(tab: vscode.Tab): string | undefined {
  const input = tab.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri.fsPath;
  return undefined;
}
