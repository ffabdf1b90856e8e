/**
 * A child process for test/unit/cache-redis.test.ts: writes entries into a shared Redis cache while
 * reading it back, to prove several machines (here: processes) can use one server at once.
 *
 * Usage: node --import tsx test/support/redisCacheWriter.ts <redis-url> <namespace> <writer-name> <count>
 * Prints one JSON line `{"written":n,"reads":n}` and exits 0, or prints the error and exits 1.
 */
import { RedisCache } from '../../src/core/cache/redis';
import type { CacheEntry } from '../../src/core/types';

async function main(): Promise<void> {
  const [url, namespace, name, countText] = process.argv.slice(2);
  if (!url || !namespace || !name || !countText) throw new Error('usage: redisCacheWriter.ts <url> <namespace> <writer-name> <count>');
  const count = Number(countText);
  const cache = await RedisCache.open(url, { namespace });
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
        // Both writers also write the same shared keys: the last write wins, whole.
        if (i % 50 === 0) batch.push(cache.set(`shared-${i}`, { ...entry, model: name }));
      }
      await Promise.all(batch);
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
