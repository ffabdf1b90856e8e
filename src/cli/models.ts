/**
 * `fastllm run INPUT --model a,b,c`: the input once per model, all at once, each model with a
 * request manager (and so rate limits, learned limits and statistics) of its own, one results file
 * per model: `prompts.results.jsonl` → `prompts.<model>.results.jsonl` (a model's `/` and other
 * characters that do not belong in a file name become `-`). One cache serves every model: a cached
 * answer is reused only for its own model, since the model is part of the request's key.
 */
import { checkResultsPath } from '../core/batch/paths';
import type { ReaderOptions } from '../core/batch/readers';
import { runBatch, type BatchSummary } from '../core/batch/runBatch';
import { maskSecrets } from '../core/log';
import type { RequestManager } from '../core/manager';
import { failureText, summaryText } from '../core/progress';
import { modelResultsPath } from '../core/results/naming';
import { UsageError } from './args';

/** The models of `--model`: one, or several separated by commas (blanks and repeats dropped). */
export function modelList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return [...new Set(value.split(',').map((m) => m.trim()).filter(Boolean))];
}

/** Where each model's results go, checked against the input; a usage error when one would overwrite it. */
export async function modelOutputs(input: string, out: string, models: readonly string[]): Promise<Map<string, string>> {
  const outs = new Map(models.map((m) => [m, modelResultsPath(out, m)] as const));
  const seen = new Map<string, string>();
  for (const [model, file] of outs) {
    const other = seen.get(file);
    if (other) throw new UsageError(`--model: ${other} and ${model} would write the same file ${file}; name them apart`);
    seen.set(file, model);
    try {
      await checkResultsPath(input, file);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return outs;
}

export interface SeveralModelsOptions {
  input: string;
  outs: Map<string, string>;
  reader: ReaderOptions;
  /** A request manager of its own for each model. */
  manager: (model: string) => RequestManager;
  signal: AbortSignal;
  apiKey: string;
  json: boolean;
  quiet: boolean;
}

/** Runs every model at once; returns the exit status (the worst of the runs). */
export async function runSeveralModels(o: SeveralModelsOptions): Promise<number> {
  const mask = (text: string) => maskSecrets(text, [o.apiKey]);
  if (!o.quiet) process.stderr.write(`running ${o.input} on ${o.outs.size} models at once: ${[...o.outs.keys()].join(', ')}\n`);
  const runs = [...o.outs].map(async ([model, out]) => {
    const manager = o.manager(model);
    const reader: ReaderOptions = { ...o.reader, defaults: { ...o.reader.defaults, model } };
    try {
      return { model, out, summary: await runBatch({ input: o.input, out, manager, reader, signal: o.signal }) };
    } catch (e) {
      return { model, out, error: mask((e as Error).message) };
    }
  });
  let status = 0;
  for (const run of await Promise.all(runs)) {
    if ('error' in run && run.error !== undefined) {
      process.stderr.write(`error: ${run.model}: ${run.error}\n`);
      status = 2;
      continue;
    }
    const summary = (run as { summary: BatchSummary }).summary;
    if (o.json) process.stdout.write(`${JSON.stringify({ model: run.model, ...summary })}\n`);
    if (!o.quiet) {
      process.stderr.write(`${run.model}: ${summaryText(summary.stats)}\n`);
      if (summary.failed > 0) process.stderr.write(`${run.model}: failures  ${mask(failureText(summary.failures))}\n`);
      if (!summary.partial) process.stderr.write(`${run.model}: results   ${run.out}\n`);
    }
    if (summary.partial) process.stderr.write(`${run.model}: partial results in ${summary.partial}; ${run.out} was left as it was\n`);
    if (summary.stopped) {
      process.stderr.write(`error: ${run.model}: ${mask(summary.stopped.message)}\n`);
      status = Math.max(status, summary.stopped.code === 'rate_limited' ? 1 : 2);
    } else if (summary.failed > 0 || summary.cancelled) status = Math.max(status, 1);
  }
  return status;
}
