/**
 * SqliteCache's write-behind journal (src/core/cache/sqliteJournal.ts): an entry set is on disk
 * before set() returns; a journal whose writer is gone (its lock is free) is stored by the next
 * open, whatever machine, container or PID it came from; a live writer's journal is never touched;
 * a failed write stays in the journal; a newer answer is never overwritten by an older one.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KeyvSqlite } from '@keyv/sqlite';
import { removeCacheFiles } from '../../src/core/cache/files';
import { SqliteCache } from '../../src/core/cache/sqlite';
import { journalFiles, PendingJournal, pendingFiles } from '../../src/core/cache/sqliteJournal';
import { computeRequestHash } from '../../src/core/hash';
import { RequestManager } from '../../src/core/manager';
import type { CacheEntry, LLMRequest } from '../../src/core/types';
import { collect } from '../support/cacheContract';
import { ScriptedProvider } from '../support/scriptedProvider';

function entry(i: number, created = 1_700_000_000_000 + i): CacheEntry {
  return {
    request: { model: 'm', messages: [{ role: 'user', content: `journal question ${i}\twith a tab` }] },
    endpoint: { kind: 'chat', baseURL: 'http://127.0.0.1' },
    response: { text: `answer ${i}` },
    request_id: null,
    model: 'm',
    created,
    expires: null,
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

/** The stored value of an entry, as SqliteCache writes it. */
const stored = (e: CacheEntry) => JSON.stringify({ value: e });
/** One journal line for `key` (in the default namespace). */
const line = (key: string, e: CacheEntry) => `${JSON.stringify(`fastllm:${key}`)}\t${stored(e)}\n`;

const JOURNAL = JSON.stringify(join(__dirname, '../../src/core/cache/sqliteJournal'));

/**
 * Another process that opens a journal on `file`, appends `lines` (never stored) and then waits
 * until killed: a live writer, known only by its lock.
 */
async function liveWriter(file: string, entries: [string, CacheEntry][]): Promise<ChildProcess> {
  const script = `
    const { PendingJournal } = require(${JOURNAL});
    (async () => {
      const journal = await PendingJournal.open(${JSON.stringify(file)});
      for (const [k, v] of ${JSON.stringify(entries.map(([k, e]) => [`fastllm:${k}`, stored(e)]))}) journal.append(k, v);
      process.stdout.write('ready\\n');
      setInterval(() => {}, 60000);
    })();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ready, fail) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && ready());
    child.on('exit', (code) => fail(new Error(`the writer exited (${code}) before it was ready`)));
  });
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}

describe('SqliteCache journal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-journal-'));

  test('entries set just before a SIGKILL are stored by the next open; the journal and its lock then go', async () => {
    const file = join(dir, 'killed.sqlite');
    // The child sets 50 entries and kills itself in the same turn: the batched write never runs.
    const script = `
      const { SqliteCache } = require(${JSON.stringify(join(__dirname, '../../src/core/cache/sqlite'))});
      (async () => {
        const cache = await SqliteCache.open(${JSON.stringify(file)});
        const entry = (i) => (${entry.toString()})(i);
        for (let i = 0; i < 50; i++) void cache.set('k' + i, entry(i)).catch(() => {});
        process.kill(process.pid, 'SIGKILL');
      })();`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const left = journalFiles(file);
    assert.equal(left.length, 1, 'the killed process left its journal');
    assert.equal(readFileSync(left[0]!, 'utf8').trimEnd().split('\n').length, 50);

    const cache = await SqliteCache.open(file);
    try {
      assert.equal(await cache.count(), 50, 'every entry set before the kill is in the cache');
      assert.deepEqual(await cache.get('k7'), entry(7));
      assert.deepEqual(pendingFiles(file).filter((f) => !f.includes(cacheOwnId(cache))), [], 'the replayed journal and its lock are deleted');
    } finally {
      await cache.close();
    }
    assert.deepEqual(pendingFiles(file), []);
  });

  test('a normal run leaves no journal and no lock, and its entries are in the file', async () => {
    const file = join(dir, 'normal.sqlite');
    const cache = await SqliteCache.open(file);
    await Promise.all(Array.from({ length: 300 }, (_, i) => cache.set(`n${i}`, entry(i))));
    assert.equal(journalFiles(file).length, 1, 'the journal is open while the cache is');
    await cache.close();
    assert.deepEqual(pendingFiles(file), []);
    const again = await SqliteCache.open(file);
    assert.equal(await again.count(), 300);
    await again.close();
  });

  test("a live writer's journal is never replayed or deleted, whatever its process; once the writer is gone it is", async () => {
    const file = join(dir, 'live.sqlite');
    await (await SqliteCache.open(file)).close();
    const writer = await liveWriter(file, [['live', entry(1)]]);
    try {
      const files = pendingFiles(file);
      assert.equal(files.length, 2, `a journal and its lock: ${files.join(', ')}`);
      const cache = await SqliteCache.open(file);
      try {
        assert.equal(await cache.get('live'), undefined, 'a live journal was replayed');
      } finally {
        await cache.close();
      }
      for (const f of files) assert.ok(existsSync(f), `${f} of a live writer was deleted`);
    } finally {
      await killed(writer);
    }
    const cache = await SqliteCache.open(file);
    try {
      assert.deepEqual(await cache.get('live'), entry(1), 'the journal of a writer that is gone is stored');
    } finally {
      await cache.close();
    }
    assert.deepEqual(pendingFiles(file), []);
  });

  test('a writer that ends while the cache stays open: recover() stores its journal, and a RequestManager run does so before its lookups', async () => {
    // A reloaded VS Code window: the new extension host opens the cache (for a restored Cache
    // Browser) while the old host still holds its journal; the old host ends a moment later.
    const file = join(dir, 'late.sqlite');
    await (await SqliteCache.open(file)).close();
    const body = { model: 'm', messages: [{ role: 'user' as const, content: 'answered before the reload' }] };
    const request: LLMRequest = { kind: 'chat', custom_id: 'r1', line: 1, body };
    const provider = new ScriptedProvider();
    const key = computeRequestHash(request, provider.scope);
    const journaled: CacheEntry = {
      ...entry(2),
      request: body,
      response: { id: 'c1', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'from the journal' }, finish_reason: 'stop' }] },
    };
    const writer = await liveWriter(file, [['own-entry', entry(1)], [key, journaled]]);
    const cache = await SqliteCache.open(file);
    try {
      assert.equal(await cache.recover(), 0, "a live writer's journal is left alone");
      assert.equal(await cache.get('own-entry'), undefined);
      await cache.set('mine', entry(3));
      await killed(writer);
      assert.equal(await cache.recover(), 2, 'the ended writer left two entries');
      assert.deepEqual(await cache.get('own-entry'), entry(1));
      assert.equal(await cache.recover(), 0, 'stored once');
      assert.deepEqual(await cache.get('mine'), entry(3), 'its own entries are untouched');
      assert.ok(!pendingFiles(file).some((f) => !f.includes(cacheOwnId(cache))), 'the ended writer\'s files are gone');

      // The same through a run, with a second writer that ends after the cache opened.
      await cache.delete(key);
      const second = await liveWriter(file, [[key, journaled]]);
      await killed(second);
      const run = new RequestManager({ provider, concurrency: 1, cache });
      const [record] = await collect(run.run([request]));
      assert.equal(record!.cached, true, 'the run asked the server for an answer its cache had in a journal');
      assert.equal(provider.calls.length, 0);
    } finally {
      await cache.close();
    }
  });

  test('journals left by other machines, containers (PID 1) or older versions are stored once nobody holds them; a torn line is skipped', async () => {
    const file = join(dir, 'others.sqlite');
    // Named as FastLLM used to name them (<host>-<pid>-<instance>-<generation>): another host,
    // and PID 1 of a container. No process holds a lock on them.
    writeFileSync(`${file}.pending-build-container-7f3a-1-1-0`, line('pid1', entry(1)));
    writeFileSync(`${file}.pending-old-laptop-name-4242-1-0`, line('renamed', entry(2)) + line('torn', entry(3)).slice(0, 40));
    // A writer that ended without cleaning up: its lock file is there but free.
    writeFileSync(`${file}.pending-00112233aabbccdd-0`, line('free', entry(4)));
    writeFileSync(`${file}.pending-00112233aabbccdd.lock`, '');
    const cache = await SqliteCache.open(file);
    try {
      assert.deepEqual(await cache.get('pid1'), entry(1));
      assert.deepEqual(await cache.get('renamed'), entry(2));
      assert.deepEqual(await cache.get('free'), entry(4));
      assert.equal(await cache.get('torn'), undefined);
    } finally {
      await cache.close();
    }
    assert.deepEqual(pendingFiles(file), []);
  });

  test('a batch that fails (SQLITE_BUSY past the busy timeout) stays in the journal and is stored by the next open', async () => {
    const file = join(dir, 'busy.sqlite');
    const cache = await SqliteCache.open(file, { busyTimeoutMs: 50 });
    const locker = new KeyvSqlite({ uri: `sqlite://${file}` });
    try {
      await locker.query('BEGIN IMMEDIATE'); // holds the write lock past the busy timeout
      await assert.rejects(cache.set('lost?', entry(5)), /SQLITE_BUSY|locked/);
      const [journal] = journalFiles(file);
      assert.ok(journal && readFileSync(journal, 'utf8').includes('"fastllm:lost?"'), 'the failed entry left the journal');
    } finally {
      await locker.query('ROLLBACK');
      await cache.close();
      await locker.disconnect();
    }
    assert.equal(journalFiles(file).length, 1, 'closing keeps a journal that holds an entry not stored');
    const again = await SqliteCache.open(file);
    try {
      assert.deepEqual(await again.get('lost?'), entry(5));
    } finally {
      await again.close();
    }
    assert.deepEqual(pendingFiles(file), []);
  });

  test('replay keeps the newest answer of a key: an old journal entry never overwrites a --refresh answer stored since', async () => {
    const file = join(dir, 'refresh.sqlite');
    const t = 1_800_000_000_000;
    const first = await SqliteCache.open(file);
    await first.set('refreshed', entry(10, t + 1000)); // a --refresh run's answer, stored
    await first.set('stale', entry(11, t)); // an old answer, stored
    await first.close();
    // Journals of writers that are gone: an older answer for 'refreshed', a newer one for 'stale',
    // and two answers for 'twice' in two journals, the newer one in the journal replayed first.
    writeFileSync(`${file}.pending-aaaaaaaaaaaaaaaa-0`, line('refreshed', entry(12, t)) + line('twice', entry(14, t + 500)));
    writeFileSync(`${file}.pending-bbbbbbbbbbbbbbbb-0`, line('stale', entry(13, t + 2000)) + line('twice', entry(15, t + 100)));
    const cache = await SqliteCache.open(file);
    try {
      assert.deepEqual(await cache.get('refreshed'), entry(10, t + 1000), 'the newer stored answer was overwritten');
      assert.deepEqual(await cache.get('stale'), entry(13, t + 2000), 'the newer journal answer was dropped');
      assert.deepEqual(await cache.get('twice'), entry(14, t + 500));
    } finally {
      await cache.close();
    }
  });

  test('a lock file left alone is deleted once old and free, kept while new', async () => {
    const file = join(dir, 'lone.sqlite');
    const old = `${file}.pending-cccccccccccccccc.lock`;
    const fresh = `${file}.pending-dddddddddddddddd.lock`;
    writeFileSync(old, '');
    writeFileSync(fresh, '');
    const past = (Date.now() - 3_600_000) / 1000;
    utimesSync(old, past, past);
    await (await SqliteCache.open(file)).close();
    assert.equal(existsSync(old), false);
    assert.equal(existsSync(fresh), true, 'a writer may be about to lock it');
  });

  test('`fastllm cache reset` and Reset Cache delete journals and locks with the cache', async () => {
    const file = join(dir, 'reset.sqlite');
    await (await SqliteCache.open(file)).close();
    const writer = await liveWriter(file, [['x', entry(1)]]);
    await killed(writer);
    assert.equal(pendingFiles(file).length, 2);
    const removed = await removeCacheFiles(file);
    assert.ok(removed.includes(file) && pendingFiles(file).length === 0, removed.join(', '));
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('reset.sqlite')), []);
  });

  test('a full journal file is left for a new one, and deleted once its entries are stored', async () => {
    const file = join(dir, 'rotate.sqlite');
    const journal = await PendingJournal.open(file, 200);
    const gens = new Map<number, number>();
    for (let i = 0; i < 6; i++) {
      const g = journal.append(`k${i}`, stored(entry(i)));
      gens.set(g, (gens.get(g) ?? 0) + 1);
    }
    assert.ok(gens.size >= 2, `rotated into ${gens.size} files`);
    assert.equal(journalFiles(file).length, gens.size);
    const [oldest] = [...gens.keys()];
    journal.stored(new Map([[oldest!, gens.get(oldest!)!]]));
    assert.equal(journalFiles(file).length, gens.size - 1, 'the stored file went');
    const rest = new Map([...gens].filter(([g]) => g !== oldest));
    journal.stored(rest);
    const [current] = journalFiles(file);
    assert.equal(readFileSync(current!, 'utf8'), '', 'the current file is emptied once its entries are stored');
    const g = journal.append('after', stored(entry(9)));
    assert.equal(readFileSync(current!, 'utf8').split('\n')[0]!.startsWith('"after"\t'), true, 'writes start again at the top');
    journal.stored(new Map([[g, 1]]));
    await journal.close();
    assert.deepEqual(pendingFiles(file), []);
  });
});

/** The id in the names of a cache's own journal files (its lock is held while it is open). */
function cacheOwnId(cache: SqliteCache): string {
  const own = (cache as unknown as { journal: { stem: string } }).journal.stem;
  return own.slice(own.lastIndexOf('.pending-') + '.pending-'.length, -1);
}
