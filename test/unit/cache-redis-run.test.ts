/**
 * Runs through the RequestManager on a Redis cache that goes away mid-run and comes back: every
 * row still finishes, the run warns once, and later runs use the cache again.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { RedisCache } from '../../src/core/cache/redis';
import { RequestManager } from '../../src/core/manager';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { sleep } from '../support/cacheContract';
import { redisUnavailable, startRedisServer, type RedisServer } from '../support/redisServer';
import type { SendOptions } from '../../src/core/providers/provider';
import { ScriptedProvider } from '../support/scriptedProvider';

const skip = redisUnavailable();
let server: RedisServer;
before(async () => {
  if (!skip) server = await startRedisServer();
});
after(async () => {
  await server?.close();
});

const rows = (n: number): LLMRequest[] =>
  Array.from({ length: n }, (_, i) => ({
    kind: 'chat',
    custom_id: `line-${i + 1}`,
    line: i + 1,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `prompt ${i}` }] },
  }));

/** Stops the Redis server when the call numbered `stopAt` starts; that call and later ones wait until it is down. */
class StoppingProvider extends ScriptedProvider {
  stopAt = Infinity;
  private stopped: Promise<void> | undefined;
  override async send(request: LLMRequest, options: SendOptions) {
    if (this.calls.length === this.stopAt) this.stopped = server.stop();
    if (this.stopped) await this.stopped;
    return super.send(request, options);
  }
}

async function run(provider: ScriptedProvider, cache: RedisCache, n: number) {
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => warnings.push(m) };
  const manager = new RequestManager({ provider, cache, concurrency: 8, retryBaseMs: 5, retryMaxMs: 20, logger });
  const records: ResultRecord[] = [];
  for await (const record of manager.run(rows(n))) records.push(record);
  return { records, warnings };
}

it('a run goes on without Redis when it stops, warns once, and the next runs use it again', { skip, timeout: 60_000 }, async () => {
  const cache = await RedisCache.open(server.url, { namespace: 'run', commandTimeoutMs: 500 });
  try {
    const provider = new StoppingProvider(() => ({ latencyMs: 2 }));
    provider.stopAt = 60;
    const n = 200;
    const t0 = Date.now();
    const first = await run(provider, cache, n);
    const firstMs = Date.now() - t0;
    assert.equal(first.records.length, n, 'every row has its record');
    assert.ok(first.records.every((r) => r.error === null || r.error === undefined), 'no row failed because of the cache');
    assert.deepEqual(first.records.map((r) => r.line), Array.from({ length: n }, (_, i) => i + 1));
    const cacheWarnings = first.warnings.filter((w) => /^Cache (read|write) failed/.test(w));
    assert.equal(cacheWarnings.length, 1, `one warning, not one per row: ${first.warnings.join(' | ')}`);
    assert.match(cacheWarnings[0]!, /Redis cache redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
    assert.ok(firstMs < 10_000, `the outage did not stall the run (${firstMs} ms)`);
    assert.equal(provider.calls.length, n);

    // While it is down, a second run also finishes, answering every row from the API.
    const down = await run(provider, cache, 20);
    assert.equal(down.records.length, 20);
    assert.ok(down.records.every((r) => !r.cached));

    await server.start(); // empty: no persistence
    const end = Date.now() + 5000;
    while (!cache.connected && Date.now() < end) await sleep(20);
    assert.ok(cache.connected, 'the client reconnected by itself');

    const refill = await run(provider, cache, n);
    assert.deepEqual(refill.warnings, []);
    assert.equal(await cache.count(), n, 'the run after the outage wrote the cache again');
    const callsBefore = provider.calls.length;
    const cached = await run(provider, cache, n);
    assert.equal(provider.calls.length, callsBefore, 'and the next run is answered from it');
    assert.ok(cached.records.every((r) => r.cached));
  } finally {
    await cache.close();
  }
});
