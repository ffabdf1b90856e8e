import * as vscode from 'vscode';
import { Disposable } from './dispose';

/** How many runs the document keeps (newest first); older ones drop off the end. */
const MAX_ENTRIES = 30;
/** Streamed text is shown at most this often: one document update per piece would be too many. */
const REFRESH_MS = 50;
const TITLE_CHARS = 100;

interface Part {
  prompt: string;
  text: string;
  note?: string;
}

/** One prompt's answer as it arrives: append text, or say why there is none. */
export interface AnswerSink {
  push(text: string): void;
  /** Ends the answer; `note` (e.g. why it failed) is shown under it. */
  end(note?: string): void;
}

/**
 * The "FastLLM answers" document: one read-only virtual document (scheme `fastllm-answers`) that
 * Run on Selection writes its answers to, newest run first, instead of a new untitled document per
 * answer that asks to be saved on close. Answers stream into it as they arrive.
 */
export class AnswersDocument extends Disposable implements vscode.TextDocumentContentProvider {
  static readonly scheme = 'fastllm-answers';
  readonly uri = vscode.Uri.from({ scheme: AnswersDocument.scheme, path: '/FastLLM answers.md' });
  private readonly changed = this._register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this.changed.event;
  private entries: Part[][] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    super();
    this._register(vscode.workspace.registerTextDocumentContentProvider(AnswersDocument.scheme, this));
    this._register({ dispose: () => clearTimeout(this.timer) });
  }

  provideTextDocumentContent(): string {
    if (this.entries.length === 0) return 'Answers of FastLLM: Run on Selection appear here, newest first.\n';
    return this.entries.map((parts) => parts.map(render).join('\n\n')).join('\n\n---\n\n') + '\n';
  }

  /** Starts a run with these prompts at the top of the document; one sink per prompt, in order. */
  begin(prompts: readonly string[]): AnswerSink[] {
    const parts: Part[] = prompts.map((prompt) => ({ prompt, text: '' }));
    this.entries = [parts, ...this.entries].slice(0, MAX_ENTRIES);
    this.refresh(true);
    return parts.map((part) => ({
      push: (text) => {
        part.text += text;
        this.refresh(false);
      },
      end: (note) => {
        part.note = note;
        this.refresh(true);
      },
    }));
  }

  /** Shows the document beside the active editor without taking the keyboard, scrolled to the top (the newest). */
  async show(): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(this.uri);
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true, preview: false });
    editor.revealRange(new vscode.Range(0, 0, 0, 0), vscode.TextEditorRevealType.AtTop);
  }

  private refresh(now: boolean): void {
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.changed.fire(this.uri);
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.changed.fire(this.uri);
    }, REFRESH_MS);
  }
}

function render(part: Part): string {
  const line = part.prompt.replace(/\s+/g, ' ').trim();
  const title = line.length > TITLE_CHARS ? `${line.slice(0, TITLE_CHARS - 1)}…` : line;
  const body = part.text.trim() || (part.note ? '' : '…');
  return [`## ${title}`, body, part.note ? `> ${part.note}` : ''].filter((s) => s !== '').join('\n\n');
}
