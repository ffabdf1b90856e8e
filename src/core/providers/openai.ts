/**
 * The OpenAI provider, on the official `openai` SDK: one HTTP attempt per call, every failure turned
 * into a {@link ProviderError}. Works with any OpenAI-compatible server, and with Azure OpenAI.
 *
 * What we take from the SDK and what we don't:
 * - Its own retries are off (`maxRetries: 0`): the RequestManager owns retries and rate limits.
 * - Bodies go out as given (through `wireBody`, which only drops our own `_` fields and sets the
 *   streaming flags), extras (`logprobs`, `reasoning_effort`, …) included. Embeddings
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
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import type {
  ResponseCreateParamsNonStreaming,
  ResponseCreateParamsStreaming,
  ResponseStreamEvent,
} from 'openai/resources/responses/responses';
import { baseURLWithoutCredentials } from '../hash';
import { wireBody } from '../request';
import type { LLMRequest } from '../types';
import { bufferedText, createHttpFetch, headerRecordOf, type Fetch } from './httpFetch';
import { ProviderError, type EndpointScope, type Provider, type ProviderResponse, type SendOptions } from './provider';
import { StreamAssembler } from './streamAssembler';

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
    // The SDK gets the URL as given; the scope (cache keys, cache entries, Batch state files)
    // never holds the credentials a URL may carry.
    this.scope = { baseURL: baseURLWithoutCredentials(baseURL) };
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
      // send() answers with one JSON body: wireBody drops a `stream` flag (which would make it SSE)
      // and our own `_` fields.
      const wire = wireBody(request);
      if (request.kind === 'chat') {
        const params = wire as unknown as ChatCompletionCreateParamsNonStreaming;
        promise = this.client.chat.completions.create(params, reqOptions);
      } else if (request.kind === 'responses') {
        // POST /responses (https://platform.openai.com/docs/api-reference/responses/create). The
        // body is read raw below, so the server's JSON is kept as sent: the SDK's `output_text`
        // convenience field is not added (answer.ts computes it when needed).
        promise = this.client.responses.create(wire as unknown as ResponseCreateParamsNonStreaming, reqOptions);
      } else {
        promise = this.client.post('/embeddings', { body: wire, ...reqOptions });
      }
      const response = await promise.asResponse();
      const headers = headerRecordOf(response) ?? headerRecord(response.headers);
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
    request: LLMRequest & { kind: 'chat' | 'responses' },
    onDelta: (text: string) => void,
    options: SendOptions,
  ): Promise<ProviderResponse> {
    if (request.kind === 'responses') return this.streamResponses(request, onDelta, options);
    return this.call(options, async (signal, timeout) => {
      const body = wireBody(request, { stream: true });
      const { data: stream, response } = await this.client.chat.completions
        .create(body as unknown as ChatCompletionCreateParamsStreaming, { signal, timeout, maxRetries: 0 })
        .withResponse();
      const headers = headerRecord(response.headers);
      const assembler = new StreamAssembler(Math.max(1, Math.floor(Number(request.body.n)) || 1));
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

  /**
   * A streamed Responses API call (https://platform.openai.com/docs/api-reference/responses-streaming):
   * `onDelta` gets each `response.output_text.delta`; the call resolves with the `response` of
   * the last `response.completed` (or `response.incomplete`) event, which is the body a plain call
   * would have returned. `response.failed` and `error` events fail the call; a stream that ends
   * without a final event fails with `bad_response`.
   */
  private async streamResponses(
    request: LLMRequest & { kind: 'responses' },
    onDelta: (text: string) => void,
    options: SendOptions,
  ): Promise<ProviderResponse> {
    return this.call(options, async (signal, timeout) => {
      const body = wireBody(request, { stream: true });
      const { data: stream, response } = await this.client.responses
        .create(body as unknown as ResponseCreateParamsStreaming, { signal, timeout, maxRetries: 0 })
        .withResponse();
      const headers = headerRecord(response.headers);
      let final: unknown;
      for await (const event of stream as AsyncIterable<ResponseStreamEvent>) {
        if (event.type === 'response.output_text.delta') {
          try {
            onDelta(event.delta);
          } catch (err) {
            throw new CallbackError(err);
          }
        } else if (event.type === 'response.completed' || event.type === 'response.incomplete') {
          final = event.response;
        } else if (event.type === 'response.failed') {
          const error = event.response.error;
          throw new ProviderError(error?.message ?? 'The response failed.', 500, error?.code ?? 'server_error', headers);
        } else if (event.type === 'error') {
          throw new ProviderError(event.message, undefined, event.code ?? 'stream_error', headers);
        }
      }
      signal.throwIfAborted();
      if (final === undefined) throw new ProviderError('The stream ended before response.completed.', undefined, 'bad_response', headers);
      return { status: response.status, requestId: response.headers.get('x-request-id'), body: final, headers };
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
