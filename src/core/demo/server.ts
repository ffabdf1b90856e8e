/**
 * The demo server behind `fastllm demo` and *FastLLM: Try It Without a Key*: a small
 * OpenAI-compatible server on 127.0.0.1 that answers instead of a model, so that a newcomer sees
 * the whole job (progress, stats, results, a rerun from the cache) without a key or a network.
 *
 * - Loopback only (127.0.0.1, a free port), and it makes no request of its own.
 * - Deterministic: an answer is a pure function of the request (the same prompt, the same answer),
 *   so the cache can answer a rerun exactly.
 * - Labelled: every answer starts with {@link DEMO_LABEL} and says it is not from a model; every
 *   reply carries an `x-fastllm-demo` header and `system_fingerprint: "fastllm-demo"`.
 * - Any API key is accepted and never looked at.
 *
 * The replies follow OpenAI's API reference for the chat completion object, its streamed chunks
 * (`stream_options.include_usage`: one last chunk with empty `choices` and the usage, then
 * `data: [DONE]`; https://platform.openai.com/docs/api-reference/chat/streaming), embeddings and
 * the model list.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** How every demo answer starts. */
export const DEMO_LABEL = '[FastLLM demo server: this answer is not from a model]';

/** The model the demo server names when a request names none. */
export const DEMO_MODEL = 'fastllm-demo';

/** Options for {@link startDemoServer}. */
export interface DemoServerOptions {
  /**
   * The longest delay before an answer, in ms; each request waits a fixed share of it, taken from
   * its hash (so that progress can be watched, and a run takes the same time each time).
   * @default 400
   */
  maxLatencyMs?: number;
}

/** A running demo server. */
export interface DemoServer {
  /** Base URL for a client: `http://127.0.0.1:PORT/v1`. */
  readonly url: string;
  /** Model API requests answered so far (chat and embeddings). */
  readonly calls: number;
  close(): Promise<void>;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The text of a message's content: a string, or the text parts of an array. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof (p as { text?: unknown })?.text === 'string' ? (p as { text: string }).text : '')).join(' ');
  return '';
}

/** Rough token count (about 4 characters a token), enough for the stats of a demo. */
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** What the demo server answers to a prompt: labelled, and a pure function of the prompt. */
export function demoAnswer(prompt: string): string {
  const text = prompt.replace(/\s+/g, ' ').trim();
  const words = text ? text.split(' ').length : 0;
  const shown = text.length > 60 ? `${text.slice(0, 59)}…` : text;
  const tag = digest(text).toString('hex').slice(0, 8);
  return `${DEMO_LABEL} You asked: "${shown}" (${words} words, fingerprint ${tag}). A real model would answer here: point FastLLM at your provider to get one.`;
}

/** Starts the demo server on 127.0.0.1 and a free port. */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const maxLatency = Math.max(0, options.maxLatencyMs ?? 400);
  let calls = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!.replace(/\/+$/, '');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-fastllm-demo': 'not a model' });
        res.end(JSON.stringify(body));
      };
      const fail = (status: number, message: string) => send(status, { error: { message: `FastLLM demo server: ${message}`, type: 'invalid_request_error', param: null, code: null } });
      if (req.method === 'GET' && path === '/v1/models') {
        return send(200, { object: 'list', data: [{ id: DEMO_MODEL, object: 'model', created: 0, owned_by: 'fastllm-demo' }] });
      }
      if (req.method !== 'POST') return fail(404, `no route ${req.method} ${path}`);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        return fail(400, 'the body is not JSON');
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const delay = maxLatency === 0 ? 0 : digest(raw).readUInt16BE(0) % (maxLatency + 1);
      const model = typeof body.model === 'string' ? body.model : DEMO_MODEL;
      const id = digest(raw).toString('hex').slice(0, 24);
      if (path === '/v1/chat/completions') {
        calls++;
        const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
        const prompt = contentText([...messages].reverse().find((m) => m?.role === 'user')?.content);
        const answer = demoAnswer(prompt);
        const promptTokens = tokens(messages.map((m) => contentText(m?.content)).join('\n'));
        const usage = { prompt_tokens: promptTokens, completion_tokens: tokens(answer), total_tokens: promptTokens + tokens(answer) };
        const base = { id: `chatcmpl-demo-${id}`, created: 1_700_000_000, model, system_fingerprint: 'fastllm-demo' };
        setTimeout(() => {
          if (body.stream === true) {
            res.writeHead(200, { 'content-type': 'text/event-stream', 'x-fastllm-demo': 'not a model' });
            const event = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
            const withUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
            const chunk = (choices: unknown[]) => event({ ...base, object: 'chat.completion.chunk', choices, ...(withUsage ? { usage: null } : {}) });
            chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }]);
            for (const piece of answer.match(/\S+\s*/g) ?? []) chunk([{ index: 0, delta: { content: piece }, finish_reason: null, logprobs: null }]);
            chunk([{ index: 0, delta: {}, finish_reason: 'stop', logprobs: null }]);
            if (withUsage) event({ ...base, object: 'chat.completion.chunk', choices: [], usage });
            res.end('data: [DONE]\n\n');
            return;
          }
          send(200, {
            ...base,
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, finish_reason: 'stop', logprobs: null }],
            usage,
          });
        }, delay);
        return;
      }
      if (path === '/v1/embeddings') {
        calls++;
        const inputs = (Array.isArray(body.input) ? body.input : [body.input]).map((i) => (typeof i === 'string' ? i : JSON.stringify(i)));
        const data = inputs.map((text, index) => {
          const h = digest(text);
          return { object: 'embedding', index, embedding: Array.from({ length: 8 }, (_, i) => Math.round(((h[i]! / 255) * 2 - 1) * 1e6) / 1e6) };
        });
        const promptTokens = inputs.reduce((n, t) => n + tokens(t), 0);
        setTimeout(() => send(200, { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } }), delay);
        return;
      }
      return fail(404, `the demo server answers chat completions and embeddings only, not ${path}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get calls() {
      return calls;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
