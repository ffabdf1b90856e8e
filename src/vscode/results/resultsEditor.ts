/**
 * The Results view: a read-only custom editor for `*.results.jsonl` (viewType `fastllm.results`,
 * priority "default", so *Reopen With… → Text Editor* is one click away). One {@link ResultsEditor}
 * per open tab: it owns a {@link ResultsModel} over the file, serves the page rows a page at a time
 * (the page never holds the file), and polls the file and its partial file while the tab is open,
 * so that a run writing it fills the grid live.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_PRICES } from '../../core/pricing';
import { exportCsv, writeAnswersColumn } from '../../core/results/export';
import { ResultsModel } from '../../core/results/view';
import { parseResultsPageMessage, type ResultsHostMessage, type ResultsPageMessage } from '../../webview/resultsProtocol';
import type { Config } from '../config';
import { Disposable } from '../dispose';
import type { Engine } from '../engine';
import type { Log } from '../log';
import { pageHtml, webviewOptions } from '../panels/html';

/** The command that opens a results file in this view: `(uri?: Uri)`. */
export const OPEN_RESULTS_COMMAND = 'fastllm.openResults';
/** Reruns rows of a results file: `(resultsUri: Uri, customIds: string[], options?: { refresh?: boolean })`. */
export const RERUN_ROWS_COMMAND = 'fastllm.rerunRows';
/** batchCommand.ts's memento of runs: results path → input path, newest first. */
const RUNS_KEY = 'fastllm.batchRuns';
/** Per CSV file: the template the user gave for it (batchInput.ts). */
const TEMPLATE_KEY_PREFIX = 'fastllm.csvTemplate:';
/** How often an open view looks at its files for new rows. */
const POLL_MS = 400;

interface ResultsDocument extends vscode.CustomDocument {
  readonly uri: vscode.Uri;
}

/** Registers the custom editor and the Open Results View command. */
export class ResultsEditorProvider extends Disposable implements vscode.CustomReadonlyEditorProvider<ResultsDocument> {
  static readonly viewType = 'fastllm.results';
  /** The open editors, for tests. */
  readonly editors = new Set<ResultsEditor>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly memento: vscode.Memento,
    private readonly log: Log,
    rerunRows: (uri: vscode.Uri, ids: string[], options?: { refresh?: boolean }) => Promise<unknown>,
  ) {
    super();
    this._register(
      vscode.commands.registerCommand(RERUN_ROWS_COMMAND, (uri: unknown, ids: unknown, options?: unknown) => {
        if (!(uri instanceof vscode.Uri) || !Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) return undefined;
        const refresh = typeof options === 'object' && options !== null && (options as { refresh?: unknown }).refresh === true;
        return rerunRows(uri, ids as string[], { refresh });
      }),
    );
    this._register(
      vscode.window.registerCustomEditorProvider(ResultsEditorProvider.viewType, this, {
        // A hidden tab keeps its page: scrolling back to it must not start from the top.
        webviewOptions: { retainContextWhenHidden: true },
        supportsMultipleEditorsPerDocument: true,
      }),
    );
    this._register(vscode.commands.registerCommand(OPEN_RESULTS_COMMAND, (uri?: unknown) => this.openCommand(uri)));
  }

  openCustomDocument(uri: vscode.Uri): ResultsDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: ResultsDocument, panel: vscode.WebviewPanel): Promise<void> {
    const file = document.uri.fsPath;
    const input = this.memento.get<[string, string][]>(RUNS_KEY, []).find(([out]) => out === file)?.[1];
    const reader = this.engine.readerOptions();
    const editor = new ResultsEditor(panel, this.extensionUri, this.log, async () => {
      const model = await ResultsModel.open(file, { input, reader, prices: { ...DEFAULT_PRICES, ...this.config.prices } });
      // A CSV input without a prompt column: the template the user gave it for the run.
      const csv = model.input?.format === 'csv' ? model.input.path : undefined;
      const template = csv ? this.memento.get<string>(TEMPLATE_KEY_PREFIX + csv) : undefined;
      if (!template || reader.template) return model;
      await model.close();
      return ResultsModel.open(file, { input, reader: { ...reader, template }, prices: { ...DEFAULT_PRICES, ...this.config.prices } });
    });
    this.editors.add(editor);
    editor.onDispose(() => this.editors.delete(editor));
  }

  /** Open Results View: the given file, else the active editor's results file, else the newest run's. */
  private async openCommand(uri: unknown): Promise<void> {
    let target = uri instanceof vscode.Uri ? uri : undefined;
    const active = vscode.window.activeTextEditor?.document.uri;
    if (!target && active && /\.results\.jsonl$/i.test(active.fsPath)) target = active;
    if (!target) {
      const runs = this.memento.get<[string, string][]>(RUNS_KEY, []).filter(([out]) => existsSync(out));
      if (runs.length === 1) target = vscode.Uri.file(runs[0]![0]);
      else if (runs.length > 1) {
        const pick = await vscode.window.showQuickPick(
          runs.map(([out, inp]) => ({ label: path.basename(out), description: path.basename(inp), out })),
          { title: 'FastLLM: Open Results View', placeHolder: 'Results of a run' },
        );
        if (pick) target = vscode.Uri.file(pick.out);
      } else {
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Results: ['jsonl'] }, openLabel: 'Open Results' });
        target = picked?.[0];
      }
    }
    if (target) await vscode.commands.executeCommand('vscode.openWith', target, ResultsEditorProvider.viewType);
  }
}

/** One Results view tab. */
export class ResultsEditor extends Disposable {
  private model: ResultsModel | undefined;
  private generation = 0;
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly closing = new vscode.EventEmitter<void>();
  readonly onDispose = this.closing.event;
  /** Messages posted to the page, the last 50 (for tests). */
  readonly posted: ResultsHostMessage[] = [];

  constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly log: Log,
    openModel: () => Promise<ResultsModel>,
  ) {
    super();
    this._register(this.closing);
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = pageHtml(panel.webview, extensionUri, {
      title: 'FastLLM Results',
      script: 'results.js',
      stylesheet: 'results.css',
      body: '<main id="results-root" data-testid="results-root"></main>',
    });
    this._register(panel.onDidDispose(() => this.dispose()));
    const opening = openModel().then(
      (m) => {
        if (this.disposed) void m.close();
        else this.model = m;
        return m;
      },
      (e: unknown) => {
        this.log.warn(`Results view: ${(e as Error).message}`);
        this.send({ type: 'notice', text: `Cannot read the results: ${(e as Error).message}` });
        return undefined;
      },
    );
    this.busy = opening;
    this._register(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const msg = parseResultsPageMessage(raw);
        if (!msg) {
          log.warn('Results view: ignored a malformed message from the page.');
          return;
        }
        // One message at a time, in order: a page request never sees a half-applied query.
        this.busy = this.busy.then(() => this.handle(msg)).catch((e: unknown) => this.log.warn(`Results view: ${(e as Error).message}`));
      }),
    );
    this.timer = setInterval(() => {
      if (!this.model || !this.ready) return;
      this.busy = this.busy.then(() => this.poll()).catch(() => undefined);
    }, POLL_MS);
  }

  /** Looks at the files; when rows may have changed, tells the page (which asks again for what it shows). */
  private async poll(): Promise<void> {
    if (!this.model || this.disposed) return;
    if (await this.model.refresh()) this.sendMeta();
  }

  private sendMeta(): void {
    if (!this.model) return;
    this.generation++;
    const meta = this.model.meta();
    this.panel.title = meta.partial ? `${meta.title} (running…)` : meta.title;
    this.send({ type: 'meta', meta, generation: this.generation });
  }

  private async handle(msg: ResultsPageMessage): Promise<void> {
    const model = this.model;
    if (msg.type === 'ready') {
      this.ready = true;
      if (model) this.sendMeta();
      return;
    }
    if (!model) return;
    switch (msg.type) {
      case 'query':
        await model.setQuery(msg);
        this.sendMeta();
        return;
      case 'page':
        this.send({ type: 'page', start: msg.start, rows: await model.page(msg.start, msg.count), generation: this.generation });
        return;
      case 'detail': {
        const detail = await model.detail(msg.position);
        if (detail) this.send({ type: 'detail', detail });
        return;
      }
      case 'action':
        await this.act(model, msg.action, msg.positions);
        return;
    }
  }

  private async act(model: ResultsModel, action: string, positions: number[]): Promise<void> {
    const first = positions[0];
    if (action === 'copy' && first !== undefined) {
      const detail = await model.detail(first);
      if (!detail) return;
      await vscode.env.clipboard.writeText(detail.answer);
      this.send({ type: 'notice', text: `Copied the answer of ${detail.custom_id}.` });
    } else if (action === 'openInput' && first !== undefined) {
      const row = model.rowsAt([first])[0];
      const input = model.input?.path;
      if (!row || !input) {
        this.send({ type: 'notice', text: 'The input file was not found beside the results.' });
        return;
      }
      const at = new vscode.Position(Math.max(0, row.line - 1), 0);
      await vscode.window.showTextDocument(vscode.Uri.file(input), { selection: new vscode.Range(at, at), viewColumn: vscode.ViewColumn.Beside, preview: true });
    } else if (action === 'rerun' || action === 'rerunRows') {
      const rows = model.rowsAt(action === 'rerun' ? positions.slice(0, 1) : positions.length ? positions : undefined);
      if (rows.length === 0) return;
      this.send({ type: 'notice', text: `Running ${rows.length === 1 ? rows[0]!.custom_id : `${rows.length.toLocaleString()} rows`} again…` });
      // refresh: a rerun that answered from the cache would give the same answer back.
      void vscode.commands.executeCommand(RERUN_ROWS_COMMAND, vscode.Uri.file(model.file), rows.map((r) => r.custom_id), { refresh: true });
    } else if (action === 'exportCsv') {
      const out = freshName(model.file.replace(/\.results\.jsonl$/i, '').replace(/\.jsonl$/i, '') + '.export.csv');
      const n = await exportCsv(model.primary, model.input, out, model.rowsInOrder);
      this.log.info(`Results view: exported ${n} rows to ${out}`);
      this.send({ type: 'notice', text: `Exported ${n.toLocaleString()} rows to ${path.basename(out)}.` });
      void vscode.window.showInformationMessage(`FastLLM: exported ${n.toLocaleString()} rows to ${path.basename(out)}.`, 'Open').then((pick) => {
        if (pick) void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(out));
      });
    } else if (action === 'writeAnswers') {
      const input = model.input;
      if (!input || input.format !== 'csv') {
        this.send({ type: 'notice', text: 'Answers can be written back as a column only for a CSV input.' });
        return;
      }
      const out = freshName(input.path.replace(/\.csv$/i, '') + '.answers.csv');
      const n = await writeAnswersColumn(model.primary, input, out);
      this.log.info(`Results view: wrote ${n} rows with answers to ${out}`);
      this.send({ type: 'notice', text: `Wrote ${path.basename(input.path)} with an answer column to ${path.basename(out)} (${n.toLocaleString()} rows).` });
      void vscode.window.showInformationMessage(`FastLLM: wrote the answers as a new column to ${path.basename(out)}; ${path.basename(input.path)} is unchanged.`, 'Open').then((pick) => {
        if (pick) void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(out));
      });
    }
  }

  private send(message: ResultsHostMessage): void {
    this.posted.push(message);
    if (this.posted.length > 50) this.posted.shift();
    if (!this.ready) return;
    void this.panel.webview.postMessage(message);
  }

  override dispose(): void {
    if (this.disposed) return;
    if (this.timer) clearInterval(this.timer);
    this.closing.fire();
    const model = this.model;
    this.model = undefined;
    void this.busy.finally(() => model?.close());
    super.dispose();
  }
}

/** `name.ext`, else `name-2.ext`, `name-3.ext`, …: an export never replaces a file. */
function freshName(file: string): string {
  if (!existsSync(file)) return file;
  const ext = path.extname(file);
  const stem = file.slice(0, -ext.length);
  for (let n = 2; ; n++) if (!existsSync(`${stem}-${n}${ext}`)) return `${stem}-${n}${ext}`;
}
