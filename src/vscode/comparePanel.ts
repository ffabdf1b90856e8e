import * as vscode from 'vscode';
import { parseComparePageMessage, type CompareHostMessage, type CompareView } from '../webview/compareProtocol';
import { Disposable } from './dispose';
import type { Log } from './log';
import { pageHtml, webviewOptions } from './panels/html';

/**
 * The Compare panel: the summary of two results files and the rows whose answers differ (with more
 * than two files, of the first and one other, chosen on the page). One panel at a time; a new
 * comparison replaces its view. The page asks with `ready` whenever it (re)loads,
 * and the host answers with the current view, so a hidden and shown again panel is never blank.
 * Clicking a row asks the host (by row index, validated) to open that row's diff.
 */
export class ComparePanel extends Disposable {
  static readonly viewType = 'fastllm.compare';
  private static current: ComparePanel | undefined;
  private view: CompareView | undefined;
  private busy = false;
  private ready = false;

  /**
   * Shows the panel, creating it if needed (`reveal: false` leaves an open one where it is).
   * `openDiff` is called with a listed row's index.
   */
  static show(extensionUri: vscode.Uri, log: Log, openDiff: (index: number) => void, reveal = true, compareWith?: (index: number) => void): ComparePanel {
    if (ComparePanel.current) {
      ComparePanel.current.openDiff = openDiff;
      ComparePanel.current.compareWith = compareWith;
      if (reveal) ComparePanel.current.panel.reveal(undefined, false);
      return ComparePanel.current;
    }
    const panel = vscode.window.createWebviewPanel(ComparePanel.viewType, 'FastLLM Compare', vscode.ViewColumn.Active, webviewOptions(extensionUri));
    return (ComparePanel.current = new ComparePanel(panel, extensionUri, log, openDiff, compareWith));
  }

  /**
   * Takes over a panel VS Code restored after a restart. Its page shows the view it kept until the
   * host sends a new one; until then `openDiff` is what a click does.
   */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, log: Log, openDiff: (index: number) => void): ComparePanel {
    ComparePanel.current?.dispose();
    panel.webview.options = webviewOptions(extensionUri);
    return (ComparePanel.current = new ComparePanel(panel, extensionUri, log, openDiff));
  }

  /** The open panel, if any (for tests). */
  static get instance(): ComparePanel | undefined {
    return ComparePanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    log: Log,
    private openDiff: (index: number) => void,
    /** Called with an index into the view's group (a comparison of more than two files). */
    private compareWith?: (index: number) => void,
  ) {
    super();
    this._register(panel);
    panel.webview.html = pageHtml(panel.webview, extensionUri, {
      title: 'FastLLM Compare',
      script: 'compare.js',
      stylesheet: 'compare.css',
      body: '<main id="compare-root" data-testid="compare-root"></main>',
    });
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const msg = parseComparePageMessage(raw);
        if (!msg) {
          log.warn('Compare: ignored a malformed message from the page.');
          return;
        }
        if (msg.type === 'ready') {
          this.ready = true;
          this.post();
        } else if (msg.type === 'compareWith') {
          if (this.view?.group && msg.index < this.view.group.length) this.compareWith?.(msg.index);
        } else if (!this.view || msg.index < this.view.rows.length) {
          // Before a view is sent (a restored panel), the page shows the one it kept; the
          // controller's openDiff checks the index against it.
          this.openDiff(msg.index);
        }
      }),
    );
    this._register(panel.onDidChangeViewState(() => this.post()));
  }

  /** Says that a comparison is running (the page dims its list). */
  setBusy(busy: boolean): void {
    this.busy = busy;
    this.send({ type: 'busy', busy });
  }

  /** Shows a comparison. */
  show(view: CompareView): void {
    this.view = view;
    this.busy = false;
    this.panel.title = `Compare: ${view.nameA} ↔ ${view.nameB}`;
    this.post();
  }

  private post(): void {
    if (this.view) this.send({ type: 'view', view: this.view });
    this.send({ type: 'busy', busy: this.busy });
  }

  private send(message: CompareHostMessage): void {
    if (!this.ready || !this.panel.visible) return;
    void this.panel.webview.postMessage(message);
  }

  override dispose(): void {
    if (ComparePanel.current === this) ComparePanel.current = undefined;
    super.dispose();
  }
}
