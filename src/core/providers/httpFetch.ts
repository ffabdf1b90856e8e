/**
 * A `fetch` for the openai SDK's `fetch` option, on node:http/https with keep-alive agents.
 *
 * Why: at a thousand requests a second, undici's WHATWG `fetch` (its request, body and stream
 * machinery) is the largest client-side CPU cost per call. node:http does the same HTTP work for
 * much less, and the SDK accepts any function shaped like `fetch`.
 *
 * What it keeps of `fetch`'s contract, which the SDK relies on:
 * - It resolves with a real `Response` (status, status text, headers, body) and rejects with a
 *   `TypeError('fetch failed', { cause })` when the connection fails, or with the signal's
 *   reason (an `AbortError`) when the signal aborts, also while the body is being read.
 * - Bodies are decompressed (`gzip`, `deflate`, `br`, asked for as undici does).
 * - `text/event-stream` bodies stream chunk by chunk as they arrive; any other body is read whole
 *   before the promise resolves (what the caller does next anyway), so a reply cut off mid-body
 *   fails the fetch itself.
 * - Redirects, and bodies other than strings and bytes, are rare here (the SDK posts JSON text):
 *   they are left to the global `fetch`, unchanged.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';

/** The `fetch` signature the SDK calls. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options for {@link createHttpFetch}. */
export interface HttpFetchOptions {
  /**
   * Most sockets kept open, idle, per host, for reuse by later requests. In-flight requests are
   * never capped (as with `fetch`): the RequestManager decides concurrency.
   * @default 256
   */
  maxFreeSockets?: number;
}

/** The bytes of each body read whole, so that {@link bufferedText} can skip the Response's stream. */
const buffered = new WeakMap<Response, Uint8Array>();
const utf8 = new TextDecoder();

/**
 * The body of a response from {@link createHttpFetch} that was read whole, decoded as
 * `response.text()` would (UTF-8, a leading BOM dropped), without going through its stream; or
 * undefined for any other response. It does not consume the body: call it instead of `text()`.
 */
export function bufferedText(response: Response): string | undefined {
  const bytes = buffered.get(response);
  return bytes && !response.bodyUsed ? utf8.decode(bytes) : undefined;
}

/** The headers of each response from {@link createHttpFetch}, as node:http read them (lower-case names). */
const headerRecords = new WeakMap<Response, Record<string, string>>();

/**
 * The headers of a response from {@link createHttpFetch} as a plain record (names in lower case,
 * repeated ones joined with ", " as `Headers.get` does), without iterating its `Headers`, which
 * sorts them on each pass; or undefined for any other response.
 */
export function headerRecordOf(response: Response): Record<string, string> | undefined {
  return headerRecords.get(response);
}

/** Statuses whose responses have no body (a `Response` with one would throw). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** A `fetch` on node:http/https that keeps its own pool of keep-alive connections. */
export function createHttpFetch(options: HttpFetchOptions = {}): Fetch & { close(): void } {
  const agentOptions = { keepAlive: true, maxFreeSockets: options.maxFreeSockets ?? 256 };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const fetchFn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body = init?.body;
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : undefined;
    const plain = url !== undefined && (body == null || typeof body === 'string' || body instanceof Uint8Array);
    if (!plain) return fetch(input, init);
    return request(url, init ?? {}, body as string | Uint8Array | null | undefined, agents).then((res) =>
      res === REDIRECT ? fetch(input, init) : res,
    );
  };
  return Object.assign(fetchFn, {
    /** Closes idle connections; requests in flight finish. */
    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  });
}

/** Marks a redirect, which {@link createHttpFetch} hands to the global `fetch` to follow. */
const REDIRECT = Symbol('redirect');

function request(
  url: string,
  init: RequestInit,
  body: string | Uint8Array | null | undefined,
  agents: { http: http.Agent; https: https.Agent },
): Promise<Response | typeof REDIRECT> {
  return new Promise((resolve, reject) => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const secure = url.startsWith('https:');
    let req: http.ClientRequest;
    try {
      req = (secure ? https : http).request(url, {
        method: init.method ?? 'GET',
        headers: headerObject(init.headers, body),
        agent: secure ? agents.https : agents.http,
      });
    } catch (error) {
      reject(new TypeError('fetch failed', { cause: error }));
      return;
    }
    let settled = false;
    /** Tears down the exchange; later errors of this request or its body are ignored. */
    let cleanup = () => signal?.removeEventListener('abort', onAbort);
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      req.destroy();
      reject(error);
    };
    const onAbort = () => fail(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => fail(new TypeError('fetch failed', { cause: error })));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        settled = true;
        cleanup();
        res.resume();
        resolve(REDIRECT);
        return;
      }
      const headers = new Headers();
      const record: Record<string, string> = {};
      const raw = res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        headers.append(name, raw[i + 1]!);
        record[name] = record[name] === undefined ? raw[i + 1]! : `${record[name]}, ${raw[i + 1]!}`;
      }
      const responseInit = { status, statusText: res.statusMessage ?? '', headers };
      if (NULL_BODY.has(status) || init.method === 'HEAD') {
        settled = true;
        cleanup();
        res.resume();
        resolve(new Response(null, responseInit));
        return;
      }
      const stream = decoded(res);
      const bodyFailed = (error: unknown) => fail(new TypeError('fetch failed', { cause: error }));
      // A reply cut off mid-body: 'aborted' on the message (older Nodes), 'error' otherwise.
      res.on('aborted', () => bodyFailed(new Error('other side closed')));
      stream.on('error', bodyFailed);
      if (/^text\/event-stream\b/i.test(res.headers['content-type'] ?? '')) {
        settled = true;
        const web = toWebStream(stream, () => res.destroy(), signal);
        // Aborting now errors the body the caller is reading, as with `fetch`.
        cleanup = () => undefined;
        signal?.removeEventListener('abort', onAbort);
        const onStreamAbort = () => {
          stream.destroy(abortReason(signal!) as Error);
          res.destroy();
        };
        signal?.addEventListener('abort', onStreamAbort, { once: true });
        stream.once('close', () => signal?.removeEventListener('abort', onStreamAbort));
        resolve(new Response(web, responseInit));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        cleanup();
        const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        const response = new Response(bytes as Uint8Array<ArrayBuffer>, responseInit);
        buffered.set(response, bytes);
        headerRecords.set(response, record);
        resolve(response);
      });
    });
    req.end(body ?? undefined);
  });
}

/** The request headers as a plain object, with `accept-encoding` as `fetch` sends it. */
function headerObject(headers: HeadersInit | undefined, body: string | Uint8Array | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      out[name] = value;
    });
  } else if (Array.isArray(headers)) {
    for (const [name, value] of headers) out[name!.toLowerCase()] = value!;
  } else if (headers) {
    for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  }
  out['accept-encoding'] ??= 'gzip, deflate, br';
  if (typeof body === 'string' && out['content-type'] === undefined) out['content-type'] = 'text/plain;charset=UTF-8';
  return out;
}

/** The message body, decompressed per its `content-encoding`. */
function decoded(res: http.IncomingMessage): Readable {
  const encoding = (res.headers['content-encoding'] ?? '').trim().toLowerCase();
  // Flushing as much as has arrived keeps a compressed event stream streaming.
  const flush = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  let decoder: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') decoder = zlib.createGunzip(flush);
  else if (encoding === 'deflate') decoder = zlib.createInflate(flush);
  else if (encoding === 'br') {
    const bFlush = zlib.constants.BROTLI_OPERATION_FLUSH;
    decoder = zlib.createBrotliDecompress({ flush: bFlush, finishFlush: bFlush });
  }
  if (!decoder) return res;
  res.on('error', (error: Error) => decoder.destroy(error));
  return res.pipe(decoder);
}

/**
 * A WHATWG byte stream over a Node stream, pulling (with backpressure) as the reader reads. It
 * fails as undici's do: with the signal's reason when aborted, else `TypeError('terminated')`.
 */
function toWebStream(stream: Readable, cancel: () => void, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream.on('data', (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) stream.pause();
      });
      stream.once('end', () => controller.close());
      stream.once('error', (error) => controller.error(signal?.aborted && error === signal.reason ? error : terminated(error)));
      stream.once('close', () => {
        // Destroyed without 'end' or 'error' (the request was torn down): fail the reader.
        if (!stream.readableEnded && !stream.errored) {
          try {
            controller.error(terminated(undefined));
          } catch {
            /* already closed */
          }
        }
      });
    },
    pull() {
      stream.resume();
    },
    cancel,
  });
}

/** undici's error for a body cut short; Node's own ('aborted', ECONNRESET) says less. */
function terminated(error: unknown): TypeError {
  const reset = error instanceof Error && error.message === 'aborted';
  return new TypeError('terminated', { cause: reset || error === undefined ? new Error('other side closed', { cause: error }) : error });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
