/**
 * Building and checking requests.
 *
 * The factories (`fromPrompt`, `fromMessages`, `embeddingsRequest`) are for code that makes requests
 * directly; they throw a TypeError on bad input because such a mistake is a bug in the caller. The
 * batch readers instead call the `validate*` functions, which return a message, so that one bad row
 * becomes an error record and the rest of the batch goes on.
 */
import { randomUUID } from 'node:crypto';
import { ROLES, type ChatBody, type EmbeddingsBody, type LLMRequest, type Message } from './types';

/**
 * Settings applied to requests read from files, only where the row did not set them itself.
 * A row's own `model`, system message, `temperature`, … always win.
 */
export interface RequestDefaults {
  /** Model for rows that name none. Without it such rows become errors. @default undefined */
  model?: string;
  /**
   * System message for chat rows that have no `system` or `developer` message of their own.
   * Ignored for embeddings. @default undefined
   */
  system?: string;
  /** Sampling temperature for chat rows that set none. @default undefined (the server's default) */
  temperature?: number;
  /**
   * Completion token limit for rows that set none. Sent as `max_tokens` to chat models, as
   * `max_completion_tokens` to reasoning models that refuse `max_tokens` (o-series, gpt-5 family:
   * see {@link requiresMaxCompletionTokens}), and as `max_output_tokens` to the Responses API.
   * Not applied to a chat row that sets either field, because OpenAI rejects a body with both.
   * @default undefined
   */
  max_tokens?: number;
  /**
   * Reasoning effort (`minimal`, `low`, `medium`, `high`, …) for rows that set none: chat
   * `reasoning_effort`, Responses `reasoning.effort`. @default undefined (the model's default)
   */
  reasoning_effort?: string;
  /**
   * A JSON schema the answer must follow, for rows that ask for no format of their own: chat
   * `response_format: {type: "json_schema", json_schema}`, Responses `text.format: {type:
   * "json_schema", …}`. See {@link JsonSchemaFormat}. @default undefined
   */
  schema?: JsonSchemaFormat;
  /** Any other chat parameters (`top_p`, `seed`, `reasoning_effort`, …), each applied if absent. @default {} */
  params?: Record<string, unknown>;
}

/**
 * OpenAI's `json_schema` format object (https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format):
 * a name, the schema, and whether the model must follow it exactly.
 */
export interface JsonSchemaFormat {
  /** `^[a-zA-Z0-9_-]{1,64}$`. */
  name: string;
  schema: Record<string, unknown>;
  /** @default true (OpenAI's Structured Outputs; false asks for JSON that the schema only guides) */
  strict?: boolean;
  description?: string;
}

/**
 * True for models that refuse `max_tokens` and take `max_completion_tokens` instead: OpenAI's
 * reasoning models, the o-series (`o1`, `o3-mini`, `o4-mini`, …) and the gpt-5 family. A name with
 * a provider prefix (`openai/o3`) counts by its last part. Other models that refuse it are learned
 * from their 400 during a run (see RunContext in call.ts).
 */
export function requiresMaxCompletionTokens(model: unknown): boolean {
  if (typeof model !== 'string') return false;
  const name = model.slice(model.lastIndexOf('/') + 1).toLowerCase();
  return /^o\d+(?:$|-)/.test(name) || name.startsWith('gpt-5');
}

/** Options of the request factories. */
export interface RequestOptions {
  /** The model to call. */
  model: string;
  /**
   * A system message, put first. Not added when the messages already hold a `system` or
   * `developer` message. Ignored by {@link embeddingsRequest}. @default undefined
   */
  system?: string;
  /** Further body parameters; `model` and `messages`/`input` given here are overridden. @default {} */
  params?: Partial<ChatBody> | Record<string, unknown>;
  /** @default `line-<line>` when `line` is given, else a random UUID */
  custom_id?: string;
  /** Source line (see {@link LLMRequest.line}). @default 0 */
  line?: number;
}

/**
 * A request for one prompt of the given kind, with the defaults applied as a batch row would get
 * them (the editor's selections use it). Throws a TypeError if the result is not a valid request.
 */
export function promptRequest(
  prompt: string,
  opts: { kind?: 'chat' | 'responses'; defaults: RequestDefaults; custom_id: string; line: number },
): LLMRequest {
  if (opts.kind === 'responses') {
    const body = applyResponsesDefaults({ input: prompt }, opts.defaults);
    throwIfInvalid(validateResponsesBody(body));
    return { kind: 'responses', custom_id: opts.custom_id, line: opts.line, body: body as LLMRequest['body'] as never };
  }
  const body = applyChatDefaults({ messages: [{ role: 'user', content: prompt }] }, opts.defaults);
  throwIfInvalid(validateChatBody(body));
  return { kind: 'chat', custom_id: opts.custom_id, line: opts.line, body: body as unknown as ChatBody };
}

/** A chat request for one user prompt (with a system message first, if given). */
export function fromPrompt(prompt: string, opts: RequestOptions): LLMRequest {
  if (typeof prompt !== 'string') throw new TypeError(`prompt must be a string, got ${typeName(prompt)}`);
  return fromMessages([{ role: 'user', content: prompt }], opts);
}

/** A chat request for a conversation. Throws a TypeError if the resulting body is not valid. */
export function fromMessages(messages: Message[], opts: RequestOptions): LLMRequest {
  const problem = validateMessages(messages);
  if (problem) throw new TypeError(problem);
  const body: ChatBody = { ...opts.params, model: opts.model, messages: withSystem(messages, opts.system) };
  throwIfInvalid(validateChatBody(body));
  return { kind: 'chat', custom_id: idFor(opts), line: opts.line ?? 0, body };
}

/** An embeddings request. Throws a TypeError if `input` or the model is not valid. */
export function embeddingsRequest(input: EmbeddingsBody['input'], opts: RequestOptions): LLMRequest {
  const body: EmbeddingsBody = { ...opts.params, model: opts.model, input };
  throwIfInvalid(validateEmbeddingsBody(body));
  return { kind: 'embeddings', custom_id: idFor(opts), line: opts.line ?? 0, body };
}

/**
 * Returns a copy of a chat body with the defaults filled in where the body has no value.
 * The body is not validated here; call {@link validateChatBody} on the result.
 */
export function applyChatDefaults(body: Record<string, unknown>, defaults: RequestDefaults = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const [key, value] of Object.entries(defaults.params ?? {})) {
    if (out[key] === undefined && value !== undefined) out[key] = value;
  }
  if (out.model === undefined && defaults.model) out.model = defaults.model;
  if (out.temperature === undefined && defaults.temperature !== undefined) out.temperature = defaults.temperature;
  if (out.max_tokens === undefined && out.max_completion_tokens === undefined && defaults.max_tokens !== undefined) {
    if (requiresMaxCompletionTokens(out.model)) out.max_completion_tokens = defaults.max_tokens;
    else out.max_tokens = defaults.max_tokens;
  }
  if (out.reasoning_effort === undefined && defaults.reasoning_effort !== undefined) out.reasoning_effort = defaults.reasoning_effort;
  if (out.response_format === undefined && defaults.schema) {
    const { name, schema, strict = true, description } = defaults.schema;
    out.response_format = { type: 'json_schema', json_schema: { name, schema, strict, ...(description ? { description } : {}) } };
  }
  // Only a well-formed list gets a system message; a malformed one is left for the validator to name.
  if (defaults.system && Array.isArray(out.messages)) {
    out.messages = withSystem(out.messages as Message[], defaults.system);
  }
  return out;
}

/**
 * Returns a copy of a Responses body with the defaults filled in where the body has no value: the
 * system message becomes `instructions`, `max_tokens` becomes `max_output_tokens`, the reasoning
 * effort `reasoning.effort`, the schema `text.format`.
 */
export function applyResponsesDefaults(body: Record<string, unknown>, defaults: RequestDefaults = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const [key, value] of Object.entries(defaults.params ?? {})) {
    if (out[key] === undefined && value !== undefined) out[key] = value;
  }
  if (out.model === undefined && defaults.model) out.model = defaults.model;
  if (out.temperature === undefined && defaults.temperature !== undefined) out.temperature = defaults.temperature;
  if (out.max_output_tokens === undefined && defaults.max_tokens !== undefined) out.max_output_tokens = defaults.max_tokens;
  if (out.instructions === undefined && defaults.system) out.instructions = defaults.system;
  if (defaults.reasoning_effort !== undefined) {
    const reasoning = isPlainObject(out.reasoning) ? out.reasoning : {};
    if (reasoning.effort === undefined) out.reasoning = { ...reasoning, effort: defaults.reasoning_effort };
  }
  if (defaults.schema) {
    const text = isPlainObject(out.text) ? out.text : {};
    if (text.format === undefined) {
      const { name, schema, strict = true, description } = defaults.schema;
      out.text = { ...text, format: { type: 'json_schema', name, schema, strict, ...(description ? { description } : {}) } };
    }
  }
  return out;
}

/**
 * Checks a Responses API body: `model`, and `input` (a non-empty string or a list of input items).
 * Returns a message for the first problem, or null.
 */
export function validateResponsesBody(x: unknown): string | null {
  if (!isPlainObject(x)) return `a Responses request body must be a JSON object, got ${typeName(x)}`;
  const model = checkModel(x.model);
  if (model) return model;
  const input = x.input;
  if (input === undefined) return 'the body has no "input"';
  if (typeof input === 'string') {
    if (input.trim() === '') return '"input" is empty';
  } else if (!Array.isArray(input)) {
    return `"input" must be text or a list of input items, got ${typeName(input)}`;
  } else if (input.length === 0) {
    return '"input" is an empty list';
  } else {
    for (let i = 0; i < input.length; i++) {
      if (!isPlainObject(input[i])) return `input[${i}] must be an input item like {"role": "user", "content": "…"}, got ${typeName(input[i])}`;
    }
  }
  if (x.instructions !== undefined && x.instructions !== null && typeof x.instructions !== 'string') {
    return `"instructions" must be a string, got ${typeName(x.instructions)}`;
  }
  const max = x.max_output_tokens;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && (max as number) > 0)) {
    return `"max_output_tokens" must be a positive whole number, got ${typeof max === 'number' ? max : typeName(max)}`;
  }
  for (const key of ['temperature', 'top_p']) {
    if (x[key] !== undefined && (typeof x[key] !== 'number' || !Number.isFinite(x[key]))) return `"${key}" must be a number, got ${typeName(x[key])}`;
  }
  return null;
}

/** Returns a copy of an embeddings body with the default model filled in if it has none. */
export function applyEmbeddingsDefaults(body: Record<string, unknown>, defaults: RequestDefaults = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (out.model === undefined && defaults.model) out.model = defaults.model;
  return out;
}

/**
 * Checks a chat-completions body: `model`, `messages` and the types of the common parameters.
 * Returns a message for the first problem found, or null if the body looks sendable. Unknown
 * parameters pass: servers differ in what they accept, and they say so themselves.
 */
export function validateChatBody(x: unknown): string | null {
  if (!isPlainObject(x)) return `a chat request body must be a JSON object, got ${typeName(x)}`;
  const model = checkModel(x.model);
  if (model) return model;
  if (x.messages === undefined) return 'the body has no "messages"';
  const messages = validateMessages(x.messages);
  if (messages) return messages;
  return checkParams(x);
}

/**
 * Checks a list of chat messages. Returns a message naming the first problem (with its index,
 * e.g. `messages[2].role`), or null.
 */
export function validateMessages(x: unknown): string | null {
  if (!Array.isArray(x)) return `"messages" must be a list of messages, got ${typeName(x)}`;
  if (x.length === 0) return '"messages" is empty; it needs at least one message';
  for (let i = 0; i < x.length; i++) {
    const problem = checkMessage(x[i], `messages[${i}]`);
    if (problem) return problem;
  }
  return null;
}

/** Checks an embeddings body: `model` and `input`. Returns a message, or null. */
export function validateEmbeddingsBody(x: unknown): string | null {
  if (!isPlainObject(x)) return `an embeddings request body must be a JSON object, got ${typeName(x)}`;
  const model = checkModel(x.model);
  if (model) return model;
  const input = x.input;
  if (input === undefined) return 'the body has no "input"';
  if (typeof input === 'string') return input.length === 0 ? '"input" is an empty string' : null;
  if (!Array.isArray(input)) {
    return `"input" must be a string, a list of strings, or a list of token ids, got ${typeName(input)}`;
  }
  if (input.length === 0) return '"input" is an empty list';
  if (input.every((v) => typeof v === 'string')) return null;
  if (input.every(isTokenId)) return null;
  if (input.every((v) => Array.isArray(v) && v.length > 0 && v.every(isTokenId))) return null;
  return '"input" must be a string, a list of strings, a list of token ids, or a list of token-id lists (not a mix)';
}

/** Options of {@link wireBody}. */
export interface WireBodyOptions {
  /**
   * Build the body of a streamed chat call: `stream: true` and `stream_options.include_usage`
   * (kept with any other `stream_options` the row set). Otherwise both fields are removed, since
   * the caller reads one JSON answer (and OpenAI refuses `stream_options` without `stream`).
   * @default false
   */
  stream?: boolean;
}

/**
 * The request body exactly as it goes to the server, for live calls and Batch API lines alike:
 * without the top-level fields that start with `_` (the user's own annotations, which OpenAI
 * refuses as "Unrecognized request argument"), and with the streaming fields set for the way it
 * is sent (see {@link WireBodyOptions.stream}). Nested `_` fields are data (say, a JSON-schema
 * property) and stay. Returns `request.body` itself when nothing changes; never modifies it.
 *
 * @example
 * wireBody({ kind: 'chat', custom_id: 'a', line: 1, body: { model: 'm', messages, _source: 'x', stream: true } })
 * // → { model: 'm', messages }
 */
export function wireBody(request: LLMRequest, options: WireBodyOptions = {}): Record<string, unknown> {
  const body = request.body as Record<string, unknown>;
  const streamable = request.kind === 'chat' || request.kind === 'responses';
  const streamed = streamable && !!options.stream;
  let changed = streamed;
  for (const key in body) {
    if (key.charCodeAt(0) === 0x5f /* _ */ || (streamable && (key === 'stream' || key === 'stream_options'))) {
      changed = true;
      break;
    }
  }
  if (!changed) return body; // the common case: no copy per request
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key.charCodeAt(0) === 0x5f) continue;
    if (streamable && (key === 'stream' || key === 'stream_options')) continue;
    out[key] = value;
  }
  if (streamed) {
    const given = isPlainObject(body.stream_options) ? body.stream_options : {};
    out.stream = true;
    // Chat completions report usage in a stream only when asked; the Responses API always does
    // (in `response.completed`), and its `stream_options` has no `include_usage`.
    if (request.kind === 'chat') out.stream_options = { ...given, include_usage: true };
    else if (Object.keys(given).length > 0) out.stream_options = given;
  }
  return out;
}

/** A short description of a value's type for messages: "a number", "null", "a list". */
export function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'nothing';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'object') return 'an object';
  if (typeof x === 'string') return 'a string';
  if (typeof x === 'number') return 'a number';
  if (typeof x === 'boolean') return 'a boolean';
  return `a ${typeof x}`;
}

/** True for a non-null, non-array object (what a parsed JSON object is). */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkModel(model: unknown): string | null {
  if (model === undefined) return 'no model: add "model" to the request or set a default model';
  if (typeof model !== 'string' || model.trim() === '') return `"model" must be a non-empty string, got ${typeName(model)}`;
  return null;
}

const ROLE_LIST = ROLES.join(', ');

function checkMessage(m: unknown, at: string): string | null {
  if (!isPlainObject(m)) return `${at} must be an object with "role" and "content", got ${typeName(m)}`;
  const role = m.role;
  if (role === undefined) return `${at} has no "role" (one of ${ROLE_LIST})`;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    const shown = typeof role === 'string' ? `'${role}'` : typeName(role);
    return `${at}.role ${shown} is not a role; use one of ${ROLE_LIST}`;
  }
  const callsTools = m.tool_calls !== undefined || m.function_call !== undefined;
  if (m.content === undefined || m.content === null) {
    // The API allows an assistant turn that only calls tools to carry no content.
    if (role === 'assistant' && callsTools) return null;
    return `${at} (${role}) has no "content"`;
  }
  const content = checkContent(m.content, `${at}.content`);
  if (content) return content;
  if (m.name !== undefined && typeof m.name !== 'string') return `${at}.name must be a string, got ${typeName(m.name)}`;
  if (role === 'tool' && (typeof m.tool_call_id !== 'string' || m.tool_call_id === '')) {
    return `${at} has role 'tool' but no "tool_call_id" (the id of the assistant's tool call it answers)`;
  }
  if (m.tool_calls !== undefined && !Array.isArray(m.tool_calls)) {
    return `${at}.tool_calls must be a list, got ${typeName(m.tool_calls)}`;
  }
  return null;
}

function checkContent(content: unknown, at: string): string | null {
  if (typeof content === 'string') return null;
  if (!Array.isArray(content)) return `${at} must be text or a list of content parts, got ${typeName(content)}`;
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i];
    if (!isPlainObject(part) || typeof part.type !== 'string') {
      return `${at}[${i}] must be a content part like {"type": "text", "text": "…"}, got ${typeName(part)}`;
    }
    if (part.type === 'text' && typeof part.text !== 'string') {
      return `${at}[${i}] is a text part, so its "text" must be a string, got ${typeName(part.text)}`;
    }
  }
  return null;
}

/** Types of the parameters most often mistyped in hand-written files. */
function checkParams(body: Record<string, unknown>): string | null {
  const numbers = ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty'];
  for (const key of numbers) {
    if (body[key] !== undefined && (typeof body[key] !== 'number' || !Number.isFinite(body[key]))) {
      return `"${key}" must be a number, got ${typeName(body[key])}`;
    }
  }
  for (const key of ['max_tokens', 'max_completion_tokens', 'n']) {
    const v = body[key];
    if (v !== undefined && v !== null && !(Number.isInteger(v) && (v as number) > 0)) {
      return `"${key}" must be a positive whole number, got ${typeof v === 'number' ? v : typeName(v)}`;
    }
  }
  if (body.seed !== undefined && body.seed !== null && !Number.isInteger(body.seed)) {
    return `"seed" must be a whole number, got ${typeName(body.seed)}`;
  }
  const stop = body.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) {
    return `"stop" must be a string or a list of strings, got ${typeName(stop)}`;
  }
  return null;
}

function isTokenId(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 0;
}

function withSystem(messages: Message[], system: string | undefined): Message[] {
  if (!system) return messages;
  const hasOwn = messages.some((m) => isPlainObject(m) && (m.role === 'system' || m.role === 'developer'));
  return hasOwn ? messages : [{ role: 'system', content: system }, ...messages];
}

function idFor(opts: RequestOptions): string {
  if (opts.custom_id !== undefined) return opts.custom_id;
  return opts.line ? `line-${opts.line}` : randomUUID();
}

function throwIfInvalid(problem: string | null): void {
  if (problem) throw new TypeError(problem);
}
