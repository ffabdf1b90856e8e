import * as vscode from 'vscode';
import { canonicalBaseUrl, environmentKeyApplies, hostOf } from '../core/providers/keyScope';
import { Disposable } from './dispose';
import type { Log } from './log';

const PREFIX = 'fastllm.apiKey:';
/**
 * The base URLs that have a stored key (JSON list; URLs only, no key). SecretStorage cannot list its
 * keys, and asking for a key after a 401 offers the ones stored for other URLs, named by host.
 */
const INDEX_KEY = 'fastllm.apiKeyIndex';

/** Where the key for a base URL comes from. */
export type KeySource = 'stored' | 'environment' | 'none';
/** Passwords of Redis team caches, one per server and user (see {@link redisStorageKey}). */
const REDIS_PREFIX = 'fastllm.redisPassword:';

/**
 * API keys, one per base URL, kept only in VS Code's SecretStorage (the OS keychain on desktop).
 * Never written to settings, logs, the cache or results: callers get the key to hand to the
 * provider and nothing else. `OPENAI_API_KEY` from the environment is the fallback, but only for
 * the base URLs it was meant for (api.openai.com, loopback servers, `OPENAI_BASE_URL`: see
 * `environmentKeyApplies`): a workspace that points `fastllm.baseUrl` at a gateway gets no key
 * without asking.
 */
export class Secrets extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<string>());
  /** Fires with the base URL whose key changed. */
  readonly onDidChange = this.changed.event;

  /**
   * @param profileKeyFor The SecretStorage id of the active profile's key when `baseUrl` is that
   *   profile's endpoint (`profile:NAME`), else undefined: each profile keeps its own key, and the
   *   key stored per base URL stays the one used without a profile (Config.profileKeyFor).
   */
  constructor(
    private readonly storage: vscode.SecretStorage,
    private readonly log: Log,
    private readonly profileKeyFor: (baseUrl: string) => string | undefined = () => undefined,
  ) {
    super();
    this._register(
      storage.onDidChange((e) => {
        if (e.key.startsWith(PREFIX)) this.changed.fire(e.key.slice(PREFIX.length));
      }),
    );
  }

  /** The stored key for `baseUrl`, else `OPENAI_API_KEY` where it applies to `baseUrl`, else undefined. */
  async get(baseUrl: string): Promise<string | undefined> {
    const stored = await this.stored(baseUrl);
    const key = stored || environmentKey(baseUrl);
    this.log.addSecret(key);
    return key;
  }

  /** Where {@link get} would take the key for `baseUrl` from (the key itself is not read out). */
  async source(baseUrl: string): Promise<KeySource> {
    if (await this.stored(baseUrl)) return 'stored';
    return environmentKey(baseUrl) ? 'environment' : 'none';
  }

  /**
   * The key stored for `baseUrl`: the active profile's own one when `baseUrl` is its endpoint, else
   * (and while that profile has none) the one stored for the base URL.
   */
  private async stored(baseUrl: string): Promise<string | undefined> {
    const profile = this.profileKeyFor(baseUrl);
    return (profile ? await this.storage.get(PREFIX + profile) : undefined) || (await this.storage.get(storageKey(baseUrl)));
  }

  /** Stores `key` for `baseUrl` (for the active profile, when `baseUrl` is its endpoint); an empty key deletes the stored one. */
  async set(baseUrl: string, key: string): Promise<void> {
    const trimmed = key.trim();
    const profile = this.profileKeyFor(baseUrl);
    const id = profile ? PREFIX + profile : storageKey(baseUrl);
    const what = profile ? `${normalize(baseUrl)} (${profile})` : normalize(baseUrl);
    if (trimmed) {
      this.log.addSecret(trimmed);
      await this.storage.store(id, trimmed);
      this.log.info(`API key stored for ${what}.`);
    } else {
      await this.storage.delete(id);
      this.log.info(`API key removed for ${what}.`);
    }
    // The index lists base URLs, for "use the key stored for <host>"; profile keys are not in it.
    if (!profile) await this.updateIndex(baseUrl, !!trimmed);
  }

  /** The other base URLs that have a stored key (URLs only), for "use the key stored for <host>". */
  async storedElsewhere(baseUrl: string): Promise<string[]> {
    const own = normalize(baseUrl);
    const out: string[] = [];
    for (const url of await this.index()) {
      if (url !== own && (await this.storage.get(storageKey(url)))) out.push(url);
    }
    return out;
  }

  /** Stores the key kept for `from` as the key of `to` too, and returns it; undefined when `from` has none. */
  async copy(from: string, to: string): Promise<string | undefined> {
    const key = await this.storage.get(storageKey(from));
    if (!key) return undefined;
    await this.set(to, key);
    return key;
  }

  /**
   * A loopback server answered 401 to a request sent without a key: asks which key to use (one
   * stored for another base URL, named by its host only, or a new one) and stores it for `baseUrl`.
   * Undefined when the user declines: the run then stops as before.
   */
  async askAfterRejection(baseUrl: string): Promise<string | undefined> {
    const host = hostOf(baseUrl);
    type Item = vscode.QuickPickItem & { from?: string; enter?: true };
    const others = await this.storedElsewhere(baseUrl);
    const items: Item[] = [
      { label: `$(key) Enter an API key for ${host}…`, enter: true },
      ...others.map((url) => ({ label: `$(references) Use the key stored for ${hostOf(url)}`, description: url, from: url })),
    ];
    const pick = await vscode.window.showQuickPick(items, {
      title: `FastLLM: ${host} asks for an API key`,
      placeHolder: `The server answered 401 to a request without a key. The run is paused: pick the key to go on with (Escape stops the run).`,
      ignoreFocusOut: true,
    });
    if (!pick) return undefined;
    if (pick.from) {
      const key = await this.copy(pick.from, baseUrl);
      if (key) this.log.info(`API key for ${normalize(baseUrl)}: using the one stored for ${hostOf(pick.from)}.`);
      return key;
    }
    return this.ask(baseUrl);
  }

  private async index(): Promise<string[]> {
    try {
      const list: unknown = JSON.parse((await this.storage.get(INDEX_KEY)) ?? '[]');
      return Array.isArray(list) ? list.filter((u): u is string => typeof u === 'string') : [];
    } catch {
      return [];
    }
  }

  /** Read-modify-write of the index, one at a time (two stores at once must not lose one). */
  private indexing: Promise<void> = Promise.resolve();
  private updateIndex(baseUrl: string, present: boolean): Promise<void> {
    const url = normalize(baseUrl);
    this.indexing = this.indexing.then(async () => {
      const list = (await this.index()).filter((u) => u !== url);
      if (present) list.push(url);
      await this.storage.store(INDEX_KEY, JSON.stringify(list));
    }).catch((e: unknown) => this.log.warn(`Could not update the list of stored API keys: ${(e as Error).message}`));
    return this.indexing;
  }

  /** The stored password of the Redis cache at `url` (per server, user and database), or undefined. */
  async getCachePassword(url: string): Promise<string | undefined> {
    const password = (await this.storage.get(redisStorageKey(url))) || undefined;
    this.log.addSecret(password);
    return password;
  }

  /** Stores the password of the Redis cache at `url`; an empty one deletes it. */
  async setCachePassword(url: string, password: string): Promise<void> {
    if (password) {
      this.log.addSecret(password);
      await this.storage.store(redisStorageKey(url), password);
    } else {
      await this.storage.delete(redisStorageKey(url));
    }
  }

  /** Asks for the password of the Redis cache at `url` (shown masked) and stores it; undefined when cancelled. */
  async askCachePassword(url: string, shownUrl: string): Promise<string | undefined> {
    const password = await vscode.window.showInputBox({
      title: 'FastLLM: Redis Cache Password',
      prompt: `Password for the team cache ${shownUrl} (stored in VS Code's secret storage, never in settings)`,
      password: true,
      ignoreFocusOut: true,
    });
    if (!password) return undefined;
    await this.setCachePassword(url, password);
    return password;
  }

  /** Asks for the key of `baseUrl` and stores it; undefined when the user cancels. */
  async ask(baseUrl: string): Promise<string | undefined> {
    const key = await vscode.window.showInputBox({
      title: 'FastLLM: API Key',
      prompt: `API key for ${normalize(baseUrl)} (stored in VS Code's secret storage, never in settings)`,
      password: true,
      ignoreFocusOut: true,
      placeHolder: 'sk-…',
      validateInput: (v) => (/\s/.test(v.trim()) ? 'An API key has no spaces.' : undefined),
    });
    if (!key?.trim()) return undefined;
    await this.set(baseUrl, key);
    return key.trim();
  }
}

/** `rediss://user@host:port/db`: what a Redis password belongs to, without the password. */
function redisStorageKey(url: string): string {
  try {
    const u = new URL(url.trim());
    return `${REDIS_PREFIX}${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return REDIS_PREFIX + url.trim();
  }
}

/** Scheme and host are case-insensitive and a trailing slash means nothing: one key for all spellings. */
const normalize = canonicalBaseUrl;

/** `OPENAI_API_KEY`, when it may go to `baseUrl`. */
function environmentKey(baseUrl: string): string | undefined {
  const key = process.env.OPENAI_API_KEY?.trim();
  return key && environmentKeyApplies(baseUrl) ? key : undefined;
}

function storageKey(baseUrl: string): string {
  return PREFIX + normalize(baseUrl);
}
