import type { EndpointKind, LLMRequest } from '../types';

/**
 * Where requests go. Two providers with the same scope share cache entries; any difference in
 * scope (another server, another endpoint kind) gives a different request hash.
 */
export interface EndpointScope {
  /**
   * Base URL without a trailing slash, e.g. `https://api.openai.com/v1`. Never with user info
   * (`user:password@`): the scope goes into cache keys and stored entries.
   */
  baseURL: string;
}

/** A successful answer from the server. */
export interface ProviderResponse {
  /** HTTP status (200). */
  status: number;
  /** The server's `x-request-id`, if any. */
  requestId: string | null;
  /** The parsed JSON body (a chat completion or an embeddings list). */
  body: unknown;
  /** Response headers, lower-cased names (rate-limit headers are read from these). */
  headers: Record<string, string>;
}

/**
 * A failed call. `status` is the HTTP status, or undefined when no response came (connection
 * reset, timeout, abort). The RequestManager decides from it whether to retry.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    /** HTTP status, if the server answered. */
    readonly status: number | undefined,
    /** A short machine-readable code: the server's error code, or `timeout`, `connection_error`, `aborted`. */
    readonly code: string,
    /** Response headers, lower-cased (for `retry-after`, rate-limit headers). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Options for one call. */
export interface SendOptions {
  /** Aborts the call (cancellation, or the manager's timeout). */
  signal: AbortSignal;
  /** Per-attempt timeout in milliseconds. */
  timeoutMs: number;
}

/**
 * Talks to one LLM API. Implementations make exactly one HTTP attempt per call: retries, rate
 * limits and caching belong to the RequestManager.
 */
export interface Provider {
  readonly name: string;
  readonly scope: EndpointScope;
  /** Sends one request; throws {@link ProviderError} on any failure. */
  send(request: LLMRequest, options: SendOptions): Promise<ProviderResponse>;
  /**
   * Sends one chat request with `stream: true`, calling `onDelta` with each piece of text as it
   * arrives; resolves with the assembled (non-streamed shape) completion.
   */
  stream?(
    request: LLMRequest & { kind: 'chat' | 'responses' },
    onDelta: (text: string) => void,
    options: SendOptions,
  ): Promise<ProviderResponse>;
  /** Releases connections. */
  close?(): void;
}

export type { EndpointKind };
