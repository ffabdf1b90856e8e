import * as vscode from 'vscode';

/**
 * The `fastllm.batch.*` settings of Batch API mode, typed (JSDoc mirrors package.json). Read fresh
 * on every access.
 */
export const batchJobsConfig = {
  /** Requests per Batch job at most. @default 50000 (OpenAI's limit) */
  get maxRequests(): number {
    return Math.max(1, get('batch.maxRequests', 50_000));
  },
  /** Bytes of one job's input file at most, in MB. @default 200 (OpenAI's limit) */
  get maxBytes(): number {
    return Math.max(1, get('batch.maxMegabytes', 200)) * 1024 * 1024;
  },
  /** First poll interval in seconds; doubles up to 10 minutes while nothing changes. @default 30 */
  get pollSeconds(): number {
    return Math.max(1, get('batch.pollSeconds', 30));
  },
  /** Write the results as soon as a submission's jobs have all ended. @default true */
  get fetchWhenDone(): boolean {
    return get('batch.fetchWhenDone', true);
  },
};

function get<T>(key: string, fallback: T): T {
  return vscode.workspace.getConfiguration('fastllm').get<T>(key, fallback) ?? fallback;
}
