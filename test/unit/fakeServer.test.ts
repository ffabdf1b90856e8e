// The fake OpenAI server every provider test and benchmark relies on: its answers, knobs and counters.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { estimateTokens, fakeEmbedding, formatResetDuration, startFakeServer, type FakeServer } from '../support/fakeServer';

const chatBody = (text: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: text }],
  ...extra,
});

async function post(server: FakeServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

void describe('fake OpenAI server', () => {
  let server: FakeServer;
  before(async () => {
    server = await startFakeServer();
  });
  afterEach(() => {
    server.behavior = {};
    server.reset();
  });
  after(() => server.close());

  void it('answers chat deterministically, with usage and a request id', async () => {
    const r = await post(server, '/chat/completions', chatBody('hello world'));
    assert.equal(r.status, 200);
    const body = r.json() as { choices: { message: { content: string } }[]; usage: Record<string, number> };
    assert.equal(body.choices[0].message.content, 'echo: hello world');
    assert.deepEqual(body.usage, {
      // One message: 3 tokens of framing, and 3 more to prime the reply (OpenAI's count).
      prompt_tokens: estimateTokens('hello world') + 6,
      completion_tokens: estimateTokens('echo: hello world'),
      total_tokens: estimateTokens('hello world') + 6 + estimateTokens('echo: hello world'),
    });
    assert.equal(r.headers.get('x-request-id'), 'req_fake0');
    assert.equal(server.count, 1);
    assert.deepEqual(server.requests[0].body, chatBody('hello world'));
    assert.equal(server.countByPath['/v1/chat/completions'], 1);
  });

  void it('truncates at max_tokens with finish_reason length', async () => {
    const r = await post(server, '/chat/completions', chatBody('a'.repeat(100), { max_tokens: 2 }));
    const choice = (r.json() as { choices: { message: { content: string }; finish_reason: string }[] }).choices[0];
    assert.equal(choice.message.content.length, 8);
    assert.equal(choice.finish_reason, 'length');
  });

  void it('streams SSE chunks, a usage chunk when asked, then [DONE]', async () => {
    const r = await post(server, '/chat/completions', chatBody('one two three', { stream: true, stream_options: { include_usage: true } }));
    assert.match(r.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = r.text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: { delta: { content?: string }; finish_reason: string | null }[]; usage: unknown });
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    assert.equal(text, 'echo: one two three');
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.ok(chunks.at(-1)?.usage);
  });

  void it('answers embeddings with deterministic unit vectors of the asked dimensions', async () => {
    const r = await post(server, '/embeddings', { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 4 });
    const body = r.json() as { data: { embedding: number[]; index: number }[]; usage: { prompt_tokens: number } };
    assert.equal(body.data.length, 2);
    assert.deepEqual(body.data[0].embedding, fakeEmbedding('a', 4));
    assert.ok(Math.abs(Math.hypot(...body.data[1].embedding) - 1) < 1e-9);
    assert.equal(body.usage.prompt_tokens, 2);
    const dflt = (await post(server, '/embeddings', { model: 'm', input: 'x' })).json() as { data: { embedding: number[] }[] };
    assert.equal(dflt.data[0].embedding.length, 8);
    const b64 = (await post(server, '/embeddings', { model: 'm', input: 'x', encoding_format: 'base64' })).json() as { data: { embedding: string }[] };
    const floats = new Float32Array(Uint8Array.from(Buffer.from(b64.data[0].embedding, 'base64')).buffer);
    assert.ok(Math.abs(floats[0] - fakeEmbedding('x', 8)[0]) < 1e-6);
  });

  void it('lists models, and 404s unknown paths in OpenAI shape', async () => {
    const models = (await (await fetch(`${server.url}/models`)).json()) as { data: { id: string }[] };
    assert.ok(models.data.some((m) => m.id === 'gpt-4o-mini'));
    const r = await post(server, '/nope', {});
    assert.equal(r.status, 404);
    assert.equal((r.json().error as { code: string }).code, 'model_not_found');
  });

  void it('requireKey answers 401 with an OpenAI error when the bearer differs', async () => {
    server.setBehavior({ requireKey: 'sk-right-key-000' });
    const bad = await post(server, '/chat/completions', chatBody('x'), { authorization: 'Bearer sk-wrong-key-1234' });
    assert.equal(bad.status, 401);
    const err = bad.json().error as { message: string; type: string; code: string };
    assert.match(err.message, /^Incorrect API key provided/);
    assert.equal(err.type, 'invalid_request_error');
    assert.equal(err.code, 'invalid_api_key');
    const good = await post(server, '/chat/completions', chatBody('x'), { authorization: 'Bearer sk-right-key-000' });
    assert.equal(good.status, 200);
  });

  void it('failFirst fails the first attempts of each distinct body', async () => {
    server.setBehavior({ failFirst: 2 });
    const statuses = [];
    for (const text of ['a', 'a', 'b', 'a', 'b', 'b']) statuses.push((await post(server, '/chat/completions', chatBody(text))).status);
    assert.deepEqual(statuses, [500, 500, 500, 200, 500, 200]);
  });

  void it('plan actions: 429 with retry headers, custom body, reset, badJson', async () => {
    server.behavior.plan = ({ index }) =>
      [
        { status: 429 as const, retryAfter: 2, retryAfterMs: 1500 },
        { status: 400 as const, body: { error: { message: 'custom', type: 't', code: 'c' } } },
        { badJson: true as const },
        { reset: true as const },
      ][index];
    const r429 = await post(server, '/chat/completions', chatBody('x'));
    assert.equal(r429.status, 429);
    assert.equal(r429.headers.get('retry-after'), '2');
    assert.equal(r429.headers.get('retry-after-ms'), '1500');
    const custom = await post(server, '/chat/completions', chatBody('x'));
    assert.equal(custom.status, 400);
    assert.deepEqual(custom.json(), { error: { message: 'custom', type: 't', code: 'c' } });
    const bad = await post(server, '/chat/completions', chatBody('x'));
    assert.equal(bad.status, 200);
    assert.throws(() => bad.json());
    await assert.rejects(post(server, '/chat/completions', chatBody('x')));
    assert.equal(server.count, 4);
  });

  void it('measures concurrency: maxInFlight and inFlight', async () => {
    // Long enough that all 20 connections are open before the first answer goes out.
    server.setBehavior({ latencyMs: 300 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => post(server, '/chat/completions', chatBody(`c${i}`))));
    assert.equal(server.maxInFlight, 20);
    // The server sees a response close just after the client has read it.
    for (let i = 0; i < 50 && server.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(server.inFlight, 0);
  });

  void it('latency may be a function of the request index', async () => {
    const seen: number[] = [];
    server.setBehavior({ latencyMs: (i) => (seen.push(i), 1) });
    await post(server, '/chat/completions', chatBody('a'));
    await post(server, '/embeddings', { model: 'm', input: 'a' });
    assert.deepEqual(seen, [0, 1]);
  });

  void it('OpenAI style: a token bucket, x-ratelimit headers on every reply, 429 with retry-after', async () => {
    // 3 a window of 6 s: the bucket holds 3 and gets one back every 2 s.
    server.setBehavior({ rateLimit: { rpm: 3, windowMs: 6000 } });
    const remaining = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(server, '/chat/completions', chatBody(`r${i}`));
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
      assert.match(r.headers.get('x-ratelimit-reset-requests') ?? '', /^\d(\.\d+)?s$/);
      remaining.push(r.headers.get('x-ratelimit-remaining-requests'));
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    const limited = await post(server, '/chat/completions', chatBody('r3'));
    assert.equal(limited.status, 429);
    assert.equal((limited.json().error as { code: string }).code, 'rate_limit_exceeded');
    const waitMs = Number(limited.headers.get('retry-after-ms'));
    assert.ok(waitMs > 0 && waitMs <= 2000, `retry-after-ms ${waitMs}`);
    assert.equal(limited.headers.get('retry-after'), String(Math.ceil(waitMs / 1000)));
    await new Promise((r) => setTimeout(r, waitMs + 5));
    assert.equal((await post(server, '/chat/completions', chatBody('r4'))).status, 200);
  });

  void it('rate-limits tokens, charging max_tokens at admission; the bucket refills at the per-minute rate', async () => {
    server.setBehavior({ rateLimit: { tpm: 100 } });
    const first = await post(server, '/chat/completions', chatBody('hi', { max_tokens: 60 }));
    assert.equal(first.status, 200);
    const charge = 60 + estimateTokens('hi') + 6;
    assert.equal(first.headers.get('x-ratelimit-remaining-tokens'), String(100 - charge));
    // Full again after the charge has dripped back in at 100 tokens a minute: a Go duration.
    assert.match(first.headers.get('x-ratelimit-reset-tokens') ?? '', /^40(\.\d+)?s$/);
    const second = await post(server, '/chat/completions', chatBody('hi', { max_tokens: 60 }));
    assert.equal(second.status, 429);
    // It needs 67 tokens and 33 are left: (67 - 33) tokens at 100 a minute is about 20.4 s.
    const wait = Number(second.headers.get('retry-after-ms'));
    assert.ok(wait > 20_000 && wait < 20_700, `retry-after-ms ${wait}`);
    assert.equal(second.headers.get('retry-after'), '21');
  });

  void it('OpenAI style, quantized: a 600-a-minute limit enforced as 10 a second', async () => {
    server.setBehavior({ rateLimit: { rpm: 600, quantumMs: 1000 } });
    // Sent at once: the bucket holds one second's worth (10), and refills at 10 a second.
    const statuses = await Promise.all(Array.from({ length: 14 }, async (_, i) => (await post(server, '/chat/completions', chatBody(`q${i}`))).status));
    assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 4);
  });

  void it('Azure style: a 1-second window besides the minute, remaining headers only, retry-after on 429', async () => {
    server.setBehavior({ rateLimit: { style: 'azure', rpm: 600, shortWindows: [{ windowMs: 1000, requests: 3 }] } });
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await post(server, '/chat/completions', chatBody(`z${i}`)));
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 429]);
    assert.equal(replies[0]!.headers.get('x-ratelimit-limit-requests'), null, 'Azure sends no limit-* headers');
    assert.equal(replies[0]!.headers.get('x-ratelimit-remaining-requests'), '2');
    const wait = Number(replies[3]!.headers.get('retry-after-ms'));
    assert.ok(wait > 900 && wait <= 1000, `retry-after-ms ${wait}`);
  });

  void it("'none' style: a bare 429, no retry-after and no rate-limit headers", async () => {
    server.setBehavior({ rateLimit: { style: 'none', rpm: 1, windowMs: 10_000 } });
    assert.equal((await post(server, '/chat/completions', chatBody('n0'))).status, 200);
    const limited = await post(server, '/chat/completions', chatBody('n1'));
    assert.equal(limited.status, 429);
    const names: string[] = [];
    limited.headers.forEach((_v, k) => names.push(k));
    assert.deepEqual(names.filter((n) => n.startsWith('retry-after') || n.startsWith('x-ratelimit')), []);
  });

  void it('sends x-ratelimit headers on every reply by default, as OpenAI does, with limits no test reaches', async () => {
    const r = await post(server, '/chat/completions', chatBody('d'));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '1000000');
    assert.ok(Number(r.headers.get('x-ratelimit-remaining-requests')) >= 999_990);
    server.setBehavior({ rateLimit: false });
    assert.equal((await post(server, '/chat/completions', chatBody('e'))).headers.get('x-ratelimit-limit-requests'), null);
  });

  void it('recordBodies: false keeps counters only', async () => {
    const quiet = await startFakeServer({ recordBodies: false });
    try {
      await post(quiet, '/chat/completions', chatBody('x'));
      assert.equal(quiet.count, 1);
      assert.equal(quiet.requests.length, 0);
    } finally {
      await quiet.close();
    }
  });

  void it('reset() clears counters and the rate-limit window', async () => {
    server.setBehavior({ rateLimit: { rpm: 1 } });
    await post(server, '/chat/completions', chatBody('x'));
    assert.equal((await post(server, '/chat/completions', chatBody('y'))).status, 429);
    server.reset();
    assert.equal(server.count, 0);
    assert.equal(server.requests.length, 0);
    assert.equal((await post(server, '/chat/completions', chatBody('z'))).status, 200);
  });

  void it('close() does not hang on stalled requests or pending latency', async () => {
    const s = await startFakeServer({ plan: ({ index }) => (index === 0 ? { stall: true } : undefined), latencyMs: (i) => (i === 1 ? 60_000 : 0) });
    // Settled into values at once: their rejections arrive before the asserts below look at them.
    const outcome = (p: Promise<unknown>) => p.then(() => 'answered', () => 'failed');
    const stalled = outcome(post(s, '/chat/completions', chatBody('x')));
    const slow = outcome(post(s, '/chat/completions', chatBody('y')));
    while (s.inFlight < 2) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(await stalled, 'failed');
    assert.equal(await slow, 'failed');
  });

  void it('formats reset durations as OpenAI does', () => {
    assert.equal(formatResetDuration(120), '120ms');
    assert.equal(formatResetDuration(0), '0ms');
    assert.equal(formatResetDuration(1000), '1s');
    assert.equal(formatResetDuration(1500), '1.5s');
    assert.equal(formatResetDuration(360_000), '6m0s');
    assert.equal(formatResetDuration(3_723_000), '1h2m3s');
  });
});
