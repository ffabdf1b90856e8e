import type { Usage } from './types';

/**
 * Estimated prices, in US dollars per million tokens, for common models. Prices change: the table
 * is a best-effort default that callers override (the extension's `fastllm.prices` setting, the
 * CLI's `--prices FILE`). Unknown models cost 0 and are reported as "unknown" rather than guessed.
 */
export interface ModelPrice {
  /** Dollars per 1M prompt (input) tokens. */
  input: number;
  /** Dollars per 1M completion (output) tokens; reasoning tokens are output tokens and cost the same. */
  output: number;
  /**
   * Dollars per 1M prompt tokens served from the provider's prompt cache
   * (`prompt_tokens_details.cached_tokens`). @default `input` (no discount known)
   */
  cachedInput?: number;
}

export type PriceTable = Record<string, ModelPrice>;

/** List prices as published by OpenAI for standard (non-batch) requests. */
export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'o3': { input: 2, cachedInput: 0.5, output: 8 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
};

/**
 * The price of a model: an exact match first, then the longest table key that the model name
 * starts with (so `gpt-4o-2024-08-06` is priced as `gpt-4o`), else undefined.
 */
export function priceFor(model: string, table: PriceTable = DEFAULT_PRICES): ModelPrice | undefined {
  const exact = table[model];
  if (exact) return exact;
  let best: string | undefined;
  for (const name of Object.keys(table)) {
    if (model.startsWith(name) && (!best || name.length > best.length)) best = name;
  }
  return best ? table[best] : undefined;
}

/**
 * Dollars for the given usage, or 0 for an unknown model. `cachedPromptTokens` (part of
 * `promptTokens`) are priced at `cachedInput`; reasoning tokens are part of `completionTokens`, as
 * the APIs count them, and so priced as output.
 *
 * @example
 * costOf('gpt-4o-mini', 1000, 0, undefined, 600) // 400 fresh × $0.15 + 600 cached × $0.075, per 1M
 */
export function costOf(model: string, promptTokens: number, completionTokens: number, table?: PriceTable, cachedPromptTokens = 0): number {
  const p = priceFor(model, table);
  if (!p) return 0;
  const cached = Math.min(Math.max(0, cachedPromptTokens), promptTokens);
  return ((promptTokens - cached) * p.input + cached * (p.cachedInput ?? p.input) + completionTokens * p.output) / 1_000_000;
}

/** {@link costOf} for a usage object (its `cached_tokens` at the cached-input price). */
export function costOfUsage(model: string, usage: Usage, table?: PriceTable): number {
  return costOf(model, usage.prompt_tokens, usage.completion_tokens, table, usage.cached_tokens ?? 0);
}

/** What the OpenAI Batch API charges, as a share of the live price. */
export const BATCH_PRICE_FACTOR = 0.5;

/**
 * The price table for Batch API jobs: every price of `table` times {@link BATCH_PRICE_FACTOR}.
 *
 * @example
 * costOf('gpt-4o-mini', 1000, 1000, batchPrices()) // half of costOf('gpt-4o-mini', 1000, 1000)
 */
export function batchPrices(table: PriceTable = DEFAULT_PRICES): PriceTable {
  const out: PriceTable = {};
  for (const [model, p] of Object.entries(table)) {
    out[model] = { input: p.input * BATCH_PRICE_FACTOR, output: p.output * BATCH_PRICE_FACTOR };
    if (p.cachedInput !== undefined) out[model].cachedInput = p.cachedInput * BATCH_PRICE_FACTOR;
  }
  return out;
}
