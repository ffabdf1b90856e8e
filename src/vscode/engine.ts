import * as path from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { ReaderOptions } from '../core/batch/common';
import type { CacheProvider } from '../core/cache/cacheProvider';
import { CACHE_FILE_SUFFIXES, removeCacheFiles } from '../core/cache/files';
import type { RequestManager, RequestManagerOptions } from '../core/manager';
import type { PriceTable } from '../core/pricing';
import { hostOf, isLoopbackUrl } from '../core/providers/keyScope';
import type { Provider } from '../core/providers/provider';
import type { Profile } from '../core/profiles';
import { maskUrlPassword, type Config } from './config';
import { Disposable } from './dispose';
import { chatModelBridge, consentOnce, describeChatModel, selectChatModels } from './lmModel';
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
  /** True once the user was told the cache is in memory (no SQLite library loads). */
  private memoryWarned = false;
  /** The host a run waits for a key for, while the user is asked. */
  private waiting: string | undefined;
  private readonly pauseChanged = this._register(new vscode.EventEmitter<void>());
  /** Fires when a run starts or stops waiting for the user to give an API key. */
  readonly onDidChangePause = this.pauseChanged.event;
  /** Set once the extension stops: the cache closes after the last run (see {@link closeWhenIdle}). */
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly config: Config,
    private readonly secrets: Secrets,
    private readonly log: Log,
    private readonly runs: RunTracker,
  ) {
    super();
    this._register({ dispose: () => void this.closeWhenIdle() });
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
      let inMemory = false;
      // Where no SQLite library loads (a VSIX for another platform), answers live in memory: say so once.
      const cache = await this.load().openCache(file, {
        onMemoryFallback: (e) => {
          inMemory = true;
          this.memoryCacheWarning(e.message);
        },
      });
      this.log.info(inMemory ? `Cache: in memory (no SQLite library loads here), instead of ${file}` : `Cache: ${file}`);
      return cache;
    })();
    // A failed open is not remembered: the next use tries again.
    this.cacheOpening.catch((e: unknown) => {
      this.log.error(`Could not open the cache ${this.cachePath}: ${(e as Error).message}`);
      this.cacheOpening = undefined;
    });
    return this.cacheOpening;
  }

  /** Warns once per session that the cache is in memory, why, and how to fix it. */
  private memoryCacheWarning(reason: string): void {
    this.log.warn(`Cache in memory: ${reason}`);
    if (this.memoryWarned) return;
    this.memoryWarned = true;
    void vscode.window.showWarningMessage(
      `FastLLM: answers are cached in memory only, until VS Code restarts: ${reason}. ` +
        `To keep them between sessions, install the FastLLM VSIX built for your platform (${process.platform}-${process.arch}).`,
    );
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
   *
   * A loopback server may need no key, so without one requests go keyless; on the server's first
   * 401 the user is asked for a key (the one stored for another base URL is offered by host) while
   * the run waits, and the run goes on with it instead of stopping (see KeyOnDemandProvider).
   */
  async provider(): Promise<Provider | undefined> {
    const choice = this.config.profileChoice;
    if (choice.wanted && !choice.active) {
      // Never fall back to the plain settings: that would send the prompts (and a key) elsewhere.
      const problem = choice.problems.find((p) => p.includes(`"${choice.wanted}"`)) ?? `no profile named "${choice.wanted}"`;
      this.runs.setProblem(`Profile: ${problem}`);
      this.log.warn(`fastllm.profile: ${problem}`);
      void vscode.window.showErrorMessage(`FastLLM: fastllm.profile: ${problem}.`, 'Select Profile').then((pick) => {
        if (pick) void vscode.commands.executeCommand('fastllm.selectProfile');
      });
      return undefined;
    }
    if (choice.active?.kind === 'vscode-lm') return this.languageModelProvider(choice.active);
    const baseURL = this.config.baseUrl;
    const local = isLoopbackUrl(baseURL);
    let apiKey = await this.secrets.get(baseURL);
    if (!apiKey && !local) apiKey = await this.secrets.ask(baseURL);
    if (!apiKey && !local) {
      this.runs.setProblem(`No API key for ${baseURL}`);
      void vscode.window.showErrorMessage(`FastLLM: no API key for ${baseURL}. Run "FastLLM: Set API Key" first.`, 'Set API Key').then((pick) => {
        if (pick) void vscode.commands.executeCommand('fastllm.setApiKey');
      });
      return undefined;
    }
    this.runs.setProblem(undefined);
    const mod = this.load();
    const create = (key: string) =>
      mod.createProvider({
        apiKey: key,
        baseURL,
        organization: this.config.organization,
        project: this.config.project,
        headers: this.config.extraHeaders,
        azure: this.config.azure,
        // VS Code patches the global fetch for the user's proxy and certificates; our keep-alive
        // node:http client is faster but would bypass that, so the editor uses fetch.
        httpClient: 'fetch',
      });
    if (apiKey) return create(apiKey);
    return new mod.KeyOnDemandProvider({
      create,
      askKey: async () => {
        this.log.warn(`${hostOf(baseURL)} answered 401 to a request without a key: asking for one; the run waits.`);
        return this.secrets.askAfterRejection(baseURL);
      },
      onPause: (paused) => {
        this.waiting = paused ? hostOf(baseURL) : undefined;
        this.pauseChanged.fire();
      },
    });
  }


  /**
   * A `vscode-lm` profile: the first of VS Code's language models that match it, through the
   * Language Model API (no key). Undefined, with a message, when none matches.
   */
  private async languageModelProvider(profile: Profile): Promise<Provider | undefined> {
    const models = await selectChatModels(profile);
    const model = models[0];
    if (!model) {
      const wanted = [profile.vendor && `vendor ${profile.vendor}`, profile.model && `model ${profile.model}`].filter(Boolean).join(', ') || 'any';
      const problem = `No VS Code language model matches profile "${profile.name}" (${wanted})`;
      this.runs.setProblem(problem);
      this.log.warn(`${problem}; VS Code offers ${(await vscode.lm.selectChatModels()).length} language models in all.`);
      void vscode.window.showErrorMessage(
        `FastLLM: ${problem}. Install and sign in to an extension that provides language models (such as GitHub Copilot Chat), or pick a model with "FastLLM: Select Model…".`,
        'Select Model',
      ).then((pick) => {
        if (pick) void vscode.commands.executeCommand('fastllm.selectModel');
      });
      return undefined;
    }
    this.runs.setProblem(undefined);
    this.log.info(`Profile ${profile.name}: VS Code language model ${describeChatModel(model)} (${model.name}).`);
    return new (this.load().LanguageModelProvider)({
      model: chatModelBridge(model),
      beforeFirstRequest: consentOnce(this.context.languageModelAccessInformation, model),
    });
  }

  /** The host a run is waiting for a key for (the user is being asked), or undefined. */
  get waitingForKey(): string | undefined {
    return this.waiting;
  }

  /** A request manager for one run: every run gets its own statistics. */
  manager(provider: Provider, cache: CacheProvider | undefined, overrides: Partial<RequestManagerOptions> = {}): RequestManager {
    const c = this.config;
    return new (this.load().RequestManager)({
      provider,
      cache,
      concurrency: c.concurrency,
      rpm: c.rpm,
      tpm: c.tpm,
      maxRetries: c.maxRetries,
      rateLimitGiveUpMs: c.rateLimitGiveUpSeconds * 1000,
      timeoutMs: c.timeoutMs,
      cacheTtlMs: c.cacheTtlMs,
      prices: this.prices(),
      logger: this.log,
      ...overrides,
    });
  }

  /** The built-in price table with the user's `fastllm.prices` over it. */
  prices(): PriceTable {
    return { ...this.load().DEFAULT_PRICES, ...this.config.prices };
  }

  /**
   * How rows of a batch file become requests, from the settings. Throws an Error naming the file
   * when `fastllm.schemaFile` cannot be read or is not a JSON schema (checked before any request).
   */
  readerOptions(): ReaderOptions {
    const c = this.config;
    return {
      kind: c.api,
      defaults: {
        model: c.model,
        system: c.systemPrompt,
        temperature: c.temperature,
        max_tokens: c.maxTokens,
        ...(c.reasoningEffort ? { reasoning_effort: c.reasoningEffort } : {}),
        ...(c.schemaFile ? { schema: this.load().loadSchemaFile(this.resolvePath(c.schemaFile)) } : {}),
      },
      template: c.csvTemplate,
    };
  }

  /** A path from a setting: absolute as given, else relative to the first workspace folder. */
  private resolvePath(file: string): string {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return path.isAbsolute(file) || !root ? file : path.join(root, file);
  }

  /** Called when a run stopped because the server refused the key. */
  keyRejected(message: string): void {
    this.runs.setProblem(message);
  }

  /**
   * Closes the cache once no run uses it, for good: the extension is stopping (see `deactivate`).
   * Why wait: a run cancelled as the window closes still gets the answers of its calls in flight,
   * and each must reach the cache's journal; a cache closed under the run refuses them, and a
   * rerun pays for them again.
   */
  closeWhenIdle(): Promise<void> {
    return (this.stopping ??= this.runs.idle().then(() => this.closeCache()));
  }

  private async closeCache(): Promise<void> {
    const opening = this.cacheOpening;
    this.cacheOpening = undefined;
    if (opening) await (await opening.catch(() => undefined))?.close();
  }
}
