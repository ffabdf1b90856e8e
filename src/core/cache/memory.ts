import type { CacheEntry } from '../types';
import { jsonEscaped, type CachePage, type CacheProvider, type ListOptions } from './cacheProvider';

/** Page size when {@link ListOptions.limit} is not given. */
export const DEFAULT_PAGE_SIZE = 50;

/**
 * When an entry written now expires: `ttlMs` from now when it is given and > 0, otherwise the
 * entry's own `expires` (so copying an entry between caches keeps its lifetime), otherwise never.
 * Shared with the SQLite cache so both caches agree.
 */
export function effectiveExpiry(entry: CacheEntry, ttlMs: number | undefined, now: number): number | null {
  if (ttlMs !== undefined && ttlMs > 0) return now + ttlMs;
  return typeof entry.expires === 'number' ? entry.expires : null;
}

/** The entry as stored: its `expires` tells the truth, so a cache browser can show it. */
export function withExpiry(entry: CacheEntry, expires: number | null): CacheEntry {
  return entry.expires === expires ? entry : { ...entry, expires };
}

interface Slot {
  entry: CacheEntry;
  /** Epoch ms after which the slot is invisible, or null for never. */
  expires: number | null;
  /** Lower-cased key + model + request + response JSON; built on the first filtered read. */
  haystack?: string;
}

/**
 * A {@link CacheProvider} in a Map: for tests, the CLI's `--no-persist`, and as the reference
 * behaviour that the SQLite cache must match.
 *
 * Invariants: an expired entry is never returned or counted, and is removed when a read meets
 * it. Entries are kept by reference, not copied: treat what `get` returns as read-only.
 */
export class InMemoryCache implements CacheProvider {
  private readonly slots = new Map<string, Slot>();
  /**
   * True while entries were written in strictly increasing `created` order, the usual case
   * (created = write time); then Map order is exactly oldest-first and listing needs no sort.
   */
  private inCreatedOrder = true;
  private lastCreated = -Infinity;

  async get(key: string): Promise<CacheEntry | undefined> {
    return this.live(key, Date.now())?.entry;
  }

  async set(key: string, entry: CacheEntry, ttlMs?: number): Promise<void> {
    const expires = effectiveExpiry(entry, ttlMs, Date.now());
    // Delete first so that a rewritten key moves to the end (newest) of the Map's order.
    this.slots.delete(key);
    this.slots.set(key, { entry: withExpiry(entry, expires), expires });
    if (entry.created <= this.lastCreated) this.inCreatedOrder = false;
    else this.lastCreated = entry.created;
  }

  async has(key: string): Promise<boolean> {
    return this.live(key, Date.now()) !== undefined;
  }

  async delete(key: string): Promise<boolean> {
    const slot = this.live(key, Date.now());
    return slot !== undefined && this.slots.delete(key);
  }

  async clear(filter?: string): Promise<number> {
    if (!filter) {
      const live = this.sweep(Date.now());
      this.slots.clear();
      this.inCreatedOrder = true;
      this.lastCreated = -Infinity;
      return live;
    }
    const matching = this.matching(filter, Date.now());
    for (const [key] of matching) this.slots.delete(key);
    return matching.length;
  }

  async count(filter?: string): Promise<number> {
    return filter ? this.matching(filter, Date.now()).length : this.sweep(Date.now());
  }

  async list(options: ListOptions = {}): Promise<CachePage> {
    const offset = Math.max(0, options.offset ?? 0);
    const limit = Math.max(0, options.limit ?? DEFAULT_PAGE_SIZE);
    const all = this.matching(options.filter, Date.now());
    const entries = all.slice(offset, offset + limit).map(([key, slot]) => ({ key, entry: slot.entry }));
    return { entries, total: all.length };
  }

  async *iterate(options: { filter?: string; pageSize?: number } = {}): AsyncIterable<{ key: string; entry: CacheEntry }> {
    // One snapshot of the order; entries deleted or expired while iterating are skipped.
    const snapshot = this.matching(options.filter, Date.now());
    for (const [key, slot] of snapshot) {
      if (this.slots.get(key) !== slot || this.isExpired(slot, Date.now())) continue;
      yield { key, entry: slot.entry };
    }
  }

  async close(): Promise<void> {
    this.slots.clear();
  }

  /** Expired strictly after `expires`, as keyv decides, so both caches agree on the boundary. */
  private isExpired(slot: Slot, now: number): boolean {
    return slot.expires !== null && slot.expires < now;
  }

  /** The slot for `key` if it is live; an expired one is removed on the way. */
  private live(key: string, now: number): Slot | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (this.isExpired(slot, now)) {
      this.slots.delete(key);
      return undefined;
    }
    return slot;
  }

  /** Removes expired slots; returns how many live ones remain. */
  private sweep(now: number): number {
    for (const [key, slot] of this.slots) if (this.isExpired(slot, now)) this.slots.delete(key);
    return this.slots.size;
  }

  /** Live slots matching `filter` (all when empty), newest first. */
  private matching(filter: string | undefined, now: number): [string, Slot][] {
    const needle = filter ? filter.toLowerCase() : '';
    const jsonNeedle = jsonEscaped(needle);
    const result: [string, Slot][] = [];
    for (const item of this.slots) {
      const [key, slot] = item;
      if (this.isExpired(slot, now)) {
        this.slots.delete(key);
        continue;
      }
      if (needle && !haystackOf(key, slot).includes(needle) && !haystackOf(key, slot).includes(jsonNeedle)) continue;
      result.push(item);
    }
    if (this.inCreatedOrder) return result.reverse();
    // Same order as the SQLite cache: created descending, ties by key descending.
    return result.sort(([ka, a], [kb, b]) => b.entry.created - a.entry.created || (ka < kb ? 1 : ka > kb ? -1 : 0));
  }
}

function haystackOf(key: string, slot: Slot): string {
  slot.haystack ??= [
    key,
    slot.entry.model,
    JSON.stringify(slot.entry.request),
    JSON.stringify(slot.entry.response) ?? '',
  ].join('\n').toLowerCase();
  return slot.haystack;
}

/** The name the rest of the engine uses. */
export { InMemoryCache as MemoryCache };
