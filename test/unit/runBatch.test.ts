import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ResultsPathError } from '../../src/core/batch/paths';
import { runBatch } from '../../src/core/batch/runBatch';
import { partialResultsPath } from '../../src/core/batch/writer';
import { InMemoryCache } from '../../src/core/cache/memory';
import { RequestManager } from '../../src/core/manager';
import { failureText } from '../../src/core/progress';
import type { ResultRecord } from '../../src/core/types';
import { ScriptedProvider } from '../support/scriptedProvider';

const records = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultRecord);

const rows = (n: number, tag = 'row') => Array.from({ length: n }, (_, i) => `${tag} ${i}`).join('\n') + '\n';

/** A previous results file: two records no run here would write. */
const PREVIOUS = '{"custom_id":"line-1","previous":true}\n{"custom_id":"line-2","previous":true}\n';

describe('runBatch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-runbatch-'));
  const reader = { defaults: { model: 'm' } };

  test('writes one record per row in order and summarises', async () => {
    const input = join(dir, 'in.txt');
    writeFileSync(input, 'a\n\nb\nc\n');
    const manager = new RequestManager({ provider: new ScriptedProvider(() => ({ latencyMs: 3 })) });
    const summary = await runBatch({ input, out: join(dir, 'in.results.jsonl'), manager, reader });
    assert.deepEqual([summary.records, summary.succeeded, summary.failed, summary.unfinished, summary.cancelled], [3, 3, 0, 0, false]);
    assert.deepEqual(records(summary.out).map((r) => r.line), [1, 3, 4]);
    assert.equal(summary.stats.total, 3);
    assert.equal(summary.partial, null);
    assert.deepEqual(summary.failures, []);
  });

  test('a cancelled run writes a record for every input row, sends none of the rows it had not read, and caches what finished', async () => {
    const input = join(dir, 'big.txt');
    writeFileSync(input, rows(5000));
    const cache = new InMemoryCache();
    const provider = new ScriptedProvider(() => ({ latencyMs: 2 }));
    const manager = new RequestManager({ provider, cache, concurrency: 8 });
    const ac = new AbortController();
    let seen = 0;
    const out = join(dir, 'big.results.jsonl');
    const summary = await runBatch({
      input,
      out,
      manager,
      signal: ac.signal,
      reader,
      onRecord: () => {
        if (++seen === 100) ac.abort();
      },
    });
    assert.equal(summary.cancelled, true);
    assert.equal(summary.records, 5000, 'one record per input row');
    assert.equal(seen, 5000, 'onRecord saw every record');
    const lines = records(out);
    assert.equal(lines.length, 5000);
    lines.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.ok(summary.succeeded >= 99 && summary.succeeded < 1000, `${summary.succeeded} succeeded`);
    assert.equal(await cache.count(), summary.succeeded);
    assert.equal(summary.failed, 0, 'cancelled rows are not failures');
    assert.equal(summary.unfinished, 5000 - summary.succeeded);
    assert.ok(lines.slice(summary.succeeded).every((r) => r.error?.code === 'cancelled'));
    assert.ok(provider.calls.length < 1000, `${provider.calls.length} calls: rows never read were sent`);
    const unsent = lines.filter((r) => r.attempts === 0 && r.error?.code === 'cancelled');
    assert.ok(unsent.length > 4000, `${unsent.length} rows written without sending`);
    // No previous results file: the cancelled run's records are the results file.
    assert.equal(summary.partial, null);
    assert.equal(existsSync(partialResultsPath(out)), false);
  });

  test('a run stopped by a rejected key: every row has a record, the previous results stay whole, the partial file is named', async () => {
    const input = join(dir, 'stop.txt');
    const out = join(dir, 'stop.results.jsonl');
    writeFileSync(input, rows(300));
    writeFileSync(out, PREVIOUS);
    const provider = new ScriptedProvider(({ index }) => (index >= 20 ? { fail: { status: 401, code: 'invalid_api_key' } } : { latencyMs: 1 }));
    const manager = new RequestManager({ provider, concurrency: 4 });
    const summary = await runBatch({ input, out, manager, reader });
    assert.equal(summary.stopped?.code, 'auth_failed');
    assert.equal(summary.cancelled, false);
    assert.equal(readFileSync(out, 'utf8'), PREVIOUS, 'the previous results file is untouched');
    assert.equal(summary.partial, partialResultsPath(out));
    const written = records(summary.partial!);
    assert.equal(written.length, 300);
    written.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.equal(summary.records, 300);
    assert.equal(summary.succeeded + summary.failed + summary.unfinished, 300);
    assert.ok(written.slice(-200).every((r) => r.error?.code === 'run_stopped' && /rejected the API key/.test(r.error.message)));
    assert.ok(provider.calls.length < 40, `${provider.calls.length} calls after the stop`);
  });

  test('a stopped run with no previous results file still leaves them in the partial file, not the results file', async () => {
    const input = join(dir, 'stop-first.txt');
    const out = join(dir, 'stop-first.results.jsonl');
    writeFileSync(input, rows(10));
    const manager = new RequestManager({ provider: new ScriptedProvider(() => ({ fail: { status: 401, code: 'invalid_api_key' } })), concurrency: 1 });
    const summary = await runBatch({ input, out, manager, reader });
    assert.equal(summary.stopped?.code, 'auth_failed');
    assert.equal(existsSync(out), false);
    assert.equal(records(summary.partial!).length, 10);
  });

  test('a cancelled run over a previous results file keeps that file whole and its own records in the partial file', async () => {
    const input = join(dir, 'cancel-prev.txt');
    const out = join(dir, 'cancel-prev.results.jsonl');
    writeFileSync(input, rows(2000));
    writeFileSync(out, PREVIOUS);
    const manager = new RequestManager({ provider: new ScriptedProvider(() => ({ latencyMs: 1 })), concurrency: 4 });
    const ac = new AbortController();
    let seen = 0;
    const summary = await runBatch({ input, out, manager, reader, signal: ac.signal, onRecord: () => void (++seen === 10 && ac.abort()) });
    assert.equal(summary.cancelled, true);
    assert.equal(readFileSync(out, 'utf8'), PREVIOUS);
    assert.equal(summary.partial, partialResultsPath(out));
    assert.equal(records(summary.partial!).length, 2000);
  });

  test('a finished run replaces the previous results file in one rename and leaves no partial file', async () => {
    const input = join(dir, 'replace.txt');
    const out = join(dir, 'replace.results.jsonl');
    writeFileSync(input, rows(5));
    writeFileSync(out, PREVIOUS);
    writeFileSync(partialResultsPath(out), 'left by a killed run\n');
    const manager = new RequestManager({ provider: new ScriptedProvider() });
    const summary = await runBatch({ input, out, manager, reader });
    assert.equal(summary.partial, null);
    assert.deepEqual(records(out).map((r) => r.custom_id), ['line-1', 'line-2', 'line-3', 'line-4', 'line-5']);
    assert.equal(existsSync(partialResultsPath(out)), false);
  });

  test('a run that fails part-way (here: the caller throws) keeps the previous results file and its prefix in the partial file', async () => {
    const input = join(dir, 'crash.txt');
    const out = join(dir, 'crash.results.jsonl');
    writeFileSync(input, rows(50));
    writeFileSync(out, PREVIOUS);
    const manager = new RequestManager({ provider: new ScriptedProvider() });
    let seen = 0;
    await assert.rejects(
      runBatch({
        input,
        out,
        manager,
        reader,
        onRecord: () => {
          if (++seen === 7) throw new Error('the disk went away');
        },
      }),
      /the disk went away/,
    );
    assert.equal(readFileSync(out, 'utf8'), PREVIOUS);
    assert.equal(records(partialResultsPath(out)).length, 7);
  });

  test('a file refused whole leaves the previous results file as it was, and writes no partial file', async () => {
    const input = join(dir, 'rows.csv');
    const out = join(dir, 'rows.results.jsonl');
    writeFileSync(input, 'text\nhello\n');
    writeFileSync(out, '{"previous":true}\n');
    const manager = new RequestManager({ provider: new ScriptedProvider() });
    await assert.rejects(runBatch({ input, out, manager, reader: { defaults: { model: 'm' }, template: 'Say {{missing}}' } }), /missing/);
    assert.equal(readFileSync(out, 'utf8'), '{"previous":true}\n');
    assert.equal(existsSync(partialResultsPath(out)), false);
  });

  test('refuses a results file that is the input, however it is named, and leaves the input whole', async () => {
    const input = join(dir, 'self.jsonl');
    const text = '{"prompt":"keep me"}\n';
    writeFileSync(input, text);
    symlinkSync(input, join(dir, 'self-link.jsonl'));
    linkSync(input, join(dir, 'self-hard.jsonl'));
    // x.results.partial.jsonl is where the results of --out x.results.jsonl go first.
    const partialInput = join(dir, 'p.results.partial.jsonl');
    writeFileSync(partialInput, text);
    const cases: [string, string][] = [
      [input, input],
      [input, join(dir, '.', 'sub', '..', 'self.jsonl')],
      [input, join(dir, 'self-link.jsonl')],
      [input, join(dir, 'self-hard.jsonl')],
      [partialInput, join(dir, 'p.results.jsonl')],
    ];
    for (const [from, out] of cases) {
      const provider = new ScriptedProvider();
      const manager = new RequestManager({ provider });
      await assert.rejects(runBatch({ input: from, out, manager, reader }), (e: Error) => {
        assert.ok(e instanceof ResultsPathError, String(e));
        assert.ok(e.message.includes(from), e.message);
        assert.equal(e.message.split('\n').length, 1);
        return true;
      });
      assert.equal(provider.calls.length, 0);
    }
    for (const f of [input, partialInput]) assert.equal(readFileSync(f, 'utf8'), text);
  });

  test('refuses a results file that is a folder before sending anything (the final rename would fail)', async () => {
    const input = join(dir, 'to-folder.txt');
    writeFileSync(input, 'a\n');
    const out = join(dir, 'a-folder.results.jsonl');
    mkdirSync(out);
    const provider = new ScriptedProvider();
    await assert.rejects(runBatch({ input, out, manager: new RequestManager({ provider }), reader }), /is a folder/);
    assert.equal(provider.calls.length, 0);
  });

  test('summarises failures by kind, most frequent first, with the first message of each', async () => {
    const input = join(dir, 'kinds.jsonl');
    writeFileSync(
      input,
      ['"bad temperature 1"', '"ok"', '"bad temperature 2"', '{not json', '"slow"', '"bad temperature 3"', '"ok too"'].join('\n') + '\n',
    );
    const provider = new ScriptedProvider(({ prompt }) => {
      if (prompt.startsWith('bad')) return { fail: { status: 400, code: 'invalid_request_error', message: `Invalid 'temperature' (${prompt})` } };
      if (prompt === 'slow') return { fail: { code: 'timeout', message: 'Request timed out after 10 ms.' } };
      return undefined;
    });
    const manager = new RequestManager({ provider, maxRetries: 0 });
    const summary = await runBatch({ input, out: join(dir, 'kinds.results.jsonl'), manager, reader });
    assert.equal(summary.failed, 5);
    assert.equal(summary.succeeded, 2);
    assert.deepEqual(
      summary.failures.map((f) => [f.count, f.status, f.code]),
      [
        [3, 400, 'invalid_request_error'],
        [1, null, 'invalid_input'],
        [1, null, 'timeout'],
      ],
    );
    assert.equal(summary.failures[0]!.message, "Invalid 'temperature' (bad temperature 1)");
    const text = failureText(summary.failures);
    assert.match(text, /^5 failed: 3 × 400 invalid_request_error: Invalid 'temperature' \(bad temperature 1\); 1 × invalid_input: .*kinds\.jsonl:4: .*; 1 × timeout: Request timed out/);
  });
});

describe('failureText', () => {
  test('one clause per kind; long or multi-line messages are cut to one short line', () => {
    assert.equal(failureText([]), '');
    const long = `first line\n${'x'.repeat(300)}`;
    const text = failureText([
      { code: 'invalid_request_error', status: 400, count: 6, message: long },
      { code: 'connection_error', status: null, count: 1, message: '' },
    ]);
    const [head, second] = text.split('; ');
    assert.ok(head!.startsWith('7 failed: 6 × 400 invalid_request_error: first line xxx'), head);
    assert.ok(head!.endsWith('…') && head!.length < 200, `${head!.length} chars`);
    assert.equal(second, '1 × connection_error');
    assert.ok(!text.includes('\n'));
  });
});
