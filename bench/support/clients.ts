/** The RequestManager set up the way the CLI sets it up, against the bench server. */
import { RequestManager, type RequestManagerOptions } from '../../src/core/manager';
import { OpenAIProvider } from '../../src/core/providers/openai';
import type { LLMRequest, ResultRecord } from '../../src/core/types';

export function benchManager(baseURL: string, options: Omit<RequestManagerOptions, 'provider'> = {}): RequestManager {
  return new RequestManager({ provider: new OpenAIProvider({ apiKey: 'bench', baseURL }), ...options });
}

export interface ManagerRun {
  records: number;
  failed: number;
  /** Attempts beyond the first, summed over records (each one a 429 or other retried failure). */
  retries: number;
  firstError?: string;
}

/** Runs every request through `manager`, keeping counts only (as a results writer would keep nothing). */
export async function runManager(manager: RequestManager, requests: Iterable<LLMRequest>): Promise<ManagerRun> {
  const out: ManagerRun = { records: 0, failed: 0, retries: 0 };
  for await (const r of manager.run(requests) as AsyncGenerator<ResultRecord>) {
    out.records++;
    if (r.error) {
      out.failed++;
      out.firstError ??= `${r.error.code}: ${r.error.message}`;
    }
    out.retries += Math.max(0, r.attempts - 1);
  }
  return out;
}
