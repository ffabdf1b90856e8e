import { statSync } from 'node:fs';
import type * as vscode from 'vscode';
import type { ReaderOptions } from '../core/batch/common';
import type { EngineModule } from './engine';

/** Per results file (by path): the models its last run here asked for, and the file's mtime then (workspaceState). */
const MODELS_KEY = 'fastllm.resultsModels';

interface Written {
  models: string[];
  /** The file's modification time after the run: a file changed since was written by something else. */
  mtimeMs: number;
}
const MAX_REMEMBERED = 50;
/** Records and input rows looked at: enough to see the model, never the whole file. */
const SAMPLE = 20;

/** Where a run's results go, and the earlier results kept beside them. */
export interface ResultsTarget {
  out: string;
  /** Set when `out` is not the default because the default holds another model's answers (kept). */
  kept?: { file: string; model: string };
}

/**
 * Chooses the results file of a run so that a run on another model never replaces the answers of
 * the previous one: when `<name>.results.jsonl` holds answers from another model (the models its
 * last run asked for, as remembered here, or else the `response.body.model` of its first records),
 * the new results go to `<name>.<model>.results.jsonl`, and both files stay for Compare. A file of
 * the same model is replaced, as before. What this workspace remembers of a file counts only while
 * the file is as that run left it; a file written since (the CLI, another window) is judged by its
 * answers.
 */
export async function chooseResultsPath(
  defaultOut: string,
  input: string,
  reader: ReaderOptions,
  mod: Pick<EngineModule, 'readBatch' | 'readResults'>,
  memento: vscode.Memento,
): Promise<ResultsTarget> {
  const mtimeMs = mtimeOf(defaultOut);
  if (mtimeMs === undefined) return { out: defaultOut };
  const wanted = await requestedModels(input, reader, mod);
  if (wanted.length === 0) return { out: defaultOut };
  const remembered = memento.get<Record<string, Written>>(MODELS_KEY, {})[defaultOut];
  let other: string | undefined;
  if (remembered && remembered.mtimeMs === mtimeMs && Array.isArray(remembered.models)) {
    other = remembered.models.find((m) => !wanted.includes(m));
  } else {
    const answered = await answeredModels(defaultOut, mod);
    other = answered.find((m) => !wanted.some((w) => sameModel(w, m)));
  }
  if (other === undefined) return { out: defaultOut };
  const base = defaultOut.replace(/\.results\.jsonl$/i, '');
  return { out: `${base}.${fileSafe(wanted[0]!)}.results.jsonl`, kept: { file: defaultOut, model: other } };
}

/** Remembers which models a run wrote `out` with, for {@link chooseResultsPath} next time. */
export async function rememberModels(out: string, input: string, reader: ReaderOptions, mod: Pick<EngineModule, 'readBatch'>, memento: vscode.Memento): Promise<void> {
  const models = await requestedModels(input, reader, mod);
  const mtimeMs = mtimeOf(out);
  if (models.length === 0 || mtimeMs === undefined) return;
  const all = { ...memento.get<Record<string, Written>>(MODELS_KEY, {}) };
  delete all[out];
  const written: Written = { models, mtimeMs };
  const entries = [[out, written] as const, ...Object.entries(all)].slice(0, MAX_REMEMBERED);
  await memento.update(MODELS_KEY, Object.fromEntries(entries));
}

function mtimeOf(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The models the first rows of `input` ask for (the settings' model for rows that name none). */
async function requestedModels(input: string, reader: ReaderOptions, mod: Pick<EngineModule, 'readBatch'>): Promise<string[]> {
  const models = new Set<string>();
  let n = 0;
  try {
    for await (const item of mod.readBatch(input, reader)) {
      if (item.kind !== 'invalid' && typeof item.body.model === 'string') models.add(item.body.model);
      if (++n >= SAMPLE) break;
    }
  } catch {
    // A file that cannot be read: the run says why.
  }
  return [...models];
}

/** The models named by the answers among the first records of a results file. */
async function answeredModels(file: string, mod: Pick<EngineModule, 'readResults'>): Promise<string[]> {
  const models = new Set<string>();
  let n = 0;
  try {
    for await (const record of mod.readResults(file, { onInvalid: () => undefined })) {
      const model = (record.response?.body as { model?: unknown } | null | undefined)?.model;
      if (!record.error && typeof model === 'string') models.add(model);
      if (++n >= SAMPLE) break;
    }
  } catch {
    // Unreadable: nothing to protect that we can name.
  }
  return [...models];
}

/**
 * True when `answered` is the name a server gives for a request on `requested`: the same, or with
 * a snapshot suffix (`gpt-4o` → `gpt-4o-2024-08-06`, `gpt-4-0613`; `llama3.2` → `llama3.2:latest`).
 * `gpt-4o` is not `gpt-4o-mini`.
 */
export function sameModel(requested: string, answered: string): boolean {
  if (requested === answered) return true;
  if (!answered.startsWith(requested)) return false;
  return /^(-\d{4}-\d{2}-\d{2}|-\d{4}|:[\w.-]+|@[\w.-]+)$/.test(answered.slice(requested.length));
}

/** A model name as a piece of a file name: `openai/gpt-4o` → `openai-gpt-4o`. */
export function fileSafe(model: string): string {
  return model.replace(/[^\w.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'model';
}
