/**
 * A child process for the tests that share one cache between processes (test/unit/cache-processes
 * .test.ts on an SQLite file, test/unit/cache-redis.test.ts on a Redis server): writes entries while
 * reading them back, several writes in flight at once, as the RequestManager would issue them.
 *
 * Usage: node --import tsx test/support/cacheWriter.ts <file|redis-url> <writer-name> <count> [--namespace NS] [--shared]
 * `--shared` also writes the keys `shared-<i>` (every 50th entry), which every writer writes.
 * Prints one JSON line `{"written":n,"reads":n}` and exits 0, or prints the error and exits 1.
 */
import { parseArgs } from 'node:util';
import { openCache } from '../../src/core/cache/open';
import type { CacheEntry } from '../../src/core/types';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { namespace: { type: 'string' }, shared: { type: 'boolean' } },
  });
  const [location, name, countText] = positionals;
  if (!location || !name || !countText) throw new Error('usage: cacheWriter.ts <file|redis-url> <writer-name> <count> [--namespace NS] [--shared]');
  const count = Number(countText);
  const cache = await openCache(location, values.namespace ? { namespace: values.namespace } : {});
  let reads = 0;
  try {
    const inFlight = 8;
    for (let start = 0; start < count; start += inFlight) {
      const batch: Promise<unknown>[] = [];
      for (let i = start; i < Math.min(start + inFlight, count); i++) {
        const entry: CacheEntry = {
          request: { model: 'm', messages: [{ role: 'user', content: `${name} question ${i}` }] },
          endpoint: { kind: 'chat', baseURL: 'http://127.0.0.1' },
          response: { text: `${name} answer ${i}` },
          request_id: null,
          model: 'm',
          created: Date.now(),
          expires: null,
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        };
        batch.push(cache.set(`${name}-${i}`, entry));
        // Every writer also writes the same shared keys: the last write wins, whole.
        if (values.shared && i % 50 === 0) batch.push(cache.set(`shared-${i}`, { ...entry, model: name }));
      }
      await Promise.all(batch);
      // Read back what this writer wrote, and look at the whole cache as the browser would.
      const mine = await cache.get(`${name}-${start}`);
      if (mine?.response === undefined) throw new Error(`${name}-${start} not readable after writing`);
      await cache.list({ limit: 20, filter: 'question' });
      await cache.count();
      reads += 3;
    }
  } finally {
    await cache.close();
  }
  process.stdout.write(`${JSON.stringify({ written: count, reads })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
