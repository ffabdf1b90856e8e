import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalJson, computeRequestHash, describeRequestHash, HASH_VERSION, normalizeBaseURL } from '../../src/core/hash';
import { RequestManager } from '../../src/core/manager';
import { createProvider } from '../../src/core/providers';
import type { EndpointScope } from '../../src/core/providers/provider';
import type { ChatBody, LLMRequest } from '../../src/core/types';
import { ScriptedProvider } from '../support/scriptedProvider';

const scope: EndpointScope = { baseURL: 'https://api.openai.com/v1' };

function chat(body: Partial<ChatBody> & Record<string, unknown> = {}, row: { custom_id?: string; line?: number } = {}): LLMRequest {
  return {
    kind: 'chat',
    custom_id: row.custom_id ?? 'row-1',
    line: row.line ?? 1,
    body: {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What is 2+2?' },
      ],
      temperature: 0,
      ...body,
    },
  };
}

const key = (request: LLMRequest, s: EndpointScope = scope) => computeRequestHash(request, s);

describe('canonicalJson', () => {
  it('sorts keys at every level and keeps array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, 1, { z: 1, y: 2 }], c: true } }), '{"a":{"c":true,"d":[3,1,{"y":2,"z":1}]},"b":1}');
  });

  it('drops null and undefined from objects, not from arrays; keeps every string, blank ones too', () => {
    assert.equal(canonicalJson({ a: null, b: undefined, e: 'x', f: [null, '', ' '] }), '{"e":"x","f":[null,""," "]}');
    assert.equal(canonicalJson({ c: '', d: ' \n\t' }), '{"c":"","d":" \\n\\t"}');
    assert.equal(canonicalJson({ nested: { gone: null, kept: 0, no: false } }), '{"nested":{"kept":0,"no":false}}');
  });

  it('keeps strings with surrounding whitespace as they are', () => {
    assert.equal(canonicalJson({ a: ' x ' }), '{"a":" x "}');
  });

  it('writes numbers and escapes strings as JSON.stringify does', () => {
    const value = { n: [0.1, 1e21, -0, 5], s: 'quote " backslash \\ newline \n é' };
    assert.equal(canonicalJson(value), JSON.stringify({ n: [0.1, 1e21, 0, 5], s: value.s }));
  });

  it('agrees with JSON.parse round-trips', () => {
    const text = canonicalJson({ z: { y: [1, { b: 'B', a: 'A' }] }, a: 'first' });
    assert.deepEqual(JSON.parse(text), { a: 'first', z: { y: [1, { a: 'A', b: 'B' }] } });
  });
});

describe('computeRequestHash', () => {
  it('has the documented format', () => {
    assert.equal(HASH_VERSION, 'v2');
    assert.match(key(chat()), /^v2:[0-9a-f]{64}$/);
  });

  it('is the same whatever the key order, nested too', () => {
    const a = chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true } } });
    const b: LLMRequest = {
      line: 1,
      custom_id: 'row-1',
      kind: 'chat',
      body: {
        temperature: 0,
        response_format: { json_schema: { strict: true, name: 'x' }, type: 'json_schema' },
        messages: [
          { content: 'Be brief.', role: 'system' },
          { content: 'What is 2+2?', role: 'user' },
        ],
        model: 'gpt-4o-mini',
      },
    };
    assert.equal(key(a), key(b));
  });

  it('ignores null and undefined fields', () => {
    const base = key(chat());
    assert.equal(key(chat({ stop: undefined, seed: null as unknown as number, user: undefined })), base);
    assert.equal(
      key(chat({ messages: [{ role: 'system', content: 'Be brief.', name: undefined }, { role: 'user', content: 'What is 2+2?', name: null as unknown as string }] })),
      base,
    );
  });

  it('counts blank strings: a whitespace stop, embeddings input or text part is a question of its own', () => {
    const base = key(chat());
    const stops = [chat({ stop: '\n' }), chat({ stop: ' ' }), chat({ stop: '' }), chat({ stop: ['\n'] }), chat({ stop: ['\n\n'] })];
    const stopKeys = new Set(stops.map((r) => key(r)));
    assert.equal(stopKeys.size, stops.length, 'each stop sequence has its own key');
    assert.ok(!stopKeys.has(base), 'stop "\\n" is not the same as no stop');
    assert.notEqual(key(chat({ user: '' })), base);

    const embed = (input: string): LLMRequest => ({ kind: 'embeddings', custom_id: 'e', line: 1, body: { model: 'text-embedding-3-small', input } });
    assert.equal(new Set([' ', '\n', '\t', '  '].map((i) => key(embed(i)))).size, 4);

    const parts = (text: string) => chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe:' }, { type: 'text', text }] }] });
    assert.notEqual(key(parts(' ')), key(parts('\n')));
    assert.notEqual(key(parts('')), key(parts(' ')));
  });

  it('rows that differ only in blank strings are two calls, not one de-duplicated call', async () => {
    const provider = new ScriptedProvider(() => ({ latencyMs: 20 }));
    const manager = new RequestManager({ provider, concurrency: 4 });
    const rows = [chat({ stop: '\n' }, { custom_id: 'a', line: 1 }), chat({}, { custom_id: 'b', line: 2 }), chat({ stop: '\n' }, { custom_id: 'c', line: 3 })];
    const records = [];
    for await (const r of manager.run(rows)) records.push(r);
    assert.equal(records.length, 3);
    assert.equal(provider.calls.length, 2, 'stop "\\n" and no stop are sent apart; the two identical rows share one call');
    assert.equal(manager.stats.snapshot().dedupHits, 1);
  });

  it('ignores custom_id, line, _internal fields and streaming options', () => {
    const base = key(chat());
    assert.equal(key(chat({}, { custom_id: 'another-row', line: 99 })), base);
    assert.equal(key(chat({ _note: 'from batch 3', _trace: { id: 1 } })), base);
    assert.equal(key(chat({ stream: true, stream_options: { include_usage: true } })), base);
    assert.equal(key(chat({ stream: false })), base);
  });

  it('keeps nested fields that start with _ (they can be data, e.g. a schema property)', () => {
    assert.notEqual(key(chat({ response_format: { schema: { _id: 1 } } })), key(chat({ response_format: { schema: {} } })));
  });

  it('changes with the endpoint kind and the server', () => {
    const base = key(chat());
    const embeddings: LLMRequest = { kind: 'embeddings', custom_id: 'row-1', line: 1, body: chat().body as never };
    assert.notEqual(key(embeddings), base);
    assert.notEqual(key(chat(), { baseURL: 'https://api.example.com/v1' }), base);
    assert.notEqual(key(chat(), { baseURL: 'https://api.openai.com/v2' }), base);
  });

  it('treats the scheme and host case and trailing slashes as the same server', () => {
    const base = key(chat());
    assert.equal(key(chat(), { baseURL: 'https://api.openai.com/v1/' }), base);
    assert.equal(key(chat(), { baseURL: 'HTTPS://API.OpenAI.com/v1//' }), base);
    // The path is case-sensitive.
    assert.notEqual(key(chat(), { baseURL: 'https://api.openai.com/V1' }), base);
  });

  it('changes with the model, any message, and temperature', () => {
    const base = key(chat());
    const variants = [
      chat({ model: 'gpt-4o' }),
      chat({ temperature: 0.7 }),
      chat({ temperature: undefined }),
      chat({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+3?' }] }),
      chat({ messages: [{ role: 'system', content: 'Be brief!' }, { role: 'user', content: 'What is 2+2?' }] }),
      chat({ messages: [{ role: 'user', content: 'What is 2+2?' }, { role: 'system', content: 'Be brief.' }] }),
      chat({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2? ' }] }),
      chat({ max_tokens: 10 }),
    ];
    const keys = new Set(variants.map((v) => key(v)));
    assert.equal(keys.size, variants.length);
    assert.ok(!keys.has(base));
  });

  it('cannot depend on an API key: providers with two keys give one key; a key in the URL is removed', () => {
    const one = createProvider({ apiKey: 'sk-one-0123456789abcdef', baseURL: 'https://api.example.com/v1' });
    const two = createProvider({ apiKey: 'sk-two-fedcba9876543210', baseURL: 'https://api.example.com/v1' });
    const other = createProvider({ apiKey: 'sk-one-0123456789abcdef', baseURL: 'https://other.example.com/v1' });
    try {
      assert.equal(key(chat(), one.scope), key(chat(), two.scope));
      assert.notEqual(key(chat(), one.scope), key(chat(), other.scope), 'the scope does count: the server changes the key');
      for (const p of [one, two]) {
        const d = describeRequestHash(chat(), p.scope);
        assert.ok(!d.canonical.includes('sk-') && !JSON.stringify(p.scope).includes('sk-'), d.canonical);
      }
    } finally {
      for (const p of [one, two, other]) p.close?.();
    }
    // Credentials in the base URL (user info) are not a server: same key, and never in the text.
    const secret = 'hunter2-0123456789';
    const inURL = createProvider({ apiKey: 'x', baseURL: `https://user:${secret}@API.example.com/v1/` });
    try {
      assert.equal(inURL.scope.baseURL, 'https://API.example.com/v1');
      assert.equal(key(chat(), inURL.scope), key(chat(), { baseURL: 'https://api.example.com/v1' }));
      assert.equal(key(chat(), { baseURL: `https://user:${secret}@api.example.com/v1` }), key(chat(), { baseURL: 'https://api.example.com/v1' }));
      const d = describeRequestHash(chat(), { baseURL: `https://user:${secret}@api.example.com/v1` });
      assert.ok(!d.canonical.includes(secret) && !d.parts.some((p) => p.value.includes(secret)), d.canonical);
    } finally {
      inURL.close?.();
    }
  });

  it('does not modify the request', () => {
    const request = chat({ stream: true, _x: 1, seed: undefined });
    const before = JSON.stringify(request);
    key(request);
    describeRequestHash(request, scope);
    assert.equal(JSON.stringify(request), before);
    assert.ok('stream' in request.body);
  });
});

describe('describeRequestHash', () => {
  it('gives the canonical text that hashes to the key', () => {
    const request = chat({ stream: true, _tag: 'x', stop: '' });
    const description = describeRequestHash(request, { baseURL: 'HTTPS://API.OPENAI.COM/v1/' });
    assert.equal(description.version, 'v2');
    assert.equal(description.key, key(request));
    assert.equal(description.key, `v2:${createHash('sha256').update(description.canonical).digest('hex')}`);
  });

  it('canonical text equals canonicalJson of the documented wrapper', () => {
    const request = chat({ stream: true, _tag: 'x', n: 2 });
    const { stream: _s, _tag: _t, ...kept } = request.body;
    const expected = canonicalJson({ v: 2, endpoint: { kind: 'chat', baseURL: 'https://api.openai.com/v1' }, body: kept });
    assert.equal(describeRequestHash(request, scope).canonical, expected);
  });

  it('lists the parts, including what was left out', () => {
    const parts = describeRequestHash(chat({ stream: true, _tag: 'x' }), scope).parts;
    const byName = new Map(parts.map((p) => [p.name, p.value]));
    assert.equal(byName.get('version'), 'v2');
    assert.equal(byName.get('endpoint.kind'), 'chat');
    assert.equal(byName.get('endpoint.baseURL'), 'https://api.openai.com/v1');
    assert.equal(byName.get('body.model'), '"gpt-4o-mini"');
    assert.equal(byName.get('body.temperature'), '0');
    assert.equal(byName.get('excluded'), '_tag, stream');
    assert.ok(!byName.has('body.stream'));
  });
});

describe('the v2 format', () => {
  it('matches the example in docs/request-hash.md exactly (keys must never change silently)', () => {
    const request: LLMRequest = {
      kind: 'chat',
      custom_id: 'q-17',
      line: 17,
      body: {
        temperature: 0,
        model: 'gpt-4o-mini',
        stream: true,
        _source: 'prompts.jsonl',
        seed: null as unknown as number,
        stop: '\n',
        messages: [
          { role: 'system', content: 'Answer in one word.' },
          { role: 'user', content: 'Capital of France?' },
        ],
      },
    };
    const description = describeRequestHash(request, { baseURL: 'https://API.OpenAI.com/v1/' });
    assert.equal(
      description.canonical,
      '{"body":{"messages":[{"content":"Answer in one word.","role":"system"},{"content":"Capital of France?","role":"user"}],' +
        '"model":"gpt-4o-mini","stop":"\\n","temperature":0},"endpoint":{"baseURL":"https://api.openai.com/v1","kind":"chat"},"v":2}',
    );
    assert.equal(description.key, 'v2:84c6daa3002fd9e8a4d638d7695bc2f26a1c1df3a9eebefc6fa75fe329fac716');
  });
});

describe('normalizeBaseURL', () => {
  it('lower-cases scheme and host only, and strips trailing slashes', () => {
    assert.equal(normalizeBaseURL('HTTP://LocalHost:8080/Proxy/V1///'), 'http://localhost:8080/Proxy/V1');
    assert.equal(normalizeBaseURL('https://example.com'), 'https://example.com');
  });

  it('removes user info (a credential), a password with an unescaped @ included', () => {
    assert.equal(normalizeBaseURL('https://User:Pw@Example.COM/'), 'https://example.com');
    assert.equal(normalizeBaseURL('https://user:p@ss@example.com/v1'), 'https://example.com/v1');
    assert.equal(normalizeBaseURL('https://token@example.com/v1?x=@y'), 'https://example.com/v1?x=@y');
  });
});
