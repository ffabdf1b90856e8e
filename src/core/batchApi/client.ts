/**
 * A small client for OpenAI's Files and Batches endpoints, on `fetch` (and Azure OpenAI's, whose
 * classic API differs in its URLs and key header).
 *
 * Why not the `openai` SDK, which the live provider uses: the extension host imports this module
 * from `dist/extension.js` (the batch job list polls without loading the engine bundle), and the
 * SDK would make activation pay for itself. The five calls below need nothing the SDK adds, and
 * `fs.openAsBlob` streams an upload of up to 200 MB from disk without reading it into memory.
 * In VS Code, the global `fetch` is the one the editor patches for proxies and system certificates.
 */
import { openAsBlob } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { maskSecrets } from '../log';
import { DEFAULT_AZURE_API_VERSION, isAzureBaseURL } from '../providers/azure';
import { parseRetryAfter } from '../retry';
import { ENDPOINT_URLS, type EndpointKind } from '../types';
import type { BatchObject, FileObject } from './types';

/** Options of {@link BatchApiClient}. */
export interface BatchApiClientOptions {
  /** Sent as `Authorization: Bearer …`; empty sends none (local servers). */
  apiKey: string;
  /** The API base URL, up to and including `/v1`. @default 'https://api.openai.com/v1' */
  baseURL?: string;
  /** Sent as `OpenAI-Organization`. @default none */
  organization?: string;
  /** Sent as `OpenAI-Project`. @default none */
  project?: string;
  /** Extra headers for every call. @default {} */
  headers?: Record<string, string>;
  /** Timeout of one call other than uploads and downloads, in ms. @default 60000 */
  timeoutMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Azure OpenAI's classic API: `api-key` instead of `Authorization`, `api-version` on every
   * call, Files and Batches under `…/openai`, endpoints without `/v1`.
   * @default detected from the base URL (see isAzureBaseURL), with its default API version
   */
  azure?: { apiVersion: string };
}

/** A failed Files/Batches call. `status` is undefined when no response came. */
export class BatchApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string,
    /** The wait the server asked for (`retry-after-ms`, `retry-after`), in ms, if it did. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'BatchApiError';
  }
}

/** Options of {@link BatchApiClient.createBatch}. */
export interface CreateBatchOptions {
  inputFileId: string;
  /** `/v1/chat/completions` or `/v1/embeddings` (on Azure without `/v1`): see {@link BatchApiClient.endpointUrl}. */
  endpoint: string;
  /** @default '24h' (the only window OpenAI offers) */
  completionWindow?: string;
  /** Up to 16 string pairs shown in OpenAI's dashboard. */
  metadata?: Record<string, string>;
}

export class BatchApiClient {
  /** Where the Files and Batches endpoints are: the base URL, or for Azure its `…/openai` root. */
  readonly baseURL: string;
  /** Azure's API version, when the endpoint is a classic Azure OpenAI one. */
  readonly azure: { apiVersion: string } | undefined;
  /**
   * The Azure deployment named in the base URL (`…/openai/deployments/<name>`): every request
   * line names it as its model, since an Azure batch runs on one deployment.
   */
  readonly deployment: string | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: BatchApiClientOptions) {
    const base = (options.baseURL ?? 'https://api.openai.com/v1').trim().replace(/\/+$/, '');
    this.azure = options.azure ?? (isAzureBaseURL(base) ? { apiVersion: DEFAULT_AZURE_API_VERSION } : undefined);
    const deployment = this.azure ? /^(.*?)\/deployments\/([^/?#]+)/.exec(base) : null;
    this.baseURL = deployment ? deployment[1]! : base;
    this.deployment = deployment ? decodeURIComponent(deployment[2]!) : undefined;
    this.fetchFn = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** The `url` of a request line, and the `endpoint` of a job, for requests of `kind`. */
  endpointUrl(kind: EndpointKind): string {
    return this.azure ? ENDPOINT_URLS[kind].replace(/^\/v1(?=\/)/, '') : ENDPOINT_URLS[kind];
  }

  /** Uploads a JSONL file with purpose `batch`. */
  async uploadFile(path: string, filename: string, signal?: AbortSignal): Promise<FileObject> {
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', await openAsBlob(path, { type: 'application/jsonl' }), filename);
    return (await this.call('POST', '/files', { body: form, signal, noTimeout: true })).json() as Promise<FileObject>;
  }

  /** Creates a batch job over an uploaded input file. */
  async createBatch(o: CreateBatchOptions, signal?: AbortSignal): Promise<BatchObject> {
    const body = JSON.stringify({
      input_file_id: o.inputFileId,
      endpoint: o.endpoint,
      completion_window: o.completionWindow ?? '24h',
      ...(o.metadata ? { metadata: o.metadata } : {}),
    });
    return (await this.call('POST', '/batches', { body, json: true, signal })).json() as Promise<BatchObject>;
  }

  retrieveBatch(id: string, signal?: AbortSignal): Promise<BatchObject> {
    return this.call('GET', `/batches/${encodeURIComponent(id)}`, { signal }).then((r) => r.json() as Promise<BatchObject>);
  }

  /** Asks the server to cancel a job; it goes to `cancelling`, then `cancelled` (with partial output). */
  cancelBatch(id: string, signal?: AbortSignal): Promise<BatchObject> {
    return this.call('POST', `/batches/${encodeURIComponent(id)}/cancel`, { signal }).then((r) => r.json() as Promise<BatchObject>);
  }

  /** One page of the account's jobs, newest first. */
  async listBatches(options: { limit?: number; after?: string } = {}, signal?: AbortSignal): Promise<{ data: BatchObject[]; has_more: boolean }> {
    const q = new URLSearchParams();
    if (options.limit) q.set('limit', String(options.limit));
    if (options.after) q.set('after', options.after);
    const qs = q.size > 0 ? `?${q.toString()}` : '';
    return (await this.call('GET', `/batches${qs}`, { signal })).json() as Promise<{ data: BatchObject[]; has_more: boolean }>;
  }

  /**
   * Streams a file's content (an input, output or error file) to `dest`, never holding it in
   * memory. A connection lost half-way fails with a `connection_error` (retryable), and `dest`
   * then holds a prefix: download it again from the start.
   */
  async downloadFile(id: string, dest: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call('GET', `/files/${encodeURIComponent(id)}/content`, { signal, noTimeout: true });
    await mkdir(dirname(dest), { recursive: true });
    if (!res.body) throw new BatchApiError(`file ${id}: empty response`, res.status, 'bad_response');
    try {
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(dest));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (signal?.aborted) throw new BatchApiError(`GET file ${id}: cancelled`, undefined, 'aborted');
      // A local write failure (disk full, no permission) is not the server's: not retryable.
      if (err.syscall === 'write' || err.syscall === 'open') throw e;
      throw new BatchApiError(`GET file ${id}: the download broke off: ${this.mask(err.message)}`, undefined, 'connection_error');
    }
  }

  private async call(
    method: string,
    path: string,
    o: { body?: BodyInit; json?: boolean; signal?: AbortSignal; noTimeout?: boolean },
  ): Promise<Response> {
    const headers: Record<string, string> = { ...this.options.headers, accept: 'application/json' };
    if (this.options.apiKey && this.azure) headers['api-key'] = this.options.apiKey;
    else if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    if (this.options.organization) headers['openai-organization'] = this.options.organization;
    if (this.options.project) headers['openai-project'] = this.options.project;
    if (o.json) headers['content-type'] = 'application/json';
    const signals = [o.signal, o.noTimeout ? undefined : AbortSignal.timeout(this.timeoutMs)].filter((s): s is AbortSignal => !!s);
    let res: Response;
    try {
      const version = this.azure ? `${path.includes('?') ? '&' : '?'}api-version=${encodeURIComponent(this.azure.apiVersion)}` : '';
      res = await this.fetchFn(`${this.baseURL}${path}${version}`, {
        method,
        headers,
        body: o.body,
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (e) {
      const err = e as Error;
      const code = err.name === 'TimeoutError' ? 'timeout' : err.name === 'AbortError' ? 'aborted' : 'connection_error';
      throw new BatchApiError(`${method} ${path}: ${this.mask(err.message)}`, undefined, code);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let message = text.slice(0, 500);
    let code = `http_${res.status}`;
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string; code?: string | null } };
      if (parsed.error?.message) message = parsed.error.message;
      if (parsed.error?.code) code = parsed.error.code;
    } catch {
      // not JSON: keep the text
    }
    const replyHeaders: Record<string, string> = {};
    res.headers.forEach((value, name) => (replyHeaders[name] = value));
    const retryAfter = parseRetryAfter(replyHeaders);
    throw new BatchApiError(`${method} ${path}: HTTP ${res.status}: ${this.mask(message)}`, res.status, code, retryAfter);
  }

  private mask(text: string): string {
    return maskSecrets(text, [this.options.apiKey]);
  }
}
