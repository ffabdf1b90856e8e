/**
 * SqliteCache's write-behind journal (src/core/cache/sqliteJournal.ts): an entry set is on disk
 * before set() returns, a killed process's entries are stored by the next open, and the journal
 * files go away once their entries are stored.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { removeCacheFiles } from '../../src/core/cache/files';
import { SqliteCache } from '../../src/core/cache/sqlite';
import { journalFiles, PendingJournal } from '../../src/core/cache/sqliteJournal';
import type { CacheEntry } from '../../src/core/types';

function entry(i: number): CacheEntry {
  return {
    request: { model: 'm', messages: [{ role: 'user', content: `journal question ${i}\twith a tab` }] },
    endpoint: { kind: 'chat', baseURL: 'http://127.0.0.1' },
    response: { text: `answer ${i}` },
    request_id: null,
    model: 'm',
    created: 1_700_000_000_000 + i,
    expires: null,
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

/** The journal file name another process (`pid`) of this machine would use. */
const journalOf = (file: string, pid: number) => `${file}.pending-${hostname().replace(/[^A-Za-z0-9_.-]/g, '_') || 'localhost'}-${pid}-1-0`;
/** The stored value of an entry, as SqliteCache writes it. */
const stored = (e: CacheEntry) => JSON.stringify({ value: e });

describe('SqliteCache journal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-journal-'));

  test('entries set just before a SIGKILL are stored by the next open; the journal then goes', async () => {
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
      assert.deepEqual(journalFiles(file), [], 'the replayed journal is deleted');
    } finally {
      await cache.close();
    }
  });

  test('a normal run leaves no journal, and its entries are in the file', async () => {
    const file = join(dir, 'normal.sqlite');
    const cache = await SqliteCache.open(file);
    await Promise.all(Array.from({ length: 300 }, (_, i) => cache.set(`n${i}`, entry(i))));
    assert.equal(journalFiles(file).length, 1, 'the journal is open while the cache is');
    await cache.close();
    assert.deepEqual(journalFiles(file), []);
    const again = await SqliteCache.open(file);
    assert.equal(await again.count(), 300);
    await again.close();
  });

  test("journals of running processes and other machines are left alone; a torn line is skipped; stored entries are not overwritten", async () => {
    const file = join(dir, 'others.sqlite');
    const first = await SqliteCache.open(file);
    await first.set('kept', entry(1));
    await first.close();
    // A process that is running (a child that sleeps), one that is gone, and another machine.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    try {
      const live = journalOf(file, sleeper.pid!);
      const dead = journalOf(file, gone);
      const foreign = `${file}.pending-other-machine-${gone}-1-0`;
      const line = (key: string, e: CacheEntry) => `${JSON.stringify(`fastllm:${key}`)}\t${stored(e)}\n`;
      writeFileSync(live, line('live', entry(2)));
      writeFileSync(foreign, line('foreign', entry(3)));
      // The dead one: an entry, a rewrite of a stored key, and a last line cut by the kill.
      writeFileSync(dead, line('dead', entry(4)) + line('kept', entry(99)) + line('torn', entry(5)).slice(0, 40));
      const cache = await SqliteCache.open(file);
      try {
        assert.deepEqual(await cache.get('dead'), entry(4));
        assert.deepEqual(await cache.get('kept'), entry(1), 'an entry already stored is kept');
        assert.equal(await cache.get('torn'), undefined);
        assert.equal(await cache.get('live'), undefined);
        assert.equal(await cache.get('foreign'), undefined);
        assert.equal(existsSync(dead), false);
        assert.ok(existsSync(live) && existsSync(foreign), 'the journals it cannot judge stay');
      } finally {
        await cache.close();
      }
      // `fastllm cache reset` and Reset Cache delete them with the cache.
      const removed = await removeCacheFiles(file);
      assert.ok(removed.includes(live) && removed.includes(foreign) && removed.includes(file), removed.join(', '));
      assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('others.sqlite')), []);
    } finally {
      sleeper.kill();
    }
  });

  test('a full journal file is left for a new one, and deleted once its entries are stored', () => {
    const file = join(dir, 'rotate.sqlite');
    const journal = new PendingJournal(file, 200);
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
    journal.close();
    assert.deepEqual(journalFiles(file), []);
  });
});
