/**
 * The ways people usually run a batch of requests by hand, for comparison with the RequestManager.
 * Each is written the plain way its users write it: no tuning the manager does not also get.
 */
import OpenAI from 'openai';
import type { ChatBody } from '../../src/core/types';

function sdkClient(baseURL: string): OpenAI {
  // The SDK's own retries off, as the manager's provider has them: a failure is a failure here.
  return new OpenAI({ apiKey: 'bench', baseURL, maxRetries: 0 });
}

/** `Promise.all` over chunks of `concurrency`: the next chunk starts once the slowest of this one ends. */
export async function chunkedPromiseAll(baseURL: string, bodies: ChatBody[], concurrency: number): Promise<unknown[]> {
  const client = sdkClient(baseURL);
  const results: unknown[] = [];
  for (let i = 0; i < bodies.length; i += concurrency) {
    const chunk = bodies.slice(i, i + concurrency);
    const answers = await Promise.all(
      chunk.map((b) => client.chat.completions.create(b as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)),
    );
    results.push(...answers);
  }
  return results;
}

/** A counting semaphore: at most `n` holders at once, the rest wait first-in first-out. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** Every request started at once behind a semaphore of `concurrency`, then `Promise.all`. */
export async function semaphoreAll(baseURL: string, bodies: ChatBody[], concurrency: number): Promise<unknown[]> {
  const client = sdkClient(baseURL);
  const sem = new Semaphore(concurrency);
  return Promise.all(
    bodies.map((b) =>
      sem.run(() => client.chat.completions.create(b as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)),
    ),
  );
}

/**
 * The floor of what any client can do in Node: `concurrency` workers, each posting with the global
 * `fetch` and parsing the JSON, nothing else (no SDK, no retries, no ordering, no results kept).
 */
export async function bareFetch(baseURL: string, bodies: ChatBody[], concurrency: number): Promise<number> {
  const url = `${baseURL}/chat/completions`;
  const headers = { 'content-type': 'application/json', authorization: 'Bearer bench' };
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = JSON.stringify(bodies[next++]);
      const res = await fetch(url, { method: 'POST', headers, body });
      await res.json();
      if (res.ok) ok++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
  return ok;
}
