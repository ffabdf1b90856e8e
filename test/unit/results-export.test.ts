/** Tests of src/core/results/export.ts: the Results view's CSV export and "answers as a new column". */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { csvRecords } from '../../src/core/batch/csv';
import { readLines } from '../../src/core/batch/lines';
import { csvField, exportCsv, writeAnswersColumn } from '../../src/core/results/export';
import { InputFile } from '../../src/core/results/input';
import { ResultsTable } from '../../src/core/results/table';
import { chat, failed } from '../support/resultRecords';

const dir = mkdtempSync(join(tmpdir(), 'fastllm-results-export-'));
const closing: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closing) await c.close();
});

async function parse(path: string): Promise<string[][]> {
  const rows: string[][] = [];
  for await (const r of csvRecords(readLines(path))) rows.push(r.fields);
  return rows;
}

async function setUp(name: string, inputText: string, records: object[]) {
  const input = join(dir, name);
  writeFileSync(input, inputText);
  const results = join(dir, name.replace(/\.\w+$/, '.results.jsonl'));
  writeFileSync(results, records.map((r) => JSON.stringify(r) + '\n').join(''));
  const table = await ResultsTable.open(results);
  const file = await InputFile.open(input, { template: name.endsWith('.csv') ? '{{text}}' : undefined });
  closing.push(table, file);
  return { table, file, input };
}

test('csvField quotes what needs quoting', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"\nbye'), '"say ""hi""\nbye"');
  assert.equal(csvField(3), '3');
});

test('export: input columns, then custom_id, line, answer, error and tokens; the answer column equals the results', async () => {
  const answers = ['Paris, "the" capital', 'multi\nline', '=1+1'];
  const { table, file } = await setUp('countries.csv', 'id,text\n1,France\n2,"Ger\nmany"\n3,Spain\n4,Italy\n', [
    chat('line-2', 2, answers[0]!),
    chat('line-3', 3, answers[1]!),
    chat('line-5', 5, answers[2]!),
    failed('line-6', 6),
  ]);
  const out = join(dir, 'countries.export.csv');
  assert.equal(await exportCsv(table, file, out), 4);
  const rows = await parse(out);
  assert.deepEqual(rows[0], ['id', 'text', 'custom_id', 'line', 'answer', 'error', 'prompt_tokens', 'completion_tokens', 'cost']);
  assert.deepEqual(
    rows.slice(1).map((r) => r[4]),
    [...answers, ''],
  );
  assert.deepEqual(rows[2]!.slice(0, 2), ['2', 'Ger\nmany']);
  assert.equal(rows[4]![5], 'http_500: server exploded');
  assert.equal(rows[1]![6], '10');
});

test('export of chosen rows (a filter) in their order; a txt input gives a prompt column', async () => {
  const { table, file } = await setUp('qs.txt', 'one\ntwo\n', [chat('line-1', 1, 'A1'), chat('line-2', 2, 'A2')]);
  const out = join(dir, 'qs.export.csv');
  await exportCsv(table, file, out, [1]);
  const rows = await parse(out);
  assert.deepEqual(
    rows.map((r) => r.slice(0, 5)),
    [
      ['prompt', 'custom_id', 'line', 'answer', 'error'],
      ['two', 'line-2', '2', 'A2', ''],
    ],
  );
});

test('answers as a new column: a new file, the input untouched, an existing "answer" column kept', async () => {
  const inputText = 'text,answer\nFrance,old\n"Ger\nmany",old\nSpain,old\n';
  const { table, file, input } = await setUp('back.csv', inputText, [chat('line-5', 5, 'Madrid'), chat('line-2', 2, 'Paris')]);
  const out = join(dir, 'back.answers.csv');
  assert.equal(await writeAnswersColumn(table, file, out), 3);
  assert.equal(readFileSync(input, 'utf8'), inputText);
  assert.deepEqual(await parse(out), [
    ['text', 'answer', 'answer_2'],
    ['France', 'old', 'Paris'],
    ['Ger\nmany', 'old', ''],
    ['Spain', 'old', 'Madrid'],
  ]);
  await assert.rejects(writeAnswersColumn(table, file, input), /is the input file/);
  await assert.rejects(exportCsv(table, file, input), /is the input file/);
  assert.equal(readFileSync(input, 'utf8'), inputText);
});
