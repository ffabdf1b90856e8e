/**
 * The API key never leaves where the user put it (the environment): not in the cache database
 * (its bytes, -wal and -shm included), results files, CLI output at any verbosity, error messages,
 * or any file written under the run's folder, even when the server echoes the key back.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { journalFiles } from '../../src/core/cache/sqliteJournal';
import { startFakeServer, type FakeAction, type FakeServer } from '../support/fakeServer';
import { assertCliBuilt, collect, fastllm, filesUnder, KEY, promptOf, readRecords, sleep, startCli, tempDir } from './helpers';

/** Every 10-character piece of the key's secret part: finding any of them is a leak. */
const SECRET = KEY.slice('sk-proj-'.length);
const PIECES = Array.from({ length: SECRET.length - 9 }, (_, i) => SECRET.slice(i, i + 10));

function leaks(where: string, data: string | Buffer): string[] {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  return PIECES.filter((p) => text.includes(p)).length > 0 ? [where] : [];
}

/** A hostile server's ways of echoing the key back, by prompt. */
function hostile(prompt: string, attempt: number): FakeAction | undefined {
  if (prompt.startsWith('e500') && attempt === 1) {
    return { status: 500, body: { error: { message: `upstream said no to Authorization: Bearer ${KEY}`, type: 'server_error' } } };
  }
  if (prompt.startsWith('e502') && attempt <= 2) return { status: 502, body: `<html>bad gateway for key ${KEY}</html>` };
  if (prompt.startsWith('e429') && attempt === 1) {
    return { status: 429, retryAfterMs: 20, body: { error: { message: `Rate limit for ${KEY} reached`, code: 'rate_limit_exceeded' } } };
  }
  if (prompt.startsWith('e400')) return { status: 400, body: { detail: [{ msg: `invalid api key ${KEY}`, loc: ['header'] }] } };
  if (prompt.startsWith('e422')) return { status: 422, body: { message: `key ${KEY.slice(3)} is malformed` } };
  return undefined;
}

describe('the API key never leaks', () => {
  let server: FakeServer;
  let dir: string;
  const seen: string[] = [];
  before(async () => {
    assertCliBuilt();
    server = await startFakeServer({ latencyMs: 2 });
    dir = tempDir('security');
  });
  after(async () => {
    await server.close();
  });

  test('a run at --verbose against a server that echoes the key in its errors', async (t) => {
    // Injected: the key echoed in a 500's message, a 502's raw HTML body, a 429's message, a
    // 400's FastAPI-style `detail`, and (without its `sk-`) a 422's `message`; 30 rows succeed.
    server.reset();
    server.behavior.plan = ({ body, attemptForBody }) => hostile(promptOf(body), attemptForBody);
    const prompts = [...Array.from({ length: 30 }, (_, i) => `fine ${i}`), 'e500 a', 'e502 b', 'e429 c', 'e400 d', 'e422 e'];
    const input = join(dir, 'prompts.txt');
    writeFileSync(input, prompts.join('\n'));
    const run = await fastllm(['run', input, '--base-url', server.url, '--verbose', '--json', '--concurrency', '4'], { cwd: dir });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /debug: Retrying row/, 'the verbose log was on');
    const records = readRecords(join(dir, 'prompts.results.jsonl'));
    assert.equal(records.length, prompts.length);
    assert.equal(records.filter((r) => r.error).length, 2, 'only the 400 and the 422 fail');
    assert.deepEqual(
      [...leaks('stdout', run.stdout), ...leaks('stderr', run.stderr), ...leaks('error messages', JSON.stringify(records.map((r) => r.error)))],
      [],
    );
    seen.push(run.stdout, run.stderr);
    t.diagnostic(`figures: ${JSON.stringify({ case: 'key echoed in errors', rows: prompts.length, requests: server.count, faults: 6 })}`);
  });

  test('a 401 whose message echoes the whole key stops the run, and says what to do without the key', async () => {
    // Injected: every request rejected with 401 "Incorrect API key provided: <the key>".
    server.reset();
    server.behavior.plan = () => ({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}.`, code: 'invalid_api_key' } } });
    const input = join(dir, 'auth.txt');
    writeFileSync(input, Array.from({ length: 100 }, (_, i) => `auth ${i}`).join('\n'));
    const run = await fastllm(['run', input, '--base-url', server.url, '--verbose', '--concurrency', '4'], { cwd: dir });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /rejected the API key \(HTTP 401\).*Check the key/);
    assert.ok(server.count <= 4, `${server.count} requests after a 401`);
    assert.deepEqual([...leaks('stdout', run.stdout), ...leaks('stderr', run.stderr)], []);
    seen.push(run.stdout, run.stderr);
  });

  test('a run killed mid-way leaves its -wal, -shm and journal files: they hold no key either', async () => {
    // Injected: SIGKILL while the cache's write-ahead log is live (latency 20 ms, 400 rows).
    server.reset();
    server.behavior.plan = undefined;
    server.behavior.latencyMs = 20;
    const input = join(dir, 'killed.txt');
    writeFileSync(input, Array.from({ length: 400 }, (_, i) => `killed ${i}`).join('\n'));
    const child = startCli(['run', input, '--base-url', server.url, '--verbose'], { cwd: dir });
    const done = collect(child);
    while (server.count < 100 && child.exitCode === null) await sleep(10);
    child.kill('SIGKILL');
    const r = await done;
    server.behavior.latencyMs = 2;
    assert.equal(r.signal, 'SIGKILL');
    const wal = join(dir, '.fastllm/cache.sqlite-wal');
    assert.ok(existsSync(wal) && existsSync(join(dir, '.fastllm/cache.sqlite-shm')), 'the write-ahead log was left behind');
    assert.ok(readFileSync(wal).includes('killed 1'), 'the write-ahead log holds the answers');
    assert.equal(journalFiles(join(dir, '.fastllm/cache.sqlite')).length, 1, 'the write-behind journal was left behind (and is searched below)');
    seen.push(r.stdout, r.stderr);
    assert.deepEqual(filesUnder(dir).flatMap((f) => leaks(f, readFileSync(f))), []);
  });

  test('cache commands print no key; no file under the run folder holds it', async () => {
    const list = await fastllm(['cache', 'list', '--json', '--limit', '1000'], { cwd: dir });
    assert.equal(list.code, 0, list.stderr);
    const key = (JSON.parse(list.stdout.split('\n')[0]!) as { key: string }).key;
    const show = await fastllm(['cache', 'show', key], { cwd: dir });
    seen.push(list.stdout, list.stderr, show.stdout, show.stderr);
    assert.deepEqual(seen.flatMap((s, i) => leaks(`output ${i}`, s)), []);
    const files = filesUnder(dir);
    // A stopped or killed run leaves its records in the partial file (the results file is replaced only when a run ends).
    for (const suffix of ['.fastllm/cache.sqlite', 'prompts.results.jsonl', 'auth.results.partial.jsonl', 'killed.results.partial.jsonl']) {
      assert.ok(files.includes(join(dir, suffix)), `${suffix} was written`);
    }
    assert.deepEqual(files.flatMap((f) => leaks(f, readFileSync(f))), []);
    // The search works: the same key in a file would be found.
    assert.deepEqual(leaks('probe', `xx${KEY}xx`), ['probe']);
  });
});
