/**
 * Submit Batch API Job…: asks as Run Batch does (the same rule and the same estimate, estimateBatch
 * in the engine bundle, with costs at batch prices), never replaces a state whose jobs were not
 * fetched without asking (and then keeps it aside, still listed), and sends the file.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { defaultResultsPath } from '../core/batch/writer';
import { readState, replacedStatePath, statePathFor, SubmissionExistsError, submitBatch, type BatchApiClient, type BatchState } from '../core/batchApi';
import type { CacheProvider } from '../core/cache/cacheProvider';
import { batchPrices } from '../core/pricing';
import { compact, formatCost } from '../core/progress';
import type { EndpointScope } from '../core/providers/provider';
import { batchJobsConfig } from './batchJobsConfig';
import type { BatchJobsGuard } from './batchJobsGuard';
import type { Config } from './config';
import type { Engine } from './engine';
import type { BatchEstimate } from './lazy/estimate';
import type { Log } from './log';

/** Options of the submit command. */
export interface SubmitOptions {
  /** Requests per job. @default `fastllm.batch.maxRequests` */
  maxRequests?: number;
  /** Ask before a large or costly submission, and before replacing jobs not fetched. @default true */
  confirm?: boolean;
  /** Replace a state with jobs not fetched without asking (it is kept aside). @default false */
  force?: boolean;
}

/** What the submit flow needs from the Batch API Jobs controller. */
export interface SubmitContext {
  engine: Engine;
  config: Config;
  log: Log;
  guard: BatchJobsGuard;
  client(baseURL: string): Promise<BatchApiClient>;
  /** Lists a state in the view. */
  remember(statePath: string, state: BatchState): Promise<void>;
}

/** Submits an input file (asked for when not given); returns its state, or undefined when it did not. */
export async function submitFile(ctx: SubmitContext, uri: vscode.Uri | undefined, options: SubmitOptions = {}): Promise<BatchState | undefined> {
  const { engine, log } = ctx;
  const target =
    uri ??
    (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Batch input': ['txt', 'jsonl', 'ndjson', 'csv'] }, title: 'FastLLM: Submit Batch API Job' }))?.[0];
  if (!target) return undefined;
  const input = target.fsPath;
  const provider = await engine.provider();
  if (!provider) return undefined;
  try {
    const cache = await engine.runCache();
    if (options.confirm !== false && !(await confirmSubmit(input, ctx, provider.scope, cache))) return undefined;
    const statePath = statePathFor(input);
    const client = await ctx.client(provider.scope.baseURL);
    const before = existsSync(statePath) ? await readState(statePath).catch(() => undefined) : undefined;
    let force = options.force ?? false;
    const run = () =>
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `FastLLM: submitting ${basename(input)} as Batch API jobs…`, cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return submitBatch({
            input,
            reader: { kind: engine.readerOptions().kind ?? 'chat', template: engine.readerOptions().template, defaults: engine.readerOptions().defaults },
            client,
            scope: provider.scope,
            cache,
            maxRequests: options.maxRequests ?? batchJobsConfig.maxRequests,
            maxBytes: batchJobsConfig.maxBytes,
            statePath,
            force,
            signal: abort.signal,
            logger: log,
          });
        },
      );
    let state: BatchState;
    try {
      state = await run();
    } catch (e) {
      if (!(e instanceof SubmissionExistsError) || options.confirm === false || !(await confirmReplace(e))) throw e;
      force = true;
      state = await run();
    }
    // A forced submit kept the old state aside: keep it listed, so that its jobs can be fetched.
    const aside = before && force ? replacedStatePath(statePath, before) : undefined;
    if (aside && existsSync(aside)) {
      // Its server was fine for the old path; a state that was not followed stays so.
      if (!ctx.guard.problem(statePath, before!)) await ctx.guard.accept(aside, before!.baseURL);
      await ctx.remember(aside, await readState(aside));
    }
    await ctx.guard.accept(statePath, provider.scope.baseURL);
    await ctx.remember(statePath, state);
    const sent = state.rows - state.cachedRows - state.invalidRows - state.repeatRows;
    log.info(`Batch API submission: ${state.input}: ${sent} rows in ${state.jobs.length} job(s) (${state.jobs.map((j) => j.id).join(', ')}), ${state.cachedRows} cached.`);
    void vscode.window
      .showInformationMessage(
        state.jobs.length > 0
          ? `FastLLM: ${sent} rows sent as ${state.jobs.length} Batch API job(s); ${state.cachedRows} answered by the cache. Results within 24 h.`
          : `FastLLM: all ${state.rows} rows are answered by the cache; no Batch API job needed.`,
        'Show Batch API Jobs',
      )
      .then((pick) => pick && vscode.commands.executeCommand('fastllm.showBatchJobs'));
    return state;
  } catch (e) {
    const msg = log.mask((e as Error).message);
    log.error(`Batch API submit failed: ${msg}`);
    void vscode.window.showErrorMessage(`FastLLM: could not submit the Batch API jobs: ${msg}`);
    return undefined;
  } finally {
    provider.close?.();
  }
}

/** Asks before replacing a state whose jobs were not fetched. */
async function confirmReplace(e: SubmissionExistsError): Promise<boolean> {
  const pick = await vscode.window.showWarningMessage(
    `${basename(e.statePath)} holds ${e.unfetched.length} Batch API job(s) whose results were not fetched yet. Submit the file again?`,
    {
      modal: true,
      detail: `Those jobs are paid for. Submitting again sends every row again; the old state is kept as ${basename(replacedStatePath(e.statePath, e.state))} and stays in the Batch API Jobs list, so its results can still be fetched.`,
    },
    'Submit Again',
  );
  return pick === 'Submit Again';
}

/**
 * True when the submission may go ahead: asked, or small and cheap enough not to ask (fewer rows
 * than `fastllm.confirm.rowThreshold`, and an estimate within `fastllm.confirm.costThreshold`).
 */
async function confirmSubmit(input: string, ctx: SubmitContext, scope: EndpointScope, cache: CacheProvider | undefined): Promise<boolean> {
  const { engine, config, log } = ctx;
  const rowLimit = config.confirmRowThreshold;
  const costLimit = config.confirmCostThreshold;
  const mod = engine.load();
  let rows: number;
  try {
    rows = await mod.countRows(input);
  } catch (e) {
    void vscode.window.showErrorMessage(`FastLLM: ${log.mask((e as Error).message)}`);
    return false;
  }
  const bigBatch = rowLimit > 0 && rows >= rowLimit;
  if (!bigBatch && costLimit === 0) return true;
  let estimate: BatchEstimate | undefined;
  try {
    estimate = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `FastLLM: estimating ${basename(input)}…`, cancellable: true },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        return mod.estimateBatch(input, engine.readerOptions(), {
          scope,
          cache,
          prices: batchPrices(engine.prices()),
          signal: controller.signal,
          onProgress: (n) => progress.report({ message: `${n}/${rows} rows`, increment: (1000 / Math.max(1, rows)) * 100 }),
        });
      },
    );
  } catch (e) {
    if ((e as Error).name === 'AbortError') return false;
    log.warn(`Estimate failed: ${(e as Error).message}`);
  }
  const costly = !!estimate && costLimit > 0 && estimate.cost > costLimit;
  if (!bigBatch && !costly) return true;
  const detail = estimate
    ? [
        `Rows: ${rows.toLocaleString()}${estimate.invalid ? ` (${estimate.invalid} cannot be read)` : ''}`,
        `Estimated tokens: ${compact(estimate.promptTokens)} prompt + up to ${compact(estimate.completionTokens)} completion`,
        `Expected cache hits (not sent): ${estimate.cacheHits.toLocaleString()} (${rows ? Math.round((estimate.cacheHits / rows) * 100) : 0}%)`,
        `Estimated cost at batch prices (half of live): ${formatCost(estimate.cost)}${estimate.unpricedModels.length ? ` (no price for ${estimate.unpricedModels.join(', ')})` : ''}`,
        'Answers within 24 hours; the jobs are billed once the server accepts them.',
        `Results: ${defaultResultsPath(input)}`,
      ].join('\n')
    : `Rows: ${rows.toLocaleString()}`;
  const pick = await vscode.window.showWarningMessage(`Submit ${rows.toLocaleString()} prompts from ${basename(input)} as Batch API jobs?`, { modal: true, detail }, 'Submit');
  return pick === 'Submit';
}
