/**
 * `fastllm demo` (issue 14 item 4): the demo server is loopback-only, deterministic and labelled,
 * speaks what the engine's provider expects (plain and streamed chat, embeddings), and the demo
 * runs the sample batch, then reruns it from the cache with 0 calls, without the user's key.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { DEMO_LABEL, demoAnswer, startDemoServer } from '../../src/core/demo/server';
import { OpenAIProvider } from '../../src/core/providers/openai';
import { CLI, runCli } from '../support/cli';
import type { LLMRequest } from '../../src/core/types';

const SAMPLE = resolve(__dirname, '../../media/samples/demo-prompts.txt');

const chat = (content: string) => ({ kind: 'chat', body: { model: 'any-model', messages: [{ role: 'user', content }] } }) as LLMRequest & { kind: 'chat' };
const opts = () => ({ signal: new AbortController().signal, timeoutMs: 10_000 });
const textOf = (body: unknown) => (body as { choices: { message: { content: string } }[] }).choices[0]!.message.content;

describe('the demo server', () => {
  test('listens on 127.0.0.1 only, answers every prompt with a labelled, deterministic text, plain and streamed', async () => {
    const server = await startDemoServer({ maxLatencyMs: 0 });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const provider = new OpenAIProvider({ apiKey: 'anything', baseURL: server.url });
      const a = await provider.send(chat('What is 2+2?'), opts());
      const b = await provider.send(chat('What is 2+2?'), opts());
      assert.equal(textOf(a.body), textOf(b.body));
      assert.deepEqual(a.body, b.body, 'the whole answer is the same, id included');
      assert.ok(textOf(a.body).startsWith(DEMO_LABEL));
      assert.match(textOf(a.body), /not from a model/);
      assert.equal(textOf(a.body), demoAnswer('What is 2+2?'));
      assert.notEqual(demoAnswer('What is 2+2?'), demoAnswer('What is 3+3?'));
      const deltas: string[] = [];
      const streamed = await provider.stream!(chat('What is 2+2?'), (t) => deltas.push(t), opts());
      assert.equal(deltas.join(''), demoAnswer('What is 2+2?'));
      assert.equal(textOf(streamed.body), demoAnswer('What is 2+2?'));
      const emb = await provider.send({ kind: 'embeddings', body: { model: 'e', input: ['x', 'y'] } } as LLMRequest, opts());
      assert.equal((emb.body as { data: unknown[] }).data.length, 2);
      assert.equal(server.calls, 4);
      provider.close?.();
    } finally {
      await server.close();
    }
  });
});

describe('fastllm demo', () => {
  test('runs the sample through the engine, reruns it from the cache with 0 calls, says where the results are; the user key stays out', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    const cwd = mkdtempSync(join(tmpdir(), 'fastllm-demo-'));
    const userKey = 'sk-user-real-key-0123456789abcdefghij';
    const run = () => runCli(['demo', '--max-latency-ms', '20'], cwd, { OPENAI_API_KEY: userKey, OPENAI_BASE_URL: 'https://api.openai.com/v1' });
    const prompts = readFileSync(SAMPLE, 'utf8').split('\n').filter((l) => l.trim());
    const first = await run();
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /demo server .*127\.0\.0\.1/);
    assert.match(first.stderr, /not from one|not from a model/);
    assert.match(first.stderr, new RegExp(`requests  ${prompts.length} \\(${prompts.length} ok, 0 failed, 0 retries, ${prompts.length} API calls\\)`));
    assert.match(first.stderr, new RegExp(`requests  ${prompts.length} \\(${prompts.length} ok, 0 failed, 0 retries, 0 API calls\\)`));
    assert.match(first.stderr, new RegExp(`The first run made ${prompts.length} calls; the second made 0\\.`));
    const results = join(cwd, 'fastllm-demo', 'demo-prompts.results.jsonl');
    assert.match(first.stderr, new RegExp(`Results: +${results.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(first.stderr, /point it at your provider/);
    const records = readFileSync(results, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { response?: { body: unknown } });
    assert.equal(records.length, prompts.length);
    records.forEach((r, i) => assert.equal(textOf(r.response!.body), demoAnswer(prompts[i]!)));
    // The user's key went nowhere the demo wrote.
    for (const f of [results, ...readdirSync(join(cwd, 'fastllm-demo', '.fastllm')).map((n) => join(cwd, 'fastllm-demo', '.fastllm', n))]) {
      assert.ok(!readFileSync(f).toString('latin1').includes(userKey), `${f} holds the user's key`);
    }
    // Again: a fresh demo cache, so the first run calls again.
    const again = await run();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`The first run made ${prompts.length} calls; the second made 0\\.`));
  });
});
