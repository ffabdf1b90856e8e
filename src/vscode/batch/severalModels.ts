/**
 * *FastLLM: Run on Several Models…*: picks an input and several models (a multi-select quick
 * pick), runs the input once per model at the same time, each model with a request manager (rate
 * limits, retries, statistics) of its own, and writes one results file per model:
 * `<name>.<model>.results.jsonl`. When the runs end, the Results view opens on the first model's
 * file and shows every model's answers side by side. As with `fastllm run --model a,b,c`.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkResultsPath } from '../../core/batch/paths';
import type { BatchSummary } from '../../core/batch/runBatch';
import { modelResultsPath } from '../../core/results/naming';
import { pickInputFile, prepareBatch } from '../batchInput';
import type { Config } from '../config';
import { Disposable } from '../dispose';
import type { Engine } from '../engine';
import type { Log } from '../log';
import { RecordTally, runLine } from '../runReport';
import type { RunTracker } from '../runs';

export const RUN_SEVERAL_MODELS_COMMAND = 'fastllm.runSeveralModels';
const OTHER = '$(edit) Other models…';

export class SeveralModelsCommand extends Disposable {
  /** The summaries of the last several-model run, by model (for tests). */
  lastSummaries: Map<string, BatchSummary> | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly runs: RunTracker,
    private readonly log: Log,
    private readonly memento: vscode.Memento,
    private readonly resultsPath: (input: string) => string,
  ) {
    super();
    this._register(vscode.commands.registerCommand(RUN_SEVERAL_MODELS_COMMAND, (uri?: unknown, models?: unknown) => this.run(uri instanceof vscode.Uri ? uri : undefined, models)));
  }

  /** `models` (a string list) skips the quick pick, for tests and keybindings. */
  async run(uri?: vscode.Uri, given?: unknown): Promise<Map<string, BatchSummary> | undefined> {
    const input = await pickInputFile(uri);
    if (!input) return undefined;
    if (this.runs.refuseSecondBatch()) return undefined;
    const models = Array.isArray(given) && given.every((m) => typeof m === 'string') && given.length > 0 ? [...new Set(given as string[])] : await this.pickModels();
    if (!models || models.length === 0) return undefined;
    const outs = models.map((m) => [m, modelResultsPath(this.resultsPath(input), m)] as const);
    try {
      for (const [, out] of outs) await checkResultsPath(input, out);
    } catch (e) {
      void vscode.window.showErrorMessage(`FastLLM: ${(e as Error).message}`);
      return undefined;
    }
    const prepared = await prepareBatch(input, this.engine, this.memento, this.log);
    if (!prepared) return undefined;
    const { reader, provider, cache, mod } = prepared;
    const label = path.basename(input);
    this.log.info(`Batch on ${models.length} models: ${input} → ${outs.map(([, o]) => path.basename(o)).join(', ')}`);
    const summaries = new Map<string, BatchSummary>();
    const tallies = new Map<string, RecordTally>();
    const done = new Map<string, number>();
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `FastLLM: ${label} on ${models.length} models`, cancellable: true },
        async (progress, token) => {
          const work = outs.map(async ([model, out]) => {
            const manager = this.engine.manager(provider, cache);
            const tally = new RecordTally();
            tallies.set(model, tally);
            const handle = this.runs.begin(`${label} · ${model}`, 'batch', manager.stats);
            token.onCancellationRequested(() => handle.cancel());
            let summary: BatchSummary | undefined;
            try {
              summary = await mod.runBatch({ input, out, manager, reader: { ...reader, defaults: { ...reader.defaults, model } }, signal: handle.signal, onRecord: (r) => {
                  tally.add(r);
                  done.set(model, (done.get(model) ?? 0) + 1);
                } });
              summaries.set(model, summary);
            } finally {
              handle.end();
            }
          });
          const timer = setInterval(() => {
            const parts = models.map((m) => `${m} ${done.get(m) ?? 0}`);
            progress.report({ message: parts.join(' · ') });
          }, 250);
          try {
            await Promise.all(work);
          } finally {
            clearInterval(timer);
          }
        },
      );
    } catch (e) {
      const message = this.log.mask((e as Error).message);
      this.log.error(`Batch on several models ${label} failed: ${message}`);
      void vscode.window.showErrorMessage(`FastLLM: ${label}: ${message}`);
    }
    this.lastSummaries = summaries;
    if (summaries.size === 0) return summaries;
    const lines = [...summaries].map(([m, s]) => `${m}: ${runLine(s, tallies.get(m)!)}`);
    for (const l of lines) this.log.info(`Batch done: ${label} · ${l}`);
    const first = summaries.get(models[0]!) ?? [...summaries.values()][0]!;
    const shown = first.partial ?? first.out;
    // In the background, as a single run's results: the view shows every model side by side.
    if (this.config.openResultsWhenDone) {
      await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(shown), 'fastllm.results', { preview: false, preserveFocus: true, background: true }).then(undefined, () => undefined);
    }
    void vscode.window.showInformationMessage(`FastLLM: ${label} on ${summaries.size} models: ${lines.join('; ')}.`, 'Show Results').then((pick) => {
      if (pick) void vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(shown), 'fastllm.results');
    });
    return summaries;
  }

  private async pickModels(): Promise<string[] | undefined> {
    const known = [...new Set([this.config.model, ...Object.keys(this.engine.prices())].filter(Boolean))];
    const items: vscode.QuickPickItem[] = [
      ...known.map((m) => ({ label: m, description: m === this.config.model ? 'fastllm.model' : undefined })),
      { label: OTHER, description: 'type model names, separated by commas' },
    ];
    const picked = await vscode.window.showQuickPick(items, { canPickMany: true, title: 'FastLLM: Run on Several Models', placeHolder: 'The models to run the file on (each gets a results file)' });
    if (!picked) return undefined;
    const models = picked.filter((p) => p.label !== OTHER).map((p) => p.label);
    if (picked.some((p) => p.label === OTHER)) {
      const typed = await vscode.window.showInputBox({ title: 'FastLLM: Run on Several Models', prompt: 'Model names, separated by commas', ignoreFocusOut: true });
      if (typed === undefined) return undefined;
      models.push(...typed.split(',').map((m) => m.trim()).filter(Boolean));
    }
    return [...new Set(models)];
  }
}
