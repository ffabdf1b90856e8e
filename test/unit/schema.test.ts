/**
 * Structured outputs (issue 13, item 3): `--schema FILE` / per-row `response_format` and
 * `text.format` send the schema; each answer is validated with Ajv; an answer that does not match
 * gets `"schema_valid": false` and the validator's message, counts as a failure, and Rerun Failed
 * Rows asks the server again (refresh) instead of reusing the cached answer. A bad schema file is a
 * clear error naming the file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBatch } from '../../src/core/batch/runBatch';
import { InMemoryCache } from '../../src/core/cache/memory';
import { RequestManager } from '../../src/core/manager';
import { createProvider } from '../../src/core/providers';
import { applyChatDefaults, applyResponsesDefaults } from '../../src/core/request';
import { checkAnswer, loadSchemaFile } from '../../src/core/schema';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { rerunFailed } from '../../src/vscode/lazy/rerun';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

let dir: string;
let n = 0;
const write = (name: string, text: string) => {
  const p = join(dir, `${++n}-${name}`);
  writeFileSync(p, text);
  return p;
};
const read = (p: string): ResultRecord[] => readFileSync(p, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);
const chatAnswer = (text: string) => ({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] });

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastllm-schema-'));
});

describe('schema files', () => {
  test('a bare schema is named after its file and sent strict; OpenAI\'s {name, schema, strict} wrapper is taken as it is', () => {
    const bare = loadSchemaFile(write('person.schema.json', JSON.stringify(PERSON)));
    assert.equal(bare.strict, true);
    assert.match(bare.name, /^\d+-person_schema$/);
    assert.deepEqual(bare.schema, PERSON);
    const wrapped = loadSchemaFile(write('w.json', JSON.stringify({ name: 'person', strict: false, schema: PERSON })));
    assert.deepEqual([wrapped.name, wrapped.strict], ['person', false]);
  });

  test('a file that is missing, not JSON, or not a schema is an error naming the file', () => {
    const missing = join(dir, 'nope.json');
    assert.throws(() => loadSchemaFile(missing), (e: Error) => e.message.startsWith(`${missing}: cannot read`));
    const notJson = write('bad.json', '{ "type": ');
    assert.throws(() => loadSchemaFile(notJson), (e: Error) => e.message.startsWith(`${notJson}: the schema file is not JSON`));
    const notSchema = write('bad2.json', JSON.stringify({ type: 'objekt' }));
    assert.throws(() => loadSchemaFile(notSchema), (e: Error) => e.message.startsWith(`${notSchema}: not a valid JSON schema`));
  });

  test('the schema goes into response_format (chat) and text.format (Responses), never over a row\'s own', () => {
    const schema = { name: 'person', schema: PERSON, strict: true };
    const c = applyChatDefaults({ model: 'm', messages: [] }, { schema });
    assert.deepEqual(c.response_format, { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } });
    assert.deepEqual(applyChatDefaults({ model: 'm', messages: [], response_format: { type: 'json_object' } }, { schema }).response_format, { type: 'json_object' });
    const r = applyResponsesDefaults({ model: 'm', input: 'x', text: { verbosity: 'low' } }, { schema });
    assert.deepEqual(r.text, { verbosity: 'low', format: { type: 'json_schema', name: 'person', schema: PERSON, strict: true } });
  });
});

describe('checking answers', () => {
  const req = applyChatDefaults({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { schema: { name: 'p', schema: PERSON } });
  const request: LLMRequest = { kind: 'chat', custom_id: 'a', line: 1, body: req as never };

  test('valid, not matching, not JSON, refused; no schema: nothing to check', () => {
    assert.deepEqual(checkAnswer(request, chatAnswer('{"name": "Ada", "age": 36}')), { valid: true });
    const wrong = checkAnswer(request, chatAnswer('{"name": "Ada", "age": "36"}'));
    assert.deepEqual(wrong, { valid: false, message: 'the answer does not match the JSON schema: /age must be integer' });
    const extra = checkAnswer(request, chatAnswer('{"name": "Ada", "age": 36, "x": 1}'));
    assert.match((extra as { message: string }).message, /must NOT have additional properties \('x'\)/);
    assert.match((checkAnswer(request, chatAnswer('Ada, 36')) as { message: string }).message, /^the answer is not JSON/);
    const refused = { choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: 'I cannot help' } }] };
    assert.deepEqual(checkAnswer(request, refused), { valid: false, message: 'the model refused: I cannot help' });
    assert.equal(checkAnswer({ ...request, body: { model: 'm', messages: [] } } as LLMRequest, chatAnswer('x')), undefined);
  });

  test('a row\'s own Responses text.format is checked against output_text', () => {
    const r: LLMRequest = { kind: 'responses', custom_id: 'a', line: 1, body: { model: 'm', input: 'x', text: { format: { type: 'json_schema', name: 'p', schema: PERSON } } } };
    const body = (text: string) => ({ object: 'response', status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text }] }] });
    assert.deepEqual(checkAnswer(r, body('{"name":"a","age":1}')), { valid: true });
    assert.equal(checkAnswer(r, body('{"name":"a"}'))?.valid, false);
  });
});

describe('runs with a schema against the fake server', () => {
  let server: FakeServer;
  before(async () => {
    server = await startFakeServer();
  });
  after(() => server.close());

  test('answers that break the schema fail with schema_valid false; Rerun Failed Rows asks the server again, not the cache', async () => {
    server.reset();
    // The fake answers schema-shaped JSON, except for prompts containing "bad" (a string age).
    server.behavior = { answerText: (b) => (JSON.stringify(b).includes('bad') ? '{"name": "x", "age": "old"}' : undefined) };
    const input = write('rows.jsonl', ['{"prompt": "good one"}', '{"prompt": "bad one"}', '{"input": "good too", "instructions": "x"}'].join('\n') + '\n');
    const out = `${input}.results.jsonl`;
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const cache = new InMemoryCache();
    const reader = { defaults: { model: 'gpt-4o-mini', schema: { name: 'person', schema: PERSON } } };
    const summary = await runBatch({ input, out, manager: new RequestManager({ provider, cache }), reader });
    assert.deepEqual([summary.succeeded, summary.failed], [2, 1]);
    assert.equal(summary.stats.schemaInvalid, 1);
    assert.equal(summary.stats.failed, 1);
    const records = read(out);
    assert.deepEqual(records.map((r) => r.schema_valid), [true, false, true]);
    assert.deepEqual(records[1]!.error, { code: 'schema_invalid', message: 'the answer does not match the JSON schema: /age must be integer' });
    assert.ok(records[1]!.response?.body, 'the server body is kept');
    const sent = server.requests.map((r) => r.body as Record<string, unknown>);
    assert.equal((sent[0]!.response_format as { type: string }).type, 'json_schema');
    assert.equal(((sent[2]!.text as { format: { type: string } }).format).type, 'json_schema');
    assert.deepEqual(JSON.parse((records[0]!.response!.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content), { name: 'good one', age: 8 });

    // The server now answers well; the cache still holds the bad answer: rerun must not read it.
    server.reset();
    server.behavior = {};
    const rerun = await rerunFailed({ input, out, manager: new RequestManager({ provider, cache }), reader });
    assert.equal(rerun.rerun, 1);
    assert.equal(server.count, 1, 'only the invalid row was sent');
    const after = read(out);
    assert.deepEqual(after.map((r) => r.schema_valid), [true, true, true]);
    assert.equal(after[1]!.error, null);
    assert.equal(after[1]!.cached, false);
    provider.close?.();
  });
});

test('schemas with $defs and $ref (as OpenAI\'s structured outputs allow) are checked, with the path of the first error', () => {
  const schema = { type: 'object', properties: { p: { $ref: '#/$defs/person' } }, required: ['p'], $defs: { person: { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] } } };
  const r: LLMRequest = { kind: 'chat', custom_id: 'a', line: 1, body: { model: 'm', messages: [], response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } } };
  assert.deepEqual(checkAnswer(r, chatAnswer('{"p": {"age": 3}}')), { valid: true });
  assert.deepEqual(checkAnswer(r, chatAnswer('{"p": {"age": "x"}}')), { valid: false, message: 'the answer does not match the JSON schema: /p/age must be integer' });
});
