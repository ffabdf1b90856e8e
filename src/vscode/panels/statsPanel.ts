import * as vscode from 'vscode';
import { parseStatsPageMessage, type StatsHostMessage, type StatsPageCommand } from '../../webview/protocol';
import { COMMANDS } from '../commands';
import { Disposable } from '../dispose';
import type { Log } from '../log';
import type { RunTracker } from '../runs';
import { pageHtml, webviewOptions } from './html';

const PAGE_COMMANDS: Record<StatsPageCommand, string> = {
  cancelRun: COMMANDS.cancelRun,
  openCacheBrowser: COMMANDS.openCacheBrowser,
  showLog: COMMANDS.showLog,
};

/**
 * The Token Stats panel. The page asks for data with `ready` when it (re)loads, so hiding it
 * (which discards the page) and showing it again replays the latest view; the page also keeps the
 * last view with `setState`, so after a restart the serializer's revived panel shows it at once.
 */
export class StatsPanel extends Disposable {
  static readonly viewType = 'fastllm.stats';
  private static current: StatsPanel | undefined;
  private ready = false;

  /** Shows the panel, creating it if needed. */
  static show(extensionUri: vscode.Uri, runs: RunTracker, log: Log): StatsPanel {
    if (StatsPanel.current) {
      StatsPanel.current.panel.reveal(undefined, false);
      return StatsPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(StatsPanel.viewType, 'FastLLM Token Stats', vscode.ViewColumn.Active, webviewOptions(extensionUri));
    return (StatsPanel.current = new StatsPanel(panel, extensionUri, runs, log));
  }

  /** Adopts a panel restored by VS Code after a restart. */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, runs: RunTracker, log: Log): void {
    StatsPanel.current?.dispose();
    StatsPanel.current = new StatsPanel(panel, extensionUri, runs, log);
  }

  /** The open panel, if any (for tests). */
  static get instance(): StatsPanel | undefined {
    return StatsPanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly runs: RunTracker,
    log: Log,
  ) {
    super();
    this._register(panel);
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = pageHtml(panel.webview, extensionUri, {
      title: 'FastLLM Token Stats',
      script: 'stats.js',
      body: '<main id="stats-root" data-testid="stats-root"></main>',
    });
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const msg = parseStatsPageMessage(raw);
        if (!msg) {
          // Not from our page, or malformed: never used, but said, so that an attack shows.
          log.warn('Token Stats: ignored a malformed message from the page.');
          return;
        }
        if (msg.type === 'ready') {
          this.ready = true;
          this.post();
        } else {
          void vscode.commands.executeCommand(PAGE_COMMANDS[msg.command]);
        }
      }),
    );
    this._register(
      // A hidden page is discarded; shown again it reloads and sends `ready`. Posting on
      // visibility as well covers a page that was kept (a message to a loading page is dropped).
      panel.onDidChangeViewState(() => this.post()),
    );
    this._register(runs.onDidChange(() => this.post()));
  }

  private post(): void {
    if (!this.ready || !this.panel.visible) return;
    const message: StatsHostMessage = { type: 'stats', view: this.runs.view() };
    void this.panel.webview.postMessage(message);
  }

  override dispose(): void {
    if (StatsPanel.current === this) StatsPanel.current = undefined;
    super.dispose();
  }
}
