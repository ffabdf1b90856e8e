/**
 * The files of an SQLite cache on disk. Light on purpose (no SQLite, no keyv): the extension uses it
 * before the engine bundle is loaded.
 */
import { lstat, rm } from 'node:fs/promises';
import { pendingFiles } from './sqliteJournal';

/** The files SQLite keeps for a database: the file itself and its journals. */
export const CACHE_FILE_SUFFIXES = ['', '-wal', '-shm', '-journal'] as const;

/**
 * Deletes a cache file with SQLite's journals and our write-behind journals and their lock files (./sqliteJournal.ts),
 * without opening it (so a damaged file can be reset); returns the paths that existed. The cache
 * must not be open in this process. A directory is never deleted (a mistyped path must not cost
 * someone a folder): that throws instead.
 */
export async function removeCacheFiles(file: string): Promise<string[]> {
  const removed: string[] = [];
  for (const path of [...CACHE_FILE_SUFFIXES.map((suffix) => file + suffix), ...pendingFiles(file)]) {
    try {
      if ((await lstat(path)).isDirectory()) throw new Error(`${path} is a directory, not a cache file; it was left alone`);
      await rm(path);
      removed.push(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return removed;
}
