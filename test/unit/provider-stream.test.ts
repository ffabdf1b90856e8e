/**
 * OpenAIProvider.stream over real HTTP against the loopback fake, for each answer shape OpenAI
 * documents (tool calls, refusals, log probabilities, n > 1; see test/support/fakeChat.ts): the
 * assembled body equals what send() gets for the same request, and a stream that ends cleanly
 * (`[DONE]`) before every choice has a finish_reason fails, retryably, instead of returning half
 * an answer as a success.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { OpenAIProvider, ProviderError, type SendOptions } from '../../src/core/providers';
import { classifyFailure } from '../../src/core/retry';
import type { ChatBody, LLMRequest } from '../../src/core/types';
import { startFakeServer, type FakeServer } from '../support/fakeServer';

const chat = (extra: Partial<ChatBody> & Record<string, unknown> = {}): LLMRequest & { kind: 'chat' } => ({
  kind: 'chat',
  custom_id: 'c1',
  line: 1,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'pack my box with five dozen liquor jugs' }], ...extra },
});
const opts = (): SendOptions => ({ signal: new AbortController().signal, timeoutMs: 5000 });
const TOOLS = [
  { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { echo: { type: 'string' } } } } },
  { type: 'function', function: { name: 'note', parameters: { type: 'object', properties: { echo: { type: 'string' } } } } },
];
const REFUSAL = "I'm sorry, but I can't assist with that.";

/** A body without what differs between two calls: id, created, and the request's number in tool call ids. */
function comparable(body: unknown): Record<string, unknown> {
  const { id: _id, created: _created, ...rest } = body as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest).replace(/"call_fake\d+_/g, '"call_fake#_')) as Record<string, unknown>;
}

void describe('OpenAIProvider.stream: every documented shape', () => {
  let server: FakeServer;
  let provider: OpenAIProvider;
  before(async () => {
    server = await startFakeServer();
    provider = new OpenAIProvider({ apiKey: 'sk-stream-test', baseURL: server.url });
  });
  afterEach(() => {
    server.behavior = {};
    server.reset();
  });
  after(async () => {
    provider.close();
    await server.close();
  });

  const shapes: { name: string; extra: Record<string, unknown>; refuse?: boolean; text: string }[] = [
    { name: 'two parallel tool calls', extra: { tools: TOOLS }, text: '' },
    { name: 'a refusal', extra: {}, refuse: true, text: '' },
    { name: 'log probabilities (top 2)', extra: { logprobs: true, top_logprobs: 2 }, text: 'echo: pack my box with five dozen liquor jugs' },
    { name: 'n = 3', extra: { n: 3 }, text: 'echo: pack my box with five dozen liquor jugs' },
    { name: 'n = 2 with tool calls and logprobs', extra: { n: 2, tools: TOOLS, logprobs: true }, text: '' },
  ];
  for (const s of shapes) {
    void it(`${s.name}: the streamed body equals the plain one`, async () => {
      if (s.refuse) server.setBehavior({ refuse: () => REFUSAL });
      const plain = await provider.send(chat(s.extra), opts());
      const deltas: string[] = [];
      const streamed = await provider.stream(chat(s.extra), (t) => deltas.push(t), opts());
      assert.deepEqual(comparable(streamed.body), comparable(plain.body));
      assert.equal(deltas.join(''), s.text);
      // The shape really was there (the fake honoured the request), not two empty answers.
      const choices = (plain.body as { choices: { message: Record<string, unknown> }[] }).choices;
      assert.equal(choices.length, Number(s.extra.n ?? 1));
      if (s.extra.tools) assert.equal((choices[0]!.message.tool_calls as unknown[]).length, 2);
      if (s.refuse) assert.equal(choices[0]!.message.refusal, REFUSAL);
    });
  }

  for (const { name, extra, missing } of [
    { name: 'no finish_reason at all', extra: {}, missing: true as const },
    { name: 'n = 2, choice 1 never finishes', extra: { n: 2 }, missing: [1] },
    { name: 'n = 3, choice 0 never finishes', extra: { n: 3 }, missing: [0] },
    { name: 'a tool call without its finish_reason', extra: { tools: TOOLS }, missing: true as const },
  ]) {
    void it(`a stream that ends cleanly ([DONE]) with ${name} fails with bad_response, retryably`, async () => {
      server.setBehavior({ plan: ({ attemptForBody }) => (attemptForBody === 1 ? { noFinishReason: missing } : undefined) });
      const deltas: string[] = [];
      const err = await provider.stream(chat(extra), (t) => deltas.push(t), opts()).then(
        () => assert.fail('a stream without a finish_reason was taken as a whole answer'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.code, 'bad_response');
      assert.match(err.message, /ended before a finish_reason/);
      assert.equal(classifyFailure(err), 'retry');
      if (!extra.tools) assert.equal(deltas.join(''), 'echo: pack my box with five dozen liquor jugs', 'all the text had arrived: only the ending was missing');
      const again = await provider.stream(chat(extra), () => undefined, opts());
      const finishes = (again.body as { choices: { finish_reason: string | null }[] }).choices.map((c) => c.finish_reason);
      assert.ok(finishes.every((f) => f !== null) && finishes.length === Number(extra.n ?? 1), JSON.stringify(finishes));
    });
  }
});
