/**
 * The RequestManager against a loopback server that limits rates as providers document it
 * (test/support/fakeRateLimits.ts): pacing under per-second windows, limits learned from headers,
 * AIMD when the server says nothing, rate limits that never fail a row while the run makes
 * progress, the quota stop, 403s, and `concurrency: 'auto'`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RequestManager, RunStoppedError, type RequestManagerOptions } from '../../src/core/manager';
import { createProvider } from '../../src/core/providers';
import type { Provider } from '../../src/core/providers/provider';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { quotaErrorBody, startFakeServer, type FakeServer } from '../support/fakeServer';
import { ScriptedProvider } from '../support/scriptedProvider';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function rows(n: number, tag: string, extra: Record<string, unknown> = {}): LLMRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: 'chat' as const,
    custom_id: `line-${i + 1}`,
    line: i + 1,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: `${tag} ${i}` }], ...extra },
  }));
}

interface Outcome {
  records: ResultRecord[];
  stopped?: RunStoppedError;
  manager: RequestManager;
  logs: string[];
}

let server: FakeServer;
let provider: Provider;
before(async () => {
  server = await startFakeServer();
  provider = createProvider({ apiKey: 'sk-test', baseURL: server.url });
});
after(async () => {
  provider.close?.();
  await server.close();
});

async function run(items: LLMRequest[], options: Partial<RequestManagerOptions> = {}): Promise<Outcome> {
  const logs: string[] = [];
  const logger = { debug() {}, info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  const manager = new RequestManager({ provider, concurrency: 16, retryBaseMs: 20, retryMaxMs: 200, logger, ...options });
  const records: ResultRecord[] = [];
  try {
    for await (const r of manager.run(items)) records.push(r);
    return { records, manager, logs };
  } catch (e) {
    if (!(e instanceof RunStoppedError)) throw e;
    return { records, stopped: e, manager, logs };
  }
}

/** Every row has exactly one record, in input order. */
function assertOneEach(records: ResultRecord[], n: number): void {
  assert.deepEqual(records.map((r) => r.line), Array.from({ length: n }, (_, i) => i + 1));
}


describe('RequestManager and rate limits as providers enforce them', () => {
  test("Azure's 1-second window: with the user's --rpm, even pacing draws no 429 and fails no row", async () => {
    server.reset();
    // 600 a minute, and at most 11 in any second (Azure evaluates RPM over 1 s windows).
    server.behavior = { rateLimit: { style: 'azure', rpm: 600, shortWindows: [{ windowMs: 1000, requests: 11 }] } };
    const { records } = await run(rows(25, 'azure'), { rpm: 600, concurrency: 50 });
    assertOneEach(records, 25);
    assert.ok(records.every((r) => r.error === null), JSON.stringify(records.find((r) => r.error)?.error));
    assert.equal(server.count, 25, `${server.count - 25} requests were refused with 429`);
  });

  test('headers only, no --rpm: the limit is learned from x-ratelimit-* and paced to; no row fails', async () => {
    server.reset();
    // 1200 a minute, quantized to a bucket of one second's worth (20).
    server.behavior = { rateLimit: { rpm: 1200, quantumMs: 1000 } };
    const { records, manager } = await run(rows(60, 'learn'), { concurrency: 8, maxRetries: 0 });
    assertOneEach(records, 60);
    assert.ok(records.every((r) => r.error === null));
    const s = manager.stats.snapshot();
    assert.equal(s.rpm.limit, 1200, 'the limit in force is the server\'s');
    assert.equal(s.pacing.source, 'server');
    assert.ok(server.count - 60 <= 3, `${server.count - 60} 429s`);
  });

  test('429s with neither headers nor retry-after: the run slows down (AIMD), and no row fails for it', async () => {
    server.reset();
    server.behavior = { rateLimit: { style: 'none', rpm: 600, shortWindows: [{ windowMs: 1000, requests: 10 }] } };
    // maxRetries 1: were 429s counted against it, rows would fail.
    const { records, manager, logs } = await run(rows(30, 'aimd'), { concurrency: 16, maxRetries: 1 });
    assertOneEach(records, 30);
    assert.ok(records.every((r) => r.error === null), JSON.stringify(records.find((r) => r.error)?.error));
    assert.ok(manager.stats.snapshot().throttled > 0, 'the server did refuse some');
    assert.ok(logs.some((l) => /dispatch slowed to/.test(l)), logs.join('\n'));
    assert.ok(records.some((r) => r.attempts > 2), 'a row was retried more often than maxRetries allows for other failures');
  });

  test('a run that makes no progress at all gives up after rateLimitGiveUpMs; every row gets rate_limited', async () => {
    server.reset();
    server.behavior = { plan: () => ({ status: 429 }) };
    const { records, stopped } = await run(rows(12, 'stuck'), { concurrency: 4, rateLimitGiveUpMs: 400 });
    // Rows read before the stop, in order (runBatch writes the rows never read).
    assert.ok(records.length >= 4);
    records.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.equal(stopped?.code, 'rate_limited');
    assert.match(stopped!.message, /no request has succeeded for \d+ s/);
    assert.ok(records.every((r) => r.error?.code === 'rate_limited'), JSON.stringify(records.map((r) => r.error?.code)));
  });

  test('a retry-after longer than the give-up time stops at once, saying so', async () => {
    server.reset();
    server.behavior = { plan: () => ({ status: 429, retryAfter: 3600 }) };
    const t = Date.now();
    const { records, stopped } = await run(rows(3, 'wait'), { concurrency: 1, rateLimitGiveUpMs: 60_000 });
    assert.ok(Date.now() - t < 5000);
    assert.equal(stopped?.code, 'rate_limited');
    assert.match(stopped!.message, /asks to wait 3600 s/);
    assert.ok(records.length >= 1 && records.every((r) => r.error?.code === 'rate_limited'));
  });

  test('insufficient_quota stops the run at once: no more requests than were in flight, a record for every row', { timeout: 20_000 }, async () => {
    server.reset();
    server.behavior = { latencyMs: 20, plan: () => ({ status: 429, body: quotaErrorBody() }) };
    const { records, stopped } = await run(rows(50, 'quota'), { concurrency: 4 });
    assert.equal(stopped?.code, 'insufficient_quota');
    assert.match(stopped!.message, /no quota left.*billing/);
    assert.ok(server.count <= 4, `${server.count} requests`);
    assert.ok(records.length >= 1);
    records.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.ok(records.every((r) => ['insufficient_quota', 'run_stopped'].includes(r.error?.code ?? '')));
  });

  test('a 403 for one prompt (moderation) is that row\'s error; the run goes on', async () => {
    server.reset();
    const flagged = { error: { code: 403, message: 'Your input was flagged by the moderation model: harassment' } };
    server.behavior = { plan: ({ body }) => (JSON.stringify(body).includes('mod 3"') ? { status: 403, body: flagged } : undefined) };
    const { records, stopped } = await run(rows(10, 'mod'), { concurrency: 2 });
    assert.equal(stopped, undefined);
    assertOneEach(records, 10);
    assert.equal(records.filter((r) => r.error).length, 1);
    assert.match(records[3]!.error!.message, /flagged/);
    assert.equal(server.count, 10, 'not retried');
  });

  test('a 403 about the key, or 403s for each of the first three requests, stops the run', async () => {
    server.reset();
    server.behavior = { plan: () => ({ status: 403 }) }; // OpenAI's unsupported_country_region_territory
    let out = await run(rows(20, 'k'), { concurrency: 2 });
    assert.equal(out.stopped?.code, 'auth_failed');
    assert.ok(server.count <= 3);

    server.reset();
    const opaque = { error: { message: 'Forbidden', code: null, type: null } };
    server.behavior = { latencyMs: 5, plan: () => ({ status: 403, body: opaque }) };
    out = await run(rows(20, 'o'), { concurrency: 1 });
    assert.equal(out.stopped?.code, 'auth_failed');
    assert.match(out.stopped!.message, /first 3 requests/);
    assert.equal(server.count, 3);
  });

  test('--tpm with max_tokens far above the answers: charges are not lowered to usage, so no 429', async () => {
    server.reset();
    // 6000 tokens per 3 s (2000 a second), in OpenAI's bucket. Rows: ~3 prompt tokens, max_tokens 200, answers of ~4.
    server.behavior = { rateLimit: { tpm: 6000, windowMs: 3000, quantumMs: 1000 } };
    const { records } = await run(rows(24, 'short', { max_tokens: 200 }), { tpm: 6000, rateWindowMs: 3000, concurrency: 24 });
    assertOneEach(records, 24);
    assert.ok(records.every((r) => r.error === null));
    assert.equal(server.count, 24, `${server.count - 24} 429s`);
  });

  test('special tokens in a prompt under --tpm are counted as text, not a crash', async () => {
    server.reset();
    const items = rows(3, 'x');
    items[1]!.body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say <|endoftext|> and <|fim_prefix|>' }] };
    const { records } = await run(items, { tpm: 1_000_000 });
    assertOneEach(records, 3);
    assert.ok(records.every((r) => r.error === null), JSON.stringify(records[1]!.error));
  });

  test('an unexpected error in one row becomes its internal_error record; the others finish', { timeout: 20_000 }, async () => {
    server.reset();
    const items = rows(4, 'y');
    (items[2]!.body as Record<string, unknown>).seed = 10n; // a BigInt: no JSON form, the hash throws
    const { records } = await run(items);
    assertOneEach(records, 4);
    assert.equal(records[2]!.error?.code, 'internal_error');
    assert.equal(records.filter((r) => r.error === null).length, 3);
  });

  test('a manager reused after its consumer stopped early runs again, and the first input was closed', { timeout: 20_000 }, async () => {
    server.reset();
    server.behavior = { latencyMs: (i) => (i === 0 ? 5 : 300) };
    const manager = new RequestManager({ provider, concurrency: 2 });
    let closed = false;
    async function* input() {
      try {
        yield* rows(20, 'same');
      } finally {
        closed = true;
      }
    }
    for await (const r of manager.run(input())) {
      assert.equal(r.error, null);
      break; // the consumer stops after one record, with calls in flight and rows queued
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(closed, 'the input was closed');
    server.behavior = {};
    const again: ResultRecord[] = [];
    const t = Date.now();
    for await (const r of manager.run(rows(20, 'same'))) again.push(r);
    assert.ok(Date.now() - t < 5000);
    assertOneEach(again, 20);
    assert.ok(again.every((r) => r.error === null));
  });

  test("concurrency 'auto' tunes the calls in flight while the run goes, and shows what is in force", { timeout: 60_000 }, async () => {
    // Finding the knee is tested in virtual time (concurrency.test.ts) and measured in `npm run
    // bench` (scenario 7); here, that the manager follows the tuner. A GPU-like server: capacity 8.
    server.reset();
    server.behavior = { gpu: { capacity: 8, baseMs: 30 } };
    const { records, manager, logs } = await run(rows(600, 'gpu'), { concurrency: 'auto' });
    assertOneEach(records, 600);
    const s = manager.stats.snapshot();
    assert.equal(s.pacing.autoConcurrency, true);
    const changes = logs.filter((l) => /^Concurrency \d+ \(auto: /.test(l)).map((l) => Number(/^Concurrency (\d+)/.exec(l)![1]));
    assert.ok(changes.length >= 2, logs.join(' | '));
    assert.equal(s.pacing.concurrency, changes[changes.length - 1], 'the statistics show the concurrency in force');
    // The server never saw more in flight than the tuner allowed at its highest.
    assert.ok(server.maxInFlight <= Math.max(4, ...changes), `max in flight ${server.maxInFlight}, limits ${changes.join(',')}`);
  });
});

describe('the first round (few calls in flight until the server has answered once)', () => {
  test("a 429 with retry-after as the first reply: the calls the first reply lets in wait out the pause", async () => {
    // The first call is refused at once with `retry-after-ms: 300`; the others answer after 50 ms.
    // The first reply widens the window from 4 calls to 8: the calls it lets in must meet the
    // pause, not slip out before the manager has read the 429.
    const scripted = new ScriptedProvider(({ index }) =>
      index === 0 ? { fail: { status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after-ms': '300' } } } : { latencyMs: 50 },
    );
    const manager = new RequestManager({ provider: scripted, concurrency: 8, retryBaseMs: 20, retryMaxMs: 200, logger: silent });
    const records: ResultRecord[] = [];
    for await (const r of manager.run(rows(12, 'first round'))) records.push(r);
    assertOneEach(records, 12);
    assert.ok(records.every((r) => r.error === null));
    // Which calls began after the 429 was given is read from the order of events, not from the
    // clock: on a loaded machine the first round's own calls may begin a few ms after the refusal
    // by the clock, though they were sent before it came back. Every call begun after it must wait
    // out the pause, counted from the refusal (the manager reads it a moment later still).
    const refused = scripted.calls[0]!;
    const after = scripted.calls.filter((c) => c.seq > refused.endSeq!);
    assert.ok(after.length >= 8, `${after.length} calls began after the 429`);
    const during = after.filter((c) => c.at < refused.endedAt! + 290);
    assert.deepEqual(during.map((c) => `${c.prompt} at +${c.at - refused.endedAt!} ms`), [], 'calls began during the 300 ms pause');
  });
});
