/**
 * A loopback fake of the OpenAI API for unit tests and benchmarks: chat completions (plain and
 * streamed), embeddings and the model list, with knobs for latency, failures and rate limits.
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
import { chatCompletion, chatEvents, embeddingInputs, embeddingList, errorBody, estimateTokens, formatResetDuration, type HeaderMap, maskKey, planChat } from './fakeReplies';
export { estimateTokens, formatResetDuration, fakeEmbedding } from './fakeReplies';

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
   * With `afterHeaders`, sends a 200's headers (and a first byte) first, then nothing more.
   */
  | { stall: true; afterHeaders?: boolean }
  /** A 200 whose body is not valid JSON (in a stream: one event that is not JSON). */
  | { badJson: true }
  /** Sends part of the answer, then destroys the socket (streamed or not). */
  | { cutStream: true };

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
  /** When set, requests whose bearer token (or `api-key` header) differs get OpenAI's 401. */
  requireKey?: string;
  /**
   * A sliding-window limit on chat and embeddings requests. Each request is charged its prompt
   * tokens plus `max_completion_tokens` / `max_tokens` (or, without those, the answer's tokens),
   * as OpenAI charges at admission. Over the limit: 429 with `retry-after-ms` and `retry-after`.
   * Requests failed by {@link failFirst} or {@link plan} are not charged.
   * When set, every response carries `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`;
   * `reset` is the time until the oldest counted request leaves the window (when capacity next
   * grows), in OpenAI's format.
   */
  rateLimit?: { rpm?: number; tpm?: number; /** @default 60000 */ windowMs?: number };
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

/** A sliding-window log of (time, amount) entries, kept as parallel arrays with a moving head. */
class Window {
  private at: number[] = [];
  private amount: number[] = [];
  private head = 0;
  used = 0;

  prune(now: number, windowMs: number): void {
    while (this.head < this.at.length && this.at[this.head] <= now - windowMs) this.used -= this.amount[this.head++];
    if (this.head > 4096 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.amount = this.amount.slice(this.head);
      this.head = 0;
    }
  }

  /** Ms until `need` more fits under `limit` (0 if it fits now). Call after prune(). */
  waitFor(now: number, need: number, limit: number, windowMs: number): number {
    let used = this.used;
    for (let i = this.head; i < this.at.length && used + need > limit; i++) {
      used -= this.amount[i];
      if (used + need <= limit) return this.at[i] + windowMs - now;
    }
    return used + need > limit ? windowMs : 0;
  }

  /** Ms until the oldest entry leaves the window (when capacity next grows). */
  nextFree(now: number, windowMs: number): number {
    return this.head < this.at.length ? this.at[this.head] + windowMs - now : 0;
  }

  add(now: number, n: number): void {
    this.at.push(now);
    this.amount.push(n);
    this.used += n;
  }
}

export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const { recordBodies = true, models = ['gpt-4o-mini', 'text-embedding-3-small'], port: wantedPort = 0, ...initial } = options;
  let behavior: FakeBehavior = { ...initial };
  let requests: RecordedRequest[] = [];
  let countByPath: Record<string, number> = {};
  let count = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let attempts = new Map<string, number>();
  let reqWindow = new Window();
  let tokWindow = new Window();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  /** Applies the rate limit to a request charged `charge` tokens; returns its headers and any wait. */
  function admit(charge: number, consume: boolean): { headers: Record<string, string>; waitMs: number } {
    const rl = behavior.rateLimit;
    const headers: Record<string, string> = {};
    if (!rl || (rl.rpm === undefined && rl.tpm === undefined)) return { headers, waitMs: 0 };
    const windowMs = rl.windowMs ?? 60_000;
    const now = Date.now();
    reqWindow.prune(now, windowMs);
    tokWindow.prune(now, windowMs);
    const waitMs = Math.max(
      rl.rpm !== undefined ? reqWindow.waitFor(now, 1, rl.rpm, windowMs) : 0,
      rl.tpm !== undefined ? tokWindow.waitFor(now, charge, rl.tpm, windowMs) : 0,
    );
    if (waitMs === 0 && consume) {
      reqWindow.add(now, 1);
      tokWindow.add(now, charge);
    }
    for (const [kind, limit, w] of [['requests', rl.rpm, reqWindow], ['tokens', rl.tpm, tokWindow]] as const) {
      if (limit === undefined) continue;
      headers[`x-ratelimit-limit-${kind}`] = String(limit);
      headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, limit - w.used));
      headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(w.nextFree(now, windowMs));
    }
    return { headers, waitMs };
  }

  function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
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

  function sendEvents(res: http.ServerResponse, events: string[], headers: HeaderMap, action?: FakeAction): void {
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (action && 'cutStream' in action) return writeThenCut(res, events.slice(0, 2).join(''));
    if (action && 'badJson' in action) return void res.end(`${events[0]}data: {"id": oops\n\n`);
    res.end(events.join(''));
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
    if (req.method === 'GET' && path.endsWith('/models')) {
      const data = models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' }));
      return sendJson(res, 200, { object: 'list', data }, base);
    }
    // Routed by suffix, so that Azure-style paths (`/openai/deployments/D/chat/completions`) work too.
    const kind = path.endsWith('/chat/completions') ? 'chat' : path.endsWith('/embeddings') ? 'embeddings' : undefined;
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
    const chat = kind === 'chat' ? planChat(body) : undefined;
    const charge = chat ? chat.charge : embeddingInputs(body.input).reduce((s, t) => s + estimateTokens(t), 0);
    const limits = admit(charge, action === undefined);
    const headers = { ...base, ...limits.headers };
    if (action === undefined && limits.waitMs > 0) {
      const wait = Math.ceil(limits.waitMs);
      const rh = { ...headers, 'retry-after-ms': String(wait), 'retry-after': String(Math.ceil(wait / 1000)) };
      return sendJson(res, 429, errorBody(429), rh);
    }

    const respond = () => {
      if (res.destroyed) return;
      if (action && 'stall' in action) {
        if (!action.afterHeaders) return;
        const sse = body.stream === true;
        res.writeHead(200, { ...headers, 'content-type': sse ? 'text/event-stream' : 'application/json' });
        return void res.write(sse ? ': stalled\n\n' : '{');
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
      if (!chat) sendDocument(res, embeddingList(body), headers, action);
      else if (body.stream === true) sendEvents(res, chatEvents(body, chat, index), headers, action);
      else sendDocument(res, chatCompletion(body, chat, index), headers, action);
    };
    const latency = typeof b.latencyMs === 'function' ? b.latencyMs(index) : (b.latencyMs ?? 0);
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
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    reset() {
      requests = [];
      countByPath = {};
      count = 0;
      maxInFlight = inFlight;
      attempts = new Map();
      reqWindow = new Window();
      tokWindow = new Window();
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
