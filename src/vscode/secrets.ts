import * as vscode from 'vscode';
import { Disposable } from './dispose';
import type { Log } from './log';

const PREFIX = 'fastllm.apiKey:';
/** Passwords of Redis team caches, one per server and user (see {@link redisStorageKey}). */
const REDIS_PREFIX = 'fastllm.redisPassword:';

/**
 * API keys, one per base URL, kept only in VS Code's SecretStorage (the OS keychain on desktop).
 * Never written to settings, logs, the cache or results: callers get the key to hand to the
 * provider and nothing else. `OPENAI_API_KEY` from the environment is the fallback.
 */
export class Secrets extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<string>());
  /** Fires with the base URL whose key changed. */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly storage: vscode.SecretStorage,
    private readonly log: Log,
  ) {
    super();
    this._register(
      storage.onDidChange((e) => {
        if (e.key.startsWith(PREFIX)) this.changed.fire(e.key.slice(PREFIX.length));
      }),
    );
  }

  /** The stored key for `baseUrl`, else `OPENAI_API_KEY`, else undefined. */
  async get(baseUrl: string): Promise<string | undefined> {
    const stored = await this.storage.get(storageKey(baseUrl));
    const key = stored || process.env.OPENAI_API_KEY || undefined;
    this.log.addSecret(key);
    return key;
  }

  /** Stores `key` for `baseUrl`; an empty key deletes the stored one. */
  async set(baseUrl: string, key: string): Promise<void> {
    const trimmed = key.trim();
    if (trimmed) {
      this.log.addSecret(trimmed);
      await this.storage.store(storageKey(baseUrl), trimmed);
      this.log.info(`API key stored for ${normalize(baseUrl)}.`);
    } else {
      await this.storage.delete(storageKey(baseUrl));
      this.log.info(`API key removed for ${normalize(baseUrl)}.`);
    }
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
function normalize(baseUrl: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(baseUrl.trim());
  const url = m ? m[1]!.toLowerCase() + m[2]!.toLowerCase() + m[3] : baseUrl.trim();
  return url.replace(/\/+$/, '');
}

function storageKey(baseUrl: string): string {
  return PREFIX + normalize(baseUrl);
}
