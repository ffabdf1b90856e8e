/**
 * Crashes and resume, through the bundled CLI (dist/cli.js) in child processes: SIGKILL mid-batch
 * then a rerun; two runs sharing one cache file at once; a corrupt or unusable cache file.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { partialResultsPath } from '../../src/core/batch/writer';
import { SqliteCache } from '../../src/core/cache/sqlite';
import type { ResultRecord } from '../../src/core/types';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import {
  answerOf,
  assertCliBuilt,
  collect,
  expectedAnswer,
  fastllm,
  promptOf,
  readRecords,
  sendsPerBody,
  sleep,
  startCli,
  tempDir,
} from './helpers';
import { FiguresTable, recordsLost } from './figures';

const figures = new FiguresTable('crash');

/** What an uninterrupted run and a resumed one must agree on (not ids, timing or `cached`). */
function essence(r: ResultRecord) {
  const body = r.response?.body as { choices?: unknown; usage?: unknown } | undefined;
  return { custom_id: r.custom_id, line: r.line, error: r.error, status: r.response?.status_code, choices: body?.choices, usage: body?.usage };
}

describe('crash and resume', () => {
  let server: FakeServer;
  let dir: string;
  before(async () => {
    assertCliBuilt();
    server = await startFakeServer({ latencyMs: 5 });
    dir = tempDir('crash');
  });
  after(async () => {
    await server.close();
  });

  test('SIGKILL in the middle of a 5,000-row batch, then the same batch again', async (t) => {
    // Injected: SIGKILL once the results file holds 1,000 records (of 5,000; latency 5 ms, concurrency 32).
    const rows = 5000;
    const concurrency = 32;
    const input = join(dir, 'big.txt');
    writeFileSync(input, Array.from({ length: rows }, (_, i) => `crash prompt ${i}`).join('\n') + '\n');
    const out = join(dir, 'big.results.jsonl');
    // The killed run writes here; `out` keeps the previous run's results until a run ends.
    const partialOut = partialResultsPath(out);
    const previous = '{"custom_id":"line-1","from":"the previous run"}\n';
    writeFileSync(out, previous);
    const cache = join(dir, 'cache.sqlite');
    const args = ['run', input, '--base-url', server.url, '--cache', cache, '--concurrency', String(concurrency), '--quiet'];

    server.reset();
    const child = startCli(args, { cwd: dir });
    const exited = collect(child);
    let killedAt = -1;
    for (;;) {
      await sleep(5);
      let text = '';
      try {
        text = readFileSync(partialOut, 'utf8');
      } catch {
        /* not created yet */
      }
      const lines = text.split('\n').length - 1;
      if (lines >= 1000) {
        child.kill('SIGKILL');
        killedAt = lines;
        break;
      }
      if (child.exitCode !== null) break;
    }
    const killed = await exited;
    assert.equal(killed.signal, 'SIGKILL', `the run finished before it could be killed: ${killed.stderr}`);
    await sleep(50); // let requests the dead process sent reach the server
    const firstBodies = new Set(sendsPerBody(server.requests).keys());

    // The previous results file is whole; the killed run's results are in the partial file:
    // whole lines only, rows 1..k in order, every answer right.
    assert.equal(readFileSync(out, 'utf8'), previous, 'the killed run touched the previous results file');
    const partial = readRecords(partialOut);
    assert.ok(partial.length >= killedAt && partial.length < rows, `${partial.length} records after the kill`);
    partial.forEach((r, i) => {
      assert.equal(r.custom_id, `line-${i + 1}`);
      assert.equal(answerOf(r), expectedAnswer(`crash prompt ${i}`));
    });

    // The rerun: everything answered before comes from the cache.
    server.reset();
    const rerun = await fastllm(args, { cwd: dir });
    assert.equal(rerun.code, 0, rerun.stderr);
    const resumed = readRecords(out);
    assert.equal(resumed.length, rows);
    assert.equal(existsSync(partialOut), false, 'the finished run moved its partial file over the results file');
    const again = [...sendsPerBody(server.requests).entries()];
    const sentTwice = again.filter(([body]) => firstBodies.has(body)).length;
    assert.ok(again.every(([, list]) => list.length === 1), 'the rerun sent a row twice');
    // Only the calls in flight at the kill: every answer received before it was journaled first.
    assert.ok(sentTwice <= concurrency, `${sentTwice} rows sent before the kill were sent again (concurrency ${concurrency})`);
    for (const r of resumed.slice(0, partial.length)) assert.ok(r.cached, `${r.custom_id} was in the killed run's results but not served from the cache`);
    assert.equal(resumed.filter((r) => !r.cached).length, server.count, 'every row not served from the cache was sent once');

    // The same batch, uninterrupted and without the cache, gives the same results.
    server.reset();
    const cleanOut = join(dir, 'clean.results.jsonl');
    const clean = await fastllm(['run', input, '--base-url', server.url, '--no-cache', '--concurrency', '32', '--quiet', '--out', cleanOut], { cwd: dir });
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(resumed.map(essence), readRecords(cleanOut).map(essence));
    // Lost, counted from what the rerun left in the results file: a row without its own record
    // (custom_id line-N on line N) holding the right answer.
    const expected = Array.from({ length: rows }, (_, i) => ({ custom_id: `line-${i + 1}`, line: i + 1, answer: expectedAnswer(`crash prompt ${i}`) }));
    figures.record(t, 'SIGKILL mid-batch', {
      label: '`SIGKILL` of a 5,000-row run (latency 5 ms, concurrency 32) once 1,000 records were written, then the same command again',
      rows,
      killedAfterRecords: partial.length,
      sentBeforeKill: firstBodies.size,
      rerunRequests: again.length,
      sentAgain: sentTwice,
      sentAgainLimit: concurrency,
      recordsAfterRerun: resumed.length,
      varies: 'killedAfterRecords,sentBeforeKill,rerunRequests,sentAgain',
      lost: recordsLost(expected, resumed),
    });
  });

  test('two runs sharing one cache file at once: both finish, no lock errors, no corrupt entries', async (t) => {
    // Injected: two CLI processes (concurrency 32 each) writing 1,000 rows each, 600 of them the
    // same prompts, to one cache file at the same time.
    const cache = join(dir, 'shared.sqlite');
    const prompts = (tag: string) => Array.from({ length: 1000 }, (_, i) => (i < 600 ? `shared ${i}` : `${tag} ${i}`));
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    writeFileSync(a, prompts('only-a').join('\n'));
    writeFileSync(b, prompts('only-b').join('\n'));
    server.reset();
    const common = ['--base-url', server.url, '--cache', cache, '--concurrency', '32', '--quiet'];
    const [ra, rb] = await Promise.all([fastllm(['run', a, ...common], { cwd: dir }), fastllm(['run', b, ...common], { cwd: dir })]);
    for (const [name, r] of [['a', ra], ['b', rb]] as const) {
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /locked|busy|cache (read|write) failed|cannot open the cache/i, `${name}: ${r.stderr}`);
      const records = readRecords(join(dir, `${name}.results.jsonl`));
      assert.equal(records.length, 1000);
      records.forEach((rec, i) => assert.equal(answerOf(rec), expectedAnswer(prompts(`only-${name}`)[i]!)));
    }
    // Every entry in the file is whole and holds the answer to its own request.
    const opened = await SqliteCache.open(cache);
    let entries = 0;
    try {
      for await (const { entry } of opened.iterate()) {
        entries++;
        const content = (entry.response as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
        assert.equal(content, expectedAnswer(promptOf(entry.request)));
      }
      assert.equal(entries, 1400);
    } finally {
      await opened.close();
    }
    assert.equal(await integrityCheck(cache), 'ok');
    // Lost, counted from each results file as read back: rows without their own right answer.
    let lost = 0;
    for (const name of ['a', 'b']) {
      const expected = prompts(`only-${name}`).map((p, i) => ({ custom_id: `line-${i + 1}`, line: i + 1, answer: expectedAnswer(p) }));
      lost += recordsLost(expected, readRecords(join(dir, `${name}.results.jsonl`)));
    }
    figures.record(t, 'two runs, one cache', {
      label: 'Two CLI runs at once on one cache file, 1,000 rows each (600 prompts shared), concurrency 32 each',
      rows: 2000,
      requests: server.count,
      cacheEntries: entries,
      varies: 'requests',
      lost,
    });
  });

  describe('a cache that cannot be used: a clear message, the run goes on without it, and how to reset it', () => {
    const cases: { name: string; make: (path: string) => void; expect: RegExp; directory?: boolean }[] = [
      {
        name: 'random bytes',
        make: (path) => writeFileSync(path, pseudoRandomBytes(64 * 1024, 7)),
        expect: /not a database|malformed|corrupt/i,
      },
      {
        // chmod 000 does not stop root (CI); a directory at the path cannot be opened by anyone.
        name: 'a directory where the file should be (unreadable)',
        make: (path) => mkdirSync(path),
        expect: /unable to open|CANTOPEN|directory/i,
        directory: true,
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        // Injected: `c.make` at the cache path before the run.
        const sub = tempDir('badcache');
        const cache = join(sub, 'cache.sqlite');
        c.make(cache);
        const input = join(sub, 'in.txt');
        writeFileSync(input, 'one\ntwo\nthree\n');
        server.reset();
        const run = await fastllm(['run', input, '--base-url', server.url, '--cache', cache, '--quiet'], { cwd: sub });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(readRecords(join(sub, 'in.results.jsonl')).map(answerOf), ['echo: one', 'echo: two', 'echo: three']);
        assert.ok(run.stderr.includes(cache), `the message names the cache file: ${run.stderr}`);
        assert.match(run.stderr, c.expect);
        assert.match(run.stderr, /without it/);
        assert.match(run.stderr, /to reset the cache, delete /i, 'the message says how to reset the cache');
        assert.ok(run.stderr.trim().split('\n').length <= 2, `one message, not one per row:\n${run.stderr}`);
        const stats = await fastllm(['cache', 'stats', '--cache', cache], { cwd: sub });
        assert.equal(stats.code, 2, stats.stderr);
        assert.doesNotMatch(stats.stderr, /unexpected error/, 'fastllm cache says what is wrong instead of crashing');
        assert.match(stats.stderr, /to reset the cache, delete /i);
        // `cache reset` deletes files, never a directory: it is pointed to only when it can help.
        if (c.directory) assert.doesNotMatch(run.stderr + stats.stderr, /fastllm cache reset/);
        else for (const out of [run.stderr, stats.stderr]) assert.match(out, /fastllm cache reset --cache /);

        // The reset it points to: deletes the file (unopened), and the next run starts a sound cache.
        // A directory is never deleted: a mistyped path must not cost anyone a folder.
        const reset = await fastllm(['cache', 'reset', '--cache', cache], { cwd: sub });
        if (c.directory) {
          assert.equal(reset.code, 2, reset.stderr);
          assert.match(reset.stderr, /is a directory, not a cache file; it was left alone/);
          assert.ok(existsSync(cache), 'the directory is still there');
          return;
        }
        assert.equal(reset.code, 0, reset.stderr);
        assert.ok(reset.stderr.includes(cache), reset.stderr);
        for (const suffix of ['', '-wal', '-shm', '-journal']) assert.ok(!existsSync(cache + suffix), `${cache}${suffix} is gone`);
        server.reset();
        const fresh = await fastllm(['run', input, '--base-url', server.url, '--cache', cache, '--quiet'], { cwd: sub });
        assert.equal(fresh.code, 0, fresh.stderr);
        assert.equal(fresh.stderr.trim(), '', 'no warning once the cache is reset');
        assert.equal(server.count, 3);
        const entries = await fastllm(['cache', 'stats', '--cache', cache, '--json'], { cwd: sub });
        assert.equal((JSON.parse(entries.stdout) as { entries: number }).entries, 3);
        assert.equal((await fastllm(['cache', 'reset', '--cache', join(sub, 'none.sqlite')], { cwd: sub })).code, 1, 'nothing to reset');
      });
    }

    test('damaged pages inside a real cache file', async () => {
      // Injected: noise over the pages of a cache file (written by an earlier run) that hold the
      // entries of rows 100, 300 and 500, so that opening works and reading those entries fails.
      const sub = tempDir('damaged');
      const cache = join(sub, 'cache.sqlite');
      const input = join(sub, 'in.txt');
      const prompt = (i: number) => `damaged ${i} ${'pad '.repeat(40)}`;
      writeFileSync(input, Array.from({ length: 600 }, (_, i) => prompt(i)).join('\n'));
      server.reset();
      assert.equal((await fastllm(['run', input, '--base-url', server.url, '--cache', cache, '--quiet'], { cwd: sub })).code, 0);
      const bytes = readFileSync(cache);
      const fd = openSync(cache, 'r+');
      for (const i of [100, 300, 500]) {
        const at = bytes.indexOf(`"damaged ${i} `);
        assert.ok(at > 4096, `the entry of row ${i} is in the file`);
        const page = Math.floor(at / 4096) * 4096;
        writeSync(fd, pseudoRandomBytes(4096, i), 0, 4096, page);
      }
      closeSync(fd);
      server.reset();
      const run = await fastllm(['run', input, '--base-url', server.url, '--cache', cache, '--quiet'], { cwd: sub });
      assert.equal(run.code, 0, run.stderr);
      const records = readRecords(join(sub, 'in.results.jsonl'));
      assert.equal(records.length, 600);
      records.forEach((r, i) => assert.equal(answerOf(r), expectedAnswer(prompt(i))));
      assert.ok(server.count >= 3, 'the damaged entries were asked for again');
      assert.ok(run.stderr.includes(cache), `the message names the cache file: ${run.stderr}`);
      assert.match(run.stderr, /to reset the cache, delete /i);
      assert.ok(run.stderr.trim().split('\n').length <= 3, `a few messages, not one per row:\n${run.stderr.slice(0, 2000)}`);
    });
  });
});

/** Deterministic noise (an LCG), so that a failure can be reproduced. */
function pseudoRandomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 16;
  }
  return out;
}

/** `PRAGMA integrity_check` through the sqlite3 addon that @keyv/sqlite uses. */
async function integrityCheck(path: string): Promise<string> {
  type Db = { all(sql: string, cb: (e: Error | null, rows: { integrity_check: string }[]) => void): void; close(cb: () => void): void };
  const sqlite3 = createRequire(__filename)('sqlite3') as { Database: new (path: string, mode: number, cb: (e: Error | null) => void) => Db; OPEN_READONLY: number };
  const db = await new Promise<Db>((done, fail) => {
    const d: Db = new sqlite3.Database(path, sqlite3.OPEN_READONLY, (e) => (e ? fail(e) : done(d)));
  });
  try {
    const rows = await new Promise<{ integrity_check: string }[]>((done, fail) => db.all('PRAGMA integrity_check', (e, r) => (e ? fail(e) : done(r))));
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    await new Promise<void>((done) => db.close(() => done()));
  }
}
