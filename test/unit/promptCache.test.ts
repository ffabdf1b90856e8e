/**
 * Prompt caching on the provider's side (issue 13, item 4): cached input tokens
 * (`prompt_tokens_details.cached_tokens`, Responses `input_tokens_details.cached_tokens`) are
 * counted apart from fresh ones and priced at the cached-input price; `prompt_cache_key` passes
 * through to the server untouched and is not part of our cache key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InMemoryCache } from '../../src/core/cache/memory';
import { computeRequestHash, describeRequestHash } from '../../src/core/hash';
import { RequestManager } from '../../src/core/manager';
import { batchPrices, costOf, DEFAULT_PRICES, priceFor } from '../../src/core/pricing';
import { summaryText } from '../../src/core/progress';
import { createProvider } from '../../src/core/providers';
import { TokenStats } from '../../src/core/stats';
import { usageOf } from '../../src/core/tokens';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

describe('cached input tokens', () => {
  test('usageOf reads them from chat and Responses usage', () => {
    const chat = { usage: { prompt_tokens: 2000, completion_tokens: 10, total_tokens: 2010, prompt_tokens_details: { cached_tokens: 1536 } } };
    assert.equal(usageOf(chat)!.cached_tokens, 1536);
    const resp = { object: 'response', output: [], usage: { input_tokens: 2000, input_tokens_details: { cached_tokens: 1024 }, output_tokens: 5, total_tokens: 2005 } };
    assert.equal(usageOf(resp)!.cached_tokens, 1024);
    assert.equal(usageOf({ usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 } } })!.cached_tokens, undefined);
  });

  test('the price table has cached-input prices; cached tokens cost that, the rest the input price', () => {
    assert.equal(priceFor('gpt-4o-mini')!.cachedInput, 0.075);
    assert.equal(costOf('gpt-4o-mini', 1_000_000, 0, undefined, 600_000), 0.4 * 0.15 + 0.6 * 0.075);
    assert.equal(costOf('gpt-4o-mini', 1_000_000, 0), 0.15);
    // No cachedInput in a user's table: cached tokens cost the input price.
    assert.equal(costOf('mine', 1_000_000, 0, { mine: { input: 2, output: 4 } }, 500_000), 2);
    assert.equal(batchPrices()['gpt-4o']!.cachedInput, DEFAULT_PRICES['gpt-4o']!.cachedInput! / 2);
  });

  test('TokenStats counts provider cache hits and tokens apart from FastLLM cache hits', () => {
    const s = new TokenStats();
    s.freshSuccess('gpt-4o', { prompt_tokens: 2000, completion_tokens: 100, total_tokens: 2100, cached_tokens: 1024 });
    s.freshSuccess('gpt-4o', { prompt_tokens: 2000, completion_tokens: 100, total_tokens: 2100 });
    s.reusedSuccess('gpt-4o', { prompt_tokens: 2000, completion_tokens: 100, total_tokens: 2100, cached_tokens: 1024 }, 'cache');
    const snap = s.snapshot();
    assert.deepEqual(snap.providerCache, { hits: 1, tokens: 1024 });
    assert.equal(snap.cacheHits, 1);
    assert.equal(snap.fresh.prompt, 4000, 'cached input tokens are still prompt tokens');
    assert.equal(snap.cost.spent, costOf('gpt-4o', 2000, 100, undefined, 1024) + costOf('gpt-4o', 2000, 100));
    assert.ok(snap.cost.spent < 2 * costOf('gpt-4o', 2000, 100));
    assert.match(summaryText(snap), /provider  1 prompt-cache hits, 1024 cached input tokens/);
  });
});

describe('prompt_cache_key', () => {
  const scope = { baseURL: 'https://api.openai.com/v1' };
  const req = (key?: string): LLMRequest => ({
    kind: 'chat',
    custom_id: 'a',
    line: 1,
    body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...(key ? { prompt_cache_key: key } : {}) },
  });

  test('is not part of our cache key (and is listed as excluded)', () => {
    assert.equal(computeRequestHash(req('tenant-1'), scope), computeRequestHash(req('tenant-2'), scope));
    assert.equal(computeRequestHash(req('tenant-1'), scope), computeRequestHash(req(), scope));
    assert.deepEqual(describeRequestHash(req('t'), scope).parts.at(-1), { name: 'excluded', value: 'prompt_cache_key' });
  });

  let server: FakeServer;
  before(async () => {
    server = await startFakeServer();
  });
  after(() => server.close());

  test('passes through to the server untouched; cached tokens from the server are counted and priced', async () => {
    server.reset();
    server.behavior = { cachedTokens: (b) => (b.prompt_cache_key ? 4 : 0) };
    const provider = createProvider({ apiKey: 'k', baseURL: server.url });
    const manager = new RequestManager({ provider, cache: new InMemoryCache() });
    const first: ResultRecord[] = [];
    for await (const r of manager.run([{ ...req('tenant-1'), body: { ...req('tenant-1').body, messages: [{ role: 'user', content: 'a prompt of some length here' }] } } as LLMRequest])) first.push(r);
    assert.equal((server.requests[0]!.body as { prompt_cache_key?: string }).prompt_cache_key, 'tenant-1');
    const s = manager.stats.snapshot();
    assert.deepEqual(s.providerCache, { hits: 1, tokens: 4 });
    const u = usageOf(first[0]!.response!.body)!;
    assert.equal(s.cost.spent, costOf('gpt-4o', u.prompt_tokens, u.completion_tokens, undefined, 4));
    // The same question under another prompt_cache_key: answered from our cache.
    const again: ResultRecord[] = [];
    for await (const r of manager.run([{ ...req('tenant-2'), body: { ...req('tenant-2').body, messages: [{ role: 'user', content: 'a prompt of some length here' }] } } as LLMRequest])) again.push(r);
    assert.equal(again[0]!.cached, true);
    assert.equal(server.count, 1);
    provider.close?.();
  });
});
