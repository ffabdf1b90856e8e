/**
 * A loopback fake of OpenAI's Files and Batches endpoints (plus chat completions and embeddings,
 * answered live and counted, so a test can assert that a later live run made no call).
 *
 * Jobs run when they are polled: each `GET /v1/batches/{id}` moves a job one step, as the
 * job's {@link FakeBatchPlan} says (stay `in_progress` for a few polls, then complete, expire with
 * part of its rows done, or fail; rows can go to the error file). Answers are `echo: <last user
 * message>`, like the live fake server's, with usage of characters / 4.
 *
 * It holds to what OpenAI documents, not to what our client would find convenient:
 * - "The output line order may not match the input line order. Instead of relying on order to
 *   process your results, use the custom_id field" (https://platform.openai.com/docs/guides/batch,
 *   "Retrieve the results"): every output and error file here is shuffled, and never left in
 *   input order.
 * - `output_file_id` is "the file containing the outputs of successfully executed requests" and
 *   `error_file_id` "the file containing the outputs of requests with errors"
 *   (https://platform.openai.com/docs/api-reference/batch/object); a line's `response` carries the
 *   HTTP status and body, and `error` is for "requests that failed with a non-HTTP error"
 *   (https://platform.openai.com/docs/api-reference/batch/request-output). Clients in the wild
 *   have seen non-2xx responses in the output file too, so the failures a plan asks for are
 *   spread over both files: every other one goes to the output file with its non-2xx status.
 * - Expired jobs: "unfinished requests … will be written to the error file" with code
 *   `batch_expired` (guide, "Batch expiration"): see {@link FakeBatchPlan.expiredInErrorFile}.
 * - Any call can fail on the way (a 502 from a proxy, a reset, a download cut half-way), as live
 *   calls can: {@link FakeBatchApi.inject} makes the next calls of a route fail so.
 *
 * @example
 * const api = await startFakeBatchApi();
 * api.plan = () => ({ finalStatus: 'expired', answered: 2 });
 * // … point a BatchApiClient at api.url …
 * await api.close();
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { BatchInputLine, BatchObject, BatchOutputLine } from '../../src/core/batchApi/types';
import { isReasoningModel, planResponses, responseObject } from './fakeModern';

/** How one fake job ends. */
export interface FakeBatchPlan {
  /** Polls answered `in_progress` before the job reaches its final status. @default 0 */
  pollsBeforeDone?: number;
  /** @default 'completed' */
  finalStatus?: 'completed' | 'expired' | 'failed';
  /** For `expired` (and for a cancelled job): rows answered before the end, in file order. @default 0 */
  answered?: number;
  /** A row to fail instead of answer: it goes to the error file with this HTTP status and error. */
  rowError?: (line: BatchInputLine) => { status: number; code: string; message: string } | undefined;
  /** For `expired`: put the unanswered rows in the error file with code `batch_expired`, as OpenAI does. @default false */
  expiredInErrorFile?: boolean;
}

interface FakeFile {
  id: string;
  filename: string;
  purpose: string;
  content: string;
  created_at: number;
}

interface FakeJob {
  batch: BatchObject;
  lines: BatchInputLine[];
  plan: FakeBatchPlan;
  polls: number;
}

/** Options of {@link startFakeBatchApi}. */
export interface FakeBatchApiOptions {
  /**
   * Play Azure OpenAI's classic API: Files and Batches under `/openai`, `api-version` required on
   * every call, the key in `api-key`, endpoints without `/v1`, and every line of a job naming the
   * deployment as its model (a job that does not is refused, as Azure fails it).
   */
  azure?: { apiVersion: string; deployment: string };
}

/** A failure to answer a call with, in place of its answer (see {@link FakeBatchApi.inject}). */
export type FakeFault =
  /** HTTP 502 with a proxy's HTML page, as a load balancer answers when the backend is away. */
  | 502
  /** HTTP 500 with OpenAI's JSON error. */
  | 500
  /** The connection is destroyed before any answer. */
  | 'reset'
  /** Downloads only: headers and half the file, then the connection is destroyed. */
  | 'cut'
  /** The call takes effect (a job is created, a cancel is made), but the connection is destroyed instead of answering. */
  | 'lost'
  /** Any status with OpenAI's JSON error body, and `retry-after` (seconds) when given. */
  | { status: number; retryAfter?: string }
  /** No fault: this call is answered normally (to let the first calls through). */
  | null;

export interface FakeBatchApi {
  /** `http://127.0.0.1:PORT/v1`; with `azure`, `http://127.0.0.1:PORT/openai/deployments/<deployment>`. */
  readonly url: string;
  /** Decides how each new job ends (0-based job index). @default () => ({}) */
  plan: (index: number, lines: BatchInputLine[]) => FakeBatchPlan;
  /**
   * Requests by `METHOD path-pattern`, e.g. `POST /v1/files`, `GET /v1/batches/:id`, `POST /v1/chat/completions`
   * (Azure's `/openai/files`… are counted under the same `/v1` names).
   */
  readonly counts: Readonly<Record<string, number>>;
  /** The jobs created, oldest first. */
  jobs(): { batch: BatchObject; lines: BatchInputLine[] }[];
  /** The `Authorization` headers seen (with `azure`, the `api-key` headers). */
  readonly authHeaders: string[];
  /**
   * Makes the next calls of a route (`GET /v1/batches/:id`, `GET /v1/files/:id/content`, …, as
   * in {@link counts}) fail, one fault per call, in order. Counted in {@link counts} all the same.
   */
  inject(route: string, ...faults: FakeFault[]): void;
  /** Faults injected and not yet used, by route. */
  readonly pendingFaults: Readonly<Record<string, number>>;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A Responses API answer to a `/v1/responses` line (the Batch API accepts them:
 * https://platform.openai.com/docs/api-reference/batch/create, `endpoint` "/v1/responses"): the
 * same `response` object the live fake sends (./fakeModern.ts), with reasoning tokens for
 * reasoning models so that batch statistics can be checked.
 */
function responsesAnswer(body: Record<string, unknown>, n: number): unknown {
  return responseObject(body, planResponses(body), n, { reasoningTokens: isReasoningModel(body.model) ? 8 : 0, cachedTokens: 0 });
}

function echoAnswer(body: Record<string, unknown>, n: number): unknown {
  const tokens = (t: string) => Math.max(1, Math.ceil(t.length / 4));
  if (Array.isArray(body.messages) || !('input' in body)) {
    const messages = (body.messages as { role?: string; content?: unknown }[] | undefined) ?? [];
    const last = [...messages].reverse().find((m) => m.role === 'user');
    const answer = `echo: ${typeof last?.content === 'string' ? last.content : ''}`;
    const p = tokens(messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join(''));
    const c = tokens(answer);
    return {
      id: `chatcmpl-batch${n}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: String(body.model ?? 'gpt-4o-mini'),
      choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c },
    };
  }
  const inputs = Array.isArray(body.input) ? (body.input as unknown[]).map(String) : [String(body.input)];
  const t = inputs.reduce((s, x) => s + tokens(x), 0);
  return {
    object: 'list',
    data: inputs.map((x, index) => ({ object: 'embedding', index, embedding: [x.length / 100, 0.5, -0.25] })),
    model: String(body.model ?? 'text-embedding-3-small'),
    usage: { prompt_tokens: t, total_tokens: t },
  };
}

/**
 * The lines in a seeded random order that is never the input order (for two or more lines), so
 * that a client joining by position fails every time, not one run in n!.
 */
function shuffled<T>(lines: T[], seed: number): T[] {
  const out = [...lines];
  let x = (seed * 2654435761) >>> 0 || 1;
  const next = () => ((x = (x ^ (x << 13)) >>> 0), (x = (x ^ (x >>> 17)) >>> 0), (x = (x ^ (x << 5)) >>> 0), x / 2 ** 32);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  if (out.length > 1 && out.every((l, i) => l === lines[i])) out.push(out.shift()!);
  return out;
}

export async function startFakeBatchApi(options: FakeBatchApiOptions = {}): Promise<FakeBatchApi> {
  const azure = options.azure;
  const files = new Map<string, FakeFile>();
  const jobs: FakeJob[] = [];
  let counts: Record<string, number> = {};
  let faults: Record<string, FakeFault[]> = {};
  let authHeaders: string[] = [];
  let seq = 0;
  const now = () => Math.floor(Date.now() / 1000);

  const addFile = (content: string, filename: string, purpose: string): FakeFile => {
    const f = { id: `file-${++seq}`, filename, purpose, content, created_at: now() };
    files.set(f.id, f);
    return f;
  };

  /** Writes the output and error files of a job that ends with its first `answered` rows done. */
  const finish = (job: FakeJob, status: 'completed' | 'expired' | 'failed' | 'cancelled', answered: number) => {
    const b = job.batch;
    b.status = status;
    b[`${status}_at` as 'completed_at'] = now();
    if (status === 'failed') {
      b.errors = { data: [{ code: 'invalid_request', message: 'The input file is invalid (fake).', line: 1 }] };
      return;
    }
    const out: BatchOutputLine[] = [];
    const err: BatchOutputLine[] = [];
    let failures = 0;
    job.lines.forEach((line, i) => {
      const id = `batch_req_${seq}_${i}`;
      if (i >= answered) {
        if (status === 'expired' && job.plan.expiredInErrorFile) {
          err.push({ id, custom_id: line.custom_id, response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } });
        }
        return;
      }
      const failure = job.plan.rowError?.(line);
      if (failure) {
        const body = { error: { message: failure.message, type: 'invalid_request_error', param: null, code: failure.code } };
        (failures++ % 2 === 0 ? err : out).push({ id, custom_id: line.custom_id, response: { status_code: failure.status, request_id: `req_${i}`, body }, error: null });
      } else {
        out.push({ id, custom_id: line.custom_id, response: { status_code: 200, request_id: `req_${i}`, body: line.url.endsWith('/responses') ? responsesAnswer(line.body, i) : echoAnswer(line.body, i) }, error: null });
      }
    });
    const completed = out.filter((l) => l.response && l.response.status_code < 300).length;
    b.request_counts = { total: job.lines.length, completed, failed: job.lines.length - completed };
    if (out.length > 0) b.output_file_id = addFile(shuffled(out, seq).map((l) => JSON.stringify(l)).join('\n') + '\n', `${b.id}_output.jsonl`, 'batch_output').id;
    if (err.length > 0) b.error_file_id = addFile(shuffled(err, seq + 1).map((l) => JSON.stringify(l)).join('\n') + '\n', `${b.id}_error.jsonl`, 'batch_output').id;
  };

  /** One step of a job, on each poll. */
  const step = (job: FakeJob) => {
    const b = job.batch;
    if (b.status === 'cancelling') return finish(job, 'cancelled', job.plan.answered ?? 0);
    if (['completed', 'expired', 'failed', 'cancelled'].includes(b.status)) return;
    job.polls++;
    if (b.status === 'validating') b.status = 'in_progress';
    if (job.polls <= (job.plan.pollsBeforeDone ?? 0)) return;
    const final = job.plan.finalStatus ?? 'completed';
    finish(job, final, final === 'expired' ? (job.plan.answered ?? 0) : job.lines.length);
  };

  const api: FakeBatchApi = {
    url: '',
    plan: () => ({}),
    get counts() {
      return counts;
    },
    get authHeaders() {
      return authHeaders;
    },
    jobs: () => jobs.map((j) => ({ batch: j.batch, lines: j.lines })),
    inject(route, ...more) {
      (faults[route] ??= []).push(...more);
    },
    get pendingFaults() {
      return Object.fromEntries(Object.entries(faults).map(([r, f]) => [r, f.length]).filter(([, n]) => n));
    },
    reset() {
      counts = {};
      authHeaders = [];
      faults = {};
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: http.ServerResponse, what: string) =>
    json(res, 404, { error: { message: `No such ${what} (fake).`, type: 'invalid_request_error', param: null, code: null } });

  const handle = async (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let path = url.pathname;
    if (azure) {
      // Azure answers a missing or unknown api-version with 404, and a key in the wrong header with 401.
      if (url.searchParams.get('api-version') !== azure.apiVersion) return json(res, 404, { error: { code: '404', message: 'Resource not found' } });
      if (!req.headers['api-key'] || req.headers.authorization) return json(res, 401, { error: { code: '401', message: 'Access denied due to missing or invalid api-key.' } });
      if (!/^\/openai\/(files|batches)(\/|$)/.test(path)) return json(res, 404, { error: { code: '404', message: 'Resource not found' } });
      path = path.replace(/^\/openai/, '/v1');
    }
    const pattern = path.replace(/^(\/v1\/(?:files|batches))\/[^/]+/, '$1/:id');
    const name = `${req.method} ${pattern}`;
    counts[name] = (counts[name] ?? 0) + 1;
    authHeaders.push(String((azure ? req.headers['api-key'] : req.headers.authorization) ?? ''));
    const fault = faults[name]?.shift();
    if (fault === 502) {
      res.writeHead(502, { 'content-type': 'text/html' });
      return res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>');
    }
    if (fault === 500) return json(res, 500, { error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } });
    if (fault === 'reset') return void req.socket.destroy();
    if (fault === 'lost') {
      // Handled in full, but the answer never leaves.
      res.writeHead = () => res;
      res.end = () => {
        req.socket.destroy();
        return res;
      };
    }
    if (fault && typeof fault === 'object') {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
      return res.end(JSON.stringify({ error: { message: `Injected HTTP ${fault.status} (fake).`, type: 'server_error', param: null, code: null } }));
    }

    if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/embeddings')) {
      return json(res, 200, echoAnswer(JSON.parse(body.toString('utf8')) as Record<string, unknown>, seq++));
    }
    if (req.method === 'POST' && path === '/v1/files') {
      const form = await new Response(new Uint8Array(body), { headers: { 'content-type': String(req.headers['content-type']) } }).formData();
      const file = form.get('file');
      if (!(file instanceof Blob) || form.get('purpose') !== 'batch') {
        return json(res, 400, { error: { message: 'file and purpose=batch required (fake)', type: 'invalid_request_error', param: null, code: null } });
      }
      const f = addFile(await file.text(), (file as File).name ?? 'upload.jsonl', 'batch');
      return json(res, 200, { id: f.id, object: 'file', bytes: Buffer.byteLength(f.content), filename: f.filename, purpose: f.purpose, created_at: f.created_at });
    }
    let m = /^\/v1\/files\/([^/]+)\/content$/.exec(path);
    if (req.method === 'GET' && m) {
      const f = files.get(decodeURIComponent(m[1]!));
      if (!f) return notFound(res, 'file');
      const bytes = Buffer.from(f.content);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      if (fault === 'cut') {
        res.write(bytes.subarray(0, bytes.length >> 1));
        return void setTimeout(() => req.socket.destroy(), 20);
      }
      return res.end(bytes);
    }
    if (req.method === 'POST' && path === '/v1/batches') {
      const p = JSON.parse(body.toString('utf8')) as { input_file_id: string; endpoint: string; completion_window: string; metadata?: Record<string, string> };
      const f = files.get(p.input_file_id);
      if (!f) return notFound(res, 'file');
      if (p.completion_window !== '24h') return json(res, 400, { error: { message: 'completion_window must be 24h', code: 'invalid_value' } });
      const lines = f.content.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as BatchInputLine);
      if (azure) {
        const bad = lines.findIndex((l) => l.url !== p.endpoint || l.body.model !== azure.deployment || l.url.startsWith('/v1'));
        if (p.endpoint.startsWith('/v1') || bad >= 0) {
          return json(res, 400, { error: { code: 'invalid_request', message: `line ${bad + 1}: url must be the job's endpoint without /v1, model the deployment ${azure.deployment} (fake)` } });
        }
      }
      const created = now();
      const batch: BatchObject = {
        id: `batch_${++seq}`,
        object: 'batch',
        endpoint: p.endpoint,
        input_file_id: f.id,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: created,
        expires_at: created + 86_400,
        request_counts: { total: lines.length, completed: 0, failed: 0 },
        errors: null,
        metadata: p.metadata ?? null,
      };
      jobs.push({ batch, lines, plan: api.plan(jobs.length, lines), polls: 0 });
      return json(res, 200, batch);
    }
    if (req.method === 'GET' && path === '/v1/batches') {
      return json(res, 200, { object: 'list', data: [...jobs].reverse().map((j) => j.batch), has_more: false });
    }
    m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
    if (m) {
      const job = jobs.find((j) => j.batch.id === decodeURIComponent(m![1]!));
      if (!job) return notFound(res, 'batch');
      if (req.method === 'GET' && !m[2]) {
        step(job);
        return json(res, 200, job.batch);
      }
      if (req.method === 'POST' && m[2]) {
        if (['completed', 'expired', 'failed', 'cancelled'].includes(job.batch.status)) {
          return json(res, 409, { error: { message: `Cannot cancel a batch with status ${job.batch.status}.`, code: null } });
        }
        job.batch.status = 'cancelling';
        return json(res, 200, job.batch);
      }
    }
    return json(res, 404, { error: { message: `Unknown request URL: ${req.method} ${path}.`, code: 'unknown_url' } });
  };

  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, Buffer.concat(chunks), res).catch((e: unknown) => json(res, 500, { error: { message: String(e), code: null } }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  (api as { url: string }).url = azure
    ? `http://127.0.0.1:${port}/openai/deployments/${encodeURIComponent(azure.deployment)}`
    : `http://127.0.0.1:${port}/v1`;
  return api;
}
