import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { CacheEntry } from '../types';
import { jsonEscaped, type CachePage, type CacheProvider, type ListOptions } from './cacheProvider';
import { DEFAULT_PAGE_SIZE, effectiveExpiry, withExpiry } from './memory';
import { TABLE, CREATE_TABLE, INDEX, CREATE_INDEX, ORDER, type Row, type Query, MAX_BATCH, upsertSql, insertNewerSql, type Batch, newBatch, type Lookup } from './sqliteSchema';
import { PendingJournal, replayJournals } from './sqliteJournal';
import { openConnection, type SqliteConnection, type SqliteDriverName } from './sqliteDriver';

/** Options for {@link SqliteCache.open}. */
export interface SqliteCacheOptions {
  /**
   * Prefix that keeps this cache's keys apart from others in the same file (stored as
   * `namespace:key`; the public API only ever speaks plain keys). Empty for no prefix.
   * @default 'fastllm'
   */
  namespace?: string;
  /**
   * How long a statement waits for another process's write lock before failing. Writes are single
   * short statements, so a few seconds covers any realistic contention.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * The SQLite library (./sqliteDriver.ts). Both read and write the same file format.
   * @default sqlite3 when its native module loads, else node:sqlite
   */
  driver?: SqliteDriverName;
}

/** SQLite's codes for a file that is not, or is no longer, a sound database. */
const DAMAGED = /\bSQLITE_(CORRUPT|NOTADB)\b/;

/** How to reset a cache file that cannot be used, for messages: "To reset the cache, <this>". */
export function cacheResetHint(file: string): string {
  return `delete ${file} (and ${file}-wal, ${file}-shm if present)`;
}

/**
 * A {@link CacheProvider} in an SQLite file, through keyv and @keyv/sqlite (or, where the sqlite3
 * addon cannot load, node:sqlite on the same file format: ./sqliteDriver.ts).
 *
 * - Values are plain JSON: keyv's wrapper `{"value": <CacheEntry>, "expires": <ms>}` written with
 *   JSON.stringify (keyv's default serializer would rewrite strings that start with `:`), so the
 *   file can be browsed with any SQLite tool.
 * - keyv opens the file and owns its format (and TTL rule: expired strictly after `expires`); our
 *   own SQL on the same connection reads and writes it. Listing, counting, filtering and clearing
 *   use LIMIT/OFFSET, so nothing ever loads the whole table.
 * - get and set are batched, since one statement each costs more than the row it reads or writes:
 *   the calls of one turn of the event loop share one `SELECT … WHERE key IN (…)`, or one
 *   multi-row upsert (set is write-behind: entries queue for that turn, and while the previous
 *   batch is being written). `set()` resolves only once its entry is in the file, so a caller that
 *   awaits it knows the entry is stored. get/has answer from the write queue; the other reads
 *   write it out first.
 * - Nothing set is lost to a killed process: set() appends the entry to a journal file before it
 *   returns (synchronously), and the next open stores what a writer that is gone left there
 *   (./sqliteJournal.ts), as well as entries whose write failed.
 * - Several processes may share one file: WAL journaling plus a busy timeout make a writer wait
 *   for another rather than fail with "database is locked".
 * - Expired rows are never returned or counted; they are deleted when read, by `clear`, and on open.
 *
 * Filters use SQL `LIKE`, which folds case for ASCII letters only.
 */
export class SqliteCache implements CacheProvider {
  private closed = false;
  /** Entries set since the last write started; undefined when none. */
  private queued: Batch | undefined;
  /** The batch being written (at most one at a time, in set order); undefined when none. */
  private writing: Batch | undefined;
  /** Settles when the write in progress, and any batch queued behind it, are done. */
  private flushing: Promise<void> | undefined;
  /** Gets waiting for the next batched SELECT, by prefixed key; undefined when none. */
  private lookups: Map<string, Lookup[]> | undefined;
  /** Settles when the batched SELECTs scheduled or running are done. */
  private reading: Promise<void> | undefined;

  private constructor(
    private readonly connection: SqliteConnection,
    private readonly query: Query,
    /** `namespace:`, or '' without a namespace. */
    private readonly prefix: string,
    /** The database file, for messages. */
    private readonly file: string,
    /** Entries set but not yet written, on disk at once (see sqliteJournal.ts). */
    private readonly journal: PendingJournal,
  ) {}

  /**
   * Opens (creating it and its folder if needed) the cache file at `path`.
   * @example
   * const cache = await SqliteCache.open(join(globalStorage, 'cache.sqlite'));
   */
  static async open(path: string, options: SqliteCacheOptions = {}): Promise<SqliteCache> {
    const file = resolve(path);
    await mkdir(dirname(file), { recursive: true });
    const namespace = options.namespace ?? 'fastllm';
    // Before the adapter: it connects at once, and an error of that connection (a file that is
    // not a database) must find prepare() already waiting for it, not an await in between.
    const journal = await PendingJournal.open(file);
    let connection: SqliteConnection;
    try {
      // The busy timeout applies before keyv's CREATE TABLE (the adapter sets it on connect).
      connection = await openConnection(file, { driver: options.driver, busyTimeoutMs: options.busyTimeoutMs ?? 5000, keyvTable: TABLE });
    } catch (error) {
      await journal.close();
      throw error;
    }
    const query: Query = (sql, ...params) => connection.query(sql, ...params);
    const cache = new SqliteCache(connection, query, namespace ? `${namespace}:` : '', file, journal);
    try {
      await cache.prepare();
    } catch (error) {
      await journal.close();
      await connection.close().catch(() => undefined);
      throw error;
    }
    return cache;
  }

  /** The SQLite library this cache runs on. */
  get driver(): SqliteDriverName {
    return this.connection.driver;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const fullKey = this.prefix + key;
    const pending = this.pendingValue(fullKey);
    try {
      const raw = pending ?? (await this.lookup(fullKey));
      if (raw === undefined) return undefined;
      const stored = JSON.parse(raw) as { value: CacheEntry; expires?: number };
      // keyv's rule: expired strictly after `expires`. An expired row is deleted, as keyv did.
      if (typeof stored.expires === 'number' && Date.now() > stored.expires) {
        if (pending === undefined) await this.query(`DELETE FROM ${TABLE} WHERE key = ? AND expires < ?`, fullKey, Date.now());
        return undefined;
      }
      return stored.value;
    } catch (error) {
      throw this.explain(error);
    }
  }

  /** The stored value of a prefixed key, read with the other gets of this turn of the event loop. */
  private lookup(fullKey: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      if (!this.lookups) {
        this.lookups = new Map();
        const previous = this.reading;
        const run = (async () => {
          await new Promise<void>((done) => setImmediate(done));
          await previous; // one SELECT at a time; gets arriving meanwhile join this batch
          await this.readBatch();
        })();
        this.reading = run;
        void run.then(() => {
          if (this.reading === run) this.reading = undefined;
        });
      }
      const waiting = this.lookups.get(fullKey);
      if (waiting) waiting.push({ resolve, reject });
      else this.lookups.set(fullKey, [{ resolve, reject }]);
    });
  }

  /** Answers the queued gets with one SELECT per {@link MAX_BATCH} keys. Never rejects. */
  private async readBatch(): Promise<void> {
    const lookups = this.lookups!;
    this.lookups = undefined;
    const keys = [...lookups.keys()];
    for (let i = 0; i < keys.length; i += MAX_BATCH) {
      const chunk = keys.slice(i, i + MAX_BATCH);
      try {
        const marks = new Array<string>(chunk.length).fill('?').join(', ');
        const rows = await this.rows<Row>(`SELECT key, value FROM ${TABLE} WHERE key IN (${marks})`, ...chunk);
        const found = new Map(rows.map((row) => [row.key, row.value]));
        for (const k of chunk) for (const w of lookups.get(k)!) w.resolve(found.get(k));
      } catch (error) {
        for (const k of chunk) for (const w of lookups.get(k)!) w.reject(error);
      }
    }
  }

  /**
   * Queues the entry and resolves once it is in the file (see the class notes). The stored value
   * is what keyv's `set(key, entry, ttl)` wrote: `{"value": entry, "expires": ms}`, `expires`
   * omitted for entries that never expire.
   */
  async set(key: string, entry: CacheEntry, ttlMs?: number): Promise<void> {
    if (this.closed) throw new Error(`the cache ${this.file} is closed`);
    const now = Date.now();
    const expires = effectiveExpiry(entry, ttlMs, now);
    // keyv reads a ttl of 0 as "never", so an entry already past its expiry was stored as expiring
    // 1 ms ago; keep storing it that way.
    const stored = expires === null ? undefined : expires > now ? expires : now - 1;
    const value = JSON.stringify({ value: withExpiry(entry, expires), expires: stored });
    const fullKey = this.prefix + key;
    const batch = (this.queued ??= newBatch());
    batch.rows.delete(fullKey); // a rewrite goes last, as a second statement would
    batch.rows.set(fullKey, value);
    // On disk before this returns: a process killed before the batch is written loses nothing.
    const generation = this.journal.append(fullKey, value);
    if (generation >= 0) batch.journaled.set(generation, (batch.journaled.get(generation) ?? 0) + 1);
    if (!this.flushing) this.flushing = this.flushSoon();
    return batch.done;
  }

  /** The queued or being-written value of a prefixed key, newest first. */
  private pendingValue(fullKey: string): string | undefined {
    return this.queued?.rows.get(fullKey) ?? this.writing?.rows.get(fullKey);
  }

  /**
   * Writes queued batches one after another until none is left. Waits one turn of the event loop
   * first (setImmediate: after the I/O callbacks of this turn, whose answers then share a batch),
   * so a batch holds what arrived in that turn plus whatever queued while the previous one was
   * being written. Never rejects: each batch's error goes to the callers of its set().
   */
  private async flushSoon(): Promise<void> {
    await new Promise<void>((done) => setImmediate(done));
    try {
      while (this.queued) {
        const batch = (this.writing = this.queued);
        this.queued = undefined;
        try {
          await this.write(batch.rows);
          // Stored: no longer the journal's. A batch that failed (SQLITE_BUSY past the busy
          // timeout, a full disk) stays in the journal, and the next open of the cache stores it.
          this.journal.stored(batch.journaled);
          batch.settle();
        } catch (error) {
          batch.settle(this.explain(error));
        } finally {
          this.writing = undefined;
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** One upsert per {@link MAX_BATCH} rows (each its own implicit transaction). */
  private async write(rows: Map<string, string>): Promise<void> {
    const params: string[] = [];
    let n = 0;
    for (const [key, value] of rows) {
      params.push(key, value);
      if (++n === MAX_BATCH) {
        await this.query(upsertSql(n), ...params);
        params.length = 0;
        n = 0;
      }
    }
    if (n > 0) await this.query(upsertSql(n), ...params);
  }

  /**
   * Waits until every entry set so far is in the file (or failed to get there: that error goes to
   * the set() callers, not here). Reads other than get/has call it first, so they see every entry
   * set before them; entries set meanwhile are not waited for.
   */
  async flush(): Promise<void> {
    // The queued batch is written after the one being written, so it is the last to settle.
    await (this.queued ?? this.writing)?.done.catch(() => undefined);
  }

  /**
   * A damaged file can open fine and fail only when a damaged page is read: name the file and say
   * how to reset it, since the caller (who treats the failure as a miss) cannot.
   */
  private explain(error: unknown): unknown {
    const message = error instanceof Error ? error.message : String(error);
    if (!DAMAGED.test(message)) return error;
    return new Error(`the cache file ${this.file} is damaged (${message}); to reset the cache, ${cacheResetHint(this.file)}`, { cause: error });
  }

  async has(key: string): Promise<boolean> {
    const pending = this.pendingValue(this.prefix + key);
    if (pending !== undefined) {
      const stored = JSON.parse(pending) as { expires?: number };
      return typeof stored.expires !== 'number' || stored.expires >= Date.now();
    }
    // Not keyv.has(): with this adapter it answers true for expired rows.
    const rows = await this.rows<{ one: number }>(
      `SELECT 1 AS one FROM ${TABLE} WHERE key = ? AND (expires IS NULL OR expires >= ?)`,
      this.prefix + key,
      Date.now(),
    );
    return rows.length > 0;
  }

  async delete(key: string): Promise<boolean> {
    await this.flush();
    const rows = await this.rows<{ expires: number | null }>(
      `DELETE FROM ${TABLE} WHERE key = ? RETURNING expires`,
      this.prefix + key,
    );
    return countLive(rows, Date.now()) > 0;
  }

  async clear(filter?: string): Promise<number> {
    await this.flush();
    // Expired rows in scope go too; only the live ones count as "deleted" for the caller.
    const where = this.where(filter, null);
    const rows = await this.rows<{ expires: number | null }>(
      `DELETE FROM ${TABLE} WHERE ${where.sql} RETURNING expires`,
      ...where.params,
    );
    return countLive(rows, Date.now());
  }

  async count(filter?: string): Promise<number> {
    await this.flush();
    const where = this.where(filter, Date.now());
    // Without a filter everything needed is in the index; SQLite's planner, lacking statistics,
    // would rather scan the table (~60 ms instead of ~12 ms at 100,000 rows), so tell it.
    const from = filter ? TABLE : `${TABLE} INDEXED BY ${INDEX}`;
    const rows = await this.rows<{ n: number }>(`SELECT count(*) AS n FROM ${from} WHERE ${where.sql}`, ...where.params);
    return rows[0]?.n ?? 0;
  }

  async list(options: ListOptions = {}): Promise<CachePage> {
    await this.flush();
    const offset = Math.max(0, Math.floor(options.offset ?? 0));
    const limit = Math.max(0, Math.floor(options.limit ?? DEFAULT_PAGE_SIZE));
    const where = this.where(options.filter, Date.now());
    const [rows, total] = await Promise.all([
      this.rows<Row>(`SELECT key, value FROM ${TABLE} WHERE ${where.sql} ${ORDER} LIMIT ? OFFSET ?`, ...where.params, limit, offset),
      this.count(options.filter),
    ]);
    return { entries: rows.map((row) => this.decode(row)), total };
  }

  async *iterate(options: { filter?: string; pageSize?: number } = {}): AsyncIterable<{ key: string; entry: CacheEntry }> {
    await this.flush();
    const pageSize = Math.max(1, Math.floor(options.pageSize ?? 200));
    // Keyset paging: each page starts strictly after the last row seen, so rows written or
    // deleted meanwhile never make the walk skip or repeat an entry (as OFFSET would).
    let after: { created: number; key: string } | undefined;
    for (;;) {
      const where = this.where(options.filter, Date.now());
      const params = [...where.params];
      let sql = `SELECT key, value, created FROM ${TABLE} WHERE ${where.sql}`;
      if (after) {
        sql += ' AND (created, key) < (?, ?)';
        params.push(after.created, after.key);
      }
      const rows = await this.rows<Row & { created: number }>(`${sql} ${ORDER} LIMIT ?`, ...params, pageSize);
      for (const row of rows) yield this.decode(row);
      const last = rows.at(-1);
      if (rows.length < pageSize || last === undefined || typeof last.created !== 'number') return;
      after = { created: last.created, key: last.key };
    }
  }

  /** Deletes expired rows (done on open); returns how many. */
  async purgeExpired(): Promise<number> {
    await this.flush();
    const where = this.where(undefined, null);
    const rows = await this.rows<{ n: number }>(
      `DELETE FROM ${TABLE} INDEXED BY ${INDEX} WHERE ${where.sql} AND expires < ? RETURNING 1 AS n`,
      ...where.params,
      Date.now(),
    );
    return rows.length;
  }

  /** Writes out queued entries (a failure reaches their set() callers), then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    await this.journal.close();
    while (this.reading) await this.reading;
    await this.connection.close();
  }

  /** Journal mode, schema and index; safe to run from several processes at once. */
  private async prepare(): Promise<void> {
    await this.enableWal();
    // Not fsync on every commit: a crash may lose the last few answers, never corrupt the file.
    await this.query('PRAGMA synchronous = NORMAL');
    // IMMEDIATE takes the write lock first, so two processes cannot both decide to migrate.
    await this.query('BEGIN IMMEDIATE');
    try {
      const columns = await this.rows<{ name: string }>(`SELECT name FROM pragma_table_xinfo('${TABLE}')`);
      if (!columns.some((c) => c.name === 'created')) {
        // A STORED column cannot be added with ALTER TABLE, so rebuild keyv's plain table.
        await this.query(`DROP TABLE IF EXISTS ${TABLE}_new`);
        await this.query(CREATE_TABLE);
        await this.query(`INSERT INTO ${TABLE}_new(key, value) SELECT key, value FROM ${TABLE}`);
        await this.query(`DROP TABLE ${TABLE}`);
        await this.query(`ALTER TABLE ${TABLE}_new RENAME TO ${TABLE}`);
      }
      await this.query(CREATE_INDEX);
      await this.query('COMMIT');
    } catch (error) {
      await this.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    // Answers a process that is gone had set but not written: each is stored unless the file
    // holds a newer answer for its key (a --refresh run may have stored one since).
    await replayJournals(this.file, (rows) => this.storeReplayed(rows));
    await this.purgeExpired();
  }

  /**
   * Stores what writers that ended since this cache was opened left in their journals; returns
   * how many entries that was. The RequestManager calls it as each run starts. Why: a writer alive
   * at open keeps its journal, and it may end later while this cache stays open. In VS Code, a
   * reloaded window starts its new extension host, which opens the cache at once for a restored
   * Cache Browser, while the old host still holds its lock. Without this, the answers the old host
   * had journaled but not written would be asked for, and paid for, again. Costs one directory
   * listing when there is nothing to store.
   */
  async recover(): Promise<number> {
    if (this.closed) return 0;
    return replayJournals(this.file, (rows) => this.storeReplayed(rows));
  }

  /** Stores journal entries, each unless the file holds a newer answer for its key. */
  private async storeReplayed(rows: [string, string][]): Promise<void> {
    for (let i = 0; i < rows.length; i += MAX_BATCH) {
      const chunk = rows.slice(i, i + MAX_BATCH);
      await this.query(insertNewerSql(chunk.length), ...chunk.flat());
    }
  }

  /**
   * Switches the file to WAL (readers never block the writer, and the mode sticks to the file).
   * The switch needs a moment without other connections in a transaction; another process
   * opening the same file can briefly prevent it, so try a few times.
   */
  private async enableWal(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const rows = await this.rows<{ journal_mode: string }>('PRAGMA journal_mode = WAL');
      if (rows[0]?.journal_mode?.toLowerCase() === 'wal') return;
      if (attempt >= 20) throw new Error(`SqliteCache: could not enable WAL (journal_mode is ${rows[0]?.journal_mode})`);
      await new Promise((done) => setTimeout(done, 25));
    }
  }

  /**
   * The WHERE clause for rows in this namespace, live at `now` (any expiry when null), and
   * matching `filter` (case-insensitive, in key, model, request or response JSON).
   */
  private where(filter: string | undefined, now: number | null): { sql: string; params: unknown[] } {
    const terms: string[] = [];
    const params: unknown[] = [];
    if (this.prefix) {
      // The unary + keeps SQLite off the primary key, so it uses the covering created index.
      terms.push('+key >= ? AND +key < ?');
      params.push(this.prefix, this.prefix.slice(0, -1) + ';'); // ';' sorts right after ':'
    }
    if (now !== null) {
      terms.push('(expires IS NULL OR expires >= ?)');
      params.push(now);
    }
    if (filter) {
      const like = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;
      const pattern = like(filter);
      // The request and response are searched in their JSON text, where quotes and backslashes
      // are escaped: search for the filter in that form too.
      const json = like(jsonEscaped(filter));
      // `value LIKE` is a cheap pre-check (each field's JSON is a substring of the value), so only
      // rows that can match are parsed.
      terms.push(
        `(substr(key, ?) LIKE ? ESCAPE '\\' OR ((value LIKE ? ESCAPE '\\' OR value LIKE ? ESCAPE '\\') AND (` +
          `json_extract(value, '$.value.model') LIKE ? ESCAPE '\\' OR ` +
          `(value -> '$.value.request') LIKE ? ESCAPE '\\' OR (value -> '$.value.request') LIKE ? ESCAPE '\\' OR ` +
          `(value -> '$.value.response') LIKE ? ESCAPE '\\' OR (value -> '$.value.response') LIKE ? ESCAPE '\\')))`,
      );
      params.push(this.prefix.length + 1, pattern, pattern, json, pattern, pattern, json, pattern, json);
    }
    return { sql: terms.length > 0 ? terms.join(' AND ') : '1', params };
  }

  private decode(row: Row): { key: string; entry: CacheEntry } {
    const stored = JSON.parse(row.value) as { value: CacheEntry };
    return { key: row.key.slice(this.prefix.length), entry: stored.value };
  }

  private async rows<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return (await this.query(sql, ...params)) as T[];
  }
}

/** How many of the returned rows were live at `now` (keyv: expired strictly after `expires`). */
function countLive(rows: { expires: number | null }[], now: number): number {
  let live = 0;
  for (const row of rows) if (row.expires === null || row.expires >= now) live++;
  return live;
}
