/**
 * A child process for test/unit/cache-processes.test.ts: writes entries into a shared SQLite cache
 * while reading it back, to prove two processes can use one file at once.
 *
 * Usage: node --import tsx test/support/cacheWriter.ts <file> <writer-name> <count>
 * Prints one JSON line `{"written":n,"reads":n}` and exits 0, or prints the error and exits 1.
 */
import { SqliteCache } from '../../src/core/cache/sqlite';
import type { CacheEntry } from '../../src/core/types';

async function main(): Promise<void> {
  const [file, name, countText] = process.argv.slice(2);
  if (!file || !name || !countText) throw new Error('usage: cacheWriter.ts <file> <writer-name> <count>');
  const count = Number(countText);
  const cache = await SqliteCache.open(file);
  let reads = 0;
  try {
    // Several writes in flight at once, as the RequestManager would issue them.
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
