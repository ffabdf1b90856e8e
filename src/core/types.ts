/**
 * The request and result model shared by every part of the engine.
 *
 * Names follow the original FastLLM architecture (Message, LLMRequest, ResponseWrapper) and the wire
 * shapes follow OpenAI's chat-completions, Responses, embeddings and Batch API formats, so that a request body
 * or a result record can be sent to, or compared with, any OpenAI-compatible server unchanged.
 */

/** A chat role. `developer` is OpenAI's newer name for `system` on reasoning models. */
export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';

export const ROLES: readonly Role[] = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

/** One part of a multi-part message content (text, image, audio, …); passed through as given. */
export interface ContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface ToolCall {
  id: string;
  type: 'function' | string;
  function: { name: string; arguments: string };
}

/** A single message in a conversation. */
export interface Message {
  role: Role;
  /** A string, a list of parts, or null (an assistant message that only calls tools). */
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  function_call?: { name: string; arguments: string };
}

/**
 * A chat-completions request body. Known parameters are typed; anything else (`logprobs`,
 * `reasoning_effort`, provider-specific extras, …) passes through untouched.
 */
export interface ChatBody {
  model: string;
  messages: Message[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  seed?: number;
  n?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  response_format?: Record<string, unknown>;
  tools?: unknown[];
  tool_choice?: unknown;
  [extra: string]: unknown;
}

/** An embeddings request body. */
export interface EmbeddingsBody {
  model: string;
  input: string | string[] | number[] | number[][];
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
  [extra: string]: unknown;
}

/**
 * A Responses API request body (https://platform.openai.com/docs/api-reference/responses/create).
 * `input` is a string or a list of input items (messages `{role, content}` and others); every
 * other parameter (`text.format`, `reasoning`, `prompt_cache_key`, `tools`, …) passes through.
 */
export interface ResponsesBody {
  model: string;
  input: string | Record<string, unknown>[];
  instructions?: string;
  max_output_tokens?: number;
  temperature?: number;
  reasoning?: { effort?: string; [extra: string]: unknown };
  text?: { format?: Record<string, unknown>; [extra: string]: unknown };
  [extra: string]: unknown;
}

/** Which API a request goes to. The Batch API `url` of each kind is in {@link ENDPOINT_URLS}. */
export type EndpointKind = 'chat' | 'embeddings' | 'responses';

export const ENDPOINT_URLS: Record<EndpointKind, string> = {
  chat: '/v1/chat/completions',
  embeddings: '/v1/embeddings',
  responses: '/v1/responses',
};

interface RequestBase {
  /** The caller's id for this row (given in the input, or derived from its line: `line-42`). */
  custom_id: string;
  /** 1-based line (or CSV record start line) of the input this request came from; 0 if none. */
  line: number;
  /**
   * Ask the server again even when the cache holds an answer (the answer found is replaced). Set
   * by Rerun Failed Rows for rows whose cached answer did not match their JSON schema.
   * @default false
   */
  refresh?: boolean;
}

/** A provider-agnostic request: what to send, and where it came from. */
export type LLMRequest =
  | (RequestBase & { kind: 'chat'; body: ChatBody })
  | (RequestBase & { kind: 'embeddings'; body: EmbeddingsBody })
  | (RequestBase & { kind: 'responses'; body: ResponsesBody });

/** An input row that could not be turned into a request; it becomes an error record in place. */
export interface InputError {
  kind: 'invalid';
  custom_id: string;
  line: number;
  /** The input file, for messages ("prompts.jsonl:12: …"). */
  file?: string;
  error: { code: string; message: string };
}

/** What a batch reader yields: a request, or an error for a line that could not be read. */
export type InputItem = LLMRequest | InputError;

/**
 * Token usage as reported by the server (OpenAI's `usage` object), in the chat-completions names.
 * A Responses API `usage` (`input_tokens`, `output_tokens`, …) is read into the same names by
 * `usageOf` (src/core/tokens.ts).
 */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /**
   * Of `prompt_tokens`, those the provider served from its prompt cache (billed lower):
   * `prompt_tokens_details.cached_tokens`, Responses `input_tokens_details.cached_tokens`.
   * @default 0 (absent)
   */
  cached_tokens?: number;
  /**
   * Of `completion_tokens`, the reasoning tokens (billed as output, never shown):
   * `completion_tokens_details.reasoning_tokens`, Responses `output_tokens_details.reasoning_tokens`.
   * @default 0 (absent)
   */
  reasoning_tokens?: number;
}

/**
 * One result line, in the OpenAI Batch API output shape plus our own fields.
 * Exactly one record is produced for every input item, success or failure, in input order.
 */
export interface ResultRecord {
  /** Our id for this record (`fastllm-<hash prefix>-<line>`). */
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string | null; body: unknown } | null;
  error: { code: string; message: string } | null;
  /** Source line number (see {@link LLMRequest.line}). */
  line: number;
  /** True when the answer came from the cache (or from an identical request in flight). */
  cached: boolean;
  /** How many times the request was sent to the server (0 when cached). */
  attempts: number;
  /** Wall time from dispatch to answer, including retries and rate-limit waits. */
  latency_ms: number;
  /**
   * True when the answer was cut short by the token limit (chat `finish_reason: "length"`,
   * Responses `status: "incomplete"` for `max_output_tokens`). Absent otherwise.
   */
  truncated?: boolean;
  /**
   * Set when the request asked for a JSON schema (`response_format` json_schema, Responses
   * `text.format`): whether the answer parsed and matched it. A `false` comes with the error
   * `schema_invalid`, whose message is the validator's.
   */
  schema_valid?: boolean;
}

/** The value stored in a cache entry: plain JSON, so that it can be browsed and searched. */
export interface CacheEntry {
  /** The request body as sent (never the API key). */
  request: Record<string, unknown>;
  /** The endpoint kind and base URL the answer came from. */
  endpoint: { kind: EndpointKind; baseURL: string };
  /** The server's response body. */
  response: unknown;
  /** The server's request id, if it sent one. */
  request_id: string | null;
  model: string;
  /** Epoch milliseconds when the entry was written. */
  created: number;
  /** Epoch milliseconds when the entry expires, or null for never. */
  expires: number | null;
  usage: Usage;
}
