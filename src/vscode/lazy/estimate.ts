import { readBatch } from '../../core/batch/readers';
import type { ReaderOptions } from '../../core/batch/common';
import type { CacheProvider } from '../../core/cache/cacheProvider';
import { computeRequestHash } from '../../core/hash';
import { costOf, priceFor, type PriceTable } from '../../core/pricing';
import type { EndpointScope } from '../../core/providers/provider';
import { approxTextTokens, estimatePromptTokens } from '../../core/tokens';

/** What the confirmation before a large batch shows. */
export interface BatchEstimate {
  /** Rows that will become requests. */
  rows: number;
  /** Rows that cannot be read and will become error records without a call. */
  invalid: number;
  /** Estimated prompt tokens of all requests (about 4 characters a token). */
  promptTokens: number;
  /**
   * Estimated completion tokens: each row's `max_tokens` when set (an upper bound), otherwise as
   * many as its prompt (a guess).
   */
  completionTokens: number;
  /** Rows already in the cache, or repeating an earlier row of the file: no call, no cost. */
  cacheHits: number;
  /** Estimated dollars for the rows that are not cache hits. */
  cost: number;
  /** Models missing from the price table: the cost of their rows is unknown (not in `cost`). */
  unpricedModels: string[];
  /** Rows (not cache hits) on a model of {@link unpricedModels}. */
  unpricedRows: number;
}

export interface EstimateOptions {
  scope: EndpointScope;
  /** The cache to look rows up in; none = no cache hits expected. */
  cache?: CacheProvider;
  prices: PriceTable;
  signal?: AbortSignal;
  /** Called now and then with the rows read so far. */
  onProgress?: (rows: number) => void;
}

/**
 * Reads a batch file once, the way the run will, and estimates tokens, cache hits and cost. Token
 * counts use the 4-characters-a-token rule rather than the tokenizer: a confirmation dialog needs
 * the order of magnitude fast, not the exact count slowly.
 */
export async function estimateBatch(input: string, reader: ReaderOptions, options: EstimateOptions): Promise<BatchEstimate> {
  const est: BatchEstimate = { rows: 0, invalid: 0, promptTokens: 0, completionTokens: 0, cacheHits: 0, cost: 0, unpricedModels: [], unpricedRows: 0 };
  const seen = new Set<string>();
  const unpriced = new Set<string>();
  for await (const item of readBatch(input, { ...reader, signal: options.signal })) {
    if (item.kind === 'invalid') {
      est.invalid++;
      continue;
    }
    est.rows++;
    if (est.rows % 1000 === 0) options.onProgress?.(est.rows);
    let prompt: number;
    let completion: number;
    if (item.kind === 'chat') {
      prompt = estimatePromptTokens(item.body, approxTextTokens);
      const max = item.body.max_completion_tokens ?? item.body.max_tokens;
      completion = (typeof max === 'number' ? max : prompt) * (item.body.n ?? 1);
    } else if (item.kind === 'responses') {
      const input = item.body.input;
      prompt = approxTextTokens(typeof input === 'string' ? input : JSON.stringify(input)) + approxTextTokens(item.body.instructions ?? '');
      const max = item.body.max_output_tokens;
      completion = typeof max === 'number' ? max : prompt;
    } else {
      const input = item.body.input;
      prompt = typeof input === 'string' ? approxTextTokens(input) : approxTextTokens(JSON.stringify(input));
      completion = 0;
    }
    est.promptTokens += prompt;
    est.completionTokens += completion;
    const key = computeRequestHash(item, options.scope);
    let hit = seen.has(key);
    if (!hit && options.cache) {
      try {
        hit = await options.cache.has(key);
      } catch {
        hit = false; // the run treats a cache error as a miss too
      }
    }
    seen.add(key);
    if (hit) {
      est.cacheHits++;
      continue;
    }
    const model = item.body.model;
    if (!priceFor(model, options.prices)) {
      unpriced.add(model);
      est.unpricedRows++;
      continue;
    }
    est.cost += costOf(model, prompt, completion, options.prices);
  }
  est.unpricedModels = [...unpriced];
  return est;
}

/** Why a batch asks before it runs (none: it runs at once). */
export interface RunQuestion {
  /** At or above `fastllm.confirm.rowThreshold` rows. */
  bigBatch: boolean;
  /** Estimated above `fastllm.confirm.costThreshold` dollars. */
  costly: boolean;
  /** Some rows use a model without a price, on a server that is not this machine's: their cost is unknown, not $0. */
  unknownCost: boolean;
}

/**
 * Whether to ask before a batch. A row threshold or cost threshold of 0 turns that question off,
 * and with the cost threshold the question about unknown prices too. A local (loopback) server
 * costs nothing, so an unknown price there is no reason to ask.
 */
export function runQuestion(
  rows: number,
  estimate: Pick<BatchEstimate, 'cost' | 'unpricedModels'> | undefined,
  limits: { rowThreshold: number; costThreshold: number; localServer: boolean },
): RunQuestion {
  const bigBatch = limits.rowThreshold > 0 && rows >= limits.rowThreshold;
  const unknownCost = !!estimate && limits.costThreshold > 0 && estimate.unpricedModels.length > 0 && !limits.localServer;
  const costly = !!estimate && limits.costThreshold > 0 && estimate.cost > limits.costThreshold;
  return { bigBatch, costly, unknownCost };
}
