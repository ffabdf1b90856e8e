import type { CacheProvider } from './cacheProvider';
import { describeRedisUrl, RedisCache, type RedisCacheOptions } from './redis';
import { SqliteCache } from './sqlite';

/** Options for {@link openCache}; the Redis ones are ignored for a file. */
export interface OpenCacheOptions extends RedisCacheOptions {
  /**
   * Key prefix. For Redis, it keeps projects apart on a shared server; for a file, see
   * {@link SqliteCache.open}.
   * @default 'fastllm'
   */
  namespace?: string;
}

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
 * shared by a team), otherwise an SQLite file at that path (created with its folder if needed).
 * @example
 * const cache = await openCache(process.env.FASTLLM_CACHE ?? '.fastllm/cache.sqlite', { namespace: 'my-project' });
 */
export async function openCache(location: string, options: OpenCacheOptions = {}): Promise<CacheProvider> {
  if (isRedisUrl(location)) return RedisCache.open(location.trim(), options);
  return SqliteCache.open(location, options.namespace === undefined ? {} : { namespace: options.namespace });
}
