import * as vscode from 'vscode';
import {
  parseCachePageMessage,
  parseCachePageState,
  type CacheHostMessage,
  type CachePageMessage,
  type CachePageState,
} from '../../webview/protocol';
import type { CacheEntry } from '../../core/types';
import type { Config } from '../config';
import { Disposable } from '../dispose';
import type { Engine } from '../engine';
import type { Log } from '../log';
import type { RunTracker } from '../runs';
import { pageHtml, webviewOptions } from './html';

/**
 * The Cache Browser panel: pages of the workspace cache (newest first, filtered by text), one
 * entry in full with its key composition, and deletion.
 *
 * Every message from the page is validated (`parseCachePageMessage`) before use; messages carry
 * cache keys and page numbers, never paths, and deleting more than one entry always goes through a
 * modal confirmation shown by the host, which the page cannot answer. A single entry goes at once,
 * and the page offers Undo: the host keeps that one entry and puts it back on `undoDelete`.
 */
export class CacheBrowserPanel extends Disposable {
  static readonly viewType = 'fastllm.cacheBrowser';
  private static current: CacheBrowserPanel | undefined;
  private state: CachePageState;
  /** Messages are handled one at a time, in order, so a delete and the list after it never race. */
  private queue: Promise<void> = Promise.resolve();
  /** The entry deleted last, kept so that the page's Undo can put it back (one only). */
  private lastDeleted: { key: string; entry: CacheEntry } | undefined;

  static show(extensionUri: vscode.Uri, engine: Engine, config: Config, runs: RunTracker, log: Log): CacheBrowserPanel {
    if (CacheBrowserPanel.current) {
      CacheBrowserPanel.current.panel.reveal(undefined, false);
      return CacheBrowserPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(CacheBrowserPanel.viewType, 'FastLLM Cache', vscode.ViewColumn.Active, webviewOptions(extensionUri));
    return (CacheBrowserPanel.current = new CacheBrowserPanel(panel, extensionUri, engine, config, runs, log, undefined));
  }

  static revive(panel: vscode.WebviewPanel, state: unknown, extensionUri: vscode.Uri, engine: Engine, config: Config, runs: RunTracker, log: Log): void {
    CacheBrowserPanel.current?.dispose();
    CacheBrowserPanel.current = new CacheBrowserPanel(panel, extensionUri, engine, config, runs, log, state);
  }

  /** Lists the page again if the panel is open (after Clear Cache, for instance). */
  static refresh(): void {
    CacheBrowserPanel.current?.enqueue(() => CacheBrowserPanel.current!.sendPage());
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly engine: Engine,
    private readonly config: Config,
    runs: RunTracker,
    private readonly log: Log,
    state: unknown,
  ) {
    super();
    this.state = parseCachePageState(state);
    this._register(panel);
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = pageHtml(panel.webview, extensionUri, { title: 'FastLLM Cache', script: 'cacheBrowser.js', body: BODY });
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const msg = parseCachePageMessage(raw);
        if (!msg) {
          this.log.warn('Cache browser: ignored a malformed message from the page.');
          return;
        }
        this.enqueue(() => this.handle(msg));
      }),
    );
    // New answers arrive with runs: show them when a run ends.
    this._register(
      runs.onDidEndRun(() => {
        if (this.panel.visible) this.enqueue(() => this.sendPage());
      }),
    );
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((e: unknown) => {
      const message = this.log.mask((e as Error).message);
      this.log.error(`Cache browser: ${message}`);
      this.post({ type: 'error', message });
    });
  }

  private async handle(msg: CachePageMessage): Promise<void> {
    switch (msg.type) {
      case 'ready':
        return this.sendPage();
      case 'list':
        this.state = { offset: msg.offset, limit: msg.limit, filter: msg.filter };
        return this.sendPage();
      case 'show': {
        const cache = await this.engine.cache();
        const entry = await cache.get(msg.key);
        this.post({ type: 'entry', key: msg.key, entry: entry ? this.engine.load().cacheEntryView(msg.key, entry) : null });
        return;
      }
      case 'delete': {
        const cache = await this.engine.cache();
        const entry = await cache.get(msg.key);
        await cache.delete(msg.key);
        this.log.info(`Cache: deleted ${msg.key}`);
        this.lastDeleted = entry && { key: msg.key, entry };
        this.post({ type: 'entry', key: msg.key, entry: null });
        if (entry) this.post({ type: 'deleted', key: msg.key, prompt: this.engine.load().cacheEntryView(msg.key, entry).prompt.slice(0, 200) });
        return this.sendPage();
      }
      case 'undoDelete': {
        const deleted = this.lastDeleted;
        this.lastDeleted = undefined;
        if (!deleted) return;
        const { key, entry } = deleted;
        // It keeps the expiry it had; an entry that expired meanwhile stays deleted.
        const ttl = entry.expires === null ? undefined : entry.expires - Date.now();
        if (ttl !== undefined && ttl <= 0) return this.sendPage();
        await (await this.engine.cache()).set(key, entry, ttl);
        this.log.info(`Cache: restored ${key}`);
        return this.sendPage();
      }
      case 'deleteFiltered': {
        const cache = await this.engine.cache();
        const n = await cache.count(msg.filter);
        if (n === 0) return this.sendPage();
        const pick = await vscode.window.showWarningMessage(
          `Delete ${n.toLocaleString()} cache ${n === 1 ? 'entry' : 'entries'} matching "${msg.filter}"?`,
          { modal: true, detail: 'Their requests will be sent to the API again the next time they run.' },
          'Delete',
        );
        if (pick !== 'Delete') return;
        const deleted = await cache.clear(msg.filter);
        this.log.info(`Cache: deleted ${deleted} entries matching the filter.`);
        this.state = { ...this.state, offset: 0 };
        return this.sendPage();
      }
      case 'clearAll':
        await vscode.commands.executeCommand('fastllm.clearCache');
        return;
    }
  }

  private async sendPage(): Promise<void> {
    this.post({ type: 'busy', busy: true });
    try {
      const cache = await this.engine.cache();
      const mod = this.engine.load();
      let { offset } = this.state;
      const { limit, filter } = this.state;
      let page = await mod.cacheRows(cache, { offset, limit, filter });
      if (page.rows.length === 0 && offset > 0 && page.total > 0) {
        // Deletions emptied this page: show the last page that still has entries.
        offset = Math.floor((page.total - 1) / limit) * limit;
        page = await mod.cacheRows(cache, { offset, limit, filter });
      }
      this.state = { offset, limit, filter };
      const [totalAll, fileSize] = await Promise.all([filter ? cache.count() : Promise.resolve(page.total), this.engine.cacheFileSize()]);
      this.post({
        type: 'page',
        page: {
          rows: page.rows,
          total: page.total,
          totalAll,
          offset,
          limit,
          filter,
          fileSize,
          location: this.engine.cachePath,
          enabled: this.config.cacheEnabled,
        },
      });
    } finally {
      this.post({ type: 'busy', busy: false });
    }
  }

  private post(message: CacheHostMessage): void {
    void this.panel.webview.postMessage(message);
  }

  override dispose(): void {
    if (CacheBrowserPanel.current === this) CacheBrowserPanel.current = undefined;
    super.dispose();
  }
}

/** Static skeleton; the page script fills it with `textContent` only. Ids are in CACHE_IDS. */
const BODY = `
<header class="toolbar">
  <input id="cache-search" data-testid="cache-search" type="search" placeholder="Search prompts, answers, models, keys…" aria-label="Search the cache">
  <span id="cache-count" data-testid="cache-count" class="muted" aria-live="polite"></span>
  <span class="spacer"></span>
  <button id="cache-prev" data-testid="cache-prev" class="secondary" title="Previous page">‹ Prev</button>
  <button id="cache-next" data-testid="cache-next" class="secondary" title="Next page">Next ›</button>
  <button id="cache-delete-filtered" data-testid="cache-delete-filtered" class="secondary" disabled>Delete matching</button>
  <button id="cache-clear-all" data-testid="cache-clear-all" class="secondary">Clear all</button>
</header>
<div id="cache-error" data-testid="cache-error" class="error" role="alert" hidden></div>
<div id="cache-undo" data-testid="cache-undo" class="notice" role="status" hidden>
  <span id="cache-undo-text"></span>
  <button id="cache-undo-button" data-testid="cache-undo-button" class="secondary">Undo</button>
</div>
<div id="cache-split" class="split">
  <div class="list">
    <table class="entries">
      <thead><tr><th class="col-time">Time</th><th class="col-model">Model</th><th>Prompt</th><th>Answer</th><th class="num col-tokens">Tokens</th><th class="num col-size">Size</th><th class="col-expires">Expires</th><th class="col-delete"></th></tr></thead>
      <tbody id="cache-rows" data-testid="cache-rows"></tbody>
    </table>
  </div>
  <section id="cache-detail" data-testid="cache-detail" class="detail" hidden aria-labelledby="cache-detail-title">
    <div class="detail-head">
      <h2 id="cache-detail-title" data-testid="cache-detail-title" tabindex="-1"></h2>
      <button id="cache-detail-close" class="icon" title="Close the detail" aria-label="Close the detail">✕</button>
    </div>
    <div class="detail-actions">
      <button id="cache-detail-delete" data-testid="cache-detail-delete" class="secondary">Delete entry</button>
    </div>
    <dl id="cache-detail-meta" data-testid="cache-detail-meta" class="meta"></dl>
    <h3>Request</h3>
    <pre id="cache-detail-request" data-testid="cache-detail-request"></pre>
    <h3>Response</h3>
    <pre id="cache-detail-response" data-testid="cache-detail-response"></pre>
    <h3>How the key was composed</h3>
    <table id="cache-detail-hash" data-testid="cache-detail-hash" class="hash"></table>
  </section>
</div>
<footer class="muted">
  <span id="cache-total" data-testid="cache-total"></span> ·
  <span id="cache-file-size" data-testid="cache-file-size"></span> ·
  <span id="cache-location" data-testid="cache-location"></span>
</footer>
`;
