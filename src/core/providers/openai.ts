/**
 * The OpenAI provider, on the official `openai` SDK: one HTTP attempt per call, every failure turned
 * into a {@link ProviderError}. Works with any OpenAI-compatible server, and with Azure OpenAI.
 *
 * What we take from the SDK and what we don't:
 * - Its own retries are off (`maxRetries: 0`): the RequestManager owns retries and rate limits.
 * - Bodies go out exactly as given, extras (`logprobs`, `reasoning_effort`, …) included. Embeddings
 *   are posted directly rather than through `embeddings.create()`, which would add
 *   `encoding_format: 'base64'` and decode it: we want the server's own JSON, float arrays.
 * - We read and parse the reply ourselves (`asResponse()`), so that a body that is not JSON becomes
 *   `bad_response`, and the caller gets the server's JSON untouched.
 * - The SDK's `timeout` only covers waiting for headers; our deadline also covers reading the body
 *   and the whole of a stream. So the SDK's own timer and AbortController per call are skipped
 *   (`fetchWithTimeout` below): our signal, which carries the deadline, goes straight to `fetch`.
 * - Its `fetch` is ours ({@link createHttpFetch}): node:http with keep-alive connections, which
 *   costs far less CPU per call than the global (undici) `fetch` the SDK uses by default.
 */
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AzureOpenAI,
  OpenAI,
} from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import type { LLMRequest } from '../types';
import { bufferedText, createHttpFetch, type Fetch } from './httpFetch';
import { ProviderError, type EndpointScope, type Provider, type ProviderResponse, type SendOptions } from './provider';

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export interface OpenAIProviderOptions {
  /**
   * The API key, sent as `Authorization: Bearer …` (as `api-key: …` for Azure). An empty key
   * sends the placeholder `no-key`, for local servers that need none.
   */
  apiKey: string;
  /**
   * The API base URL, up to and including the version segment.
   * @default 'https://api.openai.com/v1'
   * @example 'http://localhost:11434/v1' (Ollama), 'https://RES.openai.azure.com/openai/deployments/DEP' (Azure)
   */
  baseURL?: string;
  /** Sent as `OpenAI-Organization`. @default none (the SDK's `OPENAI_ORG_ID` fallback is not used) */
  organization?: string;
  /** Sent as `OpenAI-Project`. @default none (the SDK's `OPENAI_PROJECT_ID` fallback is not used) */
  project?: string;
  /** Extra headers sent with every request. @default {} */
  headers?: Record<string, string>;
  /**
   * Azure OpenAI: sends the key as `api-key` and adds `?api-version=…` (the SDK's `AzureOpenAI`).
   * `baseURL` is either a deployment URL (`https://RES.openai.azure.com/openai/deployments/DEP`)
   * or the resource's `/openai` URL, in which case the body's `model` names the deployment.
   * Azure's newer `/openai/v1` URLs need no `azure` option: they speak the plain OpenAI protocol.
   * @default undefined (plain OpenAI protocol)
   */
  azure?: { apiVersion: string };
  /**
   * What carries the SDK's requests: `'node'`, node:http/https with keep-alive connections
   * ({@link createHttpFetch}, a fraction of the CPU per call), or `'fetch'`, the global `fetch`
   * (undici; in VS Code, the one the editor patches for proxies and system certificates).
   * @default 'node'
   */
  httpClient?: 'node' | 'fetch';
}

/** Removes trailing slashes, so that equal servers give equal {@link EndpointScope}s. */
export function normalizeBaseURL(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/**
 * Removes the API key, and anything shaped like a key, from a message. OpenAI's 401 echoes the
 * rejected key masked (`sk-proj-****abcd`); error text ends up in logs and result files.
 */
export function redactKey(text: string, apiKey: string): string {
  let out = apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text;
  out = redactKeyPieces(out, apiKey);
  out = out.replace(/\bBearer\s+\S+/gi, 'Bearer [redacted]');
  out = out.replace(/\b(?:sk|rk|pk)-[A-Za-z0-9_*-]{4,}/g, '[redacted]');
  return out.replace(/[A-Za-z0-9_-]*\*{3,}[A-Za-z0-9_-]*/g, '[redacted]');
}

/** The shortest part of a key that still gives most of it away when a server echoes only that part. */
const KEY_PIECE = 12;

/**
 * Redacts any run of at least {@link KEY_PIECE} characters of the key: servers and proxies echo it
 * without its `sk-` prefix, or cut, which the whole-key match above misses.
 */
function redactKeyPieces(text: string, apiKey: string): string {
  let out = text;
  for (let i = 0; i + KEY_PIECE <= apiKey.length; i++) {
    for (let at = out.indexOf(apiKey.slice(i, i + KEY_PIECE)); at !== -1; at = out.indexOf(apiKey.slice(i, i + KEY_PIECE))) {
      let end = at + KEY_PIECE;
      while (end < out.length && i + (end - at) < apiKey.length && out[end] === apiKey[i + (end - at)]) end++;
      out = `${out.slice(0, at)}[redacted]${out.slice(end)}`;
    }
  }
  return out;
}

/** The JSON error body of each APIError, which the SDK reduces to its `error` member. */
const rawErrorBodies = new WeakMap<APIError, unknown>();

type StatusErrorArgs = [status: number, error: object, message: string | undefined, headers: Headers];

/**
 * The SDK's `fetchWithTimeout` without its timer and its AbortController fed by our signal: every
 * call already runs under {@link OpenAIProvider}'s controller and deadline, whose signal `init`
 * carries. (The SDK's controller is left unlinked: it only ends a stream the caller stops reading,
 * which `call()` does itself by aborting its own controller.)
 */
function fetchDirect(fetchFn: Fetch | undefined, url: RequestInfo, init: RequestInit | undefined): Promise<Response> {
  const method = init?.method?.toUpperCase() ?? 'GET';
  return (fetchFn ?? fetch).call(undefined, url, { ...init, method });
}

/**
 * The SDK client as we use it (for OpenAI and for Azure alike): keeps the whole error body, for
 * servers whose errors are not `{error: {message}}` (vLLM, FastAPI), and fetches through
 * {@link fetchDirect}.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a mixin's constructor takes any arguments
function tuned<Base extends new (...args: any[]) => OpenAI>(SdkClient: Base) {
  return class extends SdkClient {
    protected override makeStatusError(...args: StatusErrorArgs): APIError {
      const err = super.makeStatusError(...args);
      rawErrorBodies.set(err, args[1] ?? args[2]);
      return err;
    }

    override fetchWithTimeout(url: RequestInfo, init: RequestInit | undefined): Promise<Response> {
      return fetchDirect(this._options.fetch as Fetch | undefined, url, init);
    }
  };
}

const Client = tuned(OpenAI);
const AzureClient = tuned(AzureOpenAI);

function headerRecord(headers: Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  headers?.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The server's own words for an error, from whichever shape of error body it sent. */
function serverMessage(err: APIError): string {
  const inner = err.error as { message?: unknown } | string | undefined;
  if (typeof inner === 'string') return inner;
  const fromInner = asString(inner?.message);
  if (fromInner) return fromInner;
  const raw = rawErrorBodies.get(err);
  if (typeof raw === 'string' && raw.trim() !== '') return raw.trim().slice(0, 1000);
  if (raw && typeof raw === 'object') {
    const r = raw as { message?: unknown; detail?: unknown; error?: unknown };
    const m = asString(r.message) ?? asString(r.error) ?? asString(r.detail);
    if (m) return m;
    if (r.detail !== undefined) return JSON.stringify(r.detail).slice(0, 1000);
  }
  return err.message;
}

/** "fetch failed: other side closed": an error's message and its causes', which name the real failure. */
function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error && parts.length < 3; e = e.cause) parts.push(e.message);
  return parts.join(': ');
}

/** Thrown by {@link OpenAIProvider.stream} to carry an `onDelta` error out unchanged. */
class CallbackError {
  constructor(readonly error: unknown) {}
}

export class OpenAIProvider implements Provider {
  readonly name = 'openai';
  readonly scope: EndpointScope;
  private readonly client: OpenAI;
  /** Our node:http fetch, or undefined with `httpClient: 'fetch'`. */
  private readonly fetch: ReturnType<typeof createHttpFetch> | undefined;
  private readonly apiKey: string;
  /** Controllers of calls in flight, aborted by {@link close}. */
  private readonly active = new Set<AbortController>();
  /**
   * Controllers of calls in flight by the caller's signal, which gets one listener however many
   * calls share it: the manager passes one signal to every call of a run, and adding or removing
   * a listener walks the signal's whole list, once per call in flight.
   */
  private readonly bySignal = new WeakMap<AbortSignal, Set<AbortController>>();

  constructor(options: OpenAIProviderOptions) {
    const baseURL = normalizeBaseURL(options.baseURL ?? DEFAULT_BASE_URL);
    this.scope = { baseURL };
    this.apiKey = options.apiKey;
    this.fetch = options.httpClient === 'fetch' ? undefined : createHttpFetch();
    const common = {
      apiKey: options.apiKey || 'no-key',
      baseURL,
      // null, not undefined: undefined makes the SDK read OPENAI_ORG_ID / OPENAI_PROJECT_ID / OPENAI_ADMIN_KEY.
      organization: options.organization ?? null,
      project: options.project ?? null,
      adminAPIKey: null,
      defaultHeaders: options.headers,
      maxRetries: 0,
      fetch: this.fetch,
      // Explicit, so that OPENAI_LOG in the environment cannot make the SDK log request details.
      logLevel: 'off' as const,
    };
    this.client = options.azure
      ? new AzureClient({ ...common, apiVersion: options.azure.apiVersion })
      : new Client(common);
  }

  async send(request: LLMRequest, options: SendOptions): Promise<ProviderResponse> {
    return this.call(options, async (signal, timeout) => {
      const reqOptions = { signal, timeout, maxRetries: 0 };
      let promise;
      if (request.kind === 'chat') {
        // send() answers with one JSON body; a `stream` flag in the input would make it SSE.
        const { stream: _stream, stream_options: _streamOptions, ...rest } = request.body;
        const body = request.body.stream ? rest : request.body;
        const params = body as unknown as ChatCompletionCreateParamsNonStreaming;
        promise = this.client.chat.completions.create(params, reqOptions);
      } else {
        promise = this.client.post('/embeddings', { body: request.body, ...reqOptions });
      }
      const response = await promise.asResponse();
      const headers = headerRecord(response.headers);
      const text = bufferedText(response) ?? (await response.text());
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (body === null || typeof body !== 'object') {
        // No status: a reply that is not JSON is as good as no reply, and as worth retrying.
        const what = text === '' ? 'an empty body' : `${text.length} bytes that are not a JSON object`;
        const message = `The server answered ${response.status} with ${what}.`;
        throw new ProviderError(message, undefined, 'bad_response', headers);
      }
      return { status: response.status, requestId: response.headers.get('x-request-id'), body, headers };
    });
  }

  /**
   * Sends the chat request with `stream: true` and `stream_options.include_usage`, calls `onDelta`
   * with each piece of choice 0's content, and resolves with a `chat.completion`-shaped body.
   * A stream that ends without a `finish_reason` fails with `bad_response`. Errors thrown by
   * `onDelta` stop the stream and propagate unchanged.
   */
  async stream(
    request: LLMRequest & { kind: 'chat' },
    onDelta: (text: string) => void,
    options: SendOptions,
  ): Promise<ProviderResponse> {
    return this.call(options, async (signal, timeout) => {
      const streamOptions = request.body.stream_options as Record<string, unknown> | undefined;
      const body = { ...request.body, stream: true, stream_options: { ...streamOptions, include_usage: true } };
      const { data: stream, response } = await this.client.chat.completions
        .create(body as unknown as ChatCompletionCreateParamsStreaming, { signal, timeout, maxRetries: 0 })
        .withResponse();
      const headers = headerRecord(response.headers);
      const assembler = new StreamAssembler();
      for await (const chunk of stream) {
        const text = assembler.add(chunk);
        if (text) {
          try {
            onDelta(text);
          } catch (err) {
            throw new CallbackError(err);
          }
        }
      }
      // The SDK ends the iteration quietly when the request is aborted; call() names the cause.
      signal.throwIfAborted();
      if (!assembler.finished) {
        throw new ProviderError('The stream ended before a finish_reason.', undefined, 'bad_response', headers);
      }
      const requestId = response.headers.get('x-request-id');
      return { status: response.status, requestId, body: assembler.result(), headers };
    });
  }

  /** Aborts calls in flight (they fail with `aborted`) and closes idle connections. */
  close(): void {
    for (const c of this.active) c.abort();
    this.active.clear();
    this.fetch?.close();
  }

  /**
   * Runs one attempt under its own AbortController, fed by the caller's signal (see
   * {@link bySignal}), our deadline and {@link close}. Its signal is the only one `fetch` sees.
   */
  private async call<T>(options: SendOptions, fn: (signal: AbortSignal, timeout: number) => Promise<T>): Promise<T> {
    if (options.signal.aborted) throw new ProviderError('Request was aborted.', undefined, 'aborted');
    const controller = new AbortController();
    const siblings = this.callsUnder(options.signal);
    siblings.add(controller);
    this.active.add(controller);
    let timedOut = false;
    // timeoutMs <= 0 means no deadline. setTimeout fires at once for delays past 2^31-1 ms, so
    // "no deadline" is capped there (~24 days), as are the SDK's own timers.
    const max = 2 ** 31 - 1;
    const timeout = Number.isFinite(options.timeoutMs) && options.timeoutMs > 0 ? Math.min(options.timeoutMs, max) : max;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    try {
      return await fn(controller.signal, timeout);
    } catch (err) {
      const aborted = controller.signal.aborted;
      // Ends a body left half-read (a stream whose onDelta threw, a failed parse) and its connection.
      if (!aborted) controller.abort();
      if (err instanceof CallbackError) throw err.error;
      throw this.toProviderError(err, timedOut, aborted, timeout);
    } finally {
      clearTimeout(timer);
      siblings.delete(controller);
      this.active.delete(controller);
    }
  }

  /** The calls in flight under `signal`, which aborts them all (see {@link bySignal}). */
  private callsUnder(signal: AbortSignal): Set<AbortController> {
    let calls = this.bySignal.get(signal);
    if (!calls) {
      const set = (calls = new Set());
      this.bySignal.set(signal, set);
      signal.addEventListener('abort', () => {
        for (const c of set) c.abort();
      }, { once: true });
    }
    return calls;
  }

  private toProviderError(err: unknown, timedOut: boolean, aborted: boolean, timeoutMs: number): ProviderError {
    const clean = (m: string) => redactKey(m, this.apiKey);
    if (err instanceof ProviderError) {
      return new ProviderError(clean(err.message), err.status, err.code, err.headers);
    }
    if (timedOut || err instanceof APIConnectionTimeoutError) {
      return new ProviderError(`Request timed out after ${timeoutMs} ms.`, undefined, 'timeout');
    }
    if (aborted || err instanceof APIUserAbortError || (err instanceof Error && err.name === 'AbortError')) {
      return new ProviderError('Request was aborted.', undefined, 'aborted');
    }
    if (err instanceof APIConnectionError) {
      const detail = causeChain((err as { cause?: unknown }).cause);
      const message = detail ? `${err.message} (${detail})` : err.message;
      return new ProviderError(clean(message), undefined, 'connection_error');
    }
    if (err instanceof APIError) {
      const code = asString(err.code) ?? asString(err.type) ?? (err.status ? `http_${err.status}` : 'stream_error');
      return new ProviderError(clean(serverMessage(err)), err.status, code, headerRecord(err.headers));
    }
    if (err instanceof SyntaxError) {
      const message = `The server sent an event that is not JSON: ${err.message}`;
      return new ProviderError(clean(message), undefined, 'bad_response');
    }
    // undici's "terminated" / "fetch failed" / ECONNRESET while reading a body.
    const detail = causeChain(err);
    return new ProviderError(clean(`Connection failed: ${detail || String(err)}`), undefined, 'connection_error');
  }
}

interface ChoiceState {
  role: string;
  content: string | null;
  refusal: string | null;
  toolCalls: { id: string; type: string; function: { name: string; arguments: string } }[];
  logprobs: { content: unknown[] } | null;
  finish: string | null;
}

/**
 * Folds `chat.completion.chunk`s into the body a non-streamed call would have returned, so that
 * streamed and plain answers are cached and written alike.
 */
export class StreamAssembler {
  private head: ChatCompletionChunk | undefined;
  private readonly choices = new Map<number, ChoiceState>();
  private usage: unknown = null;

  /** Adds a chunk; returns the text it adds to choice 0 (what `onDelta` is told). */
  add(chunk: ChatCompletionChunk): string {
    this.head ??= chunk;
    if (chunk.usage) this.usage = chunk.usage;
    let text = '';
    for (const c of chunk.choices ?? []) {
      let s = this.choices.get(c.index);
      if (!s) {
        s = { role: 'assistant', content: null, refusal: null, toolCalls: [], logprobs: null, finish: null };
        this.choices.set(c.index, s);
      }
      const d = c.delta ?? {};
      if (d.role) s.role = d.role;
      if (typeof d.content === 'string') {
        s.content = (s.content ?? '') + d.content;
        if (c.index === 0) text += d.content;
      }
      if (typeof d.refusal === 'string') s.refusal = (s.refusal ?? '') + d.refusal;
      for (const t of d.tool_calls ?? []) {
        const call = (s.toolCalls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (t.id) call.id = t.id;
        if (t.type) call.type = t.type;
        if (t.function?.name) call.function.name += t.function.name;
        if (t.function?.arguments) call.function.arguments += t.function.arguments;
      }
      if (c.logprobs?.content) (s.logprobs ??= { content: [] }).content.push(...c.logprobs.content);
      if (c.finish_reason) s.finish = c.finish_reason;
    }
    return text;
  }

  /** True once every choice seen has a finish_reason. */
  get finished(): boolean {
    return this.choices.size > 0 && [...this.choices.values()].every((s) => s.finish !== null);
  }

  result(): Record<string, unknown> {
    const h = this.head;
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, s]) => ({
        index,
        message: {
          role: s.role,
          content: s.content,
          refusal: s.refusal,
          ...(s.toolCalls.length ? { tool_calls: s.toolCalls.filter(Boolean) } : {}),
        },
        logprobs: s.logprobs,
        finish_reason: s.finish,
      }));
    return {
      id: h?.id,
      object: 'chat.completion',
      created: h?.created,
      model: h?.model,
      choices,
      usage: this.usage,
      ...(h?.system_fingerprint ? { system_fingerprint: h.system_fingerprint } : {}),
      ...(h?.service_tier ? { service_tier: h.service_tier } : {}),
    };
  }
}
