/**
 * The ways people usually run a batch of requests by hand, for comparison with the RequestManager.
 * Each is written the plain way its users write it: no tuning the manager does not also get.
 */
import OpenAI from 'openai';
import { bufferedText, createHttpFetch, type Fetch } from '../../src/core/providers/httpFetch';
import { OpenAIProvider } from '../../src/core/providers/openai';
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
 * The RequestManager's own provider (OpenAIProvider: the official SDK on the node:http transport)
 * driven by a bare semaphore loop: no manager at all. The manager's rate ÷ this one is what the
 * manager itself adds (hashing, the cache lookups, pacing, retries, ordering, records, statistics).
 */
export async function providerLoop(baseURL: string, bodies: ChatBody[], concurrency: number): Promise<number> {
  const provider = new OpenAIProvider({ apiKey: 'bench', baseURL });
  const sem = new Semaphore(concurrency);
  const signal = new AbortController().signal;
  let done = 0;
  try {
    await Promise.all(
      bodies.map((body, i) =>
        sem.run(async () => {
          await provider.send({ kind: 'chat', custom_id: `r${i}`, line: i + 1, body }, { signal, timeoutMs: 60_000 });
          done++;
        }),
      ),
    );
  } finally {
    provider.close();
  }
  return done;
}

/**
 * The floor of what any client can do in Node on a given transport: `concurrency` workers, each
 * posting with `fetchFn` and parsing the JSON, nothing else (no SDK, no retries, no ordering, no
 * results kept). With the RequestManager's own transport ({@link createHttpFetch}) it is the
 * baseline of the overhead bar: the ratio then shows what the manager adds, not what the
 * transport saves. With the global (undici) `fetch` it is the floor a hand-written client meets.
 */
export async function bareFetch(baseURL: string, bodies: ChatBody[], concurrency: number, fetchFn: Fetch = fetch): Promise<number> {
  const url = `${baseURL}/chat/completions`;
  const headers = { 'content-type': 'application/json', authorization: 'Bearer bench' };
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = JSON.stringify(bodies[next++]);
      const res = await fetchFn(url, { method: 'POST', headers, body });
      // As the provider reads it: the bytes node:http already holds, without the Response's stream.
      JSON.parse(bufferedText(res) ?? (await res.text()));
      if (res.ok) ok++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
  return ok;
}

/** {@link bareFetch} on a fresh keep-alive node:http transport, closed afterwards. */
export async function bareHttpFetch(baseURL: string, bodies: ChatBody[], concurrency: number): Promise<number> {
  const fetchFn = createHttpFetch();
  try {
    return await bareFetch(baseURL, bodies, concurrency, fetchFn);
  } finally {
    fetchFn.close();
  }
}
