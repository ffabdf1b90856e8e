/**
 * Batch API mode in the editor: submit an input file as OpenAI Batch API jobs, follow them in the
 * "FastLLM Batch API Jobs" view (status, counts, created, expiry), cancel them, and fetch their
 * results.
 *
 * The list survives restarts: `workspaceState` keeps the state files' paths, and each state file
 * (`<input>.batch.json`, the same one the CLI writes) keeps the jobs. Polling runs only while some
 * job is not final, with back-off: the interval doubles while nothing changes, up to 10 minutes,
 * and a failed poll is tried again with growing waits.
 *
 * A state file is a file in the workspace, so it is not trusted blindly (BatchJobsGuard): nothing
 * is polled in an untrusted workspace, a state naming another server than `fastllm.baseUrl` is
 * used only after the user says so, and one whose input or results are outside the workspace is
 * refused.
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
  isTerminal,
  nextPollInterval,
  readState,
  refreshJobs,
  statePathFor,
  writeState,
  type BatchState,
  type FetchSummary,
} from '../core/batchApi';
import { backoffMs } from '../core/retry';
import { BatchJobsGuard } from './batchJobsGuard';
import { submitFile, type SubmitOptions } from './batchJobsSubmit';
import { batchJobsItem, type BatchJobsNode } from './batchJobsTree';
import { batchJobsConfig } from './batchJobsConfig';
import type { Config } from './config';
import { Disposable } from './dispose';
import type { Engine } from './engine';
import type { Log } from './log';
import type { Secrets } from './secrets';

/** Command ids of Batch API mode (titles in package.json, category FastLLM). */
export const BATCH_JOB_COMMANDS = {
  /** Submit Batch API Job… `(uri?: Uri, options?: SubmitOptions)` → BatchState | undefined */
  submit: 'fastllm.submitBatchJob',
  /** Show Batch API Jobs: shows and focuses the view */
  show: 'fastllm.showBatchJobs',
  /** Refresh Batch API Jobs `()` → BatchState[] */
  refresh: 'fastllm.refreshBatchJobs',
  /**
   * Cancel Batch API Job `(item?: job or submission node | input Uri | state path, options?: { confirm?: boolean })`:
   * a job node cancels that job, anything else every running job of the submission → job ids asked to cancel
   */
  cancel: 'fastllm.cancelBatchJob',
  /** Cancel All Batch API Jobs of a submission `(item?, options?)` → job ids asked to cancel */
  cancelAll: 'fastllm.cancelBatchSubmission',
  /** Fetch Batch API Results `(item?: …)` → FetchSummary | undefined */
  fetch: 'fastllm.fetchBatchResults',
  /** Remove from Batch API Jobs List `(item?: …, options?: { confirm?: boolean })` → true if removed */
  forget: 'fastllm.forgetBatchJob',
} as const;

export const BATCH_JOBS_VIEW = 'fastllm.batchJobs';
/** Context key: the view is shown once the workspace has submissions, or the user asked for it. */
const VISIBLE_KEY = 'fastllm.batchJobs.visible';
const STORE_KEY = 'fastllm.batchJobs.statePaths';
const MAX_POLL_MS = 600_000;

type Target = { statePath: string; state: BatchState; jobId?: string };

export class BatchJobsController extends Disposable implements vscode.TreeDataProvider<BatchJobsNode> {
  private readonly changed = this._register(new vscode.EventEmitter<BatchJobsNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private states = new Map<string, BatchState>();
  private readonly guard: BatchJobsGuard;
  private timer: NodeJS.Timeout | undefined;
  private intervalMs = batchJobsConfig.pollSeconds * 1000;
  /** State files already reported as unreadable, so that each poll does not repeat it. */
  private readonly unreadable = new Set<string>();
  /** Polls in a row that failed, for the back-off of the next one. */
  private failures = 0;
  private polling = false;
  private shownByUser = false;

  constructor(
    private readonly store: vscode.Memento,
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly secrets: Secrets,
    private readonly log: Log,
  ) {
    super();
    this.guard = new BatchJobsGuard(store, config, log);
    this._register(vscode.window.createTreeView(BATCH_JOBS_VIEW, { treeDataProvider: this, showCollapseAll: true }));
    const register = (id: string, run: (...args: never[]) => unknown) => this._register(vscode.commands.registerCommand(id, run));
    register(BATCH_JOB_COMMANDS.submit, (uri?: vscode.Uri, o?: SubmitOptions) => this.submit(uri, o));
    register(BATCH_JOB_COMMANDS.show, () => this.show());
    register(BATCH_JOB_COMMANDS.refresh, () => this.refresh(true));
    register(BATCH_JOB_COMMANDS.cancel, (t?: unknown, o?: { confirm?: boolean }) => this.cancel(t, false, o));
    register(BATCH_JOB_COMMANDS.cancelAll, (t?: unknown, o?: { confirm?: boolean }) => this.cancel(t, true, o));
    register(BATCH_JOB_COMMANDS.fetch, (t?: unknown) => this.fetch(t));
    register(BATCH_JOB_COMMANDS.forget, (t?: unknown, o?: { confirm?: boolean }) => this.forget(t, o));
    this._register({ dispose: () => clearTimeout(this.timer) });
    // Restricted Mode polls nothing; trust granted later starts the polling.
    this._register(vscode.workspace.onDidGrantWorkspaceTrust(() => this.schedule(true)));
    this._register(config.onDidChange(() => this.changed.fire(undefined)));
    void this.load();
  }

  // ---- tree ----

  getTreeItem(node: BatchJobsNode): vscode.TreeItem {
    return batchJobsItem(node, this.guard.problem(node.statePath, node.state));
  }

  getChildren(node?: BatchJobsNode): BatchJobsNode[] {
    if (!node) {
      return [...this.states.entries()]
        .sort((a, b) => b[1].submittedAt - a[1].submittedAt)
        .map(([statePath, state]) => ({ type: 'submission', statePath, state }));
    }
    if (node.type === 'submission') return node.state.jobs.map((job) => ({ type: 'job', statePath: node.statePath, job, state: node.state }));
    return [];
  }

  // ---- commands ----

  private async show(): Promise<void> {
    this.shownByUser = true;
    await this.updateVisibility();
    await vscode.commands.executeCommand(`${BATCH_JOBS_VIEW}.focus`);
  }

  /** Submits an input file (asked for when not given); returns its state. */
  async submit(uri?: vscode.Uri, options: SubmitOptions = {}): Promise<BatchState | undefined> {
    const profile = this.config.activeProfile;
    if (profile?.kind === 'vscode-lm') {
      // Never fall back to fastllm.baseUrl: the user chose VS Code's models, not that server.
      void vscode.window.showErrorMessage(`FastLLM: Batch API mode needs an HTTP endpoint; the profile "${profile.name}" uses VS Code's language models. Select another profile first.`, 'Select Profile').then((pick) => {
        if (pick) void vscode.commands.executeCommand('fastllm.selectProfile');
      });
      return undefined;
    }
    const state = await submitFile(
      { engine: this.engine, config: this.config, log: this.log, guard: this.guard, client: (u) => this.client(u), remember: (p, st) => this.remember(p, st) },
      uri,
      options,
    );
    if (state) this.schedule(true);
    return state;
  }

  /** Polls every followed submission not yet ended; with `manual`, also resets the back-off. */
  async refresh(manual = false): Promise<BatchState[]> {
    if (!vscode.workspace.isTrusted) {
      if (manual) void vscode.window.showWarningMessage('FastLLM: Batch API jobs are not checked in Restricted Mode. Trust this workspace to follow them.');
      return [...this.states.values()];
    }
    if (manual) this.intervalMs = batchJobsConfig.pollSeconds * 1000;
    let changed = false;
    let failed = false;
    for (const [statePath, known] of [...this.states]) {
      if (allTerminal(known)) continue;
      // Read again: the CLI may have updated the file (and anyone may have changed it), and
      // writing back a stale copy would undo that.
      const state = await this.reread(statePath, known);
      if (!state || allTerminal(state)) continue;
      // A manual refresh asks about another base URL; the timer just skips such a state.
      if (!(await this.guard.usable(statePath, state, manual))) continue;
      try {
        const client = await this.client(state.baseURL);
        if (await refreshJobs(state, client)) {
          changed = true;
          await writeState(statePath, state);
        }
        if (allTerminal(state)) await this.ended(statePath, state);
      } catch (e) {
        failed = true;
        this.log.warn(`Could not check the Batch API jobs of ${state.input}: ${this.log.mask((e as Error).message)}`);
      }
    }
    this.changed.fire(undefined);
    this.failures = failed ? this.failures + 1 : 0;
    const min = batchJobsConfig.pollSeconds * 1000;
    // A failed poll is tried again after a growing, jittered wait; otherwise the usual back-off.
    this.intervalMs = failed ? backoffMs(this.failures, { baseMs: min, maxMs: MAX_POLL_MS }) : nextPollInterval(this.intervalMs, changed, min, MAX_POLL_MS);
    return [...this.states.values()];
  }

  /** Cancels one job (a job node, unless `all`) or every running job of a submission, after asking. */
  async cancel(target: unknown, all: boolean, options: { confirm?: boolean } = {}): Promise<string[]> {
    const found = await this.pick(target, (s) => !allTerminal(s), 'cancel');
    if (!found) return [];
    const { statePath, state } = found;
    const running = state.jobs.filter((j) => !isTerminal(j.status) && j.status !== 'cancelling');
    const only = !all && found.jobId ? running.filter((j) => j.id === found.jobId) : running;
    if (only.length === 0) {
      void vscode.window.showInformationMessage(`FastLLM: nothing to cancel in ${basename(state.input)}: its Batch API jobs have ended.`);
      return [];
    }
    if (options.confirm !== false) {
      const what = only.length === 1 ? `Batch API job ${only[0]!.id}` : `all ${only.length} running Batch API jobs`;
      const pick = await vscode.window.showWarningMessage(
        `Cancel ${what} of ${basename(state.input)}?`,
        {
          modal: true,
          detail: `Rows the job${only.length === 1 ? ' has' : 's have'} answered so far are kept (and billed); the others get no answer. Cancelling cannot be undone.`,
        },
        only.length === 1 ? 'Cancel Job' : `Cancel ${only.length} Jobs`,
      );
      if (!pick) return [];
    }
    if (!(await this.guard.usable(statePath, state, true))) return [];
    const asked = await cancelJobs(state, await this.client(state.baseURL), undefined, only.map((j) => j.id));
    await writeState(statePath, state);
    this.changed.fire(undefined);
    this.log.info(`Batch API cancel asked for ${asked.join(', ') || 'nothing'}.`);
    this.schedule(true);
    return asked;
  }

  /** Writes the results of a submission whose jobs have all ended. */
  async fetch(target?: unknown): Promise<FetchSummary | undefined> {
    const found = await this.pick(target, (s) => allTerminal(s), 'fetch');
    if (!found) return undefined;
    const { statePath, state } = found;
    if (!allTerminal(state)) {
      void vscode.window.showWarningMessage(`FastLLM: the Batch API jobs of ${basename(state.input)} have not ended yet.`);
      return undefined;
    }
    if (!(await this.guard.usable(statePath, state, true))) return undefined;
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
      this.log.info(`Batch API results: ${summary.out}: ${summary.succeeded} ok, ${summary.failed} failed${codes ? ` (${codes})` : ''}; $${summary.stats.cost.spent.toFixed(4)} at batch prices.`);
      // Opened in the background: a fetch that ends while the user types must not take the keyboard.
      if (this.config.openResultsWhenDone) await vscode.window.showTextDocument(vscode.Uri.file(summary.out), { preview: true, preserveFocus: true });
      return summary;
    } catch (e) {
      const msg = this.log.mask((e as Error).message);
      this.log.error(`Batch API fetch failed: ${msg}`);
      void vscode.window.showErrorMessage(`FastLLM: could not fetch the Batch API results: ${msg}`);
      return undefined;
    }
  }

  /** Removes an ended submission from the list (its state file stays), after asking. */
  async forget(target?: unknown, options: { confirm?: boolean } = {}): Promise<boolean> {
    const found = await this.pick(target, (s, p) => allTerminal(s) || this.guard.problem(p, s) !== undefined, 'remove from the list');
    if (!found) return false;
    const { statePath, state } = found;
    if (!allTerminal(state) && !this.guard.problem(statePath, state)) {
      void vscode.window.showWarningMessage(`FastLLM: the Batch API jobs of ${basename(state.input)} are still running (and billed). Cancel them first, or wait for them to end.`);
      return false;
    }
    if (options.confirm !== false) {
      const pick = await vscode.window.showWarningMessage(
        `Remove ${basename(state.input)} from the Batch API Jobs list?`,
        {
          modal: true,
          detail:
            `${state.jobs.length} Batch API job(s). ${state.fetched ? `Their results are in ${state.fetched.out}.` : 'Their results were NOT fetched yet: they stay on the server only until the files expire.'} ` +
            `The state file ${basename(statePath)} stays on disk: \`fastllm batch fetch\` can still use it.`,
        },
        'Remove',
      );
      if (pick !== 'Remove') return false;
    }
    this.states.delete(statePath);
    await this.store.update(STORE_KEY, [...this.states.keys()]);
    this.changed.fire(undefined);
    await this.updateVisibility();
    return true;
  }

  // ---- internals ----

  private async load(): Promise<void> {
    for (const path of this.store.get<string[]>(STORE_KEY, [])) {
      if (!existsSync(path)) continue;
      try {
        this.states.set(path, await readState(path));
      } catch (e) {
        this.log.warn(`Ignoring Batch API state ${path}: ${(e as Error).message}`);
      }
    }
    this.changed.fire(undefined);
    await this.updateVisibility();
    this.schedule(true);
  }

  /** The state file as it is on disk now (kept in the list), or undefined when it is gone or unreadable. */
  private async reread(statePath: string, known: BatchState): Promise<BatchState | undefined> {
    try {
      const state = await readState(statePath);
      this.states.set(statePath, state);
      this.unreadable.delete(statePath);
      return state;
    } catch (e) {
      if (!this.unreadable.has(statePath)) this.log.warn(`Not following ${known.input}: ${existsSync(statePath) ? (e as Error).message : `${statePath} is gone`}.`);
      this.unreadable.add(statePath);
      return undefined;
    }
  }

  private async remember(statePath: string, state: BatchState): Promise<void> {
    this.states.set(statePath, state);
    await this.store.update(STORE_KEY, [...this.states.keys()]);
    this.changed.fire(undefined);
    await this.updateVisibility();
  }

  private updateVisibility(): Thenable<unknown> {
    return vscode.commands.executeCommand('setContext', VISIBLE_KEY, this.shownByUser || this.states.size > 0);
  }

  /** When every job of a submission has ended: fetch, or offer to. */
  private async ended(statePath: string, state: BatchState): Promise<void> {
    if (state.fetched) return;
    if (batchJobsConfig.fetchWhenDone) {
      await this.fetch(statePath);
      return;
    }
    void vscode.window.showInformationMessage(`FastLLM: the Batch API jobs of ${basename(state.input)} have ended.`, 'Fetch Results').then((pick) => {
      if (pick) void this.fetch(statePath);
    });
  }

  /** Polls again after the current interval, while any followed job is not final (never in Restricted Mode). */
  private schedule(reset = false): void {
    clearTimeout(this.timer);
    if (this.disposed || !vscode.workspace.isTrusted) return;
    if (reset) this.intervalMs = batchJobsConfig.pollSeconds * 1000;
    if ([...this.states.entries()].every(([p, s]) => allTerminal(s) || this.guard.problem(p, s))) return;
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
  private async pick(target: unknown, fits: (s: BatchState, statePath: string) => boolean, verb: string): Promise<Target | undefined> {
    let statePath: string | undefined;
    let jobId: string | undefined;
    if (target && typeof target === 'object' && 'statePath' in target) {
      const node = target as BatchJobsNode;
      statePath = node.statePath;
      if (node.type === 'job') jobId = node.job.id;
    } else if (target instanceof vscode.Uri) statePath = target.fsPath.endsWith('.batch.json') ? target.fsPath : statePathFor(target.fsPath);
    else if (typeof target === 'string') statePath = target.endsWith('.batch.json') ? target : statePathFor(target);
    if (!statePath) {
      const items = [...this.states.entries()].filter(([p, s]) => fits(s, p)).map(([p, s]) => ({ label: basename(s.input), description: s.input, statePath: p }));
      if (items.length === 0) {
        void vscode.window.showInformationMessage(`FastLLM: no Batch API submission to ${verb}.`);
        return undefined;
      }
      statePath = items.length === 1 ? items[0]!.statePath : (await vscode.window.showQuickPick(items, { title: `FastLLM: ${verb}` }))?.statePath;
      if (!statePath) return undefined;
    }
    let state = this.states.get(statePath);
    if (!state) {
      if (!existsSync(statePath)) {
        void vscode.window.showWarningMessage(`FastLLM: no Batch API state at ${statePath}.`);
        return undefined;
      }
      try {
        state = await readState(statePath);
      } catch (e) {
        void vscode.window.showErrorMessage(`FastLLM: ${(e as Error).message}`);
        return undefined;
      }
      // Read from the workspace: listed only once the user accepted where it sends the key.
      if (!(await this.guard.usable(statePath, state, true))) return undefined;
      await this.remember(statePath, state);
    }
    return { statePath, state, jobId };
  }
}
