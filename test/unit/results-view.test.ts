/** Tests of src/core/results/view.ts: the Results view's pages, details, models side by side and live partial file. */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ResultsModel } from '../../src/core/results/view';
import type { ResultRecord } from '../../src/core/types';
import { chat, failed } from '../support/resultRecords';

const jsonl = (records: ResultRecord[]) => records.map((r) => JSON.stringify(r) + '\n').join('');

test('a page joins each record to its prompt; the detail has the request and the server message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-view-'));
  writeFileSync(join(dir, 'qs.txt'), 'Capital of France?\n<img src=x onerror=alert(1)>\n');
  const bad: ResultRecord = { ...failed('line-2', 2, 'http_400', 'bad request'), response: { status_code: 400, request_id: 'r1', body: { error: { message: 'context too long' } } } };
  writeFileSync(join(dir, 'qs.results.jsonl'), jsonl([chat('line-1', 1, 'Paris'), bad]));
  const model = await ResultsModel.open(join(dir, 'qs.results.jsonl'), { reader: { defaults: { model: 'gpt-4o-mini' } } });
  try {
    const page = await model.page(0, 10);
    assert.deepEqual(
      page.map((r) => [r.position, r.prompt, r.answer, r.status]),
      [
        [0, 'Capital of France?', 'Paris', 'ok'],
        [1, '<img src=x onerror=alert(1)>', 'error http_400: bad request', 'http_400'],
      ],
    );
    const detail = (await model.detail(1))!;
    assert.equal(detail.serverMessage, 'context too long');
    assert.deepEqual(JSON.parse(detail.request), { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '<img src=x onerror=alert(1)>' }] });
    await model.setQuery({ filter: 'failed' });
    assert.equal(model.meta().count, 1);
    assert.deepEqual(model.rowsAt(), [{ custom_id: 'line-2', line: 2, index: 1 }]);
  } finally {
    await model.close();
  }
});

test('models side by side: a column per model file of the same input, differing answers marked, totals per model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-view-'));
  writeFileSync(join(dir, 'p.txt'), 'a\nb\n');
  writeFileSync(join(dir, 'p.m1.results.jsonl'), jsonl([chat('line-1', 1, 'same', { model: 'm1' }), chat('line-2', 2, 'one', { model: 'm1' })]));
  writeFileSync(join(dir, 'p.m2.results.jsonl'), jsonl([chat('line-1', 1, 'same', { model: 'm2' }), chat('line-2', 2, 'two', { model: 'm2' })]));
  writeFileSync(join(dir, 'p.m3.results.jsonl'), jsonl([failed('line-2', 2)]));
  writeFileSync(join(dir, 'other.results.jsonl'), jsonl([chat('line-1', 1, 'x')]));
  // An earlier single run of the same input: not one of this run's models.
  writeFileSync(join(dir, 'p.results.jsonl'), jsonl([chat('line-1', 1, 'old', { model: 'm0' })]));
  const model = await ResultsModel.open(join(dir, 'p.m1.results.jsonl'));
  try {
    const meta = model.meta();
    assert.deepEqual(
      meta.models.map((m) => [m.label, m.totals.failed]),
      [
        ['m1', 0],
        ['m2', 0],
        ['p.m3.results.jsonl', 1],
      ],
    );
    const page = await model.page(0, 10);
    assert.deepEqual(
      page.map((r) => [r.answer, r.others.map((o) => o?.answer ?? null), r.differs]),
      [
        ['same', ['same', null], false],
        ['one', ['two', 'error http_500: server exploded'], true],
      ],
    );
  } finally {
    await model.close();
  }
  // Opened on the plain file, every model's file is beside it.
  const plain = await ResultsModel.open(join(dir, 'p.results.jsonl'));
  try {
    assert.deepEqual(
      plain.meta().models.map((m) => m.label),
      ['m0', 'm1', 'm2', 'p.m3.results.jsonl'],
    );
  } finally {
    await plain.close();
  }
});

test('live: the partial file of a run writing is shown, and once it is committed the changed rows are those that differ from the run before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-view-'));
  const file = join(dir, 'r.results.jsonl');
  const partial = join(dir, 'r.results.partial.jsonl');
  writeFileSync(file, jsonl([chat('line-1', 1, 'old 1'), chat('line-2', 2, 'same')]));
  utimesSync(file, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
  const model = await ResultsModel.open(file, { siblings: false });
  try {
    assert.equal(model.meta().rows, 2);
    writeFileSync(partial, jsonl([chat('line-1', 1, 'new 1')]));
    assert.equal(await model.refresh(), true);
    assert.equal(model.meta().partial, true);
    assert.equal(model.meta().rows, 1);
    writeFileSync(partial, jsonl([chat('line-1', 1, 'new 1'), chat('line-2', 2, 'same')]));
    await model.refresh();
    assert.equal(model.meta().rows, 2);
    renameSync(partial, file);
    await model.refresh();
    assert.equal(model.meta().partial, false);
    await model.setQuery({ filter: 'changed' });
    assert.deepEqual(model.rowsAt().map((r) => r.custom_id), ['line-1']);
  } finally {
    await model.close();
  }
});
