import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { compareResults, type CompareSummary, type DiffRow } from '../core/compare';
import { DEFAULT_PRICES } from '../core/pricing';
import { MAX_GROUP, parseCompareState, PREVIEW_CHARS, type CompareView } from '../webview/compareProtocol';
import { ComparePanel } from './comparePanel';
import type { Config } from './config';
import { Disposable } from './dispose';
import type { Log } from './log';

/**
 * The command id. It is registered here rather than in the shared table of `commands.ts`, so that
 * this feature stays in its own files; it is contributed in package.json like the others.
 * `(uri?: Uri, uris?: Uri[])` → {@link CompareOutcome} | undefined
 */
export const COMPARE_COMMAND = 'fastllm.compareResults';

/** The scheme of the read-only documents that hold each side's answer for the diff editor. */
export const COMPARE_SCHEME = 'fastllm-compare';

/** Rows listed in the view (and held for the diff editor); the counts cover every row. */
const MAX_LISTED = 1000;
/** Comparisons whose answers stay available to diff editors that are still open. */
const KEPT_COMPARISONS = 5;

/** What the command returns (for tests and other extensions): the counts and each row's diff documents. */
export interface CompareOutcome {
  summary: Omit<CompareSummary, 'rows'>;
  rows: { custom_id: string; kind: DiffRow['kind']; left: string; right: string }[];
}

/**
 * Holds the answer texts of recent comparisons and serves them as `fastllm-compare:` documents:
 * `fastllm-compare:/<comparison>/<row>/<A|B>/<custom_id>`. Nothing is written to disk.
 */
class AnswerDocuments implements vscode.TextDocumentContentProvider {
  private readonly comparisons = new Map<number, Map<string, string>>();
  private next = 1;

  /** Stores a comparison's rows; returns the left and right URI of each row. */
  add(rows: DiffRow[], nameA: string, nameB: string): { left: vscode.Uri; right: vscode.Uri }[] {
    const id = this.next++;
    const docs = new Map<string, string>();
    const uris = rows.map((row, i) => {
      const left = this.uri(id, i, 'A', row.custom_id);
      const right = this.uri(id, i, 'B', row.custom_id);
      docs.set(left.path, row.a ?? `(no row "${row.custom_id}" in ${nameA})\n`);
      docs.set(right.path, row.b ?? `(no row "${row.custom_id}" in ${nameB})\n`);
      return { left, right };
    });
    this.comparisons.set(id, docs);
    for (const old of this.comparisons.keys()) if (this.comparisons.size > KEPT_COMPARISONS) this.comparisons.delete(old);
    return uris;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const id = Number(uri.path.split('/')[1]);
    return this.comparisons.get(id)?.get(uri.path) ?? '(this comparison is no longer in memory: compare the files again)\n';
  }

  private uri(id: number, row: number, side: 'A' | 'B', customId: string): vscode.Uri {
    // The last segment is what the diff editor's tab shows; keep it a readable file name.
    const name = customId.replace(/[/\\?#%:]/g, '_').slice(0, 80) || `row-${row}`;
    return vscode.Uri.from({ scheme: COMPARE_SCHEME, path: `/${id}/${row}/${side}/${name}` });
  }
}

/**
 * FastLLM: Compare Results Files…: picks two results files (or more, selected in the Explorer:
 * the first is compared with each other in turn), compares them in the background, shows the
 * Compare panel and opens a row's answers in the diff editor when the panel asks.
 */
export class CompareController extends Disposable {
  private readonly docs = new AnswerDocuments();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly config: Config,
    private readonly log: Log,
  ) {
    super();
    this._register(vscode.workspace.registerTextDocumentContentProvider(COMPARE_SCHEME, this.docs));
    this._register(vscode.commands.registerCommand(COMPARE_COMMAND, (uri?: unknown, uris?: unknown) => this.run(uri, uris)));
  }

  async run(uri?: unknown, uris?: unknown): Promise<CompareOutcome | undefined> {
    const files = await this.pickFiles(uri, uris);
    if (!files) return undefined;
    // More than two files: the first is A, and the page switches between the others as B.
    return this.compare(files[0]!, files[1]!, true, files.slice(1));
  }

  /**
   * Takes over a Compare panel restored after a restart: its page shows the view it kept, and the
   * two files it names are compared again, so that its rows open in the diff editor as before. If
   * a file is gone, the kept view stays and a click says so.
   */
  async revive(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    const files = parseCompareState(state);
    const missing = files ? [files.fileA, files.fileB].filter((f) => !path.isAbsolute(f) || !existsSync(f)) : [];
    // A file of the group that is gone is left out of it; A and the B shown must be there.
    const group = files?.group.filter((f) => path.isAbsolute(f) && existsSync(f)) ?? [];
    const pending = (reason: string) => () => void vscode.window.showInformationMessage(`FastLLM: ${reason}`);
    const why = !files
      ? 'this comparison was not kept: compare the files again.'
      : missing.length
        ? `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} gone: this view is what was kept; compare the files again.`
        : 'comparing the files again, one moment…';
    ComparePanel.revive(panel, this.extensionUri, this.log, pending(why));
    if (!files || missing.length) {
      this.log.info(`Compare: restored a panel without comparing again (${why})`);
      return;
    }
    await this.compare(files.fileA, files.fileB, false, group);
  }

  /**
   * Compares two results files and shows the outcome in the Compare panel (revealing it unless
   * `reveal` is false). `group`: the files the page offers to compare with A instead (B among them).
   */
  private async compare(fileA: string, fileB: string, reveal = true, group: string[] = [fileB]): Promise<CompareOutcome | undefined> {
    const nameA = this.label(fileA, fileB);
    const nameB = this.label(fileB, fileA);
    let summary: CompareSummary;
    ComparePanel.instance?.setBusy(true);
    try {
      summary = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: `Comparing ${nameA} and ${nameB}` },
        () => compareResults(fileA, fileB, { maxRows: MAX_LISTED, prices: { ...DEFAULT_PRICES, ...this.config.prices } }),
      );
    } catch (e) {
      // `<file>:<line>: …` from the reader, or the file system's message: both name the file.
      const message = (e as Error).message;
      this.log.error(`Compare: ${message}`);
      void vscode.window.showErrorMessage(`FastLLM: cannot compare: ${message}`);
      ComparePanel.instance?.setBusy(false);
      return undefined;
    }
    const uriPairs = this.docs.add(summary.rows, nameA, nameB);
    const view = toView(summary, { nameA, nameB, fileA, fileB });
    if (group.length > 1) view.group = group.map((file) => ({ name: this.label(file, fileA), file }));
    const openDiff = (i: number) => {
      const row = summary.rows[i];
      const pair = uriPairs[i];
      if (row && pair) void this.openDiff(row, pair, nameA, nameB);
    };
    const compareWith = (i: number) => {
      const other = group[i];
      // Asked by the page itself: it is in front already, and a reveal would move the keyboard.
      if (other && other !== fileB) void this.compare(fileA, other, false, group);
    };
    ComparePanel.show(this.extensionUri, this.log, openDiff, reveal, compareWith).show(view);
    this.log.info(
      `Compare ${fileA} ↔ ${fileB}: same ${summary.same}, differ ${summary.differ}, only in A ${summary.onlyA}, only in B ${summary.onlyB}, failed ${summary.failed}.`,
    );
    const { rows, ...counts } = summary;
    return { summary: counts, rows: rows.map((r, i) => ({ custom_id: r.custom_id, kind: r.kind, left: uriPairs[i]!.left.toString(), right: uriPairs[i]!.right.toString() })) };
  }

  private async openDiff(row: DiffRow, pair: { left: vscode.Uri; right: vscode.Uri }, nameA: string, nameB: string): Promise<void> {
    const title = `${row.custom_id}: ${nameA} ↔ ${nameB}`;
    await vscode.commands.executeCommand('vscode.diff', pair.left, pair.right, title, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  /**
   * The files: those selected in the Explorer (two, or more: the first is compared with each of
   * the others), or the clicked one and a pick, or two picks.
   */
  private async pickFiles(uri: unknown, uris: unknown): Promise<string[] | undefined> {
    const selected = Array.isArray(uris) ? uris.filter((u): u is vscode.Uri => u instanceof vscode.Uri) : [];
    if (selected.length > MAX_GROUP + 1) {
      void vscode.window.showErrorMessage(`FastLLM: select at most ${MAX_GROUP + 1} results files to compare.`);
      return undefined;
    }
    if (selected.length >= 2) {
      // The clicked file is A; the others follow in the order they were selected.
      const first = uri instanceof vscode.Uri ? selected.find((u) => u.fsPath === uri.fsPath) : undefined;
      const ordered = first ? [first, ...selected.filter((u) => u !== first)] : selected;
      return ordered.map((u) => u.fsPath);
    }
    const first = uri instanceof vscode.Uri ? uri.fsPath : await this.pickOne('Compare results: first file (A)', undefined);
    if (!first) return undefined;
    const second = await this.pickOne(`Compare ${path.basename(first)} with… (B)`, first);
    return second ? [first, second] : undefined;
  }

  /** A quick pick of the workspace's results files, with "Browse…" for any other file. */
  private async pickOne(title: string, exclude: string | undefined): Promise<string | undefined> {
    const found = await vscode.workspace.findFiles('**/*.results.jsonl', '**/node_modules/**', 500);
    type Item = vscode.QuickPickItem & { file?: string };
    const items: Item[] = found
      .filter((u) => u.fsPath !== exclude)
      .sort((x, y) => x.fsPath.localeCompare(y.fsPath))
      .map((u) => ({ label: path.basename(u.fsPath), description: vscode.workspace.asRelativePath(path.dirname(u.fsPath)), file: u.fsPath }));
    items.push({ label: '$(folder-opened) Browse…', alwaysShow: true });
    // ignoreFocusOut: when the command starts from a webview (the Results view, the Cache Browser),
    // VS Code gives that webview its focus back after the palette or the first pick closes, and
    // that may land after this pick opened: without it, the pick closed by itself (seen in a UI run).
    const picked = await vscode.window.showQuickPick(items, { title, placeHolder: 'A .results.jsonl file', matchOnDescription: true, ignoreFocusOut: true });
    if (!picked) return undefined;
    if (picked.file) return picked.file;
    const chosen = await vscode.window.showOpenDialog({ title, canSelectMany: false, filters: { 'Results (JSONL)': ['jsonl'], 'All files': ['*'] }, openLabel: 'Compare' });
    return chosen?.[0]?.fsPath;
  }

  /** The file name, or its workspace-relative path when both files have the same name. */
  private label(file: string, other: string): string {
    return path.basename(file) === path.basename(other) ? vscode.workspace.asRelativePath(file) : path.basename(file);
  }
}

function preview(text: string | null): string | null {
  if (text === null) return null;
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text;
}

function toView(s: CompareSummary, files: Pick<CompareView, 'nameA' | 'nameB' | 'fileA' | 'fileB'>): CompareView {
  return {
    ...files,
    a: s.a,
    b: s.b,
    same: s.same,
    differ: s.differ,
    failed: s.failed,
    onlyA: s.onlyA,
    onlyB: s.onlyB,
    differing: s.differing,
    identical: s.identical,
    truncated: s.truncated,
    rows: s.rows.map((r) => ({ custom_id: r.custom_id, kind: r.kind, lineA: r.lineA, lineB: r.lineB, previewA: preview(r.a), previewB: preview(r.b) })),
  };
}
