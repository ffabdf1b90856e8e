/**
 * A loopback fake of the OpenAI API for unit tests and benchmarks: chat completions (plain and
 * streamed), the Responses API (plain and streamed), embeddings and the model list, with knobs for
 * latency, failures, rate limits, reasoning and prompt-cache token usage, schema-shaped answers
 * and reasoning models that refuse `max_tokens` (./fakeModern.ts cites OpenAI's reference for each).
 *
 * Answers are a pure function of the request (`echo: <last user message>`, hashed embedding
 * vectors), so a test can compute what it expects. Token counts are characters / 4, the same rough
 * rule for the server's `usage`, its rate limiter and a test's expectations.
 *
 * @example
 * const server = await startFakeServer({ latencyMs: 5 });
 * server.behavior.plan = ({ attemptForBody }) => (attemptForBody === 1 ? { status: 503 } : undefined);
 * // … point a provider at server.url …
 * await server.close();
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { chatCompletion, chatEvents, type ChatStream } from './fakeChat';
import { embeddingInputs, embeddingList, errorBody, estimateTokens, type HeaderMap, maskKey, planChat } from './fakeReplies';
import { FakeRateLimiter, type FakeRateLimit } from './fakeRateLimits';
import { isReasoningModel, maxTokensUnsupportedBody, planResponses, requestedSchema, responseEvents, responseObject, valueFor, type UsageExtras } from './fakeModern';
export { estimateTokens, formatResetDuration, fakeEmbedding, quotaErrorBody } from './fakeReplies';
export type { FakeRateLimit } from './fakeRateLimits';

/** What the fake advertises when a test sets no limit: OpenAI-style headers on every reply, never limiting. */
const UNREACHED_LIMIT: FakeRateLimit = { rpm: 1_000_000, tpm: 10_000_000_000 };

/** What the server does with one request instead of answering it normally. */
export type FakeAction =
  /** A 429 with `retry-after` (seconds) and/or `retry-after-ms` headers when given. */
  | { status: 429; retryAfter?: number; retryAfterMs?: number; body?: unknown }
  /** An error status; `body` replaces the default OpenAI-shaped error (a string is sent raw). */
  | { status: 400 | 401 | 403 | 404 | 408 | 409 | 422 | 500 | 502 | 503 | 504; body?: unknown }
  /** Destroys the socket without answering. */
  | { reset: true }
  /**
   * Never answers; the request stays in flight until the client gives up or the server closes.
   * With `afterHeaders`, sends a 200's headers (and a first byte) first, then nothing more; in a
   * stream, the headers and the first `afterChunks` events (see {@link StreamFault}).
   */
  | ({ stall: true; afterHeaders?: boolean } & StreamFault)
  /** A 200 whose body is not valid JSON (in a stream: an event that is not JSON, after `afterChunks` good ones). */
  | ({ badJson: true } & StreamFault)
  /** Sends part of the answer, then destroys the socket (streamed: the first `afterChunks` events). */
  | ({ cutStream: true } & StreamFault)
  /**
   * A stream that ends cleanly (usage chunk, `data: [DONE]`) but never sends a finish_reason:
   * for every choice (`true`) or for the choices listed. A plain answer is not affected.
   */
  | { noFinishReason: true | number[] };

/** Where a fault cuts into a streamed answer. */
export interface StreamFault {
  /**
   * Events of the answer sent whole before the fault. Default: half of the events before the
   * first finish_reason, and at least 2 (the role chunk and a first piece), so that a client
   * always has a prefix of the answer in hand when the fault comes.
   */
  afterChunks?: number;
}

/** What a {@link FakeBehavior.plan} function is told about a request. */
export interface PlanContext {
  /** 0-based index of the request among all requests since start or {@link FakeServer.reset}. */
  index: number;
  /** The URL path, e.g. `/v1/chat/completions`. */
  path: string;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
  /** 1 the first time this exact body is seen, 2 the second time (a retry), and so on. */
  attemptForBody: number;
}

/** Knobs read on every request; change them at any time through {@link FakeServer.behavior}. */
export interface FakeBehavior {
  /**
   * Delay before answering, in ms: a number, or a function of the request index (e.g.
   * `() => 5 + Math.random() * 20`). Rate-limit 429s are answered at once, as real APIs do.
   * @default 0
   */
  latencyMs?: number | ((index: number) => number);
  /** The first `failFirst` attempts of every distinct body fail with {@link failWith}. @default 0 */
  failFirst?: number;
  /** The failure used by {@link failFirst}. @default { status: 500 } */
  failWith?: FakeAction;
  /** Decides per request; return undefined to answer normally. Runs after {@link failFirst}. */
  plan?: (ctx: PlanContext) => FakeAction | undefined;
  /**
   * A GPU-like server for `concurrency: 'auto'`: latency `baseMs` while at most `capacity`
   * requests are in flight, growing in proportion beyond (replaces `latencyMs`). @default none
   */
  gpu?: { capacity: number; baseMs: number };
  /**
   * Chat requests this returns text for are answered with that refusal (`message.refusal`, with
   * `content: null`; streamed in `delta.refusal`), as OpenAI answers when a model declines.
   * @default undefined (no refusals)
   */
  refuse?: (body: Record<string, unknown>) => string | undefined;
  /**
   * Reasoning tokens reported by answers of reasoning models (o-series, gpt-5 family), added to
   * their output tokens, as OpenAI reports them (`completion_tokens_details.reasoning_tokens`,
   * Responses `output_tokens_details.reasoning_tokens`). @default 0 (no `*_details` in `usage`)
   */
  reasoningTokens?: number;
  /**
   * Prompt tokens reported as served from the prompt cache (`prompt_tokens_details.cached_tokens`,
   * Responses `input_tokens_details.cached_tokens`), per request; capped at the prompt's tokens.
   * @default none (no `*_details` in `usage`)
   */
  cachedTokens?: number | ((body: Record<string, unknown>) => number);
  /**
   * The answer text for a chat or Responses request, instead of `echo: …` or the JSON that follows
   * the request's schema (e.g. to send JSON that breaks it). Undefined: answer normally. @default none
   */
  answerText?: (body: Record<string, unknown>) => string | undefined;
  /**
   * Reasoning models answer a chat request that has `max_tokens` with OpenAI's 400 "Unsupported
   * parameter: 'max_tokens' …" (code `unsupported_parameter`): `true` for the o-series and gpt-5
   * family, or the list of model names that do. @default false
   */
  rejectMaxTokens?: boolean | string[];
  /** When set, requests whose bearer token (or `api-key` header) differs get OpenAI's 401. */
  requireKey?: string;
  /**
   * Rate limits on chat and embeddings requests, enforced as the provider of `style` documents
   * them (see ./fakeRateLimits.ts: OpenAI's quantized token buckets with `x-ratelimit-*` headers on
   * every reply, Azure's 1- and 10-second windows, or a server that says nothing). Requests failed
   * by {@link failFirst} or {@link plan} are not charged. Set to `false` for no limit and no
   * headers at all.
   * @default OpenAI style with limits no test reaches (1,000,000 requests and 10^10 tokens a
   *   minute), so that every reply carries `x-ratelimit-*` headers, as OpenAI's do
   */
  rateLimit?: FakeRateLimit | false;
}

export interface FakeServerOptions extends FakeBehavior {
  /**
   * Keep each request's path, parsed body and headers in {@link FakeServer.requests}; turn off for
   * benchmarks (counters still work).
   * @default true
   */
  recordBodies?: boolean;
  /** Model ids listed by `GET /v1/models`. @default ['gpt-4o-mini', 'text-embedding-3-small'] */
  models?: string[];
  /**
   * Port to listen on, e.g. a closed server's, to play a server that goes away and comes back.
   * @default 0 (any free port)
   */
  port?: number;
}

export interface RecordedRequest {
  index: number;
  method: string;
  path: string;
  /** Path and query string, e.g. `/v1/chat/completions?api-version=2024-10-21`. */
  url: string;
  body: unknown;
  headers: http.IncomingHttpHeaders;
  /** Epoch ms when the request arrived. */
  at: number;
}

export interface FakeServer {
  /** Base URL to hand to a client, e.g. `http://127.0.0.1:PORT/v1`. */
  readonly url: string;
  readonly port: number;
  /** The live knobs; assign a new object or mutate this one. */
  behavior: FakeBehavior;
  /** Merges `patch` into {@link behavior}. */
  setBehavior(patch: FakeBehavior): void;
  /** Requests received, oldest first (empty when `recordBodies` is false). */
  readonly requests: RecordedRequest[];
  /** Requests received (every path, including failed ones). */
  readonly count: number;
  /** Requests received per path. */
  readonly countByPath: Readonly<Record<string, number>>;
  /** Error replies sent, per HTTP status (e.g. `countByStatus[429]`: the 429s of any cause). */
  readonly countByStatus: Readonly<Record<number, number>>;
  /** Requests received and not yet answered or abandoned. */
  readonly inFlight: number;
  /**
   * The highest {@link inFlight} seen: the client's effective concurrency. Only meaningful with
   * `latencyMs` > 0; a request answered at once never overlaps another in this single thread.
   */
  readonly maxInFlight: number;
  /** Clears counters, recorded requests, per-body attempts and the rate-limit window (not behavior). */
  reset(): void;
  /** Stops listening and destroys every socket, stalled ones included. */
  close(): Promise<void>;
}

/**
 * The plan of a chat answer: `echo: …` (fakeReplies.ts), or the text of `answerText`, or JSON that
 * follows the request's schema, cut at the token limit; with the usage extras to report.
 */
function chatPlan(body: Record<string, unknown>, b: FakeBehavior, extras: UsageExtras | undefined): ReturnType<typeof planChat> {
  const plan = planChat(body);
  const schema = requestedSchema(body);
  const override = b.answerText?.(body);
  if (override !== undefined || schema) {
    const prompt = plan.answer.startsWith('echo: ') ? lastUser(body) : '';
    let answer = override ?? JSON.stringify(valueFor(schema!, prompt));
    const cap = Number(body.max_completion_tokens ?? body.max_tokens);
    let finish: 'stop' | 'length' = 'stop';
    if (Number.isFinite(cap) && cap > 0 && estimateTokens(answer) > cap) {
      answer = answer.slice(0, cap * 4);
      finish = 'length';
    }
    const completionTokens = estimateTokens(answer);
    Object.assign(plan, { answer, finish, completionTokens, charge: plan.promptTokens + (Number.isFinite(cap) && cap > 0 ? cap : completionTokens) });
  }
  return extras ? { ...plan, extras } : plan;
}

function lastUser(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
  const m = [...messages].reverse().find((x) => x?.role === 'user');
  return typeof m?.content === 'string' ? m.content : '';
}

export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const { recordBodies = true, models = ['gpt-4o-mini', 'text-embedding-3-small'], port: wantedPort = 0, ...initial } = options;
  let behavior: FakeBehavior = { ...initial };
  let requests: RecordedRequest[] = [];
  let countByPath: Record<string, number> = {};
  let countByStatus: Record<number, number> = {};
  let count = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let attempts = new Map<string, number>();
  /** The limiter, rebuilt whenever the configured limit changes (and on reset). */
  let limiter: { built: boolean; config: FakeRateLimit | false | undefined; impl: FakeRateLimiter | undefined } = { built: false, config: undefined, impl: undefined };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  /** Applies the rate limit to a request charged `charge` tokens; returns its headers and any wait. */
  function admit(charge: number, consume: boolean): { headers: Record<string, string>; waitMs: number; retryAfter: boolean } {
    const config = behavior.rateLimit;
    if (!limiter.built || limiter.config !== config) {
      limiter = { built: true, config, impl: config === false ? undefined : new FakeRateLimiter(config ?? UNREACHED_LIMIT) };
    }
    return limiter.impl?.admit(charge, consume) ?? { headers: {}, waitMs: 0, retryAfter: false };
  }

  function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    if (status >= 400) countByStatus[status] = (countByStatus[status] ?? 0) + 1;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  /** Writes `data` and then destroys the socket, so that the client sees a truncated reply. */
  function writeThenCut(res: http.ServerResponse, data: string): void {
    res.write(data, () => res.destroy());
  }

  /** Sends a 200 JSON document; `badJson` sends half of it (still labelled JSON), `cutStream` half, then a cut. */
  function sendDocument(res: http.ServerResponse, text: string, headers: HeaderMap, action?: FakeAction): void {
    const half = text.slice(0, text.length >> 1);
    const body = action && 'badJson' in action ? half : text;
    res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    if (action && 'cutStream' in action) return writeThenCut(res, half);
    res.end(body);
  }

  /** Sends a streamed answer, or (with a fault) its first events and then the fault. */
  function sendEvents(res: http.ServerResponse, stream: ChatStream, headers: HeaderMap, action?: FakeAction): void {
    const { events, beforeFinish } = stream;
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const fault = action && ('cutStream' in action || 'badJson' in action || 'stall' in action) ? action : undefined;
    if (!fault) return void res.end(events.join(''));
    const k = Math.min(events.length - 1, fault.afterChunks ?? Math.max(2, beforeFinish >> 1));
    const sent = events.slice(0, k).join('');
    if ('cutStream' in fault) return writeThenCut(res, sent);
    if ('badJson' in fault) return void res.end(`${sent}data: {"id": oops\n\n`);
    res.write(sent); // then stall: nothing more until the client gives up
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const index = count++;
    const path = (req.url ?? '/').split('?')[0];
    countByPath[path] = (countByPath[path] ?? 0) + 1;
    let body: Record<string, unknown> = {};
    let parsed = raw === '';
    try {
      if (raw !== '') {
        body = JSON.parse(raw) as Record<string, unknown>;
        parsed = true;
      }
    } catch {
      /* answered as a 400 below */
    }
    if (recordBodies) {
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      requests.push({ index, method, path, url, body: parsed ? body : raw, headers: req.headers, at: Date.now() });
    }
    const base = { 'x-request-id': `req_fake${index}` };
    const b = behavior;
    if (b.requireKey !== undefined) {
      const given = /^Bearer (.*)$/i.exec(req.headers.authorization ?? '')?.[1] ?? String(req.headers['api-key'] ?? '');
      if (given !== b.requireKey) {
        const message =
          `Incorrect API key provided: ${maskKey(given)}. ` +
          'You can find your API key at https://platform.openai.com/account/api-keys.';
        return sendJson(res, 401, errorBody(401, message), base);
      }
    }
    if (req.method === 'GET' && path.endsWith('/openai/deployments')) {
      // Azure OpenAI's data-plane "Deployments - List" (api-version up to 2023-03-15-preview): one
      // deployment per model id, named after it. Later versions answer 404, as Azure does.
      const version = new URL(req.url ?? '/', 'http://x').searchParams.get('api-version') ?? '';
      if (version > '2023-03-15-preview') return sendJson(res, 404, errorBody(404, 'Resource not found'), base);
      const data = models.map((id) => ({ id, model: id, object: 'deployment', status: 'succeeded', created_at: 1700000000 }));
      return sendJson(res, 200, { object: 'list', data }, base);
    }
    if (req.method === 'GET' && path.endsWith('/models')) {
      const data = models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' }));
      return sendJson(res, 200, { object: 'list', data }, base);
    }
    // Routed by suffix, so that Azure-style paths (`/openai/deployments/D/chat/completions`) work too.
    const kind = path.endsWith('/chat/completions') ? 'chat' : path.endsWith('/embeddings') ? 'embeddings' : path.endsWith('/responses') ? 'responses' : undefined;
    if (req.method !== 'POST' || !kind) {
      return sendJson(res, 404, errorBody(404, `Unknown request URL: ${req.method} ${path}.`), base);
    }
    if (!parsed) return sendJson(res, 400, errorBody(400, 'We could not parse the JSON body of your request.'), base);

    let action: FakeAction | undefined;
    if (b.failFirst || b.plan) {
      const attemptForBody = (attempts.get(raw) ?? 0) + 1;
      attempts.set(raw, attemptForBody);
      if (attemptForBody <= (b.failFirst ?? 0)) action = b.failWith ?? { status: 500 };
      action ??= b.plan?.({ index, path, body, attemptForBody });
    }
    const rejects = b.rejectMaxTokens === true ? isReasoningModel(body.model) : Array.isArray(b.rejectMaxTokens) && b.rejectMaxTokens.includes(String(body.model));
    if (action === undefined && kind === 'chat' && rejects && body.max_tokens !== undefined) {
      return sendJson(res, 400, maxTokensUnsupportedBody(), base);
    }
    const extras: UsageExtras | undefined =
      (b.reasoningTokens && isReasoningModel(body.model)) || b.cachedTokens !== undefined
        ? {
            reasoningTokens: isReasoningModel(body.model) ? (b.reasoningTokens ?? 0) : 0,
            cachedTokens: typeof b.cachedTokens === 'function' ? b.cachedTokens(body) : (b.cachedTokens ?? 0),
          }
        : undefined;
    const chat = kind === 'chat' ? chatPlan(body, b, extras) : undefined;
    const responses = kind === 'responses' ? planResponses(body, b.answerText) : undefined;
    const charge = chat ? chat.charge : responses ? responses.charge : embeddingInputs(body.input).reduce((s, t) => s + estimateTokens(t), 0);
    const limits = admit(charge, action === undefined);
    const headers = { ...base, ...limits.headers };
    if (action === undefined && limits.waitMs > 0) {
      const wait = Math.ceil(limits.waitMs);
      const rh = limits.retryAfter ? { ...headers, 'retry-after-ms': String(wait), 'retry-after': String(Math.ceil(wait / 1000)) } : headers;
      return sendJson(res, 429, errorBody(429), rh);
    }

    const refusal = chat ? b.refuse?.(body) : undefined;
    const respond = () => {
      if (res.destroyed) return;
      if (action && 'stall' in action) {
        if (!action.afterHeaders) return;
        if (chat && body.stream === true) return sendEvents(res, chatEvents(body, chat, index, refusal), headers, action);
        res.writeHead(200, { ...headers, 'content-type': 'application/json' });
        return void res.write('{');
      }
      if (action && 'reset' in action) return void req.socket.destroy();
      if (action && 'status' in action) {
        const h: Record<string, string> = { ...headers };
        if (action.status === 429) {
          if (action.retryAfter !== undefined) h['retry-after'] = String(action.retryAfter);
          if (action.retryAfterMs !== undefined) h['retry-after-ms'] = String(action.retryAfterMs);
        }
        return sendJson(res, action.status, action.body ?? errorBody(action.status), h);
      }
      if (responses) {
        if (body.stream === true) sendEvents(res, responseEvents(body, responses, index, extras), headers, action);
        else sendDocument(res, JSON.stringify(responseObject(body, responses, index, extras)), headers, action);
      } else if (!chat) sendDocument(res, embeddingList(body), headers, action);
      else if (body.stream === true) {
        const ending = action && 'noFinishReason' in action ? action.noFinishReason : undefined;
        const withoutFinish = ending === true ? Array.from({ length: Math.max(1, Number(body.n) || 1) }, (_, i) => i) : ending;
        sendEvents(res, chatEvents(body, chat, index, refusal, { withoutFinish }), headers, action);
      } else sendDocument(res, chatCompletion(body, chat, index, refusal), headers, action && 'noFinishReason' in action ? undefined : action);
    };
    let latency = typeof b.latencyMs === 'function' ? b.latencyMs(index) : (b.latencyMs ?? 0);
    // A GPU-like server: up to `capacity` requests share one batch at no cost; past it, each waits
    // in proportion to the load it arrived into (vLLM's and Ollama's behaviour under load).
    if (b.gpu) latency = b.gpu.baseMs * Math.max(1, inFlight / b.gpu.capacity);
    if (latency > 0) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        respond();
      }, latency);
      timers.add(timer);
    } else {
      respond();
    }
  }

  const server = http.createServer((req, res) => {
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    res.once('close', () => inFlight--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  // Clients keep many sockets alive at high concurrency; don't let Node's defaults cut them.
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(wantedPort, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    get behavior() {
      return behavior;
    },
    set behavior(next: FakeBehavior) {
      behavior = next;
    },
    setBehavior(patch) {
      behavior = { ...behavior, ...patch };
    },
    get requests() {
      return requests;
    },
    get count() {
      return count;
    },
    get countByPath() {
      return countByPath;
    },
    get countByStatus() {
      return countByStatus;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    reset() {
      requests = [];
      countByPath = {};
      countByStatus = {};
      count = 0;
      maxInFlight = inFlight;
      attempts = new Map();
      limiter = { built: false, config: undefined, impl: undefined };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
