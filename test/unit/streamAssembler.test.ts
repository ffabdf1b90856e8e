/**
 * StreamAssembler (src/core/providers/openai.ts) on the chunk shapes OpenAI documents (see
 * test/support/fakeChat.ts for the references): the body it assembles from a streamed answer must
 * equal the plain `chat.completion` the same request gets, and it must know when a stream ended
 * before every choice finished.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { StreamAssembler } from '../../src/core/providers/streamAssembler';
import { chatCompletion, chatEvents, type StreamEnding } from '../support/fakeChat';
import { planChat } from '../support/fakeReplies';

type Body = Record<string, unknown>;

const request = (extra: Body = {}): Body => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'the quick brown fox jumps over the lazy dog' }],
  stream: true,
  stream_options: { include_usage: true },
  ...extra,
});

const TOOLS = [
  { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { echo: { type: 'string' } } } } },
  { type: 'function', function: { name: 'note', parameters: { type: 'object', properties: { echo: { type: 'string' } } } } },
];

/** The chunks of the fake's streamed answer to `body`, parsed from its SSE events. */
function chunksOf(body: Body, ending?: StreamEnding): ChatCompletionChunk[] {
  const { events } = chatEvents(body, planChat(body), 7, undefined, ending);
  assert.equal(events.at(-1), 'data: [DONE]\n\n');
  return events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')) as ChatCompletionChunk);
}

/** Feeds chunks to a new assembler; returns it and the text `add()` reported (what onDelta gets). */
function assemble(chunks: ChatCompletionChunk[], n = 1): { assembler: StreamAssembler; text: string } {
  const assembler = new StreamAssembler(n);
  let text = '';
  for (const c of chunks) text += assembler.add(c);
  return { assembler, text };
}

/** The plain answer to the same request, as the assembled body should read (`created` aside). */
function plain(body: Body, refusal?: string): Body {
  const { stream: _s, stream_options: _o, ...rest } = body;
  const doc = JSON.parse(chatCompletion(rest, planChat(rest), 7, refusal)) as Body;
  delete doc.created;
  return doc;
}

function assembled(a: StreamAssembler): Body {
  const doc = a.result();
  delete doc.created;
  return doc;
}

/** A deterministic shuffle that keeps each choice's own chunks in order (chunks of choices may interleave any way). */
function interleaveDifferently(chunks: ChatCompletionChunk[]): ChatCompletionChunk[] {
  const byChoice = new Map<number, ChatCompletionChunk[]>();
  const tail: ChatCompletionChunk[] = [];
  for (const c of chunks) {
    const i = c.choices[0]?.index;
    if (i === undefined) tail.push(c);
    else byChoice.set(i, [...(byChoice.get(i) ?? []), c]);
  }
  // Highest index first, two chunks at a time.
  const lists = [...byChoice.entries()].sort(([a], [b]) => b - a).map(([, l]) => l);
  const out: ChatCompletionChunk[] = [];
  while (lists.some((l) => l.length)) for (const l of lists) out.push(...l.splice(0, 2));
  return [...out, ...tail];
}

describe('StreamAssembler: a streamed answer assembles into the plain answer', () => {
  const shapes: { name: string; body: Body; n?: number; text: (doc: Body) => string }[] = [
    { name: 'text, with the usage chunk', body: request(), text: () => 'echo: the quick brown fox jumps over the lazy dog' },
    { name: 'text cut at max_tokens (finish_reason length)', body: request({ max_tokens: 3 }), text: () => 'echo: the qu' },
    { name: 'three choices (n = 3), their chunks interleaved', body: request({ n: 3 }), n: 3, text: () => 'echo: the quick brown fox jumps over the lazy dog' },
    { name: 'two parallel tool calls, arguments split across chunks', body: request({ tools: TOOLS }), text: () => '' },
    { name: 'one forced tool call, for each of two choices', body: request({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'note' } }, n: 2 }), n: 2, text: () => '' },
    { name: 'log probabilities with top_logprobs', body: request({ logprobs: true, top_logprobs: 1 }), text: () => 'echo: the quick brown fox jumps over the lazy dog' },
    { name: 'log probabilities for two choices', body: request({ logprobs: true, n: 2 }), n: 2, text: () => 'echo: the quick brown fox jumps over the lazy dog' },
  ];
  for (const s of shapes) {
    test(s.name, () => {
      const chunks = chunksOf(s.body);
      assert.ok(chunks.length >= 4, `only ${chunks.length} chunks`);
      const { assembler, text } = assemble(chunks, s.n);
      assert.equal(assembler.finished, true);
      const want = plain(s.body);
      assert.deepEqual(assembled(assembler), want);
      assert.equal(text, s.text(want), 'onDelta is told choice 0\'s text, and only that');
      if ((s.n ?? 1) > 1) {
        const other = assemble(interleaveDifferently(chunks), s.n);
        assert.equal(other.assembler.finished, true);
        assert.deepEqual(assembled(other.assembler), want, 'the order the choices take turns in does not matter');
      }
    });
  }

  test('a refusal, with and without log probabilities', () => {
    const refusal = "I'm sorry, I can't help with that request.";
    for (const extra of [{}, { logprobs: true }]) {
      const body = request(extra);
      const { events } = chatEvents(body, planChat(body), 7, refusal);
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')) as ChatCompletionChunk);
      assert.ok(chunks.filter((c) => c.choices[0]?.delta?.refusal).length >= 3, 'the refusal comes in pieces');
      const { assembler, text } = assemble(chunks);
      assert.equal(assembler.finished, true);
      assert.deepEqual(assembled(assembler), plain(body, refusal));
      assert.equal(text, '', 'a refusal is not content');
    }
  });

  test('without include_usage there is no usage chunk, and usage is null', () => {
    const body = request({ stream_options: undefined });
    const chunks = chunksOf(body);
    assert.ok(chunks.every((c) => c.choices.length === 1 && !('usage' in c)));
    const { assembler } = assemble(chunks);
    assert.equal(assembler.result().usage, null);
    assert.deepEqual({ ...assembled(assembler), usage: plain(body).usage }, plain(body));
  });
});

describe('StreamAssembler: knowing that a stream did not finish', () => {
  test('a stream that ends cleanly without any finish_reason is not finished', () => {
    const { assembler, text } = assemble(chunksOf(request(), { withoutFinish: [0] }));
    assert.equal(text, 'echo: the quick brown fox jumps over the lazy dog', 'every piece of text arrived');
    assert.equal(assembler.finished, false);
  });

  test('n = 3, one choice without its finish_reason: not finished', () => {
    for (const missing of [0, 1, 2]) {
      const { assembler } = assemble(chunksOf(request({ n: 3 }), { withoutFinish: [missing] }), 3);
      assert.equal(assembler.finished, false, `choice ${missing} never finished`);
    }
  });

  test('n = 2, a choice that never appears at all: not finished', () => {
    const chunks = chunksOf(request({ n: 2 })).filter((c) => c.choices[0]?.index !== 1);
    assert.equal(assemble(chunks, 2).assembler.finished, false);
    // Told n = 1 it would have passed: the expected count is what catches a missing choice.
    assert.equal(assemble(chunks, 1).assembler.finished, true);
  });

  test('a tool call cut before its finish chunk is not finished', () => {
    const chunks = chunksOf(request({ tools: TOOLS }));
    const cut = chunks.slice(0, chunks.findIndex((c) => c.choices[0]?.finish_reason));
    assert.ok(cut.length >= 4);
    assert.equal(assemble(cut).assembler.finished, false);
  });

  test('nothing but a usage chunk is not finished', () => {
    const usageOnly = chunksOf(request()).filter((c) => c.choices.length === 0);
    assert.equal(usageOnly.length, 1);
    assert.equal(assemble(usageOnly).assembler.finished, false);
  });
});

describe("the fake's chunks follow OpenAI's documented shape (test/support/fakeChat.ts cites the pages)", () => {
  type Delta = { role?: string; content?: string | null; refusal?: string | null; tool_calls?: { index: number; id?: string; type?: string; function: { name?: string; arguments: string } }[] };
  const deltas = (chunks: ChatCompletionChunk[], i = 0) => chunks.flatMap((c) => c.choices.filter((x) => x.index === i).map((x) => x.delta as Delta));

  test('every chunk: same id, created and model; object chat.completion.chunk; usage null but on the last, whose choices are empty', () => {
    const chunks = chunksOf(request({ n: 2 }));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id && c.created === chunks[0]!.created && c.model === chunks[0]!.model));
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null && c.choices.length === 1));
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.ok(chunks.at(-1)!.usage && chunks.at(-1)!.usage!.completion_tokens > 0);
  });

  test('a tool call: id, type and name once, with empty arguments; then only index and argument pieces; content null; finish tool_calls', () => {
    const chunks = chunksOf(request({ tools: TOOLS }));
    const d = deltas(chunks);
    assert.equal(d[0]!.role, 'assistant');
    assert.equal(d[0]!.content, null);
    for (const k of [0, 1]) {
      const parts = d.flatMap((x) => x.tool_calls ?? []).filter((t) => t.index === k);
      assert.deepEqual({ ...parts[0], function: { ...parts[0]!.function } }, { index: k, id: parts[0]!.id, type: 'function', function: { name: k === 0 ? 'lookup' : 'note', arguments: '' } });
      assert.ok(parts.length >= 4, `tool call ${k}: its arguments come in ${parts.length - 1} pieces`);
      assert.ok(parts.slice(1).every((p) => p.id === undefined && p.type === undefined && p.function.name === undefined && p.function.arguments.length > 0));
    }
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason, 'tool_calls');
  });

  test('n > 1: each chunk carries one choice, and the choices take turns', () => {
    const order = chunksOf(request({ n: 3 })).filter((c) => c.choices.length).map((c) => c.choices[0]!.index);
    assert.deepEqual(order.slice(0, 6), [0, 1, 2, 0, 1, 2]);
  });
});
