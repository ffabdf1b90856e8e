import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyChatDefaults,
  applyEmbeddingsDefaults,
  embeddingsRequest,
  fromMessages,
  fromPrompt,
  validateChatBody,
  validateEmbeddingsBody,
  validateMessages,
  wireBody,
} from '../../src/core/request';
import type { ChatBody, LLMRequest, Message } from '../../src/core/types';

describe('fromPrompt', () => {
  it('builds a chat request with one user message', () => {
    const r = fromPrompt('Hi', { model: 'm', line: 4 });
    assert.equal(r.kind, 'chat');
    assert.equal(r.custom_id, 'line-4');
    assert.equal(r.line, 4);
    assert.deepEqual(r.body, { model: 'm', messages: [{ role: 'user', content: 'Hi' }] });
  });

  it('puts the system message first and merges params', () => {
    const r = fromPrompt('Hi', { model: 'm', system: 'Be brief', params: { temperature: 0, seed: 1 }, custom_id: 'a' });
    assert.equal(r.custom_id, 'a');
    assert.deepEqual(r.body, {
      temperature: 0,
      seed: 1,
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Hi' },
      ],
    });
  });

  it('lets the explicit model win over params.model', () => {
    const r = fromPrompt('Hi', { model: 'right', params: { model: 'wrong' } });
    assert.equal(r.body.model, 'right');
  });

  it('gives a unique id when there is neither custom_id nor line', () => {
    const a = fromPrompt('x', { model: 'm' });
    const b = fromPrompt('x', { model: 'm' });
    assert.notEqual(a.custom_id, b.custom_id);
    assert.equal(a.line, 0);
  });

  it('throws a TypeError for a non-string prompt or a bad model', () => {
    assert.throws(() => fromPrompt(42 as unknown as string, { model: 'm' }), /prompt must be a string, got a number/);
    assert.throws(() => fromPrompt('x', { model: '' }), /"model" must be a non-empty string/);
    assert.throws(() => fromPrompt('x', { model: 'm', params: { temperature: 'hot' } }), /"temperature" must be a number/);
  });
});

describe('fromMessages', () => {
  const convo: Message[] = [
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '4' },
    { role: 'user', content: 'And 3+3?' },
  ];

  it('keeps the conversation and adds a system message first', () => {
    const r = fromMessages(convo, { model: 'm', system: 'S' });
    const body = r.body as ChatBody;
    assert.equal(body.messages.length, 4);
    assert.deepEqual(body.messages[0], { role: 'system', content: 'S' });
  });

  it('does not add a second system message', () => {
    const r = fromMessages([{ role: 'developer', content: 'D' }, ...convo], { model: 'm', system: 'S' });
    assert.equal((r.body as ChatBody).messages.length, 4);
    assert.equal((r.body as ChatBody).messages[0].content, 'D');
  });

  it('throws on invalid messages', () => {
    assert.throws(() => fromMessages([], { model: 'm' }), /empty/);
  });
});

describe('embeddingsRequest', () => {
  it('builds an embeddings request', () => {
    const r = embeddingsRequest(['a', 'b'], { model: 'e', params: { dimensions: 64 }, line: 2 });
    assert.equal(r.kind, 'embeddings');
    assert.equal(r.custom_id, 'line-2');
    assert.deepEqual(r.body, { dimensions: 64, model: 'e', input: ['a', 'b'] });
  });

  it('accepts token ids and lists of them', () => {
    assert.equal(embeddingsRequest([1, 2, 3], { model: 'e' }).kind, 'embeddings');
    assert.equal(embeddingsRequest([[1], [2, 3]], { model: 'e' }).kind, 'embeddings');
  });

  it('rejects empty or mixed input', () => {
    assert.throws(() => embeddingsRequest('', { model: 'e' }), /empty string/);
    assert.throws(() => embeddingsRequest([], { model: 'e' }), /empty list/);
    assert.throws(() => embeddingsRequest(['a', 1] as unknown as string[], { model: 'e' }), /not a mix/);
  });
});

describe('validateMessages', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not a list', { role: 'user' }, /"messages" must be a list of messages, got an object/],
    ['a string', 'hello', /must be a list of messages, got a string/],
    ['empty', [], /"messages" is empty/],
    ['not an object', ['hi'], /messages\[0\] must be an object/],
    ['no role', [{ content: 'x' }], /messages\[0\] has no "role"/],
    ['unknown role', [{ role: 'usr', content: 'x' }], /messages\[0\]\.role 'usr' is not a role; use one of system, developer, user, assistant, tool, function/],
    ['numeric role', [{ role: 1, content: 'x' }], /role a number is not a role/],
    ['number content', [{ role: 'user', content: 42 }], /messages\[0\]\.content must be text or a list of content parts, got a number/],
    ['no content', [{ role: 'user' }], /messages\[0\] \(user\) has no "content"/],
    ['null user content', [{ role: 'user', content: null }], /has no "content"/],
    ['bad part', [{ role: 'user', content: [{ text: 'x' }] }], /messages\[0\]\.content\[0\] must be a content part/],
    ['text part without text', [{ role: 'user', content: [{ type: 'text', text: 5 }] }], /"text" must be a string, got a number/],
    ['tool without id', [{ role: 'user', content: 'x' }, { role: 'tool', content: 'r' }], /messages\[1\] has role 'tool' but no "tool_call_id"/],
    ['bad name', [{ role: 'user', content: 'x', name: 3 }], /messages\[0\]\.name must be a string/],
    ['bad tool_calls', [{ role: 'assistant', content: 'x', tool_calls: {} }], /tool_calls must be a list/],
  ];
  for (const [name, value, expected] of cases) {
    it(`reports ${name}`, () => {
      const msg = validateMessages(value);
      assert.ok(msg, 'expected a message');
      assert.match(msg, expected);
    });
  }

  it('accepts good conversations, multi-part content and tool turns', () => {
    assert.equal(validateMessages([{ role: 'user', content: 'x' }]), null);
    assert.equal(
      validateMessages([
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', content: '42', tool_call_id: 't1' },
      ]),
      null,
    );
  });
});

describe('validateChatBody', () => {
  it('reports the body shape, model and parameter types', () => {
    assert.match(validateChatBody([]) ?? '', /must be a JSON object, got a list/);
    assert.match(validateChatBody({ messages: [{ role: 'user', content: 'x' }] }) ?? '', /no model/);
    assert.match(validateChatBody({ model: 3, messages: [] }) ?? '', /"model" must be a non-empty string, got a number/);
    assert.match(validateChatBody({ model: 'm' }) ?? '', /no "messages"/);
    const ok = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
    assert.equal(validateChatBody(ok), null);
    assert.match(validateChatBody({ ...ok, max_tokens: 0 }) ?? '', /"max_tokens" must be a positive whole number, got 0/);
    assert.match(validateChatBody({ ...ok, max_tokens: '5' }) ?? '', /got a string/);
    assert.match(validateChatBody({ ...ok, seed: 1.5 }) ?? '', /"seed" must be a whole number/);
    assert.match(validateChatBody({ ...ok, stop: [1] }) ?? '', /"stop" must be a string or a list of strings/);
    assert.equal(validateChatBody({ ...ok, stop: ['\n'], reasoning_effort: 'low', logprobs: true }), null);
  });
});

describe('validateEmbeddingsBody', () => {
  it('reports missing or wrong input', () => {
    assert.match(validateEmbeddingsBody({ model: 'e' }) ?? '', /no "input"/);
    assert.match(validateEmbeddingsBody({ model: 'e', input: 5 }) ?? '', /got a number/);
    assert.match(validateEmbeddingsBody({ input: 'x' }) ?? '', /no model/);
    assert.equal(validateEmbeddingsBody({ model: 'e', input: 'x' }), null);
  });
});

describe('defaults', () => {
  const defaults = { model: 'dm', system: 'DS', temperature: 0.3, max_tokens: 100, params: { top_p: 0.9, seed: 7 } };

  it('fill in only what the row did not set', () => {
    const out = applyChatDefaults({ messages: [{ role: 'user', content: 'x' }], temperature: 1, seed: 1 }, defaults);
    assert.deepEqual(out, {
      model: 'dm',
      messages: [
        { role: 'system', content: 'DS' },
        { role: 'user', content: 'x' },
      ],
      temperature: 1,
      max_tokens: 100,
      top_p: 0.9,
      seed: 1,
    });
  });

  it('keep the row model and system message', () => {
    const out = applyChatDefaults({ model: 'own', messages: [{ role: 'system', content: 'own' }, { role: 'user', content: 'x' }] }, defaults);
    assert.equal(out.model, 'own');
    assert.deepEqual((out.messages as Message[])[0], { role: 'system', content: 'own' });
  });

  it('skip max_tokens when the row sets max_completion_tokens', () => {
    const out = applyChatDefaults({ messages: [], max_completion_tokens: 5 }, defaults);
    assert.equal(out.max_tokens, undefined);
  });

  it('do not touch the input object', () => {
    const row = { messages: [{ role: 'user', content: 'x' }] };
    applyChatDefaults(row, defaults);
    assert.deepEqual(row, { messages: [{ role: 'user', content: 'x' }] });
  });

  it('give embeddings only the model', () => {
    assert.deepEqual(applyEmbeddingsDefaults({ input: 'x' }, defaults), { input: 'x', model: 'dm' });
    assert.deepEqual(applyEmbeddingsDefaults({ input: 'x', model: 'own' }, defaults), { input: 'x', model: 'own' });
  });
});

describe('wireBody (the body as sent, live and in Batch API lines)', () => {
  const chat = (body: Record<string, unknown>): LLMRequest => ({ kind: 'chat', custom_id: 'a', line: 1, body: { model: 'm', messages: [{ role: 'user', content: 'x' }], ...body } });

  it('drops top-level _ fields and the streaming flags, keeps nested _ fields, and never modifies the request', () => {
    const request = chat({ _source: 'f.jsonl', _: 0, stream: true, stream_options: { include_usage: true }, response_format: { _keep: 1 }, temperature: 0 });
    const before = JSON.stringify(request);
    assert.deepEqual(wireBody(request), { model: 'm', messages: [{ role: 'user', content: 'x' }], response_format: { _keep: 1 }, temperature: 0 });
    assert.equal(JSON.stringify(request), before);
  });

  it('sets stream and include_usage for a streamed call, keeping the row\'s other stream_options', () => {
    const body = wireBody(chat({ _tag: 1, stream_options: { include_obfuscation: false } }), { stream: true });
    assert.deepEqual(body, { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_obfuscation: false, include_usage: true } });
  });

  it('returns the body itself when there is nothing to drop (no copy per request)', () => {
    const request = chat({ temperature: 1 });
    assert.equal(wireBody(request), request.body);
    const embeddings: LLMRequest = { kind: 'embeddings', custom_id: 'e', line: 1, body: { model: 'm', input: ' ', _note: 'x' } };
    assert.deepEqual(wireBody(embeddings), { model: 'm', input: ' ' });
  });
});
