/**
 * The composition root: builds the extension's objects and hands their disposables to VS Code.
 * Nothing heavy happens here: the engine (openai SDK, sqlite3, tokenizer) lives in dist/engine.js
 * and is loaded by {@link Engine.load} on the first run, cache look-up or panel that needs it.
 */
import * as vscode from 'vscode';
import { clearCache, setApiKey } from './vscode/actions';
import { AnswersDocument } from './vscode/answersDocument';
import type { FastLLMApi } from './vscode/api';
import { BatchCommand } from './vscode/batchCommand';
import { BatchJobsController } from './vscode/batchJobs';
import { registerCommands } from './vscode/commands';
import { CompareController } from './vscode/compare';
import { DemoCommand } from './vscode/demo/tryDemo';
import { ComparePanel } from './vscode/comparePanel';
import { Config } from './vscode/config';
import { Engine } from './vscode/engine';
import { KeyStatus } from './vscode/keyStatus';
import { Log } from './vscode/log';
import { CacheBrowserPanel } from './vscode/panels/cacheBrowserPanel';
import { StatsPanel } from './vscode/panels/statsPanel';
import { ProfileCommands } from './vscode/profileCommands';
import { RunTracker } from './vscode/runs';
import { NewPromptFileCommand } from './vscode/batch/newPromptFile';
import { SeveralModelsCommand } from './vscode/batch/severalModels';
import { ResultsEditorProvider } from './vscode/results/resultsEditor';
import { Secrets } from './vscode/secrets';
import { SelectionCommand } from './vscode/selectionCommand';
import { StatusBar } from './vscode/statusBar';
import { WorkspaceUsage } from './vscode/usage';

/** Set by {@link activate}: what {@link deactivate} waits for. */
let stop: (() => Promise<void>) | undefined;

export function activate(context: vscode.ExtensionContext): FastLLMApi {
  const started = performance.now();
  const own = <T extends vscode.Disposable>(d: T): T => {
    context.subscriptions.push(d);
    return d;
  };
  // Not owned: closed by `stop`, last, so that what the runs say as they end is in the log.
  const log = new Log();
  const config = own(new Config());
  const secrets = own(new Secrets(context.secrets, log, (baseUrl) => config.profileKeyFor(baseUrl)));
  const runs = own(new RunTracker(context.workspaceState));
  const engine = own(new Engine(context, config, secrets, log, runs));
  const keys = own(new KeyStatus(config, secrets));
  const settingNames = Object.keys(
    (context.extension?.packageJSON as { contributes?: { configuration?: { properties?: object } } } | undefined)?.contributes?.configuration?.properties ?? {},
  );
  const usage = own(new WorkspaceUsage(context.workspaceState, settingNames, context.storageUri ? engine.cachePath : undefined));
  own(runs.onDidChange(() => runs.current && usage.markUsed()));
  const statusBar = own(new StatusBar(runs, keys, config, usage));
  const profiles = new ProfileCommands(config, secrets, engine, log);
  const compare = own(new CompareController(context.extensionUri, config, log));
  own(new BatchJobsController(context.workspaceState, engine, config, secrets, log));
  const batch = new BatchCommand(engine, config, runs, log, context.workspaceState);
  own(new ResultsEditorProvider(context.extensionUri, engine, config, context.workspaceState, log, (u, ids, o) => batch.rerunRows(u, ids, o)));
  own(new NewPromptFileCommand());
  own(new SeveralModelsCommand(engine, config, runs, log, context.workspaceState, (i) => batch.resultsPath(i)));
  const selection = new SelectionCommand(engine, config, runs, log, own(new AnswersDocument()));
  const demo = new DemoCommand(context.extensionUri.fsPath, context.globalStorageUri.fsPath, engine, batch, log);
  const uri = context.extensionUri;
  const showStats = () => void StatsPanel.show(uri, runs, log);
  const showCache = () => void CacheBrowserPanel.show(uri, engine, config, runs, log);

  context.subscriptions.push(
    ...registerCommands({
      runBatch: (u?: vscode.Uri, options?: unknown) => batch.run(u, options),
      runSelection: () => selection.run(),
      showStats,
      openCacheBrowser: showCache,
      clearCache: (options?: { confirm?: boolean }) => clearCache(engine, log, options),
      setApiKey: (key?: unknown) => setApiKey(secrets, config, key),
      cancelRun: () => runs.cancelAll(),
      rerunFailed: (u?: vscode.Uri) => batch.rerunFailed(u),
      showLog: () => log.show(),
      selectProfile: (name?: unknown) => profiles.selectProfile(name),
      selectModel: (model?: unknown) => profiles.selectModel(model),
      tryDemo: () => demo.run(),
    }, () => usage.markUsed()),
    vscode.window.registerWebviewPanelSerializer(StatsPanel.viewType, {
      deserializeWebviewPanel: async (panel) => StatsPanel.revive(panel, uri, runs, log),
    }),
    vscode.window.registerWebviewPanelSerializer(ComparePanel.viewType, {
      deserializeWebviewPanel: async (panel, state: unknown) => compare.revive(panel, state),
    }),
    vscode.window.registerWebviewPanelSerializer(CacheBrowserPanel.viewType, {
      deserializeWebviewPanel: async (panel, state: unknown) => CacheBrowserPanel.revive(panel, state, uri, engine, config, runs, log),
    }),
    config.onDidChange(() => log.info(`Settings changed: ${config.describe()}`)),
  );

  let stopping: Promise<void> | undefined;
  stop = () =>
    (stopping ??= (async () => {
      const cancelled = runs.cancelAll();
      if (cancelled > 0) log.info(`Stopping: ${cancelled} run(s) cancelled; the cache closes once they have ended.`);
      await engine.closeWhenIdle().finally(() => log.dispose());
    })());
  // Also when VS Code disposes the subscriptions without calling deactivate.
  own({ dispose: () => void stop?.() });

  log.info(`FastLLM activated in ${Math.round(performance.now() - started)} ms. Settings: ${config.describe()}`);
  return {
    runBatchFile: (u, options) => batch.run(u, options),
    rerunFailed: (u) => batch.rerunFailed(u),
    runSelection: () => selection.run(),
    get lastSummary() {
      return batch.lastSummary;
    },
    get lastBatchNotice() {
      return batch.lastNotice;
    },
    stats: () => runs.view(),
    statusBarText: () => statusBar.text,
    statusBarVisible: () => statusBar.visible,
    statusBarTooltip: () => statusBar.tooltipText,
    isRunning: () => runs.running,
    cancelRun: () => runs.cancelAll(),
    cachePath: () => engine.cachePath,
    cacheCount: async (filter) => (await engine.cache()).count(filter),
    clearCache: async () => (await clearCache(engine, log, { confirm: false })) ?? 0,
    setApiKey: (key) => secrets.set(config.baseUrl, key),
    engineLoaded: () => engine.loaded,
  };
}

/**
 * Cancels the runs in progress and resolves once they have ended and the cache is closed. VS Code
 * disposes the subscriptions right after calling this, and waits up to 5 s for the promise before
 * the extension host exits; a host killed sooner loses nothing either: the cache's journal keeps
 * every answer (see src/core/cache/sqliteJournal.ts).
 */
export function deactivate(): Promise<void> | undefined {
  return stop?.();
}
