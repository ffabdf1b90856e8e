/**
 * Tests of src/core/results/marks.ts and its use by the Results view model: answers cut short by
 * the token limit are flagged, and a run with a JSON schema gets its answers' top-level fields as
 * text, with schema-invalid rows carrying the validator's message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { marksOf, parseFields } from '../../src/core/results/marks';
import { ResultsTable } from '../../src/core/results/table';
import { ResultsModel } from '../../src/core/results/view';
import type { ResultRecord } from '../../src/core/types';
import { chat } from '../support/resultRecords';

const jsonl = (records: ResultRecord[]) => records.map((r) => JSON.stringify(r) + '\n').join('');

/** A chat record cut at the token limit, as runBatch writes it (`truncated: true`). */
function cut(id: string, line: number, content: string, withField = true): ResultRecord {
  const r = chat(id, line, content);
  (r.response!.body as { choices: { finish_reason?: string }[] }).choices[0]!.finish_reason = 'length';
  return withField ? { ...r, truncated: true } : r;
}

/** A Responses API record (https://platform.openai.com/docs/api-reference/responses/object). */
function responses(id: string, line: number, text: string, status: 'completed' | 'incomplete'): ResultRecord {
  return {
    id: `fastllm-x-${line}`,
    custom_id: id,
    line,
    cached: false,
    attempts: 1,
    latency_ms: 50,
    error: null,
    response: {
      status_code: 200,
      request_id: null,
      body: {
        object: 'response',
        model: 'gpt-4o-mini',
        status,
        ...(status === 'incomplete' ? { incomplete_details: { reason: 'max_output_tokens' } } : {}),
        output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
        usage: { input_tokens: 5, output_tokens: 3, total_tokens: 8 },
      },
    },
    ...(status === 'incomplete' ? { truncated: true } : {}),
  };
}

/** A record whose request asked for a JSON schema: valid, or invalid with the validator's message (as runBatch writes it). */
function schemaRow(id: string, line: number, content: string, message?: string): ResultRecord {
  const r = chat(id, line, content);
  return message ? { ...r, schema_valid: false, error: { code: 'schema_invalid', message } } : { ...r, schema_valid: true };
}

test('marksOf: truncated from the record field, or from finish_reason "length" / status "incomplete" in old records', () => {
  assert.equal(marksOf(chat('a', 1, 'whole')).truncated, false);
  assert.equal(marksOf(cut('b', 2, 'half')).truncated, true);
  assert.equal(marksOf(cut('c', 3, 'half', false)).truncated, true, 'a record written before the truncated field');
  assert.equal(marksOf(responses('d', 4, 'half', 'incomplete')).truncated, true);
  assert.equal(marksOf(responses('e', 5, 'whole', 'completed')).truncated, false);
  const noField = responses('f', 6, 'half', 'incomplete');
  delete noField.truncated;
  assert.equal(marksOf(noField).truncated, true);
});

test('marksOf: no schema, no fields; a schema row lists its top-level fields as text', () => {
  const plain = marksOf(chat('a', 1, '{"name":"Ada"}'));
  assert.deepEqual([plain.schemaValid, plain.fields, plain.fieldsText], [null, null, '']);
  const ok = marksOf(schemaRow('b', 2, '{"name":"Ada","age":36,"tags":["x"],"boss":null}'));
  assert.equal(ok.schemaValid, true);
  assert.deepEqual(ok.fields, [
    ['name', 'Ada'],
    ['age', '36'],
    ['tags', '["x"]'],
    ['boss', 'null'],
  ]);
  assert.equal(ok.fieldsText, 'name: Ada · age: 36 · tags: ["x"] · boss: null');
  assert.equal(ok.schemaMessage, null);
  const bad = marksOf(schemaRow('c', 3, '{"name":"Ada","age":"old"}', 'the answer does not match the JSON schema: /age must be integer'));
  assert.equal(bad.schemaValid, false);
  assert.equal(bad.schemaMessage, 'the answer does not match the JSON schema: /age must be integer');
  assert.equal(bad.fieldsText, 'name: Ada · age: old');
  const notJson = marksOf(schemaRow('d', 4, 'Sorry, no.', 'the answer is not JSON (Unexpected token)'));
  assert.deepEqual([notJson.fields, notJson.fieldsText], [null, '(not JSON)']);
  assert.deepEqual(parseFields('[1,2]'), { fields: null, reason: 'JSON array, not an object' });
});

test('parseFields clips long values and many fields; hostile text stays text', () => {
  const long = 'x'.repeat(500);
  const { fields } = parseFields(JSON.stringify({ a: long, b: '<img src=x onerror=alert(1)>' }));
  assert.equal(fields![0]![1].length, 201);
  assert.ok(fields![0]![1].endsWith('…'));
  assert.equal(fields![1]![1], '<img src=x onerror=alert(1)>');
  const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]));
  const parsed = parseFields(JSON.stringify(many)).fields!;
  assert.equal(parsed.length, 51);
  assert.deepEqual(parsed.at(-1), ['…', '10 more fields']);
});

test('the table counts truncated rows and schema rows; the view flags them in rows, details and meta', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-marks-'));
  writeFileSync(join(dir, 'q.txt'), 'a\nb\nc\nd\n');
  const file = join(dir, 'q.results.jsonl');
  // line-2 is cut short and its record asked for a schema too (a cut answer is not valid JSON).
  writeFileSync(file, jsonl([schemaRow('line-1', 1, '{"name":"a","n":1}'), { ...cut('line-2', 2, '{"name":"b'), schema_valid: false, error: { code: 'schema_invalid', message: 'the answer is not JSON (Unterminated string)' } }, schemaRow('line-3', 3, '{"name":3}', 'the answer does not match the JSON schema: /name must be string'), responses('line-4', 4, 'half', 'incomplete')]));
  const table = await ResultsTable.open(file);
  try {
    const t = table.totals();
    assert.deepEqual([t.truncated, t.schemaRows, t.schemaInvalid, t.failed], [2, 3, 2, 2]);
  } finally {
    await table.close();
  }
  const model = await ResultsModel.open(file);
  try {
    assert.equal(model.meta().hasSchema, true);
    const page = await model.page(0, 10);
    assert.deepEqual(
      page.map((r) => [r.custom_id, r.truncated, r.schemaValid, r.fields, r.schemaMessage]),
      [
        ['line-1', false, true, 'name: a · n: 1', null],
        ['line-2', true, false, '(not JSON)', 'the answer is not JSON (Unterminated string)'],
        ['line-3', false, false, 'name: 3', 'the answer does not match the JSON schema: /name must be string'],
        ['line-4', true, null, '', null],
      ],
    );
    const d = (await model.detail(0))!;
    assert.deepEqual([d.truncated, d.schemaValid, d.fields], [false, true, [['name', 'a'], ['n', '1']]]);
    const d2 = (await model.detail(1))!;
    assert.deepEqual([d2.truncated, d2.schemaValid, d2.schemaMessage], [true, false, 'the answer is not JSON (Unterminated string)']);
  } finally {
    await model.close();
  }
  // Without schema rows the grid gets no fields column.
  const plain = join(dir, 'p.results.jsonl');
  writeFileSync(plain, jsonl([chat('line-1', 1, 'x'), cut('line-2', 2, 'y')]));
  const m2 = await ResultsModel.open(plain);
  try {
    assert.equal(m2.meta().hasSchema, false);
    assert.deepEqual((await m2.page(0, 5)).map((r) => r.truncated), [false, true]);
  } finally {
    await m2.close();
  }
});
