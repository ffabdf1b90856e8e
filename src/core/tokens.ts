import type { ChatBody, EmbeddingsBody, LLMRequest, Message, ResponsesBody, Usage } from './types';

/**
 * Token estimates made before a request is sent, for the tokens-per-minute budget and for cost
 * estimates. The count uses a real BPE tokenizer (`gpt-tokenizer`, o200k_base: GPT-4o and later),
 * loaded on first use because its tables are large. Servers bill other models with other
 * tokenizers; when the server's `usage` turns out larger than the estimate, the rate limiter
 * charges the difference (it never gives tokens back: see RateLimiter.charge).
 */

type Counter = (text: string) => number;
let counter: Counter | undefined;

/**
 * No special token is treated as special: a prompt that contains `<|endoftext|>` is text to the
 * server (the API never parses special tokens out of user content), so it is counted as text.
 * gpt-tokenizer's default instead throws "Disallowed special token".
 */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

function loadCounter(): Counter {
  if (!counter) {
    // Loaded lazily: the encoder's rank table costs tens of milliseconds to parse.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('gpt-tokenizer/encoding/o200k_base') as {
      countTokens: (t: string, options: typeof AS_TEXT) => number;
    };
    counter = (text) => mod.countTokens(text, AS_TEXT);
  }
  return counter;
}

/** Counts tokens of a text with the o200k_base tokenizer. */
export function countTextTokens(text: string): number {
  return text ? loadCounter()(text) : 0;
}

/** A cheap approximation (4 characters a token) for when an exact count is not worth its cost. */
export function approxTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function messageText(m: Message): string {
  if (typeof m.content === 'string') return m.content;
  let text = '';
  if (Array.isArray(m.content)) for (const part of m.content) if (typeof part.text === 'string') text += part.text;
  if (m.tool_calls) text += JSON.stringify(m.tool_calls);
  if (m.function_call) text += JSON.stringify(m.function_call);
  return text;
}

/** Per-message framing tokens that chat models add around each message (OpenAI's published rule). */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

/** Estimated prompt tokens of a chat body. */
export function estimatePromptTokens(body: ChatBody, count: Counter = countTextTokens): number {
  let n = TOKENS_PER_REPLY;
  for (const m of body.messages) n += TOKENS_PER_MESSAGE + count(messageText(m)) + (m.name ? 1 : 0);
  if (body.tools) n += count(JSON.stringify(body.tools));
  return n;
}

function embeddingsTokens(body: EmbeddingsBody, count: Counter): number {
  const input = body.input;
  if (typeof input === 'string') return count(input);
  if (input.length === 0) return 0;
  if (typeof input[0] === 'string') return (input as string[]).reduce((s, t) => s + count(t), 0);
  if (typeof input[0] === 'number') return input.length; // already token ids
  return (input as number[][]).reduce((s, ids) => s + ids.length, 0);
}

/**
 * What a request will cost against a tokens-per-minute budget: prompt tokens plus the most it may
 * generate (`max_completion_tokens` or `max_tokens`, times `n`), as OpenAI's limiter counts it.
 * @param exact use the real tokenizer (default) or the 4-characters-a-token approximation.
 */
export function estimateRequestTokens(request: LLMRequest, exact = true): number {
  const count = exact ? countTextTokens : approxTextTokens;
  if (request.kind === 'embeddings') return embeddingsTokens(request.body, count);
  if (request.kind === 'responses') return responsesTokens(request.body, count) + (Number(request.body.max_output_tokens) || 0);
  const body = request.body;
  const maxOut = body.max_completion_tokens ?? body.max_tokens ?? 0;
  return estimatePromptTokens(body, count) + maxOut * (body.n ?? 1);
}

/** Estimated prompt tokens of a Responses body: its instructions and the text of its input items. */
function responsesTokens(body: ResponsesBody, count: Counter): number {
  let n = TOKENS_PER_REPLY + (typeof body.instructions === 'string' ? TOKENS_PER_MESSAGE + count(body.instructions) : 0);
  if (typeof body.input === 'string') return n + TOKENS_PER_MESSAGE + count(body.input);
  for (const item of Array.isArray(body.input) ? body.input : []) {
    const content = (item as { content?: unknown }).content;
    n += TOKENS_PER_MESSAGE;
    if (typeof content === 'string') n += count(content);
    else if (Array.isArray(content)) for (const part of content) if (typeof (part as { text?: unknown }).text === 'string') n += count((part as { text: string }).text);
  }
  if (body.tools) n += count(JSON.stringify(body.tools));
  return n;
}

/** The server's usage object as it may come, from chat completions or from the Responses API. */
interface RawUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  total_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: unknown } | null;
  input_tokens?: unknown;
  output_tokens?: unknown;
  input_tokens_details?: { cached_tokens?: unknown } | null;
  output_tokens_details?: { reasoning_tokens?: unknown } | null;
}

/**
 * The `usage` of a response body, with missing or malformed counts as 0 (undefined if none). Reads
 * chat completions' names (`prompt_tokens`, `prompt_tokens_details.cached_tokens`,
 * `completion_tokens_details.reasoning_tokens`) and the Responses API's (`input_tokens`,
 * `input_tokens_details.cached_tokens`, `output_tokens`, `output_tokens_details.reasoning_tokens`:
 * https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage) into
 * one shape. `cached_tokens` and `reasoning_tokens` are set only when the server reported some.
 */
export function usageOf(body: unknown): Usage | undefined {
  const u = (body as { usage?: RawUsage } | null)?.usage;
  if (!u || typeof u !== 'object') return undefined;
  const prompt = Number(u.prompt_tokens ?? u.input_tokens) || 0;
  const completion = Number(u.completion_tokens ?? u.output_tokens) || 0;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: Number(u.total_tokens) || prompt + completion };
  const cached = Number((u.prompt_tokens_details ?? u.input_tokens_details)?.cached_tokens) || 0;
  const reasoning = Number((u.completion_tokens_details ?? u.output_tokens_details)?.reasoning_tokens) || 0;
  if (cached > 0) usage.cached_tokens = Math.min(cached, prompt);
  if (reasoning > 0) usage.reasoning_tokens = Math.min(reasoning, completion);
  return usage;
}
