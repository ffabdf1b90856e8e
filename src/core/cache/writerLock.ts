/**
 * The lock that tells whether a journal's writer is alive (see ./sqliteJournal.ts): an exclusive
 * SQLite lock on a small file of its own, taken when the writer starts and held until it stops.
 *
 * Why SQLite's lock, and not a process id or a lease timestamp:
 * - A process id says nothing across PID namespaces (Flatpak or Snap VS Code beside a host CLI:
 *   same host name, unrelated PIDs), containers (every one is PID 1 with its own host name) or
 *   renamed hosts. A lock is held by the kernel for the open file, whoever looks at it.
 * - The operating system releases the lock when the process dies, however it dies (SIGKILL, a
 *   crash, a closed laptop lid), so there is no lease to renew and no timeout to guess: a live
 *   writer is never taken for a dead one because its event loop was busy, and a dead one is
 *   known at once. Node has no flock(); SQLite brings its locking (POSIX fcntl locks, LockFileEx
 *   on Windows), and its file-system caveats are exactly the cache file's own, since the cache
 *   is an SQLite file beside it.
 * - One process holding two connections is handled too: SQLite tracks its own locks per file
 *   within a process, so a second connection of the writer's process sees the lock as taken.
 *
 * The file holds no data: `journal_mode = OFF` keeps SQLite from writing a rollback journal for
 * the transaction that is never committed.
 */
import { openConnection, type SqliteConnection } from './sqliteDriver';

/** An exclusive lock held on a file until {@link release}. */
export class WriterLock {
  private constructor(private readonly db: SqliteConnection) {}

  /**
   * Takes the lock on `path` (creating the file if needed), or resolves undefined when another
   * connection holds it. Rejects when the file cannot be opened at all, or no SQLite library loads.
   * It uses the library the cache uses (./sqliteDriver.ts); the lock is the operating system's, so
   * a writer on sqlite3 and a reader on node:sqlite in two processes see each other's.
   */
  static async acquire(path: string): Promise<WriterLock | undefined> {
    // No busy timeout: a held lock means a live writer, and that is the answer, not a wait.
    const db = await openConnection(path, { busyTimeoutMs: 0 });
    try {
      await db.query('PRAGMA journal_mode = OFF');
      await db.query('BEGIN EXCLUSIVE');
      return new WriterLock(db);
    } catch (e) {
      await db.close();
      if ((e as { code?: string }).code === 'SQLITE_BUSY') return undefined;
      throw e;
    }
  }

  /** Releases the lock (closing the connection ends its transaction). */
  async release(): Promise<void> {
    await this.db.close();
  }
}
