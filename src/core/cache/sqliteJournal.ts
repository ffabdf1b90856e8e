/**
 * The journal of SqliteCache's write-behind queue: an entry is appended here, synchronously, the
 * moment it is set, and the file is emptied or deleted once every entry in it is in the database.
 *
 * Why: SQLite writes go through the thread pool in batches, a few milliseconds after the answer
 * came. A process killed in between would lose answers it had paid for, and a rerun would send
 * them again. With the journal, an answer is on disk (in the OS's cache, like SQLite's own WAL
 * with `synchronous = NORMAL`) before the call's slot goes to the next request, so a killed run
 * re-sends only the calls that were in flight.
 *
 * Files: `<cache file>.pending-<host>-<pid>-<instance>-<generation>`, one line per entry:
 * the JSON-quoted key, a tab, and the stored value (JSON text, which has no raw tab or newline).
 * A file grows to {@link ROTATE_BYTES}; then the next one starts, and the old one is deleted
 * once all its entries are stored. When the cache opens, it stores the entries of files left by
 * processes of this machine that are gone ({@link replayJournals}), then deletes those files.
 */
import { closeSync, constants, ftruncateSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** A journal file this big is left for a new one (and deleted once its entries are stored). */
export const ROTATE_BYTES = 8 * 1024 * 1024;

const PENDING = '.pending-';
let instances = 0;

/** The journal of one open SqliteCache. Never throws: if the file cannot be written, journaling stops. */
export class PendingJournal {
  private readonly stem: string;
  private fd: number | undefined;
  private generation = -1;
  private bytes = 0;
  /** Entries appended but not yet stored, by generation. */
  private readonly pending = new Map<number, number>();
  private off = false;

  constructor(
    file: string,
    private readonly rotateBytes = ROTATE_BYTES,
  ) {
    this.stem = `${file}${PENDING}${safeHost()}-${process.pid}-${++instances}-`;
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

  /** These entries (count by generation) are in the database, or failed to get there for good. */
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

  /** Closes and deletes the current file (call once every entry is stored). */
  close(): void {
    this.stop();
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
 * Stores the entries of journals left by processes of this machine that are no longer running,
 * with `store` (which must not overwrite an entry the database already has), then deletes those
 * files. Journals of running processes, of other machines and with other names are left alone.
 * Returns how many entries were passed to `store`.
 */
export async function replayJournals(file: string, store: (rows: [string, string][]) => Promise<void>): Promise<number> {
  const prefix = basename(file) + PENDING;
  let replayed = 0;
  for (const path of journalFiles(file)) {
    // <host>-<pid>-<instance>-<generation>; the host name may itself hold '-'.
    const parts = basename(path).slice(prefix.length).split('-');
    if (parts.length < 4) continue;
    const pid = Number(parts[parts.length - 3]);
    const host = parts.slice(0, -3).join('-');
    if (host !== safeHost() || !Number.isInteger(pid) || pid === process.pid || isRunning(pid)) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue; // another process replayed and deleted it first
    }
    const rows: [string, string][] = [];
    for (const line of text.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab <= 0) continue;
      try {
        const key = JSON.parse(line.slice(0, tab)) as unknown;
        const value = line.slice(tab + 1);
        JSON.parse(value); // a line cut short by the kill is skipped
        if (typeof key === 'string') rows.push([key, value]);
      } catch {
        // torn or foreign line
      }
    }
    if (rows.length > 0) await store(rows);
    replayed += rows.length;
    unlinkQuietly(path);
  }
  return replayed;
}

/** Journal files of `file` (any process), for deleting a cache. */
export function journalFiles(file: string): string[] {
  const prefix = basename(file) + PENDING;
  try {
    return readdirSync(dirname(file))
      .filter((n) => n.startsWith(prefix))
      .map((n) => join(dirname(file), n));
  } catch {
    return [];
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The host name as it appears in file names (no path separators). */
function safeHost(): string {
  return hostname().replace(/[^A-Za-z0-9_.-]/g, '_') || 'localhost';
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
