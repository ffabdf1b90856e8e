/** Result records for tests of the Results view (src/core/results). */
import type { ResultRecord } from '../../src/core/types';

/** A chat answer record, as runBatch writes it. */
export function chat(id: string, line: number, content: string, o: { latency?: number; prompt?: number; completion?: number; cached?: boolean; model?: string } = {}): ResultRecord {
  const prompt = o.prompt ?? 10;
  const completion = o.completion ?? 5;
  return {
    id: `fastllm-x-${line}`,
    custom_id: id,
    line,
    cached: o.cached ?? false,
    attempts: o.cached ? 0 : 1,
    latency_ms: o.latency ?? 100,
    error: null,
    response: {
      status_code: 200,
      request_id: null,
      body: { model: o.model ?? 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content } }], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } },
    },
  };
}

/** A failed record (error, no response). */
export function failed(id: string, line: number, code = 'http_500', message = 'server exploded'): ResultRecord {
  return { id: `fastllm-x-${line}`, custom_id: id, line, cached: false, attempts: 3, latency_ms: 900, error: { code, message }, response: null };
}

