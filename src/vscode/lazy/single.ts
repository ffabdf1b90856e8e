import type { CacheProvider } from '../../core/cache/cacheProvider';
import { computeRequestHash } from '../../core/hash';
import type { RequestManager } from '../../core/manager';
import { ProviderError, type Provider, type ProviderResponse } from '../../core/providers/provider';
import type { CacheEntry, LLMRequest, ResultRecord, Usage } from '../../core/types';
import { usageOf } from '../../core/tokens';
import { answerText as coreAnswerText } from '../../core/answer';

export interface SingleRunOptions {
  request: LLMRequest;
  /** Used when streaming is not possible, and as the fallback with retries when a stream fails early. */
  manager: RequestManager;
  provider: Provider;
  cache?: CacheProvider;
  /** Read the cache before calling (`use`) or not (`bypass`, cache disabled). */
  useCache: boolean;
  cacheTtlMs: number | null;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with each piece of the answer as it arrives (once with the whole answer if not streamed). */
  onDelta: (text: string) => void;
}

export interface SingleResult {
  /** The answer text (what was passed to `onDelta`, concatenated). */
  text: string;
  cached: boolean;
  streamed: boolean;
  error: { code: string; message: string } | null;
}

/**
 * Runs one prompt, streaming its answer when the provider can. The RequestManager does not
 * stream, so this does for one request what it does for many: read the cache, call, record stats
 * (into `manager.stats`) and write the cache. A stream that fails before its first piece of text
 * falls back to `manager.runOne`, which has the retries; one that fails midway reports the error
 * and keeps the text that arrived.
 */
export async function runSingle(o: SingleRunOptions): Promise<SingleResult> {
  const { request, manager, provider, cache } = o;
  const stats = manager.stats;
  const key = computeRequestHash(request, provider.scope);
  if (cache && o.useCache) {
    const hit = await cache.get(key).catch(() => undefined);
    if (hit) {
      stats.reset(1);
      const text = answerText(hit.response);
      o.onDelta(text);
      stats.reusedSuccess(request.body.model, hit.usage, 'cache');
      stats.finish();
      return { text, cached: true, streamed: false, error: null };
    }
  }

  if ((request.kind === 'chat' || request.kind === 'responses') && provider.stream) {
    let text = '';
    stats.reset(1);
    stats.attemptStarted();
    let response: ProviderResponse | undefined;
    let failure: ProviderError | undefined;
    try {
      response = await provider.stream(
        request,
        (delta) => {
          text += delta;
          o.onDelta(delta);
        },
        { signal: o.signal ?? new AbortController().signal, timeoutMs: o.timeoutMs },
      );
    } catch (e) {
      failure = e instanceof ProviderError ? e : new ProviderError(String((e as Error)?.message ?? e), undefined, 'internal_error');
    } finally {
      stats.attemptEnded();
    }
    if (response) {
      const usage = usageOf(response.body);
      stats.freshSuccess(request.body.model, usage);
      stats.finish();
      if (cache) await cache.set(key, entryFor(o, response, usage), o.cacheTtlMs ?? undefined).catch(() => undefined);
      return { text, cached: false, streamed: true, error: null };
    }
    const status = failure!.status;
    const fatal = status === 401 || status === 403;
    if (text !== '' || o.signal?.aborted || fatal) {
      stats.failure(request.body.model);
      stats.finish();
      const code = o.signal?.aborted ? 'cancelled' : failure!.code || `http_${status}`;
      return { text, cached: false, streamed: true, error: { code, message: failure!.message } };
    }
    // Nothing arrived: let the manager try again, with its retries and rate limits.
  }

  const record = await manager.runOne(request, { signal: o.signal, total: 1 });
  return fromRecord(record, o.onDelta);
}

function fromRecord(record: ResultRecord, onDelta: (t: string) => void): SingleResult {
  if (record.error) return { text: '', cached: false, streamed: false, error: record.error };
  const text = answerText(record.response?.body);
  onDelta(text);
  return { text, cached: record.cached, streamed: false, error: null };
}

/** The text of a chat completion's first choice or a Responses body's `output_text`, or the JSON of any other body (embeddings). */
export function answerText(body: unknown): string {
  const text = coreAnswerText(body);
  if (typeof text === 'string') return text;
  return JSON.stringify(body, null, 2);
}


/** The same entry the RequestManager writes for a fresh answer. */
function entryFor(o: SingleRunOptions, response: ProviderResponse, usage: Usage | undefined): CacheEntry {
  const now = Date.now();
  return {
    request: o.request.body as Record<string, unknown>,
    endpoint: { kind: o.request.kind, baseURL: o.provider.scope.baseURL },
    response: response.body,
    request_id: response.requestId,
    model: (response.body as { model?: string } | null)?.model ?? o.request.body.model,
    created: now,
    expires: o.cacheTtlMs ? now + o.cacheTtlMs : null,
    usage: usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}
