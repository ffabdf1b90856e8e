/**
 * Rerun Failed Rows (src/vscode/lazy/rerun.ts, plain Node): the rewritten results file holds one
 * record per input row in input order, failed and missing rows run again, and a rerun that stops
 * leaves the results file as it was.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ResultsPathError } from '../../src/core/batch/paths';
import { partialResultsPath } from '../../src/core/batch/writer';
import { RequestManager } from '../../src/core/manager';
import type { ResultRecord } from '../../src/core/types';
import { rerunFailed } from '../../src/vscode/lazy/rerun';
import { ScriptedProvider } from '../support/scriptedProvider';

const read = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultRecord);

/** An old record for row `line` (custom_id `line-N`): a success, or a failure with `code`. */
function old(line: number, code?: string): ResultRecord {
  return {
    id: `old-${line}`,
    custom_id: `line-${line}`,
    response: code ? null : { status_code: 200, request_id: null, body: { old: true, line } },
    error: code ? { code, message: `old ${code}` } : null,
    line,
    cached: false,
    attempts: 1,
    latency_ms: 1,
  };
}

const jsonl = (records: ResultRecord[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const reader = { defaults: { model: 'm' } };

describe('rerunFailed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-rerun-'));

  test('writes every input row in input order: kept, failed-and-rerun, and rows that had no record', async () => {
    const input = join(dir, 'order.txt');
    const out = join(dir, 'order.results.jsonl');
    writeFileSync(input, Array.from({ length: 8 }, (_, i) => `prompt ${i + 1}`).join('\n') + '\n');
    // Rows 4, 5, 7 and 8 have no record (a killed run); 2 failed; a torn last line is ignored.
    writeFileSync(out, jsonl([old(1), old(2, 'timeout'), old(3), old(6)]) + '{"custom_id":"line-7","resp');
    const provider = new ScriptedProvider();
    const manager = new RequestManager({ provider, concurrency: 2 });
    let announced = -1;
    const summary = await rerunFailed({ input, out, manager, reader, onTotal: (n) => (announced = n) });
    assert.equal(announced, 5);
    const records = read(out);
    assert.deepEqual(records.map((r) => r.line), [1, 2, 3, 4, 5, 6, 7, 8], 'input order');
    assert.deepEqual(records.map((r) => r.custom_id), records.map((r) => `line-${r.line}`));
    for (const kept of [1, 3, 6]) assert.deepEqual(records[kept - 1], old(kept), `row ${kept} keeps its record`);
    assert.deepEqual(provider.calls.map((c) => c.prompt).sort(), ['prompt 2', 'prompt 4', 'prompt 5', 'prompt 7', 'prompt 8']);
    assert.ok(records.every((r) => r.error === null));
    assert.deepEqual([summary.records, summary.succeeded, summary.failed, summary.unfinished, summary.partial], [8, 8, 0, 0, null]);
    assert.equal(existsSync(partialResultsPath(out)), false);
  });

  test('matches rows to records by custom_id, and leaves out records of rows no longer in the input', async () => {
    const input = join(dir, 'ids.jsonl');
    const out = join(dir, 'ids.results.jsonl');
    const row = (id: string, prompt: string) => JSON.stringify({ custom_id: id, prompt });
    writeFileSync(input, [row('b', 'B'), row('a', 'A')].join('\n') + '\n');
    const rec = (id: string, line: number, code?: string) => ({ ...old(line, code), custom_id: id });
    // The input was reordered and a row removed since this file was written.
    writeFileSync(out, jsonl([rec('a', 1), rec('gone', 2), rec('b', 3, 'server_error')]));
    const provider = new ScriptedProvider();
    await rerunFailed({ input, out, manager: new RequestManager({ provider }), reader });
    const records = read(out);
    assert.deepEqual(records.map((r) => r.custom_id), ['b', 'a']);
    assert.equal(records[0]!.error, null);
    assert.deepEqual(records[1], rec('a', 1));
    assert.deepEqual(provider.calls.map((c) => c.prompt), ['B']);
  });

  test('a cancelled rerun keeps the old record of every row it did not finish, and writes one record per row', async () => {
    const input = join(dir, 'cancel.txt');
    const out = join(dir, 'cancel.results.jsonl');
    const n = 400;
    writeFileSync(input, Array.from({ length: n }, (_, i) => `q ${i + 1}`).join('\n') + '\n');
    // Every row failed before, except that the last 100 rows have no record at all.
    writeFileSync(out, jsonl(Array.from({ length: n - 100 }, (_, i) => old(i + 1, 'server_error'))));
    const provider = new ScriptedProvider(() => ({ latencyMs: 2 }));
    const manager = new RequestManager({ provider, concurrency: 2 });
    const ac = new AbortController();
    let seen = 0;
    const summary = await rerunFailed({ input, out, manager, reader, signal: ac.signal, onRecord: () => void (++seen === 10 && ac.abort()) });
    assert.equal(summary.cancelled, true);
    const records = read(out);
    assert.deepEqual(records.map((r) => r.line), Array.from({ length: n }, (_, i) => i + 1));
    assert.ok(provider.calls.length < 100, `${provider.calls.length} rows sent`);
    const codes = records.map((r) => r.error?.code ?? 'ok');
    assert.ok(codes.slice(0, 9).every((c) => c === 'ok'), codes.slice(0, 12).join(','));
    assert.ok(codes.slice(20, 300).every((c) => c === 'server_error'), 'rows not finished keep their old error');
    assert.ok(codes.slice(300).every((c) => c === 'cancelled'), 'rows with no old record say they were cancelled');
    assert.equal(summary.unfinished, 100 + codes.slice(0, 300).filter((c) => c === 'cancelled').length);
    assert.equal(summary.partial, null, 'nothing was lost, so the rewritten file replaced the old one');
  });

  test('a rerun stopped by a rejected key leaves the results file as it was and says where the partial file is', async () => {
    const input = join(dir, 'stop.txt');
    const out = join(dir, 'stop.results.jsonl');
    writeFileSync(input, 'a\nb\nc\n');
    const before = jsonl([old(1), old(2, 'timeout'), old(3, 'timeout')]);
    writeFileSync(out, before);
    const manager = new RequestManager({ provider: new ScriptedProvider(() => ({ fail: { status: 401, code: 'invalid_api_key' } })), concurrency: 1 });
    const summary = await rerunFailed({ input, out, manager, reader });
    assert.equal(summary.stopped?.code, 'auth_failed');
    assert.equal(readFileSync(out, 'utf8'), before);
    assert.equal(summary.partial, partialResultsPath(out));
    assert.deepEqual(read(summary.partial!).map((r) => r.line), [1, 2, 3]);
  });

  test('refuses a results file that is the input', async () => {
    const input = join(dir, 'self.jsonl');
    writeFileSync(input, '{"prompt":"x"}\n');
    await assert.rejects(rerunFailed({ input, out: input, manager: new RequestManager({ provider: new ScriptedProvider() }), reader }), ResultsPathError);
    assert.equal(readFileSync(input, 'utf8'), '{"prompt":"x"}\n');
  });
});
