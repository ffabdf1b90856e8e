/**
 * The SQLite library under the cache file, chosen when a cache opens: the `sqlite3` native addon
 * (through @keyv/sqlite, as always), or, where that addon cannot load (a VSIX or install built for
 * another platform, a missing build), Node's own `node:sqlite` (Node 22.13+ and 24; 22.5+ with
 * `--experimental-sqlite`). Both speak to the same file with the same SQL: the table keyv's
 * adapter creates (`keyv(key VARCHAR(255) PRIMARY KEY, value TEXT)`, see ./sqliteSchema.ts for the
 * columns we add), so a cache written by one is read by the other.
 *
 * Nothing here loads either library at import time: `sqlite3` is required on first use only, so
 * that a bundle holding this code (dist/engine.js, dist/cli.js) still loads where the addon does
 * not, and the caller can fall back (./open.ts: to memory, and say so).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** The libraries an SQLite cache can run on. */
export type SqliteDriverName = 'sqlite3' | 'node:sqlite';

/** One open database: statements with positional `?` parameters, answered with their rows. */
export interface SqliteConnection {
  readonly driver: SqliteDriverName;
  /** Runs one statement; resolves with its rows ([] for statements that return none). */
  query(sql: string, ...params: unknown[]): Promise<unknown[]>;
  close(): Promise<void>;
}

/**
 * Neither library can be loaded here. The message says what is missing; callers add how to fix
 * it where they are (a CLI flag, a VSIX for the platform).
 */
export class SqliteUnavailableError extends Error {
  constructor(
    /** Why `sqlite3` did not load (its error's first line). */
    readonly sqlite3Error: string,
    /** Why `node:sqlite` did not load. */
    readonly nodeSqliteError: string,
  ) {
    super(
      `no SQLite library could be loaded: the sqlite3 native module did not load (${sqlite3Error}), ` +
        `and Node.js ${process.version} has no node:sqlite (${nodeSqliteError}; Node.js 22.13 or newer has it)`,
    );
    this.name = 'SqliteUnavailableError';
  }
}

type Sqlite3Module = typeof import('sqlite3');
type NodeSqliteModule = { DatabaseSync: new (path: string) => NodeDatabase };
interface NodeStatement {
  all(...params: unknown[]): unknown[];
}
interface NodeDatabase {
  prepare(sql: string): NodeStatement;
  exec(sql: string): void;
  close(): void;
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!.trim();
}

/** The sqlite3 addon, or the reason it cannot load. Not cached when it fails: Node does not cache it either. */
export function loadSqlite3(): Sqlite3Module | string {
  try {
    // Required here, not imported: see the module notes.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('sqlite3') as Sqlite3Module & { default?: Sqlite3Module };
    return mod.default ?? mod;
  } catch (e) {
    return firstLine(e);
  }
}

/** node:sqlite, or the reason it cannot load (a Node.js without it, or without its flag). */
export function loadNodeSqlite(): NodeSqliteModule | string {
  // Node 22.13–23 print an ExperimentalWarning for it on stderr; the CLI's output is the user's,
  // so that one warning is kept out of it.
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (/SQLite/i.test(String((warning as Error)?.message ?? warning))) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    // A computed name: esbuild (target node20) and older Nodes must not resolve it ahead of time.
    const name = 'node:sqlite';
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(name) as NodeSqliteModule;
    if (typeof mod.DatabaseSync !== 'function') return 'node:sqlite has no DatabaseSync';
    return mod;
  } catch (e) {
    return firstLine(e);
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * The driver a cache opened now would use: `sqlite3` when it loads, else `node:sqlite`.
 * @throws SqliteUnavailableError when neither loads.
 */
export function pickDriver(): SqliteDriverName {
  const sqlite3 = loadSqlite3();
  if (typeof sqlite3 !== 'string') return 'sqlite3';
  const node = loadNodeSqlite();
  if (typeof node !== 'string') return 'node:sqlite';
  throw new SqliteUnavailableError(sqlite3, node);
}

/** SQLite's primary result codes by number, for errors of node:sqlite (which gives numbers). */
const CODES: Record<number, string> = {
  1: 'SQLITE_ERROR', 2: 'SQLITE_INTERNAL', 3: 'SQLITE_PERM', 4: 'SQLITE_ABORT', 5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED', 7: 'SQLITE_NOMEM', 8: 'SQLITE_READONLY', 9: 'SQLITE_INTERRUPT', 10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 15: 'SQLITE_PROTOCOL', 17: 'SQLITE_SCHEMA',
  18: 'SQLITE_TOOBIG', 19: 'SQLITE_CONSTRAINT', 20: 'SQLITE_MISMATCH', 21: 'SQLITE_MISUSE', 23: 'SQLITE_AUTH',
  25: 'SQLITE_RANGE', 26: 'SQLITE_NOTADB',
};

/**
 * node:sqlite's error as sqlite3 words it (`SQLITE_BUSY: database is locked`, `code` 'SQLITE_BUSY'),
 * so that the code that reads errors (damaged files, a held writer lock) needs one rule.
 */
function asSqlite3Error(error: unknown): unknown {
  const errcode = (error as { errcode?: unknown })?.errcode;
  if (typeof errcode !== 'number') return error;
  const code = CODES[errcode & 0xff] ?? `SQLITE_${errcode}`;
  const text = (error as { errstr?: string }).errstr ?? (error as Error).message;
  const wrapped = new Error(`${code}: ${(error as Error).message || text}`, { cause: error });
  (wrapped as Error & { code: string; errno: number }).code = code;
  (wrapped as Error & { errno: number }).errno = errcode & 0xff;
  return wrapped;
}

/**
 * A node:sqlite connection behind the same promise interface. Its calls are synchronous: a
 * statement that waits for another process's lock holds the event loop for up to the busy
 * timeout (writes are single short statements, so that wait is rare and short).
 */
function nodeConnection(db: NodeDatabase): SqliteConnection {
  let closed = false;
  return {
    driver: 'node:sqlite',
    query: async (sql, ...params) => {
      try {
        return db.prepare(sql).all(...params);
      } catch (e) {
        throw asSqlite3Error(e);
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

/** A sqlite3 connection behind the promise interface. */
function sqlite3Connection(sqlite3: Sqlite3Module, file: string): Promise<SqliteConnection> {
  return new Promise((resolve, reject) => {
    const db: import('sqlite3').Database = new sqlite3.Database(file, (e) => {
      if (e) return reject(e);
      resolve({
        driver: 'sqlite3',
        query: (sql, ...params) => new Promise((done, fail) => db.all(sql, params, (err, rows) => (err ? fail(err) : done(rows)))),
        close: () => new Promise((done) => db.close(() => done())),
      });
    });
  });
}

/** Options for {@link openConnection}. */
export interface OpenConnectionOptions {
  /** The library to use. @default the first that loads: sqlite3, then node:sqlite ({@link pickDriver}) */
  driver?: SqliteDriverName;
  /** `PRAGMA busy_timeout` in ms (how long a statement waits for another connection's lock). @default 0 */
  busyTimeoutMs?: number;
  /**
   * Creates keyv's table if the file has none, as @keyv/sqlite does on connect: the cache's file.
   * @default false
   */
  keyvTable?: string;
}

/**
 * Opens (creating it) the database file with the chosen library.
 * @throws SqliteUnavailableError when no library loads, or the driver asked for does not.
 */
export async function openConnection(file: string, options: OpenConnectionOptions = {}): Promise<SqliteConnection> {
  const driver = options.driver ?? pickDriver();
  const busy = Math.max(0, Math.floor(options.busyTimeoutMs ?? 0));
  let connection: SqliteConnection;
  if (driver === 'sqlite3') {
    const sqlite3 = loadSqlite3();
    if (typeof sqlite3 === 'string') throw new SqliteUnavailableError(sqlite3, 'not tried: sqlite3 was asked for');
    if (options.keyvTable) {
      // keyv's own adapter opens the cache file, as it always has (it applies the busy timeout,
      // then creates its table).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { KeyvSqlite } = require('@keyv/sqlite') as typeof import('@keyv/sqlite');
      const store = new KeyvSqlite({ uri: `sqlite://${file}`, table: options.keyvTable, busyTimeout: busy || undefined });
      // Errors reach the caller through query(); the adapter's events would only repeat them.
      store.on('error', () => undefined);
      return {
        driver,
        query: async (sql, ...params) => (await store.query(sql, ...params)) as unknown[],
        close: () => store.disconnect(),
      };
    }
    connection = await sqlite3Connection(sqlite3, file);
  } else {
    const node = loadNodeSqlite();
    if (typeof node === 'string') throw new SqliteUnavailableError('not tried: node:sqlite was asked for', node);
    mkdirSync(dirname(file), { recursive: true });
    let db: NodeDatabase;
    try {
      db = new node.DatabaseSync(file);
    } catch (e) {
      throw asSqlite3Error(e);
    }
    connection = nodeConnection(db);
  }
  try {
    await connection.query(`PRAGMA busy_timeout = ${busy}`);
    // The very statement @keyv/sqlite runs on connect, so that either library creates the same table.
    if (options.keyvTable) await connection.query(`CREATE TABLE IF NOT EXISTS ${options.keyvTable}(key VARCHAR(255) PRIMARY KEY, value TEXT )`);
  } catch (e) {
    await connection.close();
    throw e;
  }
  return connection;
}
