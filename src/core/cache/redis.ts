import KeyvRedis, { createClient } from '@keyv/redis';
import { Keyv } from 'keyv';
import type { CacheEntry } from '../types';
import { jsonEscaped, type CachePage, type CacheProvider, type ListOptions } from './cacheProvider';
import { DEFAULT_PAGE_SIZE, effectiveExpiry, withExpiry } from './memory';

/** Options for {@link RedisCache.open}. */
export interface RedisCacheOptions {
  /**
   * Keeps one project's entries apart from another's on a shared server. Must not be empty, end
   * with `:` or contain `::` (see {@link toNamespace} to derive one from a folder name).
   * @default 'fastllm'
   */
  namespace?: string;
  /** Password when the URL carries none (the extension keeps it in SecretStorage). @default undefined */
  password?: string;
  /** How long opening waits for the server (refused connections fail at once). @default 2000 */
  connectTimeoutMs?: number;
  /**
   * Longest wait for one round trip before the operation fails. A run treats a failed get as a
   * miss, so a hung server costs each row at most this much, never a stalled run.
   * @default 2000
   */
  commandTimeoutMs?: number;
}

type Client = ReturnType<typeof createClient>;
type Stored = { value: CacheEntry; expires?: number };

/** Keys per round trip when walking the index, and per Lua call when pruning it. */
const PAGE = 500;

/**
 * Drops index members whose expiry has passed (scores in `exp` below ARGV[1]). Atomic, so a writer
 * that rewrites a key at the same moment cannot lose its fresh index entry. At most 5000 per call.
 */
const PURGE = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 5000)
for i = 1, #gone, 500 do
  local chunk = {unpack(gone, i, math.min(i + 499, #gone))}
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('ZREM', KEYS[2], unpack(chunk))
end
return #gone`;

/** Drops the members (ARGV[2..]) whose value key (ARGV[1] .. member) no longer exists. */
const PRUNE = `
local n = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
return n`;

/** `redis://user:***@host:port/db`: a URL fit for logs and messages. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'redis://(invalid URL)';
  }
}

/** A valid namespace from free text such as a workspace folder name (`:` runs become `-`). */
export function toNamespace(text: string, fallback = 'fastllm'): string {
  const ns = text.trim().replace(/:+/g, '-');
  return ns || fallback;
}

/**
 * A {@link CacheProvider} on a Redis server shared by a team, through keyv and @keyv/redis.
 *
 * Layout, per namespace `ns`:
 * - `ns::<key>`: the entry, keyv's plain-JSON wrapper `{"value": <CacheEntry>, "expires": <ms>}`
 *   (the @keyv/redis layout, so `createKeyv(url, { namespace: ns })` reads the same entries), with
 *   a Redis expiry (PX) when the entry has one.
 * - `ns:index:created`: a sorted set of keys by `created`, for newest-first paging and a cheap
 *   count (ZREVRANGE with LIMIT, ZCARD) without ever reading the whole keyspace.
 * - `ns:index:expires`: a sorted set of expiring keys by expiry, so expired keys leave the index.
 *
 * Invariants: an entry and its index members are written in one MULTI, so concurrent writers on
 * several machines never leave them disagreeing; an expired entry is never returned or counted
 * (Redis drops the value, {@link PURGE} the index members); a member whose value vanished some
 * other way (eviction, a manual DEL) is skipped and pruned when met.
 *
 * Fails fast: commands are not queued while the connection is down (they reject at once), the
 * client reconnects in the background with back-off, and every round trip has a deadline.
 */
export class RedisCache implements CacheProvider {
  private closed = false;
  private readonly prefix: string;
  private readonly index: string;
  private readonly expiries: string;

  private constructor(
    private readonly client: Client,
    private readonly keyv: Keyv<CacheEntry>,
    namespace: string,
    /** The server, password masked, for messages. */
    readonly location: string,
    private readonly commandTimeoutMs: number,
  ) {
    this.prefix = `${namespace}::`;
    this.index = `${namespace}:index:created`;
    this.expiries = `${namespace}:index:expires`;
  }

  /**
   * Connects to `url` (`redis://[user[:password]@]host[:port][/db]` or `rediss://…` for TLS).
   * Rejects within about `connectTimeoutMs` if the server cannot be reached or refuses the login.
   * @example
   * const cache = await RedisCache.open('redis://cache.internal:6379', { namespace: 'my-project' });
   */
  static async open(url: string, options: RedisCacheOptions = {}): Promise<RedisCache> {
    const namespace = options.namespace ?? 'fastllm';
    if (!namespace || namespace.includes('::') || namespace.endsWith(':')) {
      throw new Error(`invalid Redis cache namespace "${namespace}" (it must not be empty, end with ":" or contain "::")`);
    }
    const location = describeRedisUrl(url);
    const connectTimeout = options.connectTimeoutMs ?? 2000;
    let ready = false;
    const client: Client = createClient({
      url,
      ...(options.password ? { password: options.password } : {}),
      // A command issued while the connection is down rejects at once instead of waiting for it.
      disableOfflineQueue: true,
      socket: {
        connectTimeout,
        // Opening fails on the first error; once connected, reconnect forever with back-off.
        reconnectStrategy: (retries: number) => (ready ? Math.min(50 * 2 ** retries, 2000) : false),
      },
    });
    // Errors also reach the callers of the commands; the event must just not go unhandled.
    client.on('error', () => undefined);
    try {
      await deadline(client.connect(), connectTimeout + 500, () => `timed out after ${connectTimeout} ms`);
      // The login is only checked by the first command: a wrong or missing password fails here.
      await deadline(client.ping(), connectTimeout, () => `no answer within ${connectTimeout} ms`);
      ready = true;
    } catch (error) {
      destroy(client);
      throw new Error(`cannot connect to the Redis cache ${location}: ${messageOf(error)}`, { cause: error });
    }
    const store = new KeyvRedis<CacheEntry>(client, { namespace, throwOnErrors: true, throwOnConnectError: true });
    const keyv = new Keyv<CacheEntry>({
      store,
      namespace,
      useKeyPrefix: false,
      // Plain JSON, as in the SQLite cache (keyv's default would rewrite strings starting with ':').
      serialize: JSON.stringify,
      deserialize: JSON.parse,
      throwOnErrors: true,
    });
    keyv.on('error', () => undefined);
    return new RedisCache(client, keyv, namespace, location, options.commandTimeoutMs ?? 2000);
  }

  /** True while the connection is up (it comes back by itself after an outage). */
  get connected(): boolean {
    return this.client.isReady;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    // keyv hides (and deletes) a value past its `expires`, to the millisecond.
    return this.io(() => this.keyv.get(key));
  }

  /** Stores the entry with its index members in one MULTI; resolves once Redis has it. */
  async set(key: string, entry: CacheEntry, ttlMs?: number): Promise<void> {
    const now = Date.now();
    const expires = effectiveExpiry(entry, ttlMs, now);
    const full = this.prefix + key;
    const multi = this.client.multi();
    if (expires !== null && expires <= now) {
      // Already expired: it replaces (so removes) any live value, as in the SQLite cache.
      multi.del(full).zRem(this.index, key).zRem(this.expiries, key);
    } else {
      const stored: Stored = { value: withExpiry(entry, expires), expires: expires ?? undefined };
      const json = JSON.stringify(stored);
      if (expires === null) multi.set(full, json).zRem(this.expiries, key);
      else multi.set(full, json, { PX: expires - now }).zAdd(this.expiries, { score: expires, value: key });
      multi.zAdd(this.index, { score: Number.isFinite(entry.created) ? entry.created : now, value: key });
    }
    await this.io(() => multi.exec());
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async delete(key: string): Promise<boolean> {
    const [deleted] = await this.io(() =>
      this.client.multi().del(this.prefix + key).zRem(this.index, key).zRem(this.expiries, key).exec(),
    );
    // Redis does not count a value past its PX expiry as deleted.
    return Number(deleted) > 0;
  }

  async clear(filter?: string): Promise<number> {
    if (filter) {
      let deleted = 0;
      for await (const page of this.pages(filter, PAGE)) deleted += await this.remove(page.map((item) => item.key));
      return deleted;
    }
    let deleted = 0;
    for (;;) {
      const keys = await this.io(() => this.client.zRange(this.index, 0, PAGE - 1));
      if (keys.length === 0) break;
      deleted += await this.remove(keys);
    }
    // Values the index does not know (written by plain keyv, say): found with SCAN, never KEYS.
    let cursor = '0';
    do {
      const reply = await this.io(() => this.client.scan(cursor, { MATCH: `${globEscape(this.prefix)}*`, COUNT: 1000, TYPE: 'string' }));
      cursor = String(reply.cursor);
      if (reply.keys.length > 0) deleted += await this.io(() => this.client.del(reply.keys));
    } while (cursor !== '0');
    await this.io(() => this.client.del([this.index, this.expiries]));
    return deleted;
  }

  async count(filter?: string): Promise<number> {
    await this.purge();
    if (!filter) return this.io(() => this.client.zCard(this.index));
    let n = 0;
    for await (const page of this.pages(filter, PAGE)) n += page.length;
    return n;
  }

  async list(options: ListOptions = {}): Promise<CachePage> {
    const offset = Math.max(0, Math.floor(options.offset ?? 0));
    const limit = Math.max(0, Math.floor(options.limit ?? DEFAULT_PAGE_SIZE));
    await this.purge();
    if (options.filter) {
      // A filter has to look at values: walk the index a page at a time, keep the window.
      const entries: CachePage['entries'] = [];
      let total = 0;
      for await (const page of this.pages(options.filter, PAGE)) {
        for (const item of page) {
          if (total >= offset && total < offset + limit) entries.push(item);
          total++;
        }
      }
      return { entries, total };
    }
    const [total, keys] = await Promise.all([
      this.io(() => this.client.zCard(this.index)),
      limit === 0 ? Promise.resolve([]) : this.io(() => this.client.zRange(this.index, offset, offset + limit - 1, { REV: true })),
    ]);
    return { entries: await this.values(keys, undefined), total };
  }

  async *iterate(options: { filter?: string; pageSize?: number } = {}): AsyncIterable<{ key: string; entry: CacheEntry }> {
    await this.purge();
    const pageSize = Math.max(1, Math.floor(options.pageSize ?? 200));
    for await (const page of this.pages(options.filter, pageSize)) yield* page;
  }

  /** Closes the connection; later calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.client.isOpen) return;
    if (this.client.isReady) {
      try {
        await deadline(this.client.close(), this.commandTimeoutMs, () => 'close timed out');
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    destroy(this.client);
  }

  /**
   * Live entries matching `filter`, newest first, one index page at a time. Keyset paging on
   * (created, key): entries written or deleted during the walk never make it skip or repeat one.
   */
  private async *pages(filter: string | undefined, pageSize: number): AsyncGenerator<{ key: string; entry: CacheEntry }[]> {
    let after: { score: number; key: string; ties: number } | undefined;
    for (;;) {
      let rows: { value: string; score: number }[];
      let full: boolean;
      if (after === undefined) {
        rows = await this.io(() => this.client.zRangeWithScores(this.index, 0, pageSize - 1, { REV: true }));
        full = rows.length === pageSize;
      } else {
        // From the last score down, past the members of that score already seen (ties go by key,
        // descending, as ZREVRANGE orders them).
        const { score, key, ties } = after;
        const raw = await this.io(() =>
          this.client.zRangeWithScores(this.index, score, '-inf', { BY: 'SCORE', REV: true, LIMIT: { offset: 0, count: ties + pageSize } }),
        );
        full = raw.length === ties + pageSize;
        rows = raw.filter((r) => r.score < score || (r.score === score && r.value < key));
      }
      const last = rows.at(-1);
      if (last !== undefined) {
        let ties = 0;
        for (const r of rows) if (r.score === last.score) ties++;
        if (after !== undefined && after.score === last.score) ties += after.ties;
        after = { score: last.score, key: last.value, ties };
        const page = await this.values(rows.map((r) => r.value), filter);
        if (page.length > 0) yield page;
      }
      if (!full || last === undefined) return;
    }
  }

  /** The live entries of `keys` (in that order) that match `filter`; vanished ones are pruned. */
  private async values(keys: string[], filter: string | undefined): Promise<{ key: string; entry: CacheEntry }[]> {
    if (keys.length === 0) return [];
    const raw = await this.io(() => this.client.mGet(keys.map((k) => this.prefix + k)));
    const needle = filter?.toLowerCase();
    const now = Date.now();
    const out: { key: string; entry: CacheEntry }[] = [];
    const missing: string[] = [];
    raw.forEach((json, i) => {
      const key = keys[i]!;
      if (json === null) return void missing.push(key);
      // The raw JSON holds each searched field's JSON, so most non-matches are rejected unparsed.
      if (needle && !key.toLowerCase().includes(needle) && !json.toLowerCase().includes(needle) && !json.toLowerCase().includes(jsonEscaped(needle))) return;
      const stored = JSON.parse(json) as Stored;
      if (typeof stored.expires === 'number' && now > stored.expires) return;
      if (needle && !matches(key, stored.value, needle)) return;
      out.push({ key, entry: stored.value });
    });
    if (missing.length > 0) {
      await this.io(() => this.client.eval(PRUNE, { keys: [this.index, this.expiries], arguments: [this.prefix, ...missing] }));
    }
    return out;
  }

  /** Deletes `keys` and their index members; returns how many live values went. */
  private async remove(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const [deleted] = await this.io(() =>
      this.client
        .multi()
        .del(keys.map((k) => this.prefix + k))
        .zRem(this.index, keys)
        .zRem(this.expiries, keys)
        .exec(),
    );
    return Number(deleted);
  }

  /** Takes expired keys out of the index, so that counts and pages only see live ones. */
  private async purge(): Promise<void> {
    const now = String(Date.now());
    for (;;) {
      const n = await this.io(() => this.client.eval(PURGE, { keys: [this.index, this.expiries], arguments: [now] }));
      if (Number(n) < 5000) return;
    }
  }

  /** One round trip with a deadline; errors name the server. */
  private async io<T>(run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`the Redis cache ${this.location} is closed`);
    try {
      return await deadline(run(), this.commandTimeoutMs, () => `no answer within ${this.commandTimeoutMs} ms`);
    } catch (error) {
      const reason = messageOf(error);
      if (/client is (offline|closed)|socket closed unexpectedly|ECONNREFUSED|ECONNRESET|EPIPE/i.test(reason)) {
        throw new Error(`the Redis cache ${this.location} is unreachable (${reason}); reconnecting in the background`, { cause: error });
      }
      throw new Error(`the Redis cache ${this.location} failed: ${reason}`, { cause: error });
    }
  }
}

/** Case-insensitive `needle` (lower-cased) in the key, model, request or response JSON, as the other caches. */
function matches(key: string, entry: CacheEntry, needle: string): boolean {
  const inJson = (text: string) => text.includes(needle) || text.includes(jsonEscaped(needle));
  return (
    key.toLowerCase().includes(needle) ||
    entry.model.toLowerCase().includes(needle) ||
    inJson(JSON.stringify(entry.request).toLowerCase()) ||
    inJson((JSON.stringify(entry.response) ?? '').toLowerCase())
  );
}

/** Escapes SCAN MATCH glob characters, so a namespace like `proj[1]` matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Drops the connection and stops reconnecting; a no-op for a client already closed. */
function destroy(client: Client): void {
  try {
    if (client.isOpen) client.destroy();
  } catch {
    // already closed
  }
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  return error instanceof Error ? error.message || error.name : String(error);
}

/** `promise`, or a rejection after `ms` (the timer never keeps the process alive). */
async function deadline<T>(promise: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(why())), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
