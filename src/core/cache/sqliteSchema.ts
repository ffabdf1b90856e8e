/**
 * The SQLite cache's table layout and its write-behind batch: what SqliteCache (./sqlite.ts) runs
 * its own SQL against, beside keyv.
 */

/** keyv's table (the @keyv/sqlite default) and the columns it creates. */
export const TABLE = 'keyv';
/**
 * Our schema for keyv's table: keyv's own `key`/`value` columns plus two STORED generated columns
 * copied out of the JSON, so that one covering index can answer "count live entries" and "page N,
 * newest first" without reading or parsing a single value (100,000 entries: ~10 ms, not ~300 ms).
 * keyv keeps writing `(key, value)` only; SQLite fills the rest.
 */
export const CREATE_TABLE = `CREATE TABLE ${TABLE}_new(
  key VARCHAR(255) PRIMARY KEY,
  value TEXT,
  created INTEGER GENERATED ALWAYS AS (json_extract(value, '$.value.created')) STORED,
  expires INTEGER GENERATED ALWAYS AS (json_extract(value, '$.expires')) STORED)`;
export const INDEX = `${TABLE}_created`;
export const CREATE_INDEX = `CREATE INDEX IF NOT EXISTS ${INDEX} ON ${TABLE}(created, key, expires)`;
/** The newest-first order; `key` breaks ties so that paging is deterministic. */
export const ORDER = 'ORDER BY created DESC, key DESC';

export type Row = { key: string; value: string };
export type Query = (sql: string, ...params: unknown[]) => Promise<unknown>;

/**
 * The most rows one write statement carries (two bound parameters each, far below SQLite's
 * limit of 32,766). More queued entries than this go out as several statements.
 */
export const MAX_BATCH = 256;

/** `INSERT … VALUES (?, ?), …` for `rows` rows: keyv's upsert, several rows at once. */
export function upsertSql(rows: number): string {
  const values = new Array<string>(rows).fill('(?, ?)').join(', ');
  return `INSERT INTO ${TABLE}(key, value) VALUES ${values} ON CONFLICT(key) DO UPDATE SET value = excluded.value`;
}

/**
 * `INSERT … VALUES (?, ?), …` for replaying a journal: a key already stored is replaced only by
 * an entry created after it, so an old answer left in a journal never overwrites a newer one
 * (written by a `--refresh` run meanwhile), in whatever order journals are replayed.
 */
export function insertNewerSql(rows: number): string {
  const values = new Array<string>(rows).fill('(?, ?)').join(', ');
  return (
    `INSERT INTO ${TABLE}(key, value) VALUES ${values} ON CONFLICT(key) DO UPDATE SET value = excluded.value ` +
    `WHERE json_extract(excluded.value, '$.value.created') > ${TABLE}.created`
  );
}

/** Entries queued by {@link SqliteCache.set}, and the promise that settles once they are stored. */
export interface Batch {
  /** Prefixed key → the JSON text stored in `value`; a later set of a key replaces an earlier one. */
  rows: Map<string, string>;
  /** How many of the batch's set() calls went to each journal generation (see sqliteJournal.ts). */
  journaled: Map<number, number>;
  /** Resolves once every row is in the file; rejects with the statement's error. */
  done: Promise<void>;
  settle: (error?: unknown) => void;
}

export function newBatch(): Batch {
  let settle!: (error?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Callers that do not await their set() must not turn a failed write into an unhandled rejection
  // of this shared promise; each caller still sees the failure through the promise it awaits.
  done.catch(() => undefined);
  return { rows: new Map(), journaled: new Map(), done, settle };
}

/** A get waiting for its batched SELECT. */
export interface Lookup {
  resolve: (value: string | undefined) => void;
  reject: (error: unknown) => void;
}
