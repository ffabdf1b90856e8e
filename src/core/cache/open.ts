import { resolve } from 'node:path';
import type { CacheProvider } from './cacheProvider';
import { describeRedisUrl, RedisCache, type RedisCacheOptions } from './redis';
import { InMemoryCache } from './memory';
import { SqliteCache } from './sqlite';
import { SqliteUnavailableError } from './sqliteDriver';

/** Options for {@link openCache}; the Redis ones are ignored for a file. */
export interface OpenCacheOptions extends RedisCacheOptions {
  /**
   * Key prefix. For Redis, it keeps projects apart on a shared server; for a file, see
   * {@link SqliteCache.open}.
   * @default 'fastllm'
   */
  namespace?: string;
  /**
   * Called (instead of failing) when no SQLite library loads here: the cache is then an
   * {@link InMemoryCache} that lasts as long as the process (the same one for each open of the file). The caller says so once, with how to
   * fix it where it runs. Without it, openCache throws the {@link SqliteUnavailableError}.
   */
  onMemoryFallback?: (error: SqliteUnavailableError) => void;
}

/** An in-memory stand-in for a cache file: kept for the life of the process, so close() keeps it. */
class ProcessMemoryCache extends InMemoryCache {
  override async close(): Promise<void> {}
}

/** The in-memory stand-ins for cache files, by file and namespace (see {@link openCache}). */
const memoryCaches = new Map<string, ProcessMemoryCache>();

/** True for `redis://…` and `rediss://…` (TLS) URLs: where a team cache lives. */
export function isRedisUrl(location: string): boolean {
  return /^rediss?:\/\//i.test(location.trim());
}

/** The location fit for logs and messages: a Redis URL with its password masked, or the path. */
export function describeCacheLocation(location: string): string {
  return isRedisUrl(location) ? describeRedisUrl(location.trim()) : location;
}

/**
 * Opens the cache at `location`: a Redis server for a `redis://` or `rediss://` URL (a cache
 * shared by a team), otherwise an SQLite file at that path (created with its folder if needed), on
 * sqlite3 or node:sqlite, or in memory when neither loads and `onMemoryFallback` is given.
 * @example
 * const cache = await openCache(process.env.FASTLLM_CACHE ?? '.fastllm/cache.sqlite', { namespace: 'my-project' });
 */
export async function openCache(location: string, options: OpenCacheOptions = {}): Promise<CacheProvider> {
  if (isRedisUrl(location)) return RedisCache.open(location.trim(), options);
  try {
    return await SqliteCache.open(location, options.namespace === undefined ? {} : { namespace: options.namespace });
  } catch (e) {
    if (!(e instanceof SqliteUnavailableError) || !options.onMemoryFallback) throw e;
    options.onMemoryFallback(e);
    // One per file for the life of the process, so that a second run in it (fastllm demo's rerun)
    // still finds the answers of the first.
    const key = `${resolve(location)}\n${options.namespace ?? ''}`;
    let memory = memoryCaches.get(key);
    if (!memory) memoryCaches.set(key, (memory = new ProcessMemoryCache()));
    return memory;
  }
}
