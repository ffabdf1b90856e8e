// OpenAIProvider against the loopback fake: round trips, pass-through, and every failure's mapping.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createProvider, isAzureBaseURL, OpenAIProvider, ProviderError, redactKey } from '../../src/core/providers';
import type { SendOptions } from '../../src/core/providers';
import type { ChatBody, LLMRequest } from '../../src/core/types';
import { fakeEmbedding, startFakeServer, type FakeAction, type FakeServer } from '../support/fakeServer';

const KEY = 'sk-test-secret-key-0123456789abcd';

const chat = (text: string, extra: Partial<ChatBody> = {}): LLMRequest & { kind: 'chat' } => ({
  kind: 'chat',
  custom_id: 'c1',
  line: 1,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra },
});

const opts = (timeoutMs = 5000, signal = new AbortController().signal): SendOptions => ({ signal, timeoutMs });

/** The ProviderError a promise rejects with (fails the test if it resolves or throws something else). */
async function failure(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

void describe('OpenAIProvider', () => {
  let server: FakeServer;
  let provider: OpenAIProvider;
  before(async () => {
    server = await startFakeServer();
    provider = new OpenAIProvider({ apiKey: KEY, baseURL: `${server.url}/` });
  });
  afterEach(() => {
    server.behavior = {};
    server.reset();
  });
  after(() => server.close());

  void it('normalizes the scope and round-trips a chat completion', async () => {
    assert.deepEqual(provider.scope, { baseURL: server.url });
    const res = await provider.send(chat('hello'), opts());
    assert.equal(res.status, 200);
    assert.equal(res.requestId, 'req_fake0');
    assert.equal(res.headers['x-request-id'], 'req_fake0');
    assert.equal(res.headers['content-type'], 'application/json');
    const body = res.body as { object: string; choices: { message: { content: string } }[]; usage: { total_tokens: number } };
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message.content, 'echo: hello');
    assert.ok(body.usage.total_tokens > 0);
    assert.equal(Object.keys(body).includes('_request_id'), false);
    assert.equal(server.requests[0].headers.authorization, `Bearer ${KEY}`);
  });

  void it('passes extras through untouched, and drops a stray stream flag in send()', async () => {
    const extras = { logprobs: true, top_logprobs: 2, reasoning_effort: 'low', vendor_extra: { a: [1, 2] } };
    await provider.send(chat('x', { ...extras, stream: true, stream_options: { include_usage: true } }), opts());
    const seen = server.requests[0].body as Record<string, unknown>;
    assert.deepEqual(seen, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], ...extras });
  });

  void it('never sends our own top-level _ fields, in send(), stream() or embeddings (nested ones are data and go)', async () => {
    const schema = { type: 'json_schema', json_schema: { name: 's', schema: { properties: { _id: { type: 'string' } } } } };
    const own = { _source: 'prompts.jsonl', _trace: { id: 7 }, _: 1 };
    await provider.send(chat('plain', { ...own, response_format: schema }), opts());
    await provider.stream(chat('streamed', { ...own, stream_options: { include_obfuscation: false } }), () => undefined, opts());
    const embeddings: LLMRequest = { kind: 'embeddings', custom_id: 'e', line: 1, body: { model: 'text-embedding-3-small', input: 'x', _note: 'mine' } };
    await provider.send(embeddings, opts());
    assert.equal(server.requests.length, 3);
    for (const r of server.requests) {
      const keys = Object.keys(r.body as Record<string, unknown>);
      assert.deepEqual(keys.filter((k) => k.startsWith('_')), [], `${r.path} received ${keys.join(', ')}`);
    }
    const [plain, streamed] = server.requests.map((r) => r.body as Record<string, unknown>);
    assert.deepEqual(plain!.response_format, schema, 'a nested _id is part of the question and is sent');
    assert.deepEqual(streamed!.stream_options, { include_obfuscation: false, include_usage: true }, "the row's own stream_options are kept");
  });

  void it('round-trips embeddings as float arrays, sending the body exactly as given', async () => {
    const req: LLMRequest = { kind: 'embeddings', custom_id: 'e', line: 1, body: { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 5 } };
    const res = await provider.send(req, opts());
    const body = res.body as { object: string; data: { embedding: number[] }[]; usage: { prompt_tokens: number } };
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data[1].embedding, fakeEmbedding('b', 5));
    assert.equal(body.usage.prompt_tokens, 2);
    // The SDK's embeddings.create() would have added encoding_format: 'base64'.
    assert.deepEqual(server.requests[0].body, req.body);
  });

  void it('sends organization, project and extra headers; ignores OPENAI_* environment fallbacks', async () => {
    const withHeaders = new OpenAIProvider({ apiKey: KEY, baseURL: server.url, organization: 'org-1', project: 'proj-1', headers: { 'X-Team': 'blue' } });
    await withHeaders.send(chat('x'), opts());
    const h = server.requests[0].headers;
    assert.equal(h['openai-organization'], 'org-1');
    assert.equal(h['openai-project'], 'proj-1');
    assert.equal(h['x-team'], 'blue');

    process.env.OPENAI_ORG_ID = 'org-from-env';
    try {
      await new OpenAIProvider({ apiKey: KEY, baseURL: server.url }).send(chat('y'), opts());
    } finally {
      delete process.env.OPENAI_ORG_ID;
    }
    assert.equal(server.requests[1].headers['openai-organization'], undefined);
  });

  const statusCases: [Extract<FakeAction, { status: number }>, string][] = [
    [{ status: 400 }, 'invalid_request_error'],
    [{ status: 403 }, 'unsupported_country_region_territory'],
    [{ status: 404 }, 'model_not_found'],
    [{ status: 422 }, 'invalid_request_error'],
    [{ status: 500 }, 'server_error'],
    [{ status: 502, body: 'Bad Gateway' }, 'http_502'],
    [{ status: 503 }, 'server_error'],
  ];
  for (const [action, code] of statusCases) {
    void it(`maps HTTP ${action.status} to status ${action.status}, code ${code}, with the server's message`, async () => {
      server.setBehavior({ plan: () => action });
      const err = await failure(provider.send(chat('x'), opts()));
      assert.equal(err.status, action.status);
      assert.equal(err.code, code);
      assert.ok(!/^\d{3} /.test(err.message), err.message);
      if (typeof action.body === 'string') assert.match(err.message, /Bad Gateway/);
      assert.equal(err.headers['x-request-id'], 'req_fake0');
      assert.equal(server.count, 1, 'the SDK must not retry');
    });
  }

  void it('maps 429 with retry-after headers, and does not retry it', async () => {
    server.setBehavior({ plan: () => ({ status: 429, retryAfter: 3, retryAfterMs: 2500 }) });
    const err = await failure(provider.send(chat('x'), opts()));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(err.headers['retry-after'], '3');
    assert.equal(err.headers['retry-after-ms'], '2500');
    assert.equal(server.count, 1);
  });

  void it("reads the message from non-OpenAI error shapes (vLLM's, FastAPI's)", async () => {
    server.setBehavior({ plan: () => ({ status: 400, body: { object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', code: 400 } }) });
    assert.equal((await failure(provider.send(chat('x'), opts()))).message, 'max_tokens is too large');
    server.setBehavior({ plan: () => ({ status: 422, body: { detail: [{ msg: 'field required' }] } }) });
    assert.match((await failure(provider.send(chat('x'), opts()))).message, /field required/);
  });

  void it('maps a reset connection to connection_error, without retrying', async () => {
    server.setBehavior({ plan: () => ({ reset: true }) });
    const err = await failure(provider.send(chat('x'), opts()));
    assert.equal(err.code, 'connection_error');
    assert.equal(err.status, undefined);
    assert.equal(server.count, 1);
  });

  void it('maps a reply that is not JSON to bad_response', async () => {
    server.setBehavior({ plan: () => ({ badJson: true }) });
    const err = await failure(provider.send(chat('x'), opts()));
    assert.equal(err.code, 'bad_response');
    assert.equal(err.status, undefined);
  });

  void it('maps a reply cut off mid-body to connection_error', async () => {
    server.setBehavior({ plan: () => ({ cutStream: true }) });
    const err = await failure(provider.send(chat('x'), opts()));
    assert.equal(err.code, 'connection_error');
  });

  void it('times out a stalled request with code timeout', async () => {
    server.setBehavior({ plan: () => ({ stall: true }) });
    const t0 = Date.now();
    const err = await failure(provider.send(chat('x'), opts(200)));
    const elapsed = Date.now() - t0;
    assert.equal(err.code, 'timeout');
    assert.equal(err.status, undefined);
    assert.ok(elapsed >= 190 && elapsed < 1000, `took ${elapsed} ms`);
    assert.equal(server.count, 1);
  });

  void it('times out a reply that stalls after its headers (the SDK timeout stops at headers)', async () => {
    server.setBehavior({ plan: () => ({ stall: true, afterHeaders: true }) });
    const t0 = Date.now();
    assert.equal((await failure(provider.send(chat('x'), opts(200)))).code, 'timeout');
    assert.equal((await failure(provider.stream(chat('x'), () => {}, opts(200)))).code, 'timeout');
    assert.ok(Date.now() - t0 < 1500);
  });

  void it('honours the abort signal, before and during the call', async () => {
    const pre = new AbortController();
    pre.abort();
    assert.equal((await failure(provider.send(chat('x'), opts(5000, pre.signal)))).code, 'aborted');
    assert.equal(server.count, 0);

    server.setBehavior({ plan: () => ({ stall: true }) });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    const err = await failure(provider.send(chat('x'), opts(5000, ac.signal)));
    assert.equal(err.code, 'aborted');
    assert.ok(Date.now() - t0 < 1000);

    // Mid-stream: the SDK ends the iteration quietly on abort; it must still fail as aborted.
    server.setBehavior({ plan: () => ({ stall: true, afterHeaders: true }) });
    const mid = new AbortController();
    setTimeout(() => mid.abort(), 50);
    assert.equal((await failure(provider.stream(chat('x'), () => {}, opts(5000, mid.signal)))).code, 'aborted');
  });

  void it('close() aborts calls in flight', async () => {
    server.setBehavior({ plan: () => ({ stall: true }) });
    const p = new OpenAIProvider({ apiKey: KEY, baseURL: server.url });
    const pending = failure(p.send(chat('x'), opts()));
    while (server.inFlight < 1) await new Promise((r) => setTimeout(r, 5));
    p.close();
    assert.equal((await pending).code, 'aborted');
  });

  void it('keeps the API key out of a 401 message (OpenAI echoes it masked)', async () => {
    server.setBehavior({ requireKey: 'sk-the-right-one-000000' });
    const err = await failure(provider.send(chat('x'), opts()));
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    assert.match(err.message, /^Incorrect API key provided/);
    assert.ok(!err.message.includes(KEY));
    assert.ok(!err.message.includes(KEY.slice(-4)), err.message);
    assert.ok(!err.message.includes('***'), err.message);
  });

  void it('keeps the API key out of any error message', async () => {
    server.setBehavior({ plan: () => ({ status: 400, body: { error: { message: `bad key ${KEY} here`, type: 'x', code: null } } }) });
    const err = await failure(provider.send(chat('x'), opts()));
    assert.ok(!err.message.includes(KEY));
    assert.equal(redactKey('Authorization: Bearer abc.def', 'zzzz'), 'Authorization: Bearer [redacted]');
  });

  void it('streams deltas in order and assembles a chat.completion', async () => {
    const deltas: string[] = [];
    const res = await provider.stream(chat('the quick brown fox'), (t) => deltas.push(t), opts());
    assert.ok(deltas.length >= 4, `only ${deltas.length} deltas`);
    assert.equal(deltas.join(''), 'echo: the quick brown fox');
    const body = res.body as { object: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { completion_tokens: number } | null };
    assert.equal(body.object, 'chat.completion');
    assert.deepEqual(body.choices[0].message, { role: 'assistant', content: 'echo: the quick brown fox', refusal: null });
    assert.equal(body.choices[0].finish_reason, 'stop');
    assert.ok(body.usage && body.usage.completion_tokens > 0);
    assert.equal(res.requestId, 'req_fake0');
    const sent = server.requests[0].body as Record<string, unknown>;
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.stream_options, { include_usage: true });
  });

  void it('fails a cut stream with connection_error', async () => {
    server.setBehavior({ plan: () => ({ cutStream: true }) });
    const deltas: string[] = [];
    const err = await failure(provider.stream(chat('a b c d'), (t) => deltas.push(t), opts()));
    assert.equal(err.code, 'connection_error');
    assert.equal(server.count, 1);
  });

  void it('fails a stream with a non-JSON event with bad_response', async () => {
    server.setBehavior({ plan: () => ({ badJson: true }) });
    assert.equal((await failure(provider.stream(chat('a b'), () => {}, opts()))).code, 'bad_response');
  });

  void it('maps stream failures before the first byte like send() does', async () => {
    server.setBehavior({ plan: () => ({ status: 429, retryAfter: 1 }) });
    const err = await failure(provider.stream(chat('a'), () => {}, opts()));
    assert.equal(err.status, 429);
    assert.equal(err.headers['retry-after'], '1');
    server.setBehavior({ plan: () => ({ stall: true }) });
    assert.equal((await failure(provider.stream(chat('a'), () => {}, opts(150)))).code, 'timeout');
  });

  void it('lets an onDelta error propagate unchanged', async () => {
    const boom = new Error('boom');
    await assert.rejects(provider.stream(chat('a b c'), () => { throw boom; }, opts()), (e) => e === boom);
  });

  void it('runs many calls at once (no client-side connection cap)', async () => {
    server.setBehavior({ latencyMs: 300 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => provider.send(chat(`p${i}`), opts())));
    assert.equal(server.maxInFlight, 40);
  });

  void it("works the same on the global fetch (httpClient: 'fetch')", async () => {
    const viaFetch = new OpenAIProvider({ apiKey: KEY, baseURL: server.url, httpClient: 'fetch' });
    const res = await viaFetch.send(chat('f'), opts());
    assert.equal((res.body as { choices: { message: { content: string } }[] }).choices[0].message.content, 'echo: f');
    assert.equal(res.headers['x-request-id'], 'req_fake0');
    const deltas: string[] = [];
    await viaFetch.stream(chat('g h'), (t) => deltas.push(t), opts());
    assert.equal(deltas.join(''), 'echo: g h');
    server.setBehavior({ plan: () => ({ stall: true, afterHeaders: true }) });
    assert.equal((await failure(viaFetch.send(chat('x'), opts(150)))).code, 'timeout');
    server.setBehavior({ plan: () => ({ reset: true }) });
    assert.equal((await failure(viaFetch.send(chat('x'), opts()))).code, 'connection_error');
  });

  void it('aborts every call sharing one signal, and keeps one listener on it', async () => {
    server.setBehavior({ plan: () => ({ stall: true }) });
    const run = new AbortController();
    const added: unknown[] = [];
    const add = run.signal.addEventListener.bind(run.signal);
    run.signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
      added.push(args[0]);
      add(...args);
    }) as AbortSignal['addEventListener'];
    const calls = Array.from({ length: 5 }, (_, i) => failure(provider.send(chat(`s${i}`), opts(5000, run.signal))));
    while (server.inFlight < 5) await new Promise((r) => setTimeout(r, 5));
    run.abort();
    for (const err of await Promise.all(calls)) assert.equal(err.code, 'aborted');
    assert.equal(added.length, 1);
  });

  void it('speaks Azure: deployment path, api-version query, api-key header', async () => {
    const azure = createProvider({ apiKey: KEY, baseURL: `${server.url}/openai/deployments/dep1`, azure: { apiVersion: '2024-10-21' } });
    const res = await azure.send(chat('az'), opts());
    assert.equal((res.body as { choices: { message: { content: string } }[] }).choices[0].message.content, 'echo: az');
    const r = server.requests[0];
    assert.equal(r.url, '/v1/openai/deployments/dep1/chat/completions?api-version=2024-10-21');
    assert.equal(r.headers['api-key'], KEY);
    assert.equal(r.headers.authorization, undefined);
  });

  void it('recognises Azure base URLs', () => {
    assert.equal(isAzureBaseURL('https://res.openai.azure.com/openai/deployments/d'), true);
    assert.equal(isAzureBaseURL('https://res.cognitiveservices.azure.com/openai'), true);
    assert.equal(isAzureBaseURL('https://res.openai.azure.com/openai/v1/'), false);
    assert.equal(isAzureBaseURL('https://api.openai.com/v1'), false);
    assert.equal(isAzureBaseURL(undefined), false);
    assert.equal(createProvider({ apiKey: KEY }).scope.baseURL, 'https://api.openai.com/v1');
  });
});
