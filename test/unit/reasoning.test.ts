/**
 * Reasoning models (issue 13, item 2): the token limit goes as `max_completion_tokens` to the
 * o-series and gpt-5 family, as `max_output_tokens` to the Responses API, and to any other model
 * once its 400 says `max_tokens` is unsupported (learned once per run, the row sent again, not
 * failed); the reasoning effort passes through; reasoning tokens are counted apart and priced as
 * output; answers cut by the token limit are flagged and counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyChatDefaults, applyResponsesDefaults, requiresMaxCompletionTokens } from '../../src/core/request';
import { RequestManager } from '../../src/core/manager';
import { costOf } from '../../src/core/pricing';
import { createProvider } from '../../src/core/providers';
import { summaryText } from '../../src/core/progress';
import { TokenStats } from '../../src/core/stats';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

const chat = (prompt: string, body: Record<string, unknown> = {}, i = 0): LLMRequest => ({
  kind: 'chat',
  custom_id: `r${i}`,
  line: i + 1,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }], ...body },
});

async function runAll(manager: RequestManager, requests: LLMRequest[]): Promise<ResultRecord[]> {
  const out: ResultRecord[] = [];
  for await (const r of manager.run(requests)) out.push(r);
  return out;
}

describe('the token limit for reasoning models', () => {
  test('o-series and gpt-5 names need max_completion_tokens; others keep max_tokens', () => {
    for (const m of ['o1', 'o3-mini', 'o4-mini', 'gpt-5', 'gpt-5-mini', 'openai/o3', 'gpt-5-2025-08-07']) assert.ok(requiresMaxCompletionTokens(m), m);
    for (const m of ['gpt-4o', 'gpt-4o-mini', 'llama3', 'omni-moderation', 'gpt-4.1']) assert.ok(!requiresMaxCompletionTokens(m), m);
  });

  test('defaults: max_tokens → max_completion_tokens (o3), max_tokens (gpt-4o), max_output_tokens (Responses); effort passed through', () => {
    const defaults = { max_tokens: 100, reasoning_effort: 'low' };
    const o3 = applyChatDefaults({ model: 'o3', messages: [] }, defaults);
    assert.equal(o3.max_completion_tokens, 100);
    assert.equal(o3.max_tokens, undefined);
    assert.equal(o3.reasoning_effort, 'low');
    const gpt4o = applyChatDefaults({ model: 'gpt-4o', messages: [] }, defaults);
    assert.deepEqual([gpt4o.max_tokens, gpt4o.max_completion_tokens], [100, undefined]);
    const resp = applyResponsesDefaults({ model: 'gpt-5', input: 'x', reasoning: { summary: 'auto' } }, defaults);
    assert.equal(resp.max_output_tokens, 100);
    assert.deepEqual(resp.reasoning, { summary: 'auto', effort: 'low' });
    // A row's own values win.
    assert.equal(applyChatDefaults({ model: 'o3', messages: [], reasoning_effort: 'high' }, defaults).reasoning_effort, 'high');
  });
});

describe('against the fake server', () => {
  let server: FakeServer;
  before(async () => {
    server = await startFakeServer();
  });
  after(() => server.close());

  test('a model whose 400 says max_tokens is unsupported is learned once per run; its rows are sent again with max_completion_tokens', async () => {
    server.reset();
    server.behavior = { rejectMaxTokens: ['my-reasoner'] };
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const manager = new RequestManager({ provider, concurrency: 1 });
    const requests = Array.from({ length: 5 }, (_, i) => chat(`p${i}`, { model: 'my-reasoner', max_tokens: 50 }, i));
    const records = await runAll(manager, requests);
    assert.ok(records.every((r) => r.error === null), JSON.stringify(records.map((r) => r.error)));
    assert.equal(server.countByStatus[400], 1, 'one 400 in the whole run');
    assert.equal(server.count, 6);
    const bodies = server.requests.map((r) => r.body as Record<string, unknown>);
    assert.equal(bodies[0]!.max_tokens, 50);
    assert.ok(bodies.slice(1).every((b) => b.max_completion_tokens === 50 && b.max_tokens === undefined));
    assert.equal(records[0]!.attempts, 2);
    assert.equal(manager.stats.snapshot().failed, 0);
    // Other models of the run are not affected.
    server.reset();
    await runAll(manager, [chat('x', { model: 'gpt-4o-mini', max_tokens: 20 })]);
    assert.equal((server.requests[0]!.body as Record<string, unknown>).max_tokens, 20);
    provider.close?.();
  });

  test('without the learning, the 400 would fail the row: the fake says so for o-series models', async () => {
    server.reset();
    server.behavior = { rejectMaxTokens: true };
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const res = await provider.send(chat('x', { model: 'o3', max_tokens: 5 }), { signal: new AbortController().signal, timeoutMs: 5000 }).catch((e: unknown) => e);
    assert.equal((res as { status?: number }).status, 400);
    assert.equal((res as { code?: string }).code, 'unsupported_parameter');
    assert.match((res as Error).message, /Use 'max_completion_tokens' instead/);
    provider.close?.();
  });

  test('reasoning tokens are counted apart, priced as output; finish_reason length is flagged and counted', async () => {
    server.reset();
    server.behavior = { reasoningTokens: 40 };
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const manager = new RequestManager({ provider });
    const records = await runAll(manager, [
      chat('think about this', { model: 'o4-mini', max_completion_tokens: 100 }, 0),
      chat('a prompt that is long enough to be cut short', { model: 'gpt-4o-mini', max_tokens: 2 }, 1),
    ]);
    const s = manager.stats.snapshot();
    assert.equal(s.reasoningTokens, 40);
    const usage = (records[0]!.response!.body as { usage: { completion_tokens: number; prompt_tokens: number; completion_tokens_details: { reasoning_tokens: number } } }).usage;
    assert.equal(usage.completion_tokens_details.reasoning_tokens, 40);
    assert.equal(records[0]!.truncated, undefined);
    assert.equal(records[1]!.truncated, true);
    assert.equal(records[1]!.error, null, 'a truncated answer is still an answer');
    assert.equal(s.truncated, 1);
    const u1 = (records[1]!.response!.body as { usage: { completion_tokens: number; prompt_tokens: number } }).usage;
    const expected = costOf('o4-mini', usage.prompt_tokens, usage.completion_tokens) + costOf('gpt-4o-mini', u1.prompt_tokens, u1.completion_tokens);
    assert.ok(Math.abs(s.cost.spent - expected) < 1e-12, `${s.cost.spent} vs ${expected}`);
    assert.match(summaryText(s), /reasoning 40 reasoning tokens/);
    assert.match(summaryText(s), /truncated 1 answers cut short/);
    provider.close?.();
  });

  test('Responses: reasoning.effort and max_output_tokens go out; status incomplete is flagged', async () => {
    server.reset();
    server.behavior = { reasoningTokens: 7 };
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const manager = new RequestManager({ provider });
    const body = applyResponsesDefaults({ model: 'gpt-5-mini', input: 'a prompt long enough to be cut' }, { max_tokens: 2, reasoning_effort: 'minimal' });
    const [record] = await runAll(manager, [{ kind: 'responses', custom_id: 'r', line: 1, body: body as never }]);
    const sent = server.requests[0]!.body as Record<string, unknown>;
    assert.deepEqual([sent.max_output_tokens, (sent.reasoning as { effort: string }).effort], [2, 'minimal']);
    assert.equal(record!.truncated, true);
    assert.equal(manager.stats.snapshot().reasoningTokens, 7);
    provider.close?.();
  });
});

test('TokenStats: reasoning tokens are part of completion tokens, not added on top', () => {
  const s = new TokenStats();
  s.freshSuccess('o3', { prompt_tokens: 100, completion_tokens: 500, total_tokens: 600, reasoning_tokens: 400 });
  const snap = s.snapshot();
  assert.equal(snap.fresh.completion, 500);
  assert.equal(snap.reasoningTokens, 400);
  assert.equal(snap.cost.spent, costOf('o3', 100, 500));
});
