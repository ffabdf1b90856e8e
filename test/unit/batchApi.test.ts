/**
 * Batch API mode against the loopback fake Files/Batches server: submission (splitting, cached and
 * repeated rows left out), polling, cancelling, and results joined back in input order with the
 * cache filled under the keys a live run uses.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { BatchApiClient, cancelJobs, fetchResults, readState, refreshJobs, statePathFor, submitBatch, waitForJobs } from '../../src/core/batchApi';
import { InMemoryCache } from '../../src/core/cache/memory';
import { computeRequestHash } from '../../src/core/hash';
import { RequestManager } from '../../src/core/manager';
import { batchPrices, costOf } from '../../src/core/pricing';
import { createProvider } from '../../src/core/providers';
import type { ResultRecord } from '../../src/core/types';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';

const KEY = 'sk-test-batch-0123456789abcdef';

const readRecords = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);
const answer = (r: ResultRecord) => (r.response?.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content;

describe('Batch API mode', () => {
  let api: FakeBatchApi;
  let dir: string;
  let client: BatchApiClient;
  let n = 0;
  const scope = () => createProvider({ apiKey: KEY, baseURL: api.url }).scope;
  const inputOf = (lines: string[], ext = 'txt') => {
    const p = join(dir, `in-${++n}.${ext}`);
    writeFileSync(p, lines.join('\n') + '\n');
    return p;
  };
  const fast = { minIntervalMs: 1, maxIntervalMs: 5 };

  before(async () => {
    api = await startFakeBatchApi();
    dir = mkdtempSync(join(tmpdir(), 'fastllm-batchapi-'));
    client = new BatchApiClient({ apiKey: KEY, baseURL: api.url });
  });
  after(async () => {
    await api.close();
  });
  beforeEach(() => {
    api.reset();
    api.plan = () => ({});
  });

  test('submit → complete → fetch: results in input order, cache filled, a later live run makes no call', async () => {
    const input = inputOf(['alpha', 'beta', '', 'gamma', 'delta']);
    const cache = new InMemoryCache();
    api.plan = () => ({ pollsBeforeDone: 2 });
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope(), cache });
    assert.equal(state.jobs.length, 1);
    assert.equal(api.counts['POST /v1/files'], 1);
    assert.equal(api.counts['POST /v1/batches'], 1);
    assert.ok(existsSync(statePathFor(input)), 'the state file is saved beside the input');
    const [job] = api.jobs();
    assert.equal(job!.batch.endpoint, '/v1/chat/completions');
    assert.equal(job!.batch.completion_window, '24h');
    assert.deepEqual(job!.lines.map((l) => l.custom_id), ['line-1', 'line-2', 'line-4', 'line-5']);
    assert.equal(job!.lines[0]!.url, '/v1/chat/completions');
    assert.ok(api.authHeaders.every((h) => h === `Bearer ${KEY}`));

    const polls: string[] = [];
    await waitForJobs(state, client, { ...fast, onPoll: (s) => void polls.push(s.jobs[0]!.status) });
    assert.deepEqual(polls, ['in_progress', 'in_progress', 'completed']);
    const summary = await fetchResults({ state, statePath: statePathFor(input), client, cache });
    assert.deepEqual([summary.records, summary.succeeded, summary.fromBatch], [4, 4, 4]);
    const records = readRecords(summary.out);
    assert.deepEqual(records.map((r) => r.line), [1, 2, 4, 5]);
    assert.deepEqual(records.map(answer), ['echo: alpha', 'echo: beta', 'echo: gamma', 'echo: delta']);
    assert.ok(records.every((r) => r.error === null && r.cached === false && r.response?.status_code === 200));
    assert.equal(await cache.count(), 4);
    assert.ok((await readState(statePathFor(input))).fetched);

    // Costs at batch prices: half of what the same tokens cost live.
    const live = records.reduce((sum, r) => {
      const u = (r.response!.body as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
      return sum + costOf('gpt-4o-mini', u.prompt_tokens, u.completion_tokens);
    }, 0);
    assert.ok(Math.abs(summary.stats.cost.spent - live / 2) < 1e-12, `${summary.stats.cost.spent} vs ${live / 2}`);

    // The live run of the same file, through the real provider and the same cache: zero calls.
    api.reset();
    const manager = new RequestManager({ provider: createProvider({ apiKey: KEY, baseURL: api.url }), cache });
    const { readBatch } = await import('../../src/core/batch/readers');
    const liveRecords: ResultRecord[] = [];
    for await (const r of manager.run(readBatch(input, { defaults: { model: 'gpt-4o-mini' } }))) liveRecords.push(r);
    assert.equal(api.counts['POST /v1/chat/completions'], undefined, 'no live call');
    assert.equal(manager.stats.snapshot().cacheHits, 4);
    assert.deepEqual(liveRecords.map(answer), records.map(answer));
  });

  test('splits into several jobs at the request and byte limits, and by model', async () => {
    const input = inputOf(Array.from({ length: 7 }, (_, i) => `row ${i}`));
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope(), maxRequests: 3 });
    assert.deepEqual(state.jobs.map((j) => j.requests), [3, 3, 1]);
    assert.deepEqual(api.jobs().slice(-3).map((j) => j.lines.length), [3, 3, 1]);
    await waitForJobs(state, client, fast);
    const summary = await fetchResults({ state, client });
    assert.deepEqual(readRecords(summary.out).map(answer), Array.from({ length: 7 }, (_, i) => `echo: row ${i}`));

    const bytesInput = inputOf(Array.from({ length: 6 }, (_, i) => `prompt ${i}`));
    const byBytes = await submitBatch({ input: bytesInput, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope(), maxBytes: 250 });
    assert.ok(byBytes.jobs.length >= 3, `${byBytes.jobs.length} jobs`);
    assert.ok(byBytes.jobs.every((j) => j.bytes <= 250));

    const mixed = inputOf(['{"prompt":"a","model":"gpt-4o"}', '{"prompt":"b","model":"gpt-4o-mini"}', '{"prompt":"c","model":"gpt-4o"}', '{"input":"d","model":"text-embedding-3-small"}'], 'jsonl');
    const byModel = await submitBatch({ input: mixed, client, scope: scope() });
    assert.deepEqual(byModel.jobs.map((j) => `${j.kind}:${j.model}:${j.requests}`), ['chat:gpt-4o:2', 'chat:gpt-4o-mini:1', 'embeddings:text-embedding-3-small:1']);
    assert.equal(api.jobs().at(-1)!.batch.endpoint, '/v1/embeddings');
    await waitForJobs(byModel, client, fast);
    const mixedSummary = await fetchResults({ state: byModel, client });
    const recs = readRecords(mixedSummary.out);
    assert.deepEqual(recs.map((r) => r.custom_id), ['line-1', 'line-2', 'line-3', 'line-4']);
    assert.equal((recs[3]!.response!.body as { object: string }).object, 'list');
  });

  test('rows already in the cache, and repeats of an earlier row, are not sent', async () => {
    const cache = new InMemoryCache();
    const sc = scope();
    const first = inputOf(['one', 'two']);
    const s1 = await submitBatch({ input: first, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: sc, cache });
    await waitForJobs(s1, client, fast);
    await fetchResults({ state: s1, client, cache });

    const input = inputOf(['one', 'three', 'two', 'three', 'four']);
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: sc, cache });
    assert.deepEqual([state.rows, state.cachedRows, state.repeatRows], [5, 2, 1]);
    assert.deepEqual(api.jobs().at(-1)!.lines.map((l) => l.custom_id), ['line-2', 'line-5']);
    await waitForJobs(state, client, fast);
    // Fetched (and saved as fetched): submitting the same file again is allowed.
    const summary = await fetchResults({ state, statePath: statePathFor(input), client, cache });
    const records = readRecords(summary.out);
    assert.deepEqual(records.map(answer), ['echo: one', 'echo: three', 'echo: two', 'echo: three', 'echo: four']);
    assert.deepEqual(records.map((r) => r.cached), [true, false, true, true, false]);
    assert.deepEqual([summary.stats.cacheHits, summary.stats.dedupHits, summary.fromBatch], [2, 1, 2]);

    // Everything cached: no job at all, and fetch answers every row from the cache.
    const again = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: sc, cache });
    assert.equal(again.jobs.length, 0);
    const all = await fetchResults({ state: again, client, cache });
    assert.equal(all.succeeded, 5);
  });

  test('a job that expires with part of its rows done: answers kept, the rest batch_expired', async () => {
    for (const expiredInErrorFile of [false, true]) {
      api.plan = () => ({ finalStatus: 'expired', answered: 2, pollsBeforeDone: 1, expiredInErrorFile });
      const input = inputOf(['a', 'b', 'c', 'd']);
      const cache = new InMemoryCache();
      const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope(), cache });
      await waitForJobs(state, client, fast);
      assert.equal(state.jobs[0]!.status, 'expired');
      const summary = await fetchResults({ state, client, cache });
      const records = readRecords(summary.out);
      assert.deepEqual(records.map((r) => r.error?.code ?? answer(r)), ['echo: a', 'echo: b', 'batch_expired', 'batch_expired']);
      assert.deepEqual(summary.errors, { batch_expired: 2 });
      assert.equal(await cache.count(), 2, 'only answers are cached');
    }
  });

  test('a job with an error file: failed rows carry the error, in place', async () => {
    api.plan = () => ({ rowError: (l) => (l.custom_id === 'line-2' ? { status: 400, code: 'context_length_exceeded', message: 'Too long (fake).' } : undefined) });
    const input = inputOf(['x', 'y', 'z']);
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope() });
    await waitForJobs(state, client, fast);
    assert.ok(state.jobs[0]!.errorFileId);
    const summary = await fetchResults({ state, client });
    const [a, b, c] = readRecords(summary.out);
    assert.equal(answer(a!), 'echo: x');
    assert.deepEqual(b!.error, { code: 'context_length_exceeded', message: 'Too long (fake).' });
    assert.equal(b!.response?.status_code, 400);
    assert.equal(answer(c!), 'echo: z');
    assert.equal(summary.failed, 1);
  });

  test('a failed job: every row gets batch_failed with the job error', async () => {
    api.plan = () => ({ finalStatus: 'failed' });
    const state = await submitBatch({ input: inputOf(['p', 'q']), reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope() });
    await waitForJobs(state, client, fast);
    const summary = await fetchResults({ state, client });
    const records = readRecords(summary.out);
    assert.deepEqual(records.map((r) => r.error?.code), ['batch_failed', 'batch_failed']);
    assert.match(records[0]!.error!.message, /invalid_request/);
  });

  test('cancel: the job ends cancelled, rows done before are kept, the rest batch_cancelled', async () => {
    api.plan = () => ({ pollsBeforeDone: 100, answered: 1 });
    const input = inputOf(['m', 'n', 'o']);
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope() });
    await refreshJobs(state, client);
    assert.equal(state.jobs[0]!.status, 'in_progress');
    await assert.rejects(fetchResults({ state, client }), /Not finished yet/);
    assert.deepEqual(await cancelJobs(state, client), [state.jobs[0]!.id]);
    assert.equal(state.jobs[0]!.status, 'cancelling');
    await waitForJobs(state, client, fast);
    assert.equal(state.jobs[0]!.status, 'cancelled');
    assert.deepEqual(await cancelJobs(state, client), [], 'nothing left to cancel');
    const records = readRecords((await fetchResults({ state, client })).out);
    assert.deepEqual(records.map((r) => r.error?.code ?? answer(r)), ['echo: m', 'batch_cancelled', 'batch_cancelled']);
  });

  test('invalid rows get their reader error in place and are not sent', async () => {
    const input = inputOf(['{"prompt":"ok"}', '{not json', '"fine"'], 'jsonl');
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope() });
    assert.equal(state.invalidRows, 1);
    assert.equal(api.jobs().at(-1)!.lines.length, 2);
    await waitForJobs(state, client, fast);
    const records = readRecords((await fetchResults({ state, client })).out);
    assert.deepEqual(records.map((r) => r.error?.code ?? answer(r)), ['echo: ok', 'invalid_input', 'echo: fine']);
  });

  test('cache keys are the live ones: computeRequestHash with the provider scope', async () => {
    const input = inputOf(['key check']);
    const cache = new InMemoryCache();
    const sc = scope();
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: sc, cache });
    await waitForJobs(state, client, fast);
    await fetchResults({ state, client, cache });
    const { readBatch } = await import('../../src/core/batch/readers');
    for await (const item of readBatch(input, { defaults: { model: 'gpt-4o-mini' } })) {
      assert.notEqual(item.kind, 'invalid');
      if (item.kind !== 'invalid') assert.ok(await cache.has(computeRequestHash(item, sc)));
    }
  });

  test('a server error on submit says what happened, with the key masked', async () => {
    const bad = new BatchApiClient({ apiKey: KEY, baseURL: `${api.url}/nope` });
    await assert.rejects(submitBatch({ input: inputOf(['z']), reader: { defaults: { model: 'm' } }, client: bad, scope: scope() }), (e: Error) => {
      assert.match(e.message, /HTTP 404/);
      assert.ok(!e.message.includes(KEY));
      return true;
    });
  });

  test('batchPrices halves every price', () => {
    const half = batchPrices({ m: { input: 2, output: 8 } });
    assert.deepEqual(half, { m: { input: 1, output: 4 } });
    assert.equal(costOf('gpt-4o-mini', 1e6, 1e6, batchPrices()), costOf('gpt-4o-mini', 1e6, 1e6) / 2);
  });

  test('Azure OpenAI (classic API): files and batches under /openai with api-version and api-key, the deployment as every line\'s model', async () => {
    const azureApi = await startFakeBatchApi({ azure: { apiVersion: '2024-10-21', deployment: 'gpt-4o-mini-batch' } });
    try {
      // A local URL is not recognised as Azure's, so say it (a *.openai.azure.com URL is detected).
      const azure = { apiVersion: '2024-10-21' };
      const az = new BatchApiClient({ apiKey: KEY, baseURL: azureApi.url, azure });
      assert.equal(az.deployment, 'gpt-4o-mini-batch');
      assert.equal(az.endpointUrl('chat'), '/chat/completions');
      const detected = new BatchApiClient({ apiKey: KEY, baseURL: 'https://res.openai.azure.com/openai/deployments/dep%201/' });
      assert.deepEqual([detected.azure, detected.deployment, detected.baseURL], [azure, 'dep 1', 'https://res.openai.azure.com/openai']);
      assert.equal(new BatchApiClient({ apiKey: KEY, baseURL: 'https://res.openai.azure.com/openai/v1' }).azure, undefined, 'the v1 API is plain OpenAI');

      const input = inputOf(['uno', 'dos', 'tres']);
      const cache = new InMemoryCache();
      const liveScope = createProvider({ apiKey: KEY, baseURL: azureApi.url, azure }).scope;
      // Rows name a model of their own: on an Azure deployment the line names the deployment.
      const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client: az, scope: liveScope, cache });
      assert.equal(state.jobs.length, 1);
      assert.equal(state.jobs[0]!.model, 'gpt-4o-mini-batch');
      const [job] = azureApi.jobs();
      assert.equal(job!.batch.endpoint, '/chat/completions');
      assert.deepEqual(job!.lines.map((l) => [l.url, l.body.model]), [['/chat/completions', 'gpt-4o-mini-batch'], ['/chat/completions', 'gpt-4o-mini-batch'], ['/chat/completions', 'gpt-4o-mini-batch']]);
      assert.ok(azureApi.authHeaders.length > 0 && azureApi.authHeaders.every((h) => h === KEY), 'the key went in api-key');

      await waitForJobs(state, az, fast);
      const summary = await fetchResults({ state, client: az, cache });
      assert.deepEqual([summary.records, summary.succeeded], [3, 3]);
      assert.deepEqual(readRecords(summary.out).map(answer), ['echo: uno', 'echo: dos', 'echo: tres']);
      assert.equal(azureApi.counts['GET /v1/files/:id/content'], 1);
      // Cached under the key a live run on that deployment computes.
      const { readBatch } = await import('../../src/core/batch/readers');
      for await (const item of readBatch(input, { defaults: { model: 'gpt-4o-mini' } })) {
        if (item.kind !== 'invalid') assert.ok(await cache.has(computeRequestHash(item, liveScope)));
      }

      // Without Azure's conventions the same server refuses every call.
      const plain = new BatchApiClient({ apiKey: KEY, baseURL: azureApi.url.replace(/\/deployments\/.*$/, '') });
      await assert.rejects(submitBatch({ input: inputOf(['x']), reader: { defaults: { model: 'm' } }, client: plain, scope: liveScope }), /HTTP 404/);
    } finally {
      await azureApi.close();
    }
  });
});
