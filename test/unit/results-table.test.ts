/** Tests of src/core/results: the Results view's index, filters, sort, search, input join and live refresh. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { InputFile } from '../../src/core/results/input';
import { findInput, inputCandidates, modelResultsPath } from '../../src/core/results/naming';
import { percentile, ResultsTable } from '../../src/core/results/table';
import type { ResultRecord } from '../../src/core/types';
import { chat, failed } from '../support/resultRecords';

const dir = mkdtempSync(join(tmpdir(), 'fastllm-results-'));
const open: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of open) await o.close();
});

const jsonl = (records: ResultRecord[]) => records.map((r) => JSON.stringify(r) + '\n').join('');

async function table(path: string): Promise<ResultsTable> {
  const t = await ResultsTable.open(path);
  open.push(t);
  return t;
}

describe('ResultsTable', () => {
  const records = [
    chat('line-1', 1, 'Paris', { latency: 300, prompt: 10, completion: 1 }),
    failed('line-2', 2),
    chat('line-3', 3, 'Berlin', { latency: 50, cached: true, prompt: 200, completion: 100 }),
    chat('line-4', 4, 'Madrid <script>', { latency: 120, prompt: 30, completion: 30 }),
  ];
  const path = join(dir, 'capitals.results.jsonl');
  writeFileSync(path, jsonl(records) + 'not json\n{"no":"id"}\n');

  test('indexes every record, skips lines that are not records, and reads rows back by index', async () => {
    const t = await table(path);
    assert.equal(t.count, 4);
    const rows = await t.rows([3, 0]);
    assert.deepEqual(
      rows.map((r) => [r.index, r.answer, r.ok]),
      [
        [3, 'Madrid <script>', true],
        [0, 'Paris', true],
      ],
    );
    assert.equal((await t.rows([1]))[0]!.answer, 'error http_500: server exploded');
  });

  test('filters: failed rows are exactly the records with an error; cached the cached ones', async () => {
    const t = await table(path);
    assert.deepEqual([...(await t.query({ filter: 'failed' }))], [1]);
    assert.deepEqual([...(await t.query({ filter: 'cached' }))], [2]);
    assert.deepEqual([...(await t.query({ filter: 'all' }))], [0, 1, 2, 3]);
  });

  test('sorts by latency, tokens and cost, either way', async () => {
    const t = await table(path);
    assert.deepEqual([...(await t.query({ sort: 'latency' }))], [2, 3, 0, 1]);
    assert.deepEqual([...(await t.query({ sort: 'latency', desc: true }))], [1, 0, 3, 2]);
    assert.deepEqual([...(await t.query({ sort: 'tokens', desc: true }))], [2, 3, 0, 1]);
    assert.deepEqual([...(await t.query({ sort: 'cost', desc: true }))].slice(0, 1), [2]);
  });

  test('search finds rows by answer, custom_id, error and input text, case-insensitively', async () => {
    const t = await table(path);
    assert.deepEqual([...(await t.query({ search: 'berLIN' }))], [2]);
    assert.deepEqual([...(await t.query({ search: 'exploded' }))], [1]);
    assert.deepEqual([...(await t.query({ search: 'line-4' }))], [3]);
    const input = async (lines: number[]) => new Map(lines.map((l) => [l, l === 1 ? 'capital of France' : 'other'] as const));
    assert.deepEqual([...(await t.query({ search: 'france' }, input))], [0]);
    assert.deepEqual([...(await t.query({ search: 'france', filter: 'failed' }, input))], []);
  });

  test('totals: failures, cache hits, tokens and latency percentiles of the rows that were sent', async () => {
    const t = await table(path);
    const totals = t.totals();
    assert.equal(totals.rows, 4);
    assert.equal(totals.failed, 1);
    assert.equal(totals.cached, 1);
    assert.equal(totals.promptTokens, 240);
    assert.equal(totals.completionTokens, 131);
    assert.equal(totals.p50, 300); // sent: 120, 300, 900
    assert.equal(totals.p99, 900);
    assert.deepEqual(totals.models, ['gpt-4o-mini']);
    assert.equal(percentile([], 0.5), null);
  });

  test('changed: rows whose answer differs from the baseline run', async () => {
    const before = join(dir, 'changed.before.jsonl');
    writeFileSync(before, jsonl([chat('a', 1, 'one'), chat('b', 2, 'two'), chat('c', 3, 'three')]));
    const now = join(dir, 'changed.results.jsonl');
    writeFileSync(now, jsonl([chat('a', 1, 'one'), chat('b', 2, 'TWO'), chat('c', 3, 'three'), chat('d', 4, 'four')]));
    const t = await table(now);
    assert.deepEqual([...(await t.query({ filter: 'changed' }))], [], 'no baseline: nothing is called changed');
    t.setBaseline((await table(before)).answerHashes());
    assert.deepEqual([...(await t.query({ filter: 'changed' }))], [1, 3]);
  });

  test('live: a file that grows is indexed from where the last scan stopped; a torn last line waits', async () => {
    const live = join(dir, 'live.results.jsonl');
    writeFileSync(live, jsonl([chat('a', 1, 'one')]));
    const t = await table(live);
    assert.equal(t.count, 1);
    const second = JSON.stringify(chat('b', 2, 'two'));
    appendFileSync(live, second.slice(0, 20));
    assert.equal(await t.refresh(), 'grew');
    assert.equal(t.count, 1, 'half a line is not a row yet');
    appendFileSync(live, second.slice(20) + '\n');
    assert.equal(await t.refresh(), 'grew');
    assert.equal(t.count, 2);
    assert.equal((await t.rows([1]))[0]!.answer, 'two');
    assert.equal(await t.refresh(), 'same');
    // A run's commit renames a new file over it: indexed again from zero.
    const next = join(dir, 'live.partial.jsonl');
    writeFileSync(next, jsonl([chat('z', 1, 'only')]));
    renameSync(next, live);
    assert.equal(await t.refresh(), 'reset');
    assert.equal(t.count, 1);
    assert.equal((await t.rows([0]))[0]!.answer, 'only');
  });

  test('firstBytes: open indexes the start of a big file; the next refresh the rest', async () => {
    const big = join(dir, 'big.results.jsonl');
    writeFileSync(big, jsonl(Array.from({ length: 100 }, (_, i) => chat(`line-${i + 1}`, i + 1, `answer ${i}`))));
    const t = await ResultsTable.open(big, { firstBytes: 2000 });
    open.push(t);
    assert.ok(t.count > 0 && t.count < 100, `indexed first: ${t.count}`);
    assert.equal(t.complete, false);
    assert.equal(await t.refresh(), 'grew');
    assert.equal(t.count, 100);
    assert.equal(t.complete, true);
    assert.equal((await t.rows([99]))[0]!.answer, 'answer 99');
  });

  test('a missing file is an empty table that fills once the file appears', async () => {
    const later = join(dir, 'later.results.jsonl');
    const t = await table(later);
    assert.equal(t.count, 0);
    writeFileSync(later, jsonl([chat('a', 1, 'one')]));
    await t.refresh();
    assert.equal(t.count, 1);
  });
});

describe('InputFile', () => {
  test('txt: the row of a line is its prompt, and the request has the defaults applied', async () => {
    const path = join(dir, 'p.txt');
    writeFileSync(path, 'first\n\nthird <b>x</b>\n');
    const input = await InputFile.open(path, { defaults: { model: 'gpt-4o-mini' } });
    open.push(input);
    const row = await input.row(3);
    assert.equal(row.prompt, 'third <b>x</b>');
    assert.deepEqual(row.request, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'third <b>x</b>' }] });
    assert.equal((await input.row(99)).request, null);
  });

  test('jsonl: prompt and messages shapes; an invalid line says why', async () => {
    const path = join(dir, 'p.jsonl');
    writeFileSync(path, '{"custom_id":"q1","prompt":"hello","model":"m"}\n{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi there"}],"model":"m"}\n{oops\n');
    const input = await InputFile.open(path);
    open.push(input);
    assert.equal((await input.row(1)).prompt, 'hello');
    assert.equal((await input.row(2)).prompt, 'hi there');
    const bad = await input.row(3);
    assert.equal(bad.request, null);
    assert.match(bad.error ?? '', /p\.jsonl:3: invalid JSON/);
  });

  test('csv: a quoted record over several lines, with a template; fields kept', async () => {
    const path = join(dir, 'p.csv');
    writeFileSync(path, 'id,text\n1,"two\nlines, with comma"\n2,plain\n');
    const input = await InputFile.open(path, { template: 'Say: {{text}}', defaults: { model: 'm' } });
    open.push(input);
    assert.deepEqual(input.header, ['id', 'text']);
    const row = await input.row(2);
    assert.equal(row.prompt, 'Say: two\nlines, with comma');
    assert.deepEqual(row.fields, ['1', 'two\nlines, with comma']);
    assert.equal((await input.row(4)).prompt, 'Say: plain');
    assert.equal((await input.raw([4])).get(4), '2,plain');
  });
});

describe('naming', () => {
  test('the input of a results file, also for a one-model file whose model name has dots', () => {
    writeFileSync(join(dir, 'qs.csv'), 'prompt\nx\n');
    assert.equal(findInput(join(dir, 'qs.results.jsonl')), join(dir, 'qs.csv'));
    assert.equal(findInput(join(dir, 'qs.gpt-4.1-mini.results.jsonl')), join(dir, 'qs.csv'));
    assert.equal(findInput(join(dir, 'nothing.results.jsonl')), undefined);
    assert.ok(inputCandidates('/a/b.results.jsonl').includes('/a/b.txt'));
    assert.equal(modelResultsPath('/a/prompts.results.jsonl', 'openai/gpt-4o'), '/a/prompts.openai-gpt-4o.results.jsonl');
  });
});
