/**
 * Batch API mode in the editor: submit an input file as OpenAI Batch jobs, follow them in the
 * "FastLLM Batch Jobs" tree (status, counts, created, expiry), cancel them, and fetch their results.
 *
 * The list survives restarts: `workspaceState` keeps the state files' paths, and each state file
 * (`<input>.batch.json`, the same one the CLI writes) keeps the jobs. Polling runs only while some
 * job is not final, with back-off: the interval doubles while nothing changes, up to 10 minutes.
 *
 * The Batch client is plain `fetch` (src/core/batchApi/client.ts), so polling does not load the
 * engine bundle; submitting and fetching use the engine for the provider's scope and the cache.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { defaultResultsPath } from '../core/batch/writer';
import {
  allTerminal,
  BatchApiClient,
  cancelJobs,
  fetchResults,
  readState,
  refreshJobs,
  statePathFor,
  submitBatch,
  writeState,
  type BatchState,
  type FetchSummary,
  type JobState,
} from '../core/batchApi';
import { batchJobsConfig } from './batchJobsConfig';
import type { Config } from './config';
import { Disposable } from './dispose';
import type { Engine } from './engine';
import type { Log } from './log';
import type { Secrets } from './secrets';

/** Command ids of Batch API mode (titles in package.json, category FastLLM). */
export const BATCH_JOB_COMMANDS = {
  /** Submit Batch Job… `(uri?: Uri, options?: { maxRequests?: number })` → BatchState | undefined */
  submit: 'fastllm.submitBatchJob',
  /** Show Batch Jobs: focuses the tree */
  show: 'fastllm.showBatchJobs',
  /** Refresh Batch Jobs `()` → BatchState[] */
  refresh: 'fastllm.refreshBatchJobs',
  /** Cancel Batch Job `(item?: tree item | input Uri | state path)` → job ids asked to cancel */
  cancel: 'fastllm.cancelBatchJob',
  /** Fetch Batch Results `(item?: …)` → FetchSummary | undefined */
  fetch: 'fastllm.fetchBatchResults',
  /** Remove from List `(item?: …)` */
  forget: 'fastllm.forgetBatchJob',
} as const;

export const BATCH_JOBS_VIEW = 'fastllm.batchJobs';
const STORE_KEY = 'fastllm.batchJobs.statePaths';
const MAX_POLL_MS = 600_000;

type Node = { type: 'submission'; statePath: string; state: BatchState } | { type: 'job'; statePath: string; job: JobState };

const when = (secs: number | null) => (secs ? new Date(secs * 1000).toLocaleString() : '—');

export class BatchJobsController extends Disposable implements vscode.TreeDataProvider<Node> {
  private readonly changed = this._register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private states = new Map<string, BatchState>();
  private timer: NodeJS.Timeout | undefined;
  private intervalMs = batchJobsConfig.pollSeconds * 1000;
  private polling = false;

  constructor(
    private readonly store: vscode.Memento,
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly secrets: Secrets,
    private readonly log: Log,
  ) {
    super();
    this._register(vscode.window.createTreeView(BATCH_JOBS_VIEW, { treeDataProvider: this, showCollapseAll: true }));
    this._register(vscode.commands.registerCommand(BATCH_JOB_COMMANDS.submit, (uri?: vscode.Uri, o?: { maxRequests?: number }) => this.submit(uri, o)));
    this._register(vscode.commands.registerCommand(BATCH_JOB_COMMANDS.show, () => vscode.commands.executeCommand(`${BATCH_JOBS_VIEW}.focus`)));
    this._register(vscode.commands.registerCommand(BATCH_JOB_COMMANDS.refresh, () => this.refresh(true)));
    this._register(vscode.commands.registerCommand(BATCH_JOB_COMMANDS.cancel, (t?: unknown) => this.cancel(t)));
    this._register(vscode.commands.registerCommand(BATCH_JOB_COMMANDS.fetch, (t?: unknown) => this.fetch(t)));
    this._register(vscode.commands.registerCommand(BATCH_JOB_COMMANDS.forget, (t?: unknown) => this.forget(t)));
    this._register({ dispose: () => clearTimeout(this.timer) });
    void this.load();
  }

  // ---- tree ----

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.type === 'submission') {
      const s = node.state;
      const item = new vscode.TreeItem(basename(s.input), s.jobs.length > 0 ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
      const ended = s.jobs.filter((j) => ['completed', 'expired', 'failed', 'cancelled'].includes(j.status)).length;
      item.description = s.fetched ? 'results written' : s.jobs.length === 0 ? 'all rows cached' : `${ended}/${s.jobs.length} jobs ended`;
      item.tooltip = new vscode.MarkdownString(
        `**${s.input}**\n\n${s.rows} rows: ${s.cachedRows} cached, ${s.repeatRows} repeats, ${s.invalidRows} invalid, the rest in ${s.jobs.length} job(s).\n\n` +
          `Submitted ${new Date(s.submittedAt).toLocaleString()}${s.fetched ? `\n\nResults: ${s.fetched.out}` : ''}`,
      );
      item.iconPath = new vscode.ThemeIcon(s.fetched ? 'pass' : allTerminal(s) ? 'cloud-download' : 'loading~spin');
      item.contextValue = allTerminal(s) ? 'fastllm.batchSubmission.ended' : 'fastllm.batchSubmission.active';
      item.resourceUri = vscode.Uri.file(s.input);
      item.id = node.statePath;
      return item;
    }
    const j = node.job;
    const item = new vscode.TreeItem(j.id, vscode.TreeItemCollapsibleState.None);
    item.description = `${j.status} · ${j.counts.completed}/${j.counts.total} done${j.counts.failed ? `, ${j.counts.failed} failed` : ''}`;
    item.tooltip = new vscode.MarkdownString(
      `**${j.id}** (${j.kind}, ${j.model})\n\nStatus: ${j.status}\n\nRequests: ${j.requests}, ${j.counts.completed} done, ${j.counts.failed} failed\n\n` +
        `Created: ${when(j.createdAt)}\n\nExpires: ${when(j.expiresAt)}${j.errors ? `\n\nErrors: ${j.errors}` : ''}`,
    );
    const icons: Record<string, string> = { completed: 'check', failed: 'error', expired: 'watch', cancelled: 'circle-slash', cancelling: 'loading~spin' };
    item.iconPath = new vscode.ThemeIcon(icons[j.status] ?? 'sync~spin');
    item.contextValue = ['completed', 'expired', 'failed', 'cancelled'].includes(j.status) ? 'fastllm.batchJob.ended' : 'fastllm.batchJob.active';
    item.id = `${node.statePath}#${j.id}`;
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      return [...this.states.entries()]
        .sort((a, b) => b[1].submittedAt - a[1].submittedAt)
        .map(([statePath, state]) => ({ type: 'submission', statePath, state }));
    }
    if (node.type === 'submission') return node.state.jobs.map((job) => ({ type: 'job', statePath: node.statePath, job }));
    return [];
  }

  // ---- commands ----

  /** Submits an input file (asked for when not given); returns its state. */
  async submit(uri?: vscode.Uri, options: { maxRequests?: number } = {}): Promise<BatchState | undefined> {
    const target =
      uri ??
      (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Batch input': ['txt', 'jsonl', 'ndjson', 'csv'] }, title: 'FastLLM: Submit Batch Job' }))?.[0];
    if (!target) return undefined;
    const provider = await this.engine.provider();
    if (!provider) return undefined;
    try {
      const client = await this.client(provider.scope.baseURL);
      const cache = await this.engine.runCache();
      const statePath = statePathFor(target.fsPath);
      const state = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `FastLLM: submitting ${basename(target.fsPath)} as Batch jobs…`, cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return submitBatch({
            input: target.fsPath,
            reader: { kind: 'chat', template: this.engine.readerOptions().template, defaults: this.engine.readerOptions().defaults },
            client,
            scope: provider.scope,
            cache,
            maxRequests: options.maxRequests ?? batchJobsConfig.maxRequests,
            maxBytes: batchJobsConfig.maxBytes,
            statePath,
            signal: abort.signal,
            logger: this.log,
          });
        },
      );
      await this.remember(statePath, state);
      const sent = state.rows - state.cachedRows - state.invalidRows - state.repeatRows;
      this.log.info(`Batch submitted: ${state.input}: ${sent} rows in ${state.jobs.length} job(s) (${state.jobs.map((j) => j.id).join(', ')}), ${state.cachedRows} cached.`);
      void vscode.window.showInformationMessage(
        state.jobs.length > 0
          ? `FastLLM: ${sent} rows sent as ${state.jobs.length} Batch job(s); ${state.cachedRows} answered by the cache. Results within 24 h.`
          : `FastLLM: all ${state.rows} rows are answered by the cache; no job needed.`,
        'Show Batch Jobs',
      ).then((pick) => pick && vscode.commands.executeCommand(BATCH_JOB_COMMANDS.show));
      this.schedule(true);
      return state;
    } catch (e) {
      const msg = this.log.mask((e as Error).message);
      this.log.error(`Batch submit failed: ${msg}`);
      void vscode.window.showErrorMessage(`FastLLM: could not submit the batch: ${msg}`);
      return undefined;
    } finally {
      provider.close?.();
    }
  }

  /** Polls every submission not yet ended; with `manual`, also resets the back-off. */
  async refresh(manual = false): Promise<BatchState[]> {
    if (manual) this.intervalMs = batchJobsConfig.pollSeconds * 1000;
    let changed = false;
    for (const [statePath, state] of this.states) {
      if (allTerminal(state)) continue;
      try {
        const client = await this.client(state.baseURL);
        if (await refreshJobs(state, client)) {
          changed = true;
          await writeState(statePath, state);
        }
        if (allTerminal(state)) await this.ended(statePath, state);
      } catch (e) {
        this.log.warn(`Could not refresh batch jobs of ${state.input}: ${this.log.mask((e as Error).message)}`);
      }
    }
    this.changed.fire(undefined);
    this.intervalMs = changed ? batchJobsConfig.pollSeconds * 1000 : Math.min(MAX_POLL_MS, this.intervalMs * 2);
    return [...this.states.values()];
  }

  async cancel(target?: unknown): Promise<string[]> {
    const found = await this.pick(target, (s) => !allTerminal(s), 'cancel');
    if (!found) return [];
    const client = await this.client(found.state.baseURL);
    const asked = await cancelJobs(found.state, client);
    await writeState(found.statePath, found.state);
    this.changed.fire(undefined);
    this.log.info(`Batch cancel asked for ${asked.join(', ') || 'nothing'}.`);
    this.schedule(true);
    return asked;
  }

  /** Writes the results of a submission whose jobs have all ended. */
  async fetch(target?: unknown): Promise<FetchSummary | undefined> {
    const found = await this.pick(target, (s) => allTerminal(s), 'fetch');
    if (!found) return undefined;
    const { statePath, state } = found;
    if (!allTerminal(state)) {
      void vscode.window.showWarningMessage(`FastLLM: the jobs of ${basename(state.input)} have not ended yet.`);
      return undefined;
    }
    try {
      const summary = await fetchResults({
        state,
        statePath,
        client: await this.client(state.baseURL),
        cache: await this.engine.runCache(),
        cacheTtlMs: this.config.cacheTtlMs,
        out: defaultResultsPath(state.input),
        prices: this.engine.prices(),
        logger: this.log,
      });
      this.changed.fire(undefined);
      const codes = Object.entries(summary.errors).map(([c, n]) => `${n} ${c}`).join(', ');
      this.log.info(`Batch results: ${summary.out}: ${summary.succeeded} ok, ${summary.failed} failed${codes ? ` (${codes})` : ''}; $${summary.stats.cost.spent.toFixed(4)} at batch prices.`);
      if (this.config.openResultsWhenDone) await vscode.window.showTextDocument(vscode.Uri.file(summary.out), { preview: true });
      return summary;
    } catch (e) {
      const msg = this.log.mask((e as Error).message);
      this.log.error(`Batch fetch failed: ${msg}`);
      void vscode.window.showErrorMessage(`FastLLM: could not fetch the batch results: ${msg}`);
      return undefined;
    }
  }

  async forget(target?: unknown): Promise<void> {
    const found = await this.pick(target, () => true, 'remove from the list');
    if (!found) return;
    this.states.delete(found.statePath);
    await this.store.update(STORE_KEY, [...this.states.keys()]);
    this.changed.fire(undefined);
  }

  // ---- internals ----

  private async load(): Promise<void> {
    for (const path of this.store.get<string[]>(STORE_KEY, [])) {
      if (!existsSync(path)) continue;
      try {
        this.states.set(path, await readState(path));
      } catch (e) {
        this.log.warn(`Ignoring batch state ${path}: ${(e as Error).message}`);
      }
    }
    this.changed.fire(undefined);
    this.schedule(true);
  }

  private async remember(statePath: string, state: BatchState): Promise<void> {
    this.states.set(statePath, state);
    await this.store.update(STORE_KEY, [...this.states.keys()]);
    this.changed.fire(undefined);
  }

  /** When every job of a submission has ended: fetch, or offer to. */
  private async ended(statePath: string, state: BatchState): Promise<void> {
    if (state.fetched) return;
    if (batchJobsConfig.fetchWhenDone) {
      await this.fetch(statePath);
      return;
    }
    void vscode.window.showInformationMessage(`FastLLM: the Batch jobs of ${basename(state.input)} have ended.`, 'Fetch Results').then((pick) => {
      if (pick) void this.fetch(statePath);
    });
  }

  /** Polls again after the current interval, while any job is not final. */
  private schedule(reset = false): void {
    clearTimeout(this.timer);
    if (this.disposed) return;
    if (reset) this.intervalMs = batchJobsConfig.pollSeconds * 1000;
    if ([...this.states.values()].every(allTerminal)) return;
    this.timer = setTimeout(() => {
      if (this.polling) return;
      this.polling = true;
      void this.refresh()
        .finally(() => {
          this.polling = false;
        })
        .then(() => this.schedule());
    }, this.intervalMs);
  }

  private async client(baseURL: string): Promise<BatchApiClient> {
    return new BatchApiClient({
      apiKey: (await this.secrets.get(baseURL)) ?? '',
      baseURL,
      organization: this.config.organization,
      project: this.config.project,
      headers: this.config.extraHeaders,
    });
  }

  /** Resolves a tree node, an input Uri or a state path; asks with a quick pick when none is given. */
  private async pick(target: unknown, fits: (s: BatchState) => boolean, verb: string): Promise<{ statePath: string; state: BatchState } | undefined> {
    let statePath: string | undefined;
    if (target && typeof target === 'object' && 'statePath' in target) statePath = String((target as Node).statePath);
    else if (target instanceof vscode.Uri) statePath = target.fsPath.endsWith('.batch.json') ? target.fsPath : statePathFor(target.fsPath);
    else if (typeof target === 'string') statePath = target.endsWith('.batch.json') ? target : statePathFor(target);
    if (!statePath) {
      const items = [...this.states.entries()].filter(([, s]) => fits(s)).map(([p, s]) => ({ label: basename(s.input), description: s.input, statePath: p }));
      if (items.length === 0) {
        void vscode.window.showInformationMessage(`FastLLM: no batch submission to ${verb}.`);
        return undefined;
      }
      statePath = items.length === 1 ? items[0]!.statePath : (await vscode.window.showQuickPick(items, { title: `FastLLM: ${verb}` }))?.statePath;
      if (!statePath) return undefined;
    }
    let state = this.states.get(statePath);
    if (!state) {
      if (!existsSync(statePath)) {
        void vscode.window.showWarningMessage(`FastLLM: no batch state at ${statePath}.`);
        return undefined;
      }
      state = await readState(statePath);
      await this.remember(statePath, state);
    }
    return { statePath, state };
  }
}
