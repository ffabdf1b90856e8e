import * as path from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { ReaderOptions } from '../core/batch/common';
import type { CacheProvider } from '../core/cache/cacheProvider';
import { CACHE_FILE_SUFFIXES, removeCacheFiles } from '../core/cache/files';
import type { RequestManager } from '../core/manager';
import type { PriceTable } from '../core/pricing';
import type { Provider } from '../core/providers/provider';
import { maskUrlPassword, type Config } from './config';
import { Disposable } from './dispose';
import type { Log } from './log';
import type { RunTracker } from './runs';
import type { Secrets } from './secrets';

/** The lazily loaded engine bundle (`dist/engine.js`, built from `./lazy/index.ts`). */
export type EngineModule = typeof import('./lazy/index');

const CACHE_FILE = 'fastllm-cache.sqlite';

/**
 * Builds the engine's objects from the settings and the stored key: provider, cache and a request
 * manager per run. This is the only place that loads the engine bundle, and it does so on first
 * use, so activation never pays for the openai SDK, sqlite3 or the tokenizer.
 *
 * The cache is one SQLite file per workspace, in `context.storageUri` (the global storage folder
 * when no folder is open), or, when `fastllm.cache.redisUrl` is set, a namespace on a Redis server
 * shared by a team; it is opened once and kept open until the extension stops or those settings change.
 */
export class Engine extends Disposable {
  private module: EngineModule | undefined;
  private cacheOpening: Promise<CacheProvider> | undefined;
  /** The Redis URL and namespace the open cache was opened for ('' for the SQLite file). */
  private cacheTarget = '';
  /** True once the user was told the Redis cache is unreachable; reset when it opens again. */
  private redisWarned = false;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly config: Config,
    private readonly secrets: Secrets,
    private readonly log: Log,
    private readonly runs: RunTracker,
  ) {
    super();
    this._register({ dispose: () => void this.closeCache() });
    this._register(secrets.onDidChange(() => runs.setProblem(undefined)));
    // Another Redis server or namespace: close the cache so that the next use opens the new one.
    this._register(config.onDidChange(() => {
      if (this.cacheOpening && this.cacheTarget !== this.currentCacheTarget()) void this.closeCache();
    }));
  }

  private currentCacheTarget(): string {
    return this.config.cacheRedisUrl ? `${this.config.cacheRedisUrl}\n${this.config.cacheNamespace}` : '';
  }

  /** True once the engine bundle has been loaded. */
  get loaded(): boolean {
    return this.module !== undefined;
  }

  /** The engine bundle, loaded on first call. */
  load(): EngineModule {
    if (!this.module) {
      const started = performance.now();
      // A computed path, so that esbuild leaves this require alone instead of inlining the engine.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      this.module = require(path.join(__dirname, 'engine.js')) as EngineModule;
      this.log.info(`Engine loaded in ${Math.round(performance.now() - started)} ms.`);
    }
    return this.module;
  }

  /** The SQLite file of this workspace's cache, or for a Redis cache its URL (password masked) and namespace. */
  get cachePath(): string {
    const redisUrl = this.config.cacheRedisUrl;
    if (redisUrl) return `${maskUrlPassword(redisUrl)} (namespace ${this.config.cacheNamespace})`;
    const folder = this.context.storageUri ?? this.context.globalStorageUri;
    return path.join(folder.fsPath, CACHE_FILE);
  }

  /** The workspace cache, opened on first use (also when caching is off: the browser shows it). */
  cache(): Promise<CacheProvider> {
    this.cacheOpening ??= (async () => {
      this.cacheTarget = this.currentCacheTarget();
      if (this.cacheTarget) return this.openRedisCache();
      const file = this.cachePath;
      await mkdir(path.dirname(file), { recursive: true });
      const cache = await this.load().SqliteCache.open(file);
      this.log.info(`Cache: ${file}`);
      return cache;
    })();
    // A failed open is not remembered: the next use tries again.
    this.cacheOpening.catch((e: unknown) => {
      this.log.error(`Could not open the cache ${this.cachePath}: ${(e as Error).message}`);
      this.cacheOpening = undefined;
    });
    return this.cacheOpening;
  }

  /**
   * The team cache on Redis. When the server wants a password that SecretStorage does not have
   * (or has a wrong one), asks for it once and tries again.
   */
  private async openRedisCache(): Promise<CacheProvider> {
    const url = this.config.cacheRedisUrl;
    const namespace = this.config.cacheNamespace;
    const { openCache } = this.load();
    const password = await this.secrets.getCachePassword(url);
    let cache: CacheProvider;
    try {
      cache = await openCache(url, { namespace, password });
    } catch (e) {
      if (!/NOAUTH|WRONGPASS|AUTH/.test((e as Error).message)) throw e;
      const asked = await this.secrets.askCachePassword(url, maskUrlPassword(url));
      if (!asked) throw e;
      cache = await openCache(url, { namespace, password: asked });
    }
    this.redisWarned = false;
    this.log.info(`Cache: ${this.cachePath}`);
    return cache;
  }

  /** The cache runs should use: undefined when `fastllm.cache.enabled` is off or the file cannot be opened. */
  async runCache(): Promise<CacheProvider | undefined> {
    if (!this.config.cacheEnabled) return undefined;
    try {
      return await this.cache();
    } catch (e) {
      if (this.config.cacheRedisUrl) {
        // An unreachable team cache only costs API calls: say so once, and try again next run.
        if (!this.redisWarned) {
          this.redisWarned = true;
          const reason = this.log.mask((e as Error).message);
          void vscode.window.showWarningMessage(`FastLLM: running without the team cache (${reason}). Runs try it again until it answers.`);
        }
        return undefined;
      }
      // A damaged or unreadable file must not block runs: go on without it and offer a reset.
      const msg =
        `FastLLM: cannot open the cache ${this.cachePath} (${this.log.mask((e as Error).message)}). ` +
        'Running without the cache: answers are neither reused nor saved. Reset Cache deletes the file and starts an empty cache.';
      void vscode.window.showWarningMessage(msg, 'Reset Cache').then(async (pick) => {
        if (!pick) return;
        try {
          await this.resetCacheFile();
          void vscode.window.showInformationMessage('FastLLM: the cache was reset. The next run starts an empty one.');
        } catch (error) {
          void vscode.window.showErrorMessage(`FastLLM: could not reset the cache: ${(error as Error).message}`);
        }
      });
      return undefined;
    }
  }

  /** Deletes the cache file and its journals, so that the next run starts a fresh cache. */
  async resetCacheFile(): Promise<void> {
    await this.closeCache();
    if (this.config.cacheRedisUrl) return; // never delete a team's cache from here: Clear Cache does
    await removeCacheFiles(this.cachePath);
    this.log.info(`Cache reset: ${this.cachePath}`);
  }

  /** Bytes of the cache file and its SQLite journal, or null if there is none yet. */
  async cacheFileSize(): Promise<number | null> {
    if (this.config.cacheRedisUrl) return null;
    let total: number | null = null;
    for (const suffix of CACHE_FILE_SUFFIXES) {
      try {
        total = (total ?? 0) + (await stat(this.cachePath + suffix)).size;
      } catch {
        // absent
      }
    }
    return total;
  }

  /**
   * A provider for the configured base URL, with the key from secret storage (asked for when
   * missing). Undefined when there is no key and the user did not give one: that blocks runs, and
   * the status bar says so.
   */
  async provider(): Promise<Provider | undefined> {
    const baseURL = this.config.baseUrl;
    const local = isLoopback(baseURL);
    // A local server usually needs no key: do not ask for one (a 401 will say if it does).
    let apiKey = await this.secrets.get(baseURL);
    if (!apiKey && !local) apiKey = await this.secrets.ask(baseURL);
    if (!apiKey) {
      if (!local) {
        this.runs.setProblem(`No API key for ${baseURL}`);
        void vscode.window.showErrorMessage(`FastLLM: no API key for ${baseURL}. Run "FastLLM: Set API Key" first.`, 'Set API Key').then((pick) => {
          if (pick) void vscode.commands.executeCommand('fastllm.setApiKey');
        });
        return undefined;
      }
      apiKey = '';
    }
    this.runs.setProblem(undefined);
    return this.load().createProvider({
      apiKey,
      baseURL,
      organization: this.config.organization,
      project: this.config.project,
      headers: this.config.extraHeaders,
      // VS Code patches the global fetch for the user's proxy and certificates; our keep-alive
      // node:http client is faster but would bypass that, so the editor uses fetch.
      httpClient: 'fetch',
    });
  }

  /** A request manager for one run: every run gets its own statistics. */
  manager(provider: Provider, cache: CacheProvider | undefined): RequestManager {
    const c = this.config;
    return new (this.load().RequestManager)({
      provider,
      cache,
      concurrency: c.concurrency,
      rpm: c.rpm,
      tpm: c.tpm,
      maxRetries: c.maxRetries,
      timeoutMs: c.timeoutMs,
      cacheTtlMs: c.cacheTtlMs,
      prices: this.prices(),
      logger: this.log,
    });
  }

  /** The built-in price table with the user's `fastllm.prices` over it. */
  prices(): PriceTable {
    return { ...this.load().DEFAULT_PRICES, ...this.config.prices };
  }

  /** How rows of a batch file become requests, from the settings. */
  readerOptions(): ReaderOptions {
    const c = this.config;
    return {
      defaults: { model: c.model, system: c.systemPrompt, temperature: c.temperature, max_tokens: c.maxTokens },
      template: c.csvTemplate,
    };
  }

  /** Called when a run stopped because the server refused the key. */
  keyRejected(message: string): void {
    this.runs.setProblem(message);
  }

  private async closeCache(): Promise<void> {
    const opening = this.cacheOpening;
    this.cacheOpening = undefined;
    if (opening) await (await opening.catch(() => undefined))?.close();
  }
}

function isLoopback(baseURL: string): boolean {
  try {
    const host = new URL(baseURL).hostname;
    return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === '::1';
  } catch {
    return false;
  }
}
