/**
 * The journal of SqliteCache's write-behind queue: an entry is appended here, synchronously, the
 * moment it is set, and the file is emptied or deleted once every entry in it is in the database.
 *
 * Why: SQLite writes go through the thread pool in batches, a few milliseconds after the answer
 * came. A process killed in between would lose answers it had paid for, and a rerun would send
 * them again. With the journal, an answer is on disk (in the OS's cache, like SQLite's own WAL
 * with `synchronous = NORMAL`) before the call's slot goes to the next request, so a killed run
 * re-sends only the calls that were in flight. An entry whose write failed (say, SQLITE_BUSY past
 * the busy timeout) stays in the journal too, and is stored by a later open.
 *
 * Files, for a writer with the random id `<id>`:
 * - `<cache file>.pending-<id>-<generation>`: one line per entry, the JSON-quoted key, a tab, and
 *   the stored value (JSON text, which has no raw tab or newline). A file grows to
 *   {@link ROTATE_BYTES}; then the next one starts, and the old one is deleted once all its
 *   entries are stored.
 * - `<cache file>.pending-<id>.lock`: the writer's {@link WriterLock}, taken before its first
 *   journal file exists and released after its last one is gone. While it is held, nobody else
 *   touches the writer's journals; once it is free (the writer ended, however), the next open of
 *   the cache stores their entries ({@link replayJournals}) and deletes them.
 */
import { closeSync, constants, ftruncateSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { WriterLock } from './writerLock';

/** A journal file this big is left for a new one (and deleted once its entries are stored). */
export const ROTATE_BYTES = 8 * 1024 * 1024;

/**
 * A lock file without journal files is deleted (if free) only once it is this old: a writer
 * creates its lock file a moment before it locks it, and that moment must not look like a
 * dead writer.
 */
const LONE_LOCK_AGE_MS = 60_000;

const PENDING = '.pending-';
const LOCK = '.lock';

/** The journal of one open SqliteCache. Never throws: if the file cannot be written, journaling stops. */
export class PendingJournal {
  private readonly stem: string;
  private fd: number | undefined;
  private generation = -1;
  private bytes = 0;
  /** Entries appended but not yet stored, by generation. */
  private readonly pending = new Map<number, number>();
  private off = false;

  private constructor(
    file: string,
    id: string,
    /** Held for as long as this journal may have files; undefined when journaling is off. */
    private lock: WriterLock | undefined,
    private readonly rotateBytes: number,
  ) {
    this.stem = `${file}${PENDING}${id}-`;
    this.off = lock === undefined;
  }

  /**
   * A new journal for the cache `file`, under a lock of its own. If the lock cannot be taken (a
   * read-only folder, say), journaling is off: entries then reach the file only with their batch.
   */
  static async open(file: string, rotateBytes = ROTATE_BYTES): Promise<PendingJournal> {
    const id = randomBytes(8).toString('hex');
    let lock: WriterLock | undefined;
    try {
      lock = await WriterLock.acquire(`${file}${PENDING}${id}${LOCK}`);
    } catch {
      lock = undefined;
    }
    return new PendingJournal(file, id, lock, rotateBytes);
  }

  /** Appends an entry; returns its generation (to pass to {@link stored}), or -1 when journaling is off. */
  append(fullKey: string, value: string): number {
    if (this.off) return -1;
    try {
      if (this.fd === undefined || this.bytes >= this.rotateBytes) this.rotate();
      this.bytes += writeSync(this.fd!, `${JSON.stringify(fullKey)}\t${value}\n`);
      this.pending.set(this.generation, (this.pending.get(this.generation) ?? 0) + 1);
      return this.generation;
    } catch {
      this.stop();
      return -1;
    }
  }

  /**
   * These entries (count by generation) are in the database. Entries whose write failed are not
   * reported here: they stay in the journal, for the next open to store.
   */
  stored(generations: Map<number, number>): void {
    for (const [generation, n] of generations) {
      const left = (this.pending.get(generation) ?? 0) - n;
      if (left > 0) {
        this.pending.set(generation, left);
        continue;
      }
      this.pending.delete(generation);
      try {
        if (generation !== this.generation) unlinkSync(this.stem + generation);
        else if (this.fd !== undefined && this.bytes > 0) {
          ftruncateSync(this.fd, 0);
          this.bytes = 0;
        }
      } catch {
        // A journal that cannot be cleaned up is replayed (harmlessly) by the next open.
      }
    }
  }

  /**
   * Closes the journal (call once every write has settled). Files with no entry left are deleted
   * with the lock; files that still hold entries (their write failed) stay, and the released lock
   * lets the next open of the cache store them.
   */
  async close(): Promise<void> {
    this.stop();
    const lock = this.lock;
    this.lock = undefined;
    if (!lock) return;
    await lock.release();
    if (this.pending.size === 0) unlinkQuietly(`${this.stem.slice(0, -1)}${LOCK}`);
  }

  private rotate(): void {
    const previous = this.generation;
    if (this.fd !== undefined) closeSync(this.fd);
    this.generation++;
    // Append mode, so that writes after an ftruncate start at the new end, not the old offset.
    this.fd = openSync(this.stem + this.generation, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND);
    this.bytes = 0;
    // A full file whose entries are all stored already goes now.
    if (previous >= 0 && !this.pending.has(previous)) unlinkQuietly(this.stem + previous);
  }

  private stop(): void {
    this.off = true;
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
      if (!this.pending.has(this.generation)) unlinkQuietly(this.stem + this.generation);
    }
  }
}

/**
 * Stores the entries of journals whose writer is gone (its lock is free), with `store`, then
 * deletes those files. Journals of live writers, whatever process, container or machine they run
 * in, are left alone. `store` must keep, of two entries for one key, the one created last (a
 * journal may hold an older answer than one a `--refresh` run stored since). Returns how many
 * entries were passed to `store`.
 */
export async function replayJournals(file: string, store: (rows: [string, string][]) => Promise<void>): Promise<number> {
  let replayed = 0;
  for (const [id, generations] of journalsByWriter(file)) {
    const lockPath = `${file}${PENDING}${id}${LOCK}`;
    if (generations.length === 0) {
      await removeLoneLock(lockPath);
      continue;
    }
    let lock: WriterLock | undefined;
    try {
      lock = await WriterLock.acquire(lockPath);
    } catch {
      continue; // cannot even open the lock: leave the journal for someone who can
    }
    if (!lock) continue; // its writer is alive
    try {
      const rows: [string, string][] = [];
      const paths = generations.sort((a, b) => a - b).map((g) => `${file}${PENDING}${id}-${g}`);
      for (const path of paths) rows.push(...readJournal(path));
      if (rows.length > 0) await store(rows);
      replayed += rows.length;
      for (const path of paths) unlinkQuietly(path);
    } finally {
      await lock.release();
      unlinkQuietly(lockPath);
    }
  }
  return replayed;
}

/** The entries of one journal file; lines cut short by a kill, or not ours, are skipped. */
function readJournal(path: string): [string, string][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return []; // another process replayed and deleted it first
  }
  const rows: [string, string][] = [];
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab <= 0) continue;
    try {
      const key = JSON.parse(line.slice(0, tab)) as unknown;
      const value = line.slice(tab + 1);
      JSON.parse(value);
      if (typeof key === 'string') rows.push([key, value]);
    } catch {
      // torn or foreign line
    }
  }
  return rows;
}

/** The writers that left files beside `file`: id → generations of their journal files (maybe none). */
function journalsByWriter(file: string): Map<string, number[]> {
  const prefix = basename(file) + PENDING;
  const writers = new Map<string, number[]>();
  for (const path of pendingFiles(file)) {
    const rest = basename(path).slice(prefix.length);
    if (rest.endsWith(LOCK)) {
      const id = rest.slice(0, -LOCK.length);
      if (!writers.has(id)) writers.set(id, []);
      continue;
    }
    // <id>-<generation>; files of older versions were <host>-<pid>-<instance>-<generation>.
    const dash = rest.lastIndexOf('-');
    const generation = Number(rest.slice(dash + 1));
    if (dash <= 0 || !Number.isInteger(generation) || generation < 0) continue;
    const id = rest.slice(0, dash);
    const list = writers.get(id);
    if (list) list.push(generation);
    else writers.set(id, [generation]);
  }
  return writers;
}

/**
 * Deletes the lock file of a writer that died before it wrote a journal file, once it is old
 * enough to be no writer's first moment ({@link LONE_LOCK_AGE_MS}) and nobody holds it.
 */
async function removeLoneLock(path: string): Promise<void> {
  try {
    if (Date.now() - statSync(path).mtimeMs < LONE_LOCK_AGE_MS) return;
    const lock = await WriterLock.acquire(path);
    if (!lock) return;
    await lock.release();
    unlinkQuietly(path);
  } catch {
    // gone, or not ours to judge
  }
}

/** Journal files of `file` (entries, of any writer), without the lock files. */
export function journalFiles(file: string): string[] {
  return pendingFiles(file).filter((path) => !path.endsWith(LOCK));
}

/** Every file of the journals of `file`: journal files and their writers' lock files, for deleting a cache. */
export function pendingFiles(file: string): string[] {
  const prefix = basename(file) + PENDING;
  try {
    return readdirSync(dirname(file))
      .filter((n) => n.startsWith(prefix))
      .map((n) => join(dirname(file), n));
  } catch {
    return [];
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
