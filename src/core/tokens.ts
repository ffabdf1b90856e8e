import type { ChatBody, EmbeddingsBody, LLMRequest, Message, Usage } from './types';

/**
 * Token estimates made before a request is sent, for the tokens-per-minute budget and for cost
 * estimates. The count uses a real BPE tokenizer (`gpt-tokenizer`, o200k_base: GPT-4o and later),
 * loaded on first use because its tables are large. Servers bill other models with other
 * tokenizers; the estimate is reconciled with the server's `usage` once the answer arrives.
 */

type Counter = (text: string) => number;
let counter: Counter | undefined;

function loadCounter(): Counter {
  if (!counter) {
    // Loaded lazily: the encoder's rank table costs tens of milliseconds to parse.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('gpt-tokenizer/encoding/o200k_base') as { countTokens: (t: string) => number };
    counter = (text) => mod.countTokens(text);
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
  const body = request.body;
  const maxOut = body.max_completion_tokens ?? body.max_tokens ?? 0;
  return estimatePromptTokens(body, count) + maxOut * (body.n ?? 1);
}

/** The `usage` of a response body, with missing or malformed counts as 0 (undefined if none). */
export function usageOf(body: unknown): Usage | undefined {
  const u = (body as { usage?: Partial<Usage> } | null)?.usage;
  if (!u || typeof u !== 'object') return undefined;
  const prompt = Number(u.prompt_tokens) || 0;
  const completion = Number(u.completion_tokens) || 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: Number(u.total_tokens) || prompt + completion };
}
