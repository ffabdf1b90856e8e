import * as vscode from 'vscode';
import type { LLMRequest } from '../core/types';
import type { AnswersDocument } from './answersDocument';
import type { Config, SelectionMode, SelectionOutput } from './config';
import type { Engine } from './engine';
import type { Log } from './log';
import { RangeTracker } from './rangeTracker';
import type { RunTracker } from './runs';

/** One prompt taken from the editor, and the range its answer relates to. */
interface Unit {
  range: vscode.Range;
  text: string;
}

/** What Run on Selection did, returned by the command (for tests and other extensions). */
export interface SelectionResult {
  mode: 'whole' | 'perLine';
  output: SelectionOutput;
  prompts: string[];
  /** One per prompt: the answer, or null when that prompt failed. */
  answers: (string | null)[];
  errors: { index: number; code: string; message: string }[];
  /** The document the answers went to (the "FastLLM answers" document when none went into the source). */
  target: vscode.Uri;
  /** Prompts whose answer went to the answers document because their text was edited during the run. */
  diverted: number[];
}

/**
 * Run on Selection: each selection (every cursor) as one prompt, or each selected line as its own
 * prompt; the answers go to the "FastLLM answers" document beside, below each selection, or in its
 * place. Under one cancellable notification.
 *
 * - A single prompt's answer streams into the answers document as it arrives (`beside` and
 *   `below`); `below` and `replace` then write into the source in one edit, one undo step, when
 *   everything has arrived, at the place the prompt has then: edits elsewhere in the file during
 *   the run are followed; only an edit that touches a prompt's own text sends its answer to the
 *   answers document instead.
 * - Errors are said in a notification, never written into the user's file.
 */
export class SelectionCommand {
  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly runs: RunTracker,
    private readonly log: Log,
    private readonly answers: AnswersDocument,
  ) {}

  async run(): Promise<SelectionResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('FastLLM: open an editor and select the text to send.');
      return undefined;
    }
    const mode = await this.pickMode(this.config.selectionMode);
    if (!mode) return undefined;
    const doc = editor.document;
    const units = collectUnits(doc, editor.selections, mode);
    if (units.length === 0) {
      void vscode.window.showInformationMessage('FastLLM: the selection is empty.');
      return undefined;
    }
    const provider = await this.engine.provider();
    if (!provider) return undefined;
    const cache = await this.engine.runCache();
    const mod = this.engine.load();
    const c = this.config;
    let defaults;
    try {
      // The settings a batch row gets (API, token limit, reasoning effort, schema), without a CSV template.
      ({ defaults } = this.engine.readerOptions());
    } catch (e) {
      void vscode.window.showErrorMessage(`FastLLM: ${(e as Error).message}`);
      return undefined;
    }
    const requests: LLMRequest[] = units.map((u, i) =>
      mod.promptRequest(u.text, { kind: c.api, defaults: defaults ?? {}, custom_id: `selection-${i + 1}`, line: u.range.start.line + 1 }),
    );
    const manager = this.engine.manager(provider, cache);
    const output = c.selectionOutput;
    const prompts = units.map((u) => u.text);
    const result: SelectionResult = { mode, output, prompts, answers: prompts.map(() => null), errors: [], target: doc.uri, diverted: [] };
    // Where each prompt is as the user edits during the run (not needed for answers beside).
    const tracker = output === 'beside' ? undefined : new RangeTracker(doc);
    const tracked = units.map((u) => tracker?.add(u.range) ?? -1);
    const single = units.length === 1 && output !== 'replace';
    const handle = this.runs.begin(units.length === 1 ? 'selection' : `selection (${units.length} prompts)`, 'selection', manager.stats);
    try {
      await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: units.length === 1 ? 'FastLLM: answering the selection' : `FastLLM: answering ${units.length} prompts`,
          cancellable: true,
        },
        async (progress, token) => {
          token.onCancellationRequested(() => handle.cancel());
          if (single) {
            // Stream into the answers document, shown beside without taking the keyboard.
            const [sink] = this.answers.begin(prompts);
            await this.answers.show();
            const answer = await mod.runSingle({
              request: requests[0]!,
              manager,
              provider,
              cache,
              useCache: !!cache,
              cacheTtlMs: c.cacheTtlMs,
              timeoutMs: c.timeoutMs,
              signal: handle.signal,
              onDelta: (t) => sink!.push(t),
            });
            sink!.end(answer.error ? `No answer: ${answer.error.message}` : undefined);
            if (answer.error) result.errors.push({ index: 0, ...answer.error });
            else result.answers[0] = answer.text;
            return;
          }
          let done = 0;
          for await (const record of manager.run(requests, { signal: handle.signal, total: requests.length })) {
            const index = Number(record.custom_id.slice('selection-'.length)) - 1;
            if (record.error) result.errors.push({ index, ...record.error });
            else result.answers[index] = mod.answerText(record.response?.body);
            progress.report({ message: `${++done}/${requests.length}`, increment: 100 / requests.length });
          }
        },
      );
      if (output === 'beside') {
        if (!single) await this.toAnswersDocument(units.map((_, i) => i), result);
        result.target = this.answers.uri;
      } else {
        await this.write(doc, tracker!, tracked, result, output, single);
      }
    } catch (e) {
      const message = this.log.mask((e as Error).message);
      this.log.error(`Run on Selection failed: ${message}`);
      void vscode.window.showErrorMessage(`FastLLM: ${message}`);
      return undefined;
    } finally {
      tracker?.dispose();
      handle.end();
    }
    if (result.errors.length) {
      const first = result.errors[0]!;
      const message = this.log.mask(first.message);
      this.log.warn(`Run on Selection: ${result.errors.length} of ${units.length} prompts failed; first: ${message}`);
      if (first.code === 'auth_failed') this.engine.keyRejected('The server rejected the API key');
      const what = first.code === 'cancelled' ? 'cancelled' : 'failed';
      void vscode.window.showWarningMessage(`FastLLM: ${result.errors.length} of ${units.length} prompts ${what}: ${message}`);
    }
    return result;
  }

  private async pickMode(setting: SelectionMode): Promise<'whole' | 'perLine' | undefined> {
    if (setting !== 'ask') return setting;
    const items: (vscode.QuickPickItem & { mode: 'whole' | 'perLine' })[] = [
      { label: '$(selection) Whole selection', description: 'each selection is one prompt', mode: 'whole' },
      { label: '$(list-flat) Each line', description: 'each selected line is its own prompt', mode: 'perLine' },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'FastLLM: Run on Selection', placeHolder: 'What to send' });
    return pick?.mode;
  }

  /** Adds the answers of these prompts to the answers document and shows it. */
  private async toAnswersDocument(indexes: number[], result: SelectionResult): Promise<void> {
    const sinks = this.answers.begin(indexes.map((i) => result.prompts[i]!));
    indexes.forEach((i, n) => {
      const error = result.errors.find((e) => e.index === i);
      if (result.answers[i] !== null) sinks[n]!.push(result.answers[i]!);
      sinks[n]!.end(error ? `No answer: ${error.message}` : undefined);
    });
    await this.answers.show();
  }

  /**
   * Writes the answers below or in place of their prompts, in one edit (one undo step), where the
   * prompts are now. A prompt whose text was edited during the run gets its answer in the answers
   * document instead; a failed prompt gets nothing. The user's selections do not grow to take in
   * the inserted answers.
   */
  private async write(doc: vscode.TextDocument, tracker: RangeTracker, tracked: number[], result: SelectionResult, output: 'below' | 'replace', streamed: boolean): Promise<void> {
    let placed: number[] = [];
    // VS Code refuses an edit made against a version the user has just changed (typing as the
    // answer lands): the tracker hears of that change, so the edit is made again where things are now.
    for (let attempt = 1; ; attempt++) {
      const diverted: number[] = [];
      const edit = this.answerEdit(doc, tracker, tracked, result, output, diverted);
      placed = tracked.map((_, i) => i).filter((i) => result.answers[i] !== null && !diverted.includes(i));
      if (placed.length === 0) {
        result.diverted = diverted;
        break;
      }
      const editors = vscode.window.visibleTextEditors.filter((e) => e.document === doc);
      const kept = editors.map((e) => e.selections.map((s) => [tracker.add(s, true), s.isReversed] as const));
      if (await vscode.workspace.applyEdit(edit)) {
        result.diverted = diverted;
        // An insertion at a selection's end is after it: the selection stays what the user selected.
        if (output === 'below') {
          editors.forEach((e, n) => {
            const selections = kept[n]!.map(([t, reversed]) => {
              const r = tracker.get(t);
              return r && (reversed ? new vscode.Selection(r.end, r.start) : new vscode.Selection(r.start, r.end));
            });
            if (selections.every((s) => s)) e.selections = selections as vscode.Selection[];
          });
        }
        break;
      }
      if (attempt === 3 || doc.isClosed) {
        result.diverted = [...diverted, ...placed];
        placed = [];
        break;
      }
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
    if (result.diverted.length) {
      result.diverted.sort((a, b) => a - b);
      // A streamed answer is in the answers document already.
      if (!streamed) await this.toAnswersDocument(result.diverted, result);
      else await this.answers.show();
      if (!placed.length) result.target = this.answers.uri;
      const n = result.diverted.length;
      void vscode.window.showWarningMessage(
        `FastLLM: ${n === 1 ? 'the answer' : `${n} answers`} went to "FastLLM answers" instead: ${n === 1 ? 'its prompt was' : 'their prompts were'} edited during the run.`,
      );
    }
  }

  /** One edit putting every answer whose prompt is still intact in place; the others' indexes go to `diverted`. */
  private answerEdit(doc: vscode.TextDocument, tracker: RangeTracker, tracked: number[], result: SelectionResult, output: 'below' | 'replace', diverted: number[]): vscode.WorkspaceEdit {
    const edit = new vscode.WorkspaceEdit();
    tracked.forEach((t, i) => {
      const answer = result.answers[i];
      if (answer === null || answer === undefined) return;
      const range = doc.isClosed ? undefined : tracker.get(t);
      if (!range) {
        diverted.push(i);
        return;
      }
      if (output === 'replace') {
        edit.replace(doc.uri, range, answer);
        return;
      }
      // Below, after a blank line, and with a blank line before the next paragraph, so that in
      // Markdown the answer is a paragraph of its own.
      const line = range.end.line;
      const next = line + 1 < doc.lineCount ? doc.lineAt(line + 1) : undefined;
      edit.insert(doc.uri, doc.lineAt(line).range.end, `\n\n${answer.trimEnd()}${next && !next.isEmptyOrWhitespace ? '\n' : ''}`);
    });
    return edit;
  }
}

/** The prompts of the selections, in document order; an empty selection means its cursor's line. */
export function collectUnits(doc: vscode.TextDocument, selections: readonly vscode.Selection[], mode: 'whole' | 'perLine'): Unit[] {
  const units: Unit[] = [];
  const sorted = [...selections].sort((a, b) => a.start.compareTo(b.start));
  for (const sel of sorted) {
    const range = sel.isEmpty ? doc.lineAt(sel.active.line).range : new vscode.Range(sel.start, sel.end);
    if (mode === 'whole') {
      const text = doc.getText(range);
      if (text.trim()) units.push({ range, text });
      continue;
    }
    for (let line = range.start.line; line <= range.end.line; line++) {
      const lineRange = doc.lineAt(line).range.intersection(range);
      if (!lineRange) continue;
      const text = doc.getText(lineRange);
      if (text.trim()) units.push({ range: lineRange, text });
    }
  }
  return units;
}
