import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ReaderOptions } from '../core/batch/common';
import type { CacheProvider } from '../core/cache/cacheProvider';
import type { Provider } from '../core/providers/provider';
import type { Engine, EngineModule } from './engine';
import type { Log } from './log';

const INPUT_EXTENSIONS = ['.txt', '.jsonl', '.csv'];
/** Per CSV file (by path): the prompt template the user gave for it (workspaceState). */
const TEMPLATE_KEY_PREFIX = 'fastllm.csvTemplate:';
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/**
 * True for what FastLLM writes, never prompts: `*.results.jsonl` and the `*.partial.jsonl` of a run
 * in progress or stopped. Run as input, one would give `x.results.results.jsonl` full of
 * `invalid_input` rows. (package.json's `when` clauses use the same rule.)
 */
export function isResultsFile(file: string): boolean {
  return /\.(results|partial)\.jsonl$/i.test(file);
}

/** A `.txt`, `.jsonl` or `.csv` file on disk that is not a results file. */
function isInputFile(uri: vscode.Uri): boolean {
  return uri.scheme === 'file' && INPUT_EXTENSIONS.includes(path.extname(uri.fsPath).toLowerCase()) && !isResultsFile(uri.fsPath);
}

/**
 * The input of Run Batch: the given file, else the active editor's file, else one picked in a
 * dialog. Refuses results files wherever they come from, and an untitled editor (the run reads
 * from disk) with "save the file first" rather than a picker that seems to come from nowhere.
 */
export async function pickInputFile(uri: vscode.Uri | undefined): Promise<string | undefined> {
  if (uri instanceof vscode.Uri) return checked(uri);
  const doc = vscode.window.activeTextEditor?.document;
  if (doc?.isUntitled) {
    void vscode.window.showWarningMessage('FastLLM: save the file first (as .txt, .jsonl or .csv): Run Batch reads its input from disk.', 'Save As…').then((pick) => {
      if (pick) void vscode.commands.executeCommand('workbench.action.files.saveAs');
    });
    return undefined;
  }
  if (doc && isInputFile(doc.uri)) {
    // The run reads the file from disk: make the disk match what the user sees.
    if (doc.isDirty) await doc.save();
    return doc.uri.fsPath;
  }
  const holdsResults = !!doc && isResultsFile(doc.uri.fsPath);
  const picked = await vscode.window.showOpenDialog({
    title: holdsResults ? `FastLLM: Run Batch: ${path.basename(doc.uri.fsPath)} holds results, pick the prompts file` : 'FastLLM: Run Batch from File',
    canSelectMany: false,
    openLabel: 'Run Batch',
    filters: { 'Prompt files': ['txt', 'jsonl', 'csv'] },
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return picked?.[0] ? checked(picked[0]) : undefined;
}

function checked(uri: vscode.Uri): string | undefined {
  if (isInputFile(uri)) return uri.fsPath;
  const name = path.basename(uri.fsPath);
  const message = isResultsFile(uri.fsPath)
    ? `FastLLM: ${name} is a results file (what a run writes), not prompts: run the input file it came from.`
    : `FastLLM: pick a .txt, .jsonl or .csv file (not ${name}).`;
  void vscode.window.showErrorMessage(message);
  return undefined;
}

/**
 * How rows of `input` become requests: the settings' reader options, and for a CSV file without
 * a `prompt` column (and no `fastllm.csv.template`) the template remembered for that file, or one
 * asked for in an input box prefilled with its most text-like column. Undefined when the user
 * cancels that box.
 */
export async function readerFor(input: string, engine: Engine, memento: vscode.Memento, log: Log): Promise<ReaderOptions | undefined> {
  let reader: ReaderOptions;
  try {
    reader = engine.readerOptions();
  } catch (e) {
    // A bad fastllm.schemaFile: said before any request goes out.
    void vscode.window.showErrorMessage(`FastLLM: ${(e as Error).message}`);
    return undefined;
  }
  if (reader.template || path.extname(input).toLowerCase() !== '.csv') return reader;
  let columns: Awaited<ReturnType<ReturnType<Engine['load']>['csvColumns']>>;
  try {
    columns = await engine.load().csvColumns(input);
  } catch (e) {
    log.warn(`Could not read the header of ${input}: ${(e as Error).message}`);
    return reader; // the run reports it, with the file and line
  }
  if (columns.hasPrompt || columns.names.length === 0) return reader;
  const key = TEMPLATE_KEY_PREFIX + input;
  const remembered = memento.get<string>(key);
  if (remembered && !templateProblem(remembered, columns.names)) return { ...reader, template: remembered };

  const first = columns.textColumn ?? columns.names[0]!;
  const template = await vscode.window.showInputBox({
    title: `FastLLM: ${path.basename(input)} has no "prompt" column`,
    prompt: `The prompt of each row, with {{column}} for a column's value. Columns: ${columns.names.join(', ')}. Remembered for this file.`,
    value: remembered ?? `{{${first}}}`,
    ignoreFocusOut: true,
    validateInput: (v) => templateProblem(v, columns.names),
  });
  if (template === undefined || templateProblem(template, columns.names)) return undefined;
  await memento.update(key, template);
  log.info(`CSV template for ${input}: ${template}`);
  return { ...reader, template };
}

/** Why `template` cannot be used with these columns, or undefined when it can. */
export function templateProblem(template: string, columns: readonly string[]): string | undefined {
  const used = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  if (used.length === 0) return 'Name at least one column, as {{column}}.';
  const missing = used.filter((c) => !columns.includes(c));
  if (missing.length) return `No column named ${missing.map((m) => `"${m}"`).join(', ')} (columns: ${columns.join(', ')}).`;
  return undefined;
}

/** What a batch run over one input needs before it starts. */
export interface PreparedBatch {
  reader: ReaderOptions;
  provider: Provider;
  cache: CacheProvider | undefined;
  mod: EngineModule;
}

/**
 * The reader for `input` ({@link readerFor}), a provider (asking for a key if needed) and the
 * run's cache, in that order, so that nothing is asked for or opened when an earlier step is
 * cancelled. `given` replaces the provider or cache (Try It Without a Key). Undefined when the user
 * cancels.
 */
export async function prepareBatch(
  input: string,
  engine: Engine,
  memento: vscode.Memento,
  log: Log,
  given: { provider?: Provider; cache?: CacheProvider } = {},
): Promise<PreparedBatch | undefined> {
  const reader = await readerFor(input, engine, memento, log);
  if (!reader) return undefined;
  const provider = given.provider ?? (await engine.provider());
  if (!provider) return undefined;
  const cache = given.cache ?? (await engine.runCache());
  return { reader, provider, cache, mod: engine.load() };
}
