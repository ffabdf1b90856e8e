import * as vscode from 'vscode';
import type { LLMRequest } from '../core/types';
import type { Config, SelectionMode, SelectionOutput } from './config';
import type { Engine } from './engine';
import type { Log } from './log';
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
  /** The document the answers went to. */
  target: vscode.Uri;
}

/** How often streamed text is flushed into the document: one edit per piece would be too many. */
const FLUSH_MS = 50;

/**
 * Run on Selection: each selection (every cursor) as one prompt, or each selected line as its own
 * prompt; the answers go beside (a new editor), below each selection, or in its place. A single
 * prompt streams its answer into the editor as it arrives (beside and below; a replacement waits
 * for the whole answer, so that a failure never leaves the selection half-replaced).
 */
export class SelectionCommand {
  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly runs: RunTracker,
    private readonly log: Log,
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
    const requests: LLMRequest[] = units.map((u, i) =>
      mod.fromPrompt(u.text, {
        model: c.model,
        system: c.systemPrompt,
        params: { temperature: c.temperature, max_tokens: c.maxTokens },
        custom_id: `selection-${i + 1}`,
        line: u.range.start.line + 1,
      }),
    );
    const manager = this.engine.manager(provider, cache);
    const output = c.selectionOutput;
    const version = doc.version;
    const result: SelectionResult = { mode, output, prompts: units.map((u) => u.text), answers: [], errors: [], target: doc.uri };
    const handle = this.runs.begin(units.length === 1 ? 'selection' : `selection (${units.length} prompts)`, 'selection', manager.stats);
    try {
      if (units.length === 1 && output !== 'replace') {
        // Stream: the answer appears as it arrives.
        const sink = output === 'beside' ? await StreamSink.beside() : await StreamSink.below(doc, units[0]!.range);
        result.target = sink.uri;
        const single = await mod.runSingle({
          request: requests[0]!,
          manager,
          provider,
          cache,
          useCache: !!cache,
          cacheTtlMs: c.cacheTtlMs,
          timeoutMs: c.timeoutMs,
          signal: handle.signal,
          onDelta: (t) => sink.push(t),
        });
        if (single.error) {
          sink.push(`${single.text ? '\n' : ''}[FastLLM error: ${single.error.message}]`);
          result.errors.push({ index: 0, ...single.error });
        }
        await sink.close();
        result.answers.push(single.error ? null : single.text);
      } else {
        await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: 'FastLLM: running the selection', cancellable: true },
          async (progress, token) => {
            token.onCancellationRequested(() => handle.cancel());
            let done = 0;
            for await (const record of manager.run(requests, { signal: handle.signal, total: requests.length })) {
              const index = Number(record.custom_id.slice('selection-'.length)) - 1;
              if (record.error) {
                result.answers[index] = null;
                result.errors.push({ index, ...record.error });
              } else {
                result.answers[index] = mod.answerText(record.response?.body);
              }
              progress.report({ message: `${++done}/${requests.length}`, increment: 100 / requests.length });
            }
          },
        );
        result.target = await this.write(doc, version, units, result, output, mode);
      }
    } catch (e) {
      const message = this.log.mask((e as Error).message);
      this.log.error(`Run on Selection failed: ${message}`);
      void vscode.window.showErrorMessage(`FastLLM: ${message}`);
      return undefined;
    } finally {
      handle.end();
    }
    if (result.errors.length) {
      const first = result.errors[0]!;
      const message = this.log.mask(first.message);
      this.log.warn(`Run on Selection: ${result.errors.length} of ${units.length} prompts failed; first: ${message}`);
      if (first.code === 'auth_failed') this.engine.keyRejected('The server rejected the API key');
      void vscode.window.showWarningMessage(`FastLLM: ${result.errors.length} of ${units.length} prompts failed: ${message}`);
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

  /** Writes non-streamed answers where `fastllm.selection.output` says. Failed prompts leave their text alone. */
  private async write(
    doc: vscode.TextDocument,
    version: number,
    units: Unit[],
    result: SelectionResult,
    output: SelectionOutput,
    mode: 'whole' | 'perLine',
  ): Promise<vscode.Uri> {
    const text = (i: number) => result.answers[i] ?? `[FastLLM error: ${result.errors.find((e) => e.index === i)?.message ?? 'no answer'}]`;
    if (output !== 'beside' && doc.version !== version) {
      // The ranges no longer point at the prompts: do not write into the wrong place.
      void vscode.window.showWarningMessage('FastLLM: the document changed during the run; the answers open beside it instead.');
      output = 'beside';
    }
    if (output === 'beside') {
      const content = units.map((_, i) => text(i)).join(mode === 'perLine' ? '\n' : '\n\n');
      const answers = await vscode.workspace.openTextDocument({ content, language: 'markdown' });
      await vscode.window.showTextDocument(answers, { viewColumn: vscode.ViewColumn.Beside, preview: false });
      return answers.uri;
    }
    const edit = new vscode.WorkspaceEdit();
    units.forEach((u, i) => {
      if (output === 'replace') {
        if (result.answers[i] !== null && result.answers[i] !== undefined) edit.replace(doc.uri, u.range, result.answers[i]!);
      } else {
        edit.insert(doc.uri, doc.lineAt(u.range.end.line).range.end, `\n${text(i)}`);
      }
    });
    await vscode.workspace.applyEdit(edit);
    return doc.uri;
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

/**
 * Appends streamed text to a document, batching pieces into one edit every {@link FLUSH_MS}.
 * Edits run one after another; the insertion point is an offset that moves with the text.
 */
class StreamSink {
  private pending = '';
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly doc: vscode.TextDocument,
    private offset: number,
  ) {}

  get uri(): vscode.Uri {
    return this.doc.uri;
  }

  static async beside(): Promise<StreamSink> {
    const doc = await vscode.workspace.openTextDocument({ content: '', language: 'markdown' });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
    return new StreamSink(doc, 0);
  }

  static async below(doc: vscode.TextDocument, range: vscode.Range): Promise<StreamSink> {
    const end = doc.lineAt(range.end.line).range.end;
    const edit = new vscode.WorkspaceEdit();
    edit.insert(doc.uri, end, '\n');
    await vscode.workspace.applyEdit(edit);
    return new StreamSink(doc, doc.offsetAt(end) + 1);
  }

  push(text: string): void {
    if (!text) return;
    this.pending += text;
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  private flush(): Promise<unknown> {
    this.timer = undefined;
    const text = this.pending;
    this.pending = '';
    if (!text) return this.chain;
    this.chain = this.chain.then(async () => {
      const edit = new vscode.WorkspaceEdit();
      edit.insert(this.doc.uri, this.doc.positionAt(this.offset), text);
      await vscode.workspace.applyEdit(edit);
      // VS Code stores the document's own line ends: count what was actually inserted.
      this.offset += this.doc.eol === vscode.EndOfLine.CRLF ? text.replace(/\r?\n/g, '\r\n').length : text.length;
    }).catch(() => undefined); // the document was closed: the answer is still returned
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.flush();
  }
}
