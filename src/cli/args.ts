/**
 * What every `fastllm` subcommand shares: the usage error (exit 2), number flags, the API key from
 * the environment (never from a flag, which would land in shell history), the stderr logger, and
 * opening the cache named by `--cache` (a SQLite file or a Redis URL).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CacheProvider } from '../core/cache/cacheProvider';
import { isRedisUrl, openCache as openCacheAt } from '../core/cache/open';
import { cacheResetHint } from '../core/cache/sqlite';
import { SqliteUnavailableError } from '../core/cache/sqliteDriver';
import { maskSecrets, type Logger } from '../core/log';

/** A usage or configuration error: the command exits 2 with this one-line message. */
export class UsageError extends Error {}

/** A whole number ≥ 0 from `--name`, or undefined when the flag is absent. */
export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} takes a whole number, not "${v}"`);
  return n;
}

/** A positive number of seconds from `--name`, in milliseconds, or undefined when the flag is absent. */
export function secondsAsMs(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} takes a number of seconds, not "${v}"`);
  return n * 1000;
}

/** A finite number from `--name`, or undefined when the flag is absent. */
export function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} takes a number, not "${v}"`);
  return n;
}

/** OPENAI_API_KEY, or a usage error saying how to set it. */
export function apiKeyFromEnv(): string {
  const key = process.env.OPENAI_API_KEY;
  if (!key) throw new UsageError('set OPENAI_API_KEY (any value, e.g. "none", for servers that need no key)');
  return key;
}

/** Logs to stderr with every secret masked; debug and info only with --verbose. */
export function stderrLogger(secrets: string[], verbose: boolean): Logger {
  const w = (level: string) => (m: string) => process.stderr.write(`${level}: ${maskSecrets(m, secrets)}\n`);
  return { debug: verbose ? w('debug') : () => {}, info: verbose ? w('info') : () => {}, warn: w('warning'), error: w('error') };
}

/** `--cache` as given for a Redis URL, else the file's absolute path. */
export function cacheLocation(value: string | undefined): string {
  const location = value ?? '.fastllm/cache.sqlite';
  return isRedisUrl(location) ? location.trim() : resolve(location);
}

/** Redis options from the flags and the environment (the password never comes from a flag). */
export function redisOptions(namespace: string | undefined): { namespace: string; password?: string } {
  const password = process.env.FASTLLM_REDIS_PASSWORD || undefined;
  return { namespace: namespace || process.env.FASTLLM_CACHE_NAMESPACE || 'fastllm', ...(password ? { password } : {}) };
}

/** How to reset the SQLite cache at `path`, for messages ("to reset the cache, <this>"). */
export function resetAdvice(path: string): string {
  // `cache reset` never deletes a directory, so do not point to it for one.
  const isDirectory = statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  return isDirectory ? cacheResetHint(path) : `${cacheResetHint(path)} (fastllm cache reset --cache ${path} does that)`;
}

/** How to get an SQLite library for the cache file, when none loads (see core/cache/sqliteDriver.ts). */
export const SQLITE_FIX = 'To keep answers between runs, run fastllm with Node.js 22.13 or newer, or reinstall it on this machine (npm install -g) so that sqlite3 is built for it.';

/** The one line said when the cache file cannot be used and answers are kept in memory instead. */
export function memoryCacheWarning(e: SqliteUnavailableError): string {
  return `the cache is in memory for this run only: ${e.message}. ${SQLITE_FIX}`;
}

let memoryWarned = false;

/**
 * Opens the cache, or warns and returns undefined: a broken or unreachable cache never stops a run.
 * Where no SQLite library loads, the cache is in memory, and one warning says so.
 */
export async function openCache(path: string, logger: Logger, namespace?: string): Promise<CacheProvider | undefined> {
  try {
    return isRedisUrl(path)
      ? await openCacheAt(path, redisOptions(namespace))
      : await openCacheAt(path, {
          onMemoryFallback: (e) => {
            // Once per process (fastllm demo runs twice in one).
            if (!memoryWarned) logger.warn(memoryCacheWarning(e));
            memoryWarned = true;
          },
        });
  } catch (e) {
    if (isRedisUrl(path)) {
      // An unreachable team cache must not stop the run either: it only costs the API calls.
      logger.warn(`${(e as Error).message}; running without the cache.`);
      return undefined;
    }
    // A broken cache must not stop the run: go on without it, and say how to reset it.
    logger.warn(`cannot open the cache ${path} (${(e as Error).message}); running without it. To reset the cache, ${resetAdvice(path)}, or pass another --cache FILE.`);
    return undefined;
  }
}
