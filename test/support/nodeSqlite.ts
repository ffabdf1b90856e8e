/**
 * A Node.js that has `node:sqlite`, for the tests of the cache's second SQLite library
 * (src/core/cache/sqliteDriver.ts). The project runs on Node 20 (VS Code 1.100's), which has none, so
 * the tests run those parts under Node 24 from the npm registry (the `node` package), in a child
 * process:
 * 1. this Node, when it has node:sqlite;
 * 2. else $FASTLLM_TEST_NODE;
 * 3. else `npm exec --package=node@24` (fetched into npm's cache the first time, from the registry;
 *    offline after that).
 * Tests that need it fail when none is found, unless FASTLLM_ALLOW_NO_NODE_SQLITE=1 (then they skip).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Preload that makes sqlite3 (and, with FASTLLM_TEST_NO_NODE_SQLITE=1, node:sqlite) unloadable. */
export const NO_SQLITE = resolve(__dirname, 'noSqlite.cjs');

function hasNodeSqlite(node: string): boolean {
  const probe = spawnSync(node, ['-e', "require('node:sqlite').DatabaseSync"], { encoding: 'utf8', timeout: 30_000 });
  return probe.status === 0;
}

let found: string | null | undefined;

/** The path of a Node binary with node:sqlite, or undefined. */
export function nodeWithSqlite(): string | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  const candidates = [process.execPath, process.env.FASTLLM_TEST_NODE];
  for (const c of candidates) {
    if (c && hasNodeSqlite(c)) return (found = c);
  }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // Test files run in parallel: one fetch at a time, the others then find it in npm's cache.
  const lock = join(tmpdir(), 'fastllm-test-node24.lock');
  const deadline = Date.now() + 180_000;
  let held = false;
  while (!held && Date.now() < deadline) {
    try {
      mkdirSync(lock);
      held = true;
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) rmSync(lock, { recursive: true, force: true }); // left by a killed run
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  let r: SpawnSyncReturns<string>;
  try {
    r = spawnSync(npm, ['exec', '--yes', '--package=node@24', '--', 'node', '-p', 'process.execPath'], {
      encoding: 'utf8',
      timeout: 180_000,
      cwd: resolve(__dirname),
      shell: process.platform === 'win32', // npm.cmd
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' },
    });
  } finally {
    if (held) rmSync(lock, { recursive: true, force: true });
  }
  const path = r.stdout?.trim().split('\n').at(-1);
  if (r.status === 0 && path && hasNodeSqlite(path)) found = path;
  return found ?? undefined;
}

/** Why node:sqlite tests are skipped, or undefined when they run (or must fail for want of a Node). */
export function nodeSqliteSkip(): string | undefined {
  if (nodeWithSqlite()) return undefined;
  return process.env.FASTLLM_ALLOW_NO_NODE_SQLITE === '1' ? 'no Node.js with node:sqlite (set FASTLLM_TEST_NODE, or let npm fetch node@24)' : undefined;
}
