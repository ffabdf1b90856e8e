/**
 * The Responses API (issue 13, item 1): rows in Responses form are read as `responses` requests,
 * sent to /v1/responses through the SDK (plain and streamed), their records keep the server's body,
 * the answer text is `output_text` computed from `output[]`, usage is read from `input_tokens` /
 * `output_tokens`, the cache key includes the endpoint kind, and Batch API mode submits Responses jobs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { answerText, isTruncated, outputText } from '../../src/core/answer';
import { readBatch } from '../../src/core/batch/readers';
import { BatchApiClient, fetchResults, submitBatch, waitForJobs } from '../../src/core/batchApi';
import { InMemoryCache } from '../../src/core/cache/memory';
import { computeRequestHash, describeRequestHash } from '../../src/core/hash';
import { RequestManager } from '../../src/core/manager';
import { createProvider } from '../../src/core/providers';
import { usageOf } from '../../src/core/tokens';
import type { InputItem, LLMRequest, ResultRecord } from '../../src/core/types';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { readFileSync } from 'node:fs';

let dir: string;
let n = 0;
function file(lines: string[], ext = 'jsonl'): string {
  const p = join(dir, `in-${++n}.${ext}`);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}
async function items(path: string, options: Parameters<typeof readBatch>[1] = {}): Promise<InputItem[]> {
  const out: InputItem[] = [];
  for await (const item of readBatch(path, { defaults: { model: 'gpt-4o-mini' }, ...options })) out.push(item);
  return out;
}
const readRecords = (path: string): ResultRecord[] => readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastllm-responses-'));
});

describe('reading rows in Responses form', () => {
  test('input + instructions, input items, Batch lines with url /v1/responses are responses; a bare {"input"} stays embeddings', async () => {
    const got = await items(
      file([
        '{"input": "Say hi", "instructions": "Be brief"}',
        '{"input": [{"role": "user", "content": "Hello"}]}',
        '{"custom_id": "b1", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-5-mini", "input": "x"}}',
        '{"input": "embed me", "model": "text-embedding-3-small"}',
        '{"input": "x", "max_output_tokens": 10}',
      ]),
    );
    assert.deepEqual(got.map((i) => i.kind), ['responses', 'responses', 'responses', 'embeddings', 'responses']);
    assert.deepEqual((got[0] as LLMRequest).body, { input: 'Say hi', instructions: 'Be brief', model: 'gpt-4o-mini' });
    assert.equal(got[2]!.custom_id, 'b1');
  });

  test('--api responses: bare prompts and {"input"} lines become Responses requests, the system message their instructions', async () => {
    const txt = await items(file(['first prompt', 'second'], 'txt'), { kind: 'responses', defaults: { model: 'gpt-4o-mini', system: 'Be terse', max_tokens: 50 } });
    assert.deepEqual(txt.map((i) => i.kind), ['responses', 'responses']);
    assert.deepEqual((txt[0] as LLMRequest).body, { input: 'first prompt', model: 'gpt-4o-mini', max_output_tokens: 50, instructions: 'Be terse' });
    const jsonl = await items(file(['{"input": "plain"}']), { kind: 'responses' });
    assert.equal(jsonl[0]!.kind, 'responses');
  });

  test('a Responses row without input, or with a bad one, is an error naming file and line', async () => {
    const path = file(['{"url": "/v1/responses", "body": {"model": "m"}}', '{"input": [], "instructions": "x"}']);
    const got = await items(path);
    assert.ok(got.every((i) => i.kind === 'invalid'));
    assert.match((got[0] as { error: { message: string } }).error.message, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: the body has no "input"`));
    assert.match((got[1] as { error: { message: string } }).error.message, /:2: "input" is an empty list/);
  });
});

describe('answers in Responses form', () => {
  const body = {
    object: 'response',
    status: 'completed',
    output: [
      { type: 'reasoning', summary: [] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello ' }, { type: 'output_text', text: 'there' }] },
    ],
    usage: { input_tokens: 12, input_tokens_details: { cached_tokens: 4 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 20 }, total_tokens: 42 },
  };

  test('output_text is computed from output[].content[] when the body lacks it, and the server one wins when it has it', () => {
    assert.equal(outputText(body), 'Hello there');
    assert.equal(answerText(body), 'Hello there');
    assert.equal(outputText({ ...body, output_text: 'given' }), 'given');
    assert.equal(isTruncated(body), false);
    assert.equal(isTruncated({ ...body, status: 'incomplete' }), true);
  });

  test('usage is read from input_tokens / output_tokens and their details', () => {
    assert.deepEqual(usageOf(body), { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, cached_tokens: 4, reasoning_tokens: 20 });
  });

  test('the cache key includes the endpoint kind: the same body as chat and as responses gives two keys', () => {
    const scope = { baseURL: 'https://api.openai.com/v1' };
    const b = { model: 'gpt-4o-mini', input: 'hi' } as never;
    const asResponses = computeRequestHash({ kind: 'responses', custom_id: 'a', line: 1, body: b }, scope);
    const asEmbeddings = computeRequestHash({ kind: 'embeddings', custom_id: 'a', line: 1, body: b }, scope);
    assert.notEqual(asResponses, asEmbeddings);
    const parts = describeRequestHash({ kind: 'responses', custom_id: 'a', line: 1, body: b }, scope).parts;
    assert.deepEqual(parts.find((p) => p.name === 'endpoint.kind'), { name: 'endpoint.kind', value: 'responses' });
  });
});

describe('Responses API against the fake server', () => {
  let server: FakeServer;
  before(async () => {
    server = await startFakeServer();
  });
  after(() => server.close());

  test('a run sends /v1/responses through the SDK, keeps the server body, and counts input/output tokens', async () => {
    server.reset();
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const cache = new InMemoryCache();
    const manager = new RequestManager({ provider, cache });
    const reqs: LLMRequest[] = ['alpha', 'beta'].map((p, i) => ({ kind: 'responses', custom_id: `r${i}`, line: i + 1, body: { model: 'gpt-4o-mini', input: p, instructions: 'Be brief' } }));
    const records: ResultRecord[] = [];
    for await (const r of manager.run(reqs)) records.push(r);
    assert.equal(server.countByPath['/v1/responses'], 2);
    assert.equal(server.countByPath['/v1/chat/completions'], undefined);
    const sent = server.requests.map((r) => r.body as Record<string, unknown>);
    assert.deepEqual(sent.map((b) => b.instructions), ['Be brief', 'Be brief']);
    assert.deepEqual(records.map((r) => answerText(r.response?.body)), ['echo: alpha', 'echo: beta']);
    const first = records[0]!.response!.body as Record<string, unknown>;
    assert.equal(first.object, 'response');
    assert.equal(first.output_text, undefined, 'the record keeps the raw server body (no SDK output_text added)');
    const s = manager.stats.snapshot();
    const usage = usageOf(first)!;
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert.equal(s.fresh.prompt, records.reduce((sum, r) => sum + usageOf(r.response?.body)!.prompt_tokens, 0));
    // Again: from the cache, under the same key.
    const again: ResultRecord[] = [];
    for await (const r of manager.run(reqs)) again.push(r);
    assert.ok(again.every((r) => r.cached));
    assert.equal(server.countByPath['/v1/responses'], 2);
    provider.close?.();
  });

  test('streamed: deltas arrive from response.output_text.delta and the body is the one of response.completed', async () => {
    server.reset();
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const deltas: string[] = [];
    const res = await provider.stream!(
      { kind: 'responses', custom_id: 's', line: 1, body: { model: 'gpt-4o-mini', input: 'one two three' } },
      (d) => deltas.push(d),
      { signal: new AbortController().signal, timeoutMs: 10_000 },
    );
    assert.ok(deltas.length >= 3, `${deltas.length} deltas`);
    assert.equal(deltas.join(''), 'echo: one two three');
    assert.equal(answerText(res.body), 'echo: one two three');
    assert.equal((res.body as { status: string }).status, 'completed');
    assert.equal((server.requests[0]!.body as { stream?: boolean }).stream, true);
    assert.equal((server.requests[0]!.body as { stream_options?: unknown }).stream_options, undefined, 'no chat-only include_usage');
    provider.close?.();
  });

  test('a streamed answer cut by max_output_tokens ends with response.incomplete and is truncated', async () => {
    server.reset();
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const res = await provider.stream!(
      { kind: 'responses', custom_id: 's', line: 1, body: { model: 'gpt-4o-mini', input: 'a long enough prompt to be cut', max_output_tokens: 2 } },
      () => undefined,
      { signal: new AbortController().signal, timeoutMs: 10_000 },
    );
    assert.equal((res.body as { status: string }).status, 'incomplete');
    assert.equal(isTruncated(res.body), true);
    provider.close?.();
  });
});

describe('Batch API mode with Responses rows', () => {
  let api: FakeBatchApi;
  before(async () => {
    api = await startFakeBatchApi();
  });
  after(() => api.close());

  test('submits a /v1/responses job, fetches its answers, and reads their usage', async () => {
    const input = file(['{"input": "alpha", "instructions": "x", "model": "gpt-5-mini"}', '{"custom_id": "b", "url": "/v1/responses", "body": {"input": "beta", "model": "gpt-5-mini"}}']);
    const client = new BatchApiClient({ apiKey: 'sk-batch', baseURL: api.url });
    const scope = createProvider({ apiKey: 'k', baseURL: api.url }).scope;
    const state = await submitBatch({ input, client, scope });
    assert.deepEqual(state.jobs.map((j) => `${j.kind}:${j.model}:${j.requests}`), ['responses:gpt-5-mini:2']);
    const job = api.jobs().at(-1)!;
    assert.equal(job.batch.endpoint, '/v1/responses');
    assert.ok(job.lines.every((l) => l.url === '/v1/responses'));
    await waitForJobs(state, client, { minIntervalMs: 1, maxIntervalMs: 5 });
    const summary = await fetchResults({ state, client });
    const records = readRecords(summary.out);
    assert.deepEqual(records.map((r) => answerText(r.response?.body)), ['echo: alpha', 'echo: beta']);
    assert.equal(summary.stats.reasoningTokens, 16, 'the fake reports 8 reasoning tokens per gpt-5 answer');
    assert.ok(summary.stats.fresh.prompt > 0);
  });
});

describe('Compare with Responses results', () => {
  test('answerOf shows output_text; totals read input/output tokens', async () => {
    const { answerOf } = await import('../../src/core/compare');
    const record = {
      id: 'x', custom_id: 'a', line: 1, cached: false, attempts: 1, latency_ms: 1, error: null,
      response: { status_code: 200, request_id: null, body: { object: 'response', status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hi there' }] }] } },
    } as ResultRecord;
    assert.deepEqual(answerOf(record), { ok: true, text: 'Hi there' });
  });
});

test('docs/request-hash.md: the Responses worked example gives the key it shows', async () => {
  const { describeRequestHash: describe_ } = await import('../../src/core/hash');
  const body = { model: 'gpt-5-mini', instructions: 'Answer in one word.', input: 'Capital of France?', max_output_tokens: 16, reasoning: { effort: 'low' }, prompt_cache_key: 'geo-quiz', stream: true };
  const d = describe_({ kind: 'responses', custom_id: 'q-18', line: 18, body: body as never }, { baseURL: 'https://api.openai.com/v1' });
  const doc = readFileSync(join(__dirname, '../../docs/request-hash.md'), 'utf8');
  assert.ok(doc.includes(d.canonical), 'the canonical JSON shown');
  assert.ok(doc.includes(d.key), `the key shown: ${d.key}`);
});
