import type { CacheEntry } from '../types';

/** One page of a cache listing. */
export interface CachePage {
  entries: { key: string; entry: CacheEntry }[];
  /** Total number of entries matching the filter (for "1–50 of 12,345"). */
  total: number;
}

/** Options for {@link CacheProvider.list}. */
export interface ListOptions {
  /** Zero-based index of the first entry to return. @default 0 */
  offset?: number;
  /** Page size. @default 50 */
  limit?: number;
  /** Case-insensitive text that must occur in the entry's key, model, request or response. */
  filter?: string;
}

/**
 * Stores answers by request hash. All operations are async; a CacheProvider may throw, and callers
 * (the RequestManager) treat any cache error as a miss rather than failing a request.
 * Expired entries are never returned.
 */
export interface CacheProvider {
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores an entry; `ttlMs` (when given and > 0) makes it expire that many milliseconds from now. */
  set(key: string, entry: CacheEntry, ttlMs?: number): Promise<void>;
  has(key: string): Promise<boolean>;
  /** Returns true if an entry was deleted. */
  delete(key: string): Promise<boolean>;
  /** Deletes every entry (or, with a filter, those matching it); returns how many were deleted. */
  clear(filter?: string): Promise<number>;
  /** Number of live entries (optionally matching a filter). */
  count(filter?: string): Promise<number>;
  /** Newest first, paged, optionally filtered. */
  list(options?: ListOptions): Promise<CachePage>;
  /** Iterates over all live entries, newest first, a page at a time. */
  iterate(options?: { filter?: string; pageSize?: number }): AsyncIterable<{ key: string; entry: CacheEntry }>;
  close(): Promise<void>;
  /**
   * Stores answers that other writers, since ended, set but did not write (SqliteCache's journals);
   * returns how many. Optional: caches that write at once have nothing to recover.
   */
  recover?(): Promise<number>;
}

/**
 * A filter as it appears inside JSON text: the request and response are searched in their JSON
 * form, where `say "hi"` is stored as `say \"hi\"`. Searching for both the text and this form
 * finds what the user sees, quotes and backslashes included.
 */
export function jsonEscaped(filter: string): string {
  return JSON.stringify(filter).slice(1, -1);
}
