/**
 * What the fake OpenAI server answers: the plan of a chat answer (its shapes, plain and streamed,
 * are in ./fakeChat.ts), embeddings lists and OpenAI-shaped errors, each a pure function of the
 * request so that tests can compute what they expect. Used by ./fakeServer.ts.
 */

/** Rough token estimate used everywhere in the fake: characters / 4, at least 1. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Formats a duration the way OpenAI's `x-ratelimit-reset-*` headers do: `120ms`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(ms: number): string {
  const t = Math.max(0, Math.ceil(ms));
  if (t < 1000) return `${t}ms`;
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = Number(((t % 60_000) / 1000).toFixed(3)).toString();
  if (h > 0) return `${h}h${m}m${s}s`;
  return m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** Text of a message content: a string, or the `text` of its parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (p && typeof p === 'object' && typeof p.text === 'string' ? p.text : '')).join('');
}

export interface ChatPlan {
  answer: string;
  finish: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
  /** What the rate limiter charges (see {@link FakeBehavior.rateLimit}). */
  charge: number;
  /** Reasoning and prompt-cache tokens to report (fakeModern.ts); the usage then has its `*_details`. */
  extras?: { reasoningTokens?: number; cachedTokens?: number };
}

export function planChat(body: Record<string, unknown>): ChatPlan {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  let answer = `echo: ${contentText(lastUser?.content)}`;
  const cap = Number(body.max_completion_tokens ?? body.max_tokens);
  let finish: ChatPlan['finish'] = 'stop';
  if (Number.isFinite(cap) && cap > 0 && estimateTokens(answer) > cap) {
    answer = answer.slice(0, cap * 4);
    finish = 'length';
  }
  // Each message is framed by 3 tokens and the reply primed with 3 more, as OpenAI counts them
  // (the cookbook's "How to count tokens with tiktoken": tokens_per_message = 3, plus 3).
  const promptTokens = estimateTokens(messages.map((m) => contentText(m?.content)).join('')) + 3 * messages.length + 3;
  const completionTokens = estimateTokens(answer);
  const charge = promptTokens + (Number.isFinite(cap) && cap > 0 ? cap : completionTokens);
  return { answer, finish, promptTokens, completionTokens, charge };
}

export function embeddingInputs(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return [''];
  if (input.every((x) => typeof x === 'number')) return [input.join(' ')];
  return input.map((x) => (typeof x === 'string' ? x : Array.isArray(x) ? x.join(' ') : String(x)));
}

/** A unit vector drawn from a PRNG seeded with the text's FNV-1a hash: same text, same vector. */
export function fakeEmbedding(text: string, dimensions: number): number[] {
  let seed = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 0x01000193);
  const v: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    v.push(((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1);
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

export type HeaderMap = Record<string, string>;

export function usageOf(promptTokens: number, completionTokens: number) {
  const total_tokens = promptTokens + completionTokens;
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens };
}

export function embeddingList(body: Record<string, unknown>): string {
  const dims = Number(body.dimensions) > 0 ? Number(body.dimensions) : 8;
  const inputs = embeddingInputs(body.input);
  const data = inputs.map((text, index) => {
    const v = fakeEmbedding(text, dims);
    const base64 = body.encoding_format === 'base64';
    const embedding = base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce((sum, t) => sum + estimateTokens(t), 0);
  const model = String(body.model ?? 'text-embedding-3-small');
  return JSON.stringify({ object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

export const ERROR_TYPES: Record<number, [type: string, code: string | null, message: string]> = {
  400: ['invalid_request_error', null, 'Bad request (fake).'],
  401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided'],
  403: ['invalid_request_error', 'unsupported_country_region_territory', 'Forbidden (fake).'],
  404: ['invalid_request_error', 'model_not_found', 'The model does not exist (fake).'],
  422: ['invalid_request_error', null, 'Unprocessable entity (fake).'],
  429: ['requests', 'rate_limit_exceeded', 'Rate limit reached (fake).'],
};

/**
 * OpenAI's 429 for an account without credit (error codes guide: "You exceeded your current
 * quota, please check your plan and billing details"): waiting does not help.
 */
export function quotaErrorBody(): unknown {
  return {
    error: {
      message: 'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    },
  };
}

export function errorBody(status: number, message?: string): unknown {
  const [type, code, text] = ERROR_TYPES[status] ?? ['server_error', null, `The server had an error (fake ${status}).`];
  return { error: { message: message ?? text, type, param: null, code } };
}

/** OpenAI's way of showing a rejected key: a few characters at each end. */
export function maskKey(key: string): string {
  return key.length <= 8 ? '*'.repeat(key.length) : `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}
