import * as assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { BatchSummary } from '../../../src/core/batch/runBatch';
import { answerText } from '../../../src/core/answer';
import type { FakeServer } from '../../support/fakeServer';
import { api, configure, readResults, txtPrompts, useFakeServer, workspaceDir, wsFile } from './helpers';

/**
 * Issue 13 in VS Code: `fastllm.api: "responses"`, `fastllm.schemaFile` and
 * `fastllm.reasoningEffort` reach the engine; Token Stats counts provider cache hits apart.
 */
describe('Responses API, schema and reasoning settings', () => {
  let fake: FakeServer;
  const schemaPath = () => `${workspaceDir()}/answer.schema.json`;

  before(async () => {
    fake = await useFakeServer();
    await (await api()).clearCache();
    writeFileSync(schemaPath(), JSON.stringify({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false }));
  });
  after(async () => {
    await configure({ api: undefined, schemaFile: undefined, reasoningEffort: undefined, model: undefined });
    rmSync(schemaPath(), { force: true });
    rmSync(`${workspaceDir()}/prompts.results.jsonl`, { force: true });
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('a batch goes to /v1/responses with the schema and the effort; answers are checked; provider cache hits are counted', async () => {
    await configure({ api: 'responses', schemaFile: 'answer.schema.json', reasoningEffort: 'low', model: 'gpt-5-mini' });
    fake.setBehavior({ cachedTokens: 1, reasoningTokens: 3 });
    const summary = await vscode.commands.executeCommand<BatchSummary | undefined>('fastllm.runBatch', wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary, 'the command returned no summary');
    const prompts = txtPrompts();
    assert.equal(fake.countByPath['/v1/responses'], prompts.length);
    const body = fake.requests[0]!.body as { reasoning?: { effort?: string }; text?: { format?: { type?: string; name?: string } } };
    assert.equal(body.reasoning?.effort, 'low');
    assert.deepEqual([body.text?.format?.type, body.text?.format?.name], ['json_schema', 'answer_schema']);
    const records = readResults(summary.out);
    assert.ok(records.every((r) => r.schema_valid === true && r.error === null));
    assert.deepEqual(records.map((r) => JSON.parse(answerText(r.response?.body) ?? 'null') as unknown), prompts.map((p) => ({ text: p })));
    const run = (await api()).stats().current;
    assert.ok(run);
    assert.deepEqual(run.providerCache, { hits: prompts.length, tokens: prompts.length });
    assert.equal(run.reasoningTokens, 3 * prompts.length);
  });

  it('a schema file that is not JSON stops the batch before any request', async () => {
    await configure({ api: 'chat', schemaFile: 'answer.schema.json' });
    writeFileSync(schemaPath(), '{ nope');
    const summary = await vscode.commands.executeCommand<BatchSummary | undefined>('fastllm.runBatch', wsFile('prompts.txt'), { confirm: false });
    assert.equal(summary, undefined);
    assert.equal(fake.count, 0);
  });
});
