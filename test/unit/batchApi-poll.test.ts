/**
 * Following Batch API jobs (src/core/batchApi/poll.ts) on a fake clock: the wait between polls
 * doubles while nothing changes and falls back after a change; a failed poll (502, reset, 500,
 * 429 with retry-after) is retried with back-off; a long stretch of failures, or a failure that
 * cannot pass, ends the wait with a message that says so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { BatchApiClient, BatchApiError, nextPollInterval, refreshJobs, submitBatch, waitForJobs, withRetries, type BatchState, type Clock } from '../../src/core/batchApi';
import { createProvider } from '../../src/core/providers';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';

/** A clock whose sleeps return at once and move its time on; `sleeps` lists every wait asked for. */
function fakeClock(): Clock & { sleeps: number[] } {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

describe('Batch API polling', () => {
  let api: FakeBatchApi;
  let client: BatchApiClient;
  let dir: string;
  let n = 0;
  const submit = async (rows: string[], maxRequests = 50): Promise<BatchState> => {
    const input = join(dir, `in-${++n}.txt`);
    writeFileSync(input, rows.join('\n') + '\n');
    return submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: createProvider({ apiKey: 'k', baseURL: api.url }).scope, maxRequests });
  };

  before(async () => {
    api = await startFakeBatchApi();
    client = new BatchApiClient({ apiKey: 'sk-poll', baseURL: api.url });
    dir = mkdtempSync(join(tmpdir(), 'fastllm-batch-poll-'));
  });
  after(() => api.close());
  beforeEach(() => {
    api.reset();
    api.plan = () => ({});
  });

  test('the wait doubles while nothing changes, falls back to the minimum after a change, and stops at the maximum', async () => {
    // Job A ends on its 3rd poll, job B on its 7th: poll 1 (both start), poll 3 (A ends) change something.
    const quick = new Set(['a', 'c']);
    api.plan = (_i, lines) => ({ pollsBeforeDone: quick.has(String((lines[0]!.body as { messages: { content: string }[] }).messages[0]!.content)) ? 2 : 6 });
    const state = await submit(['a', 'b'], 1);
    const clock = fakeClock();
    await waitForJobs(state, client, { minIntervalMs: 10, maxIntervalMs: 1000, clock });
    assert.deepEqual(clock.sleeps, [10, 20, 10, 20, 40, 80]);
    assert.deepEqual(state.jobs.map((j) => j.status), ['completed', 'completed']);

    const capped = await submit(['c', 'd'], 1);
    const clock2 = fakeClock();
    await waitForJobs(capped, client, { minIntervalMs: 10, maxIntervalMs: 30, clock: clock2 });
    assert.deepEqual(clock2.sleeps, [10, 20, 10, 20, 30, 30]);
  });

  test('nextPollInterval: minimum after a change, else doubled up to the maximum', () => {
    assert.equal(nextPollInterval(80, true, 10, 100), 10);
    assert.equal(nextPollInterval(10, false, 10, 100), 20);
    assert.equal(nextPollInterval(80, false, 10, 100), 100);
  });

  test('a failed poll (502, reset, 500, 429 with retry-after) is retried with back-off, and the wait goes on', async () => {
    api.plan = () => ({ pollsBeforeDone: 2 });
    const state = await submit(['x']);
    api.inject('GET /v1/batches/:id', null, 502, 'reset', 500, { status: 429, retryAfter: '7' });
    const clock = fakeClock();
    const retries: string[] = [];
    await waitForJobs(state, client, {
      minIntervalMs: 100,
      maxIntervalMs: 10_000,
      clock,
      retry: { random: () => 0, onRetry: (e, attempt, wait) => retries.push(`${attempt}:${e.status ?? e.code}:${wait}`) },
    });
    assert.equal(state.jobs[0]!.status, 'completed');
    assert.deepEqual(api.pendingFaults, {}, 'every fault was met');
    // Equal-jitter back-off with the jitter at 0: half of 100·2^(n-1); the 429's 7 s win over its 400 ms.
    assert.deepEqual(retries, ['1:502:50', '2:connection_error:100', '3:500:200', '4:429:7000']);
    // Poll 1 (validating → in_progress) changed something; then the four retries; then the normal waits.
    assert.deepEqual(clock.sleeps, [100, 50, 100, 200, 7000, 200]);
  });

  test('after a long stretch of failures the wait gives up, saying for how long and what the last failure was', async () => {
    const state = await submit(['y']);
    api.inject('GET /v1/batches/:id', ...Array.from({ length: 100 }, () => 502 as const));
    const clock = fakeClock();
    await assert.rejects(waitForJobs(state, client, { minIntervalMs: 100, maxIntervalMs: 400, clock, retry: { giveUpAfterMs: 2000 } }), (e: BatchApiError) => {
      assert.match(e.message, /^poll batch_\w+: gave up after \d+ failed attempts over 2 s; the last said: GET \/batches\/batch_\w+: HTTP 502/);
      return true;
    });
    assert.ok(clock.now() >= 2000 && clock.now() < 2500, `gave up at ${clock.now()} ms`);
    assert.ok(api.counts['GET /v1/batches/:id']! >= 6, `${api.counts['GET /v1/batches/:id']} polls`);
  });

  test('a failure that cannot pass (404, 401) ends the wait at once', async () => {
    const state = await submit(['z']);
    api.inject('GET /v1/batches/:id', { status: 401 });
    const clock = fakeClock();
    await assert.rejects(waitForJobs(state, client, { minIntervalMs: 10, clock }), /HTTP 401/);
    assert.equal(api.counts['GET /v1/batches/:id'], 1);
    assert.deepEqual(clock.sleeps, []);
  });

  test('refreshJobs without retry options makes one attempt (the editor polls again on its own timer)', async () => {
    const state = await submit(['w']);
    api.inject('GET /v1/batches/:id', 502);
    await assert.rejects(refreshJobs(state, client), /HTTP 502/);
    assert.equal(await refreshJobs(state, client), true);
  });

  test('withRetries stops waiting when its signal aborts', async () => {
    const abort = new AbortController();
    let calls = 0;
    const failing = () => {
      calls++;
      if (calls === 2) abort.abort();
      return Promise.reject(new BatchApiError('HTTP 503', 503, 'http_503'));
    };
    await assert.rejects(withRetries('call', failing, { signal: abort.signal, baseMs: 1 }), /HTTP 503|Cancelled/);
    assert.equal(calls, 2);
  });
});
