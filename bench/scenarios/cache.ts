/**
 * Scenario 4: the SQLite cache, end to end through runBatch (read the .txt file, run, write the
 * results file), the way the CLI and the extension run a batch.
 *
 * - Cold: the same file with the cache off and with a fresh, empty cache on (which then holds every
 *   answer), taking turns, so that the cost of writing the cache shows as a throughput ratio.
 * - Warm: the whole file again with that cache: results/s, and requests the server saw (must be 0).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBatch, type BatchSummary } from '../../src/core/batch/runBatch';
import { SqliteCache } from '../../src/core/cache/sqlite';
import { barRow, roundsBarRow, roundsInfoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer } from '../support/server';
import { benchManager } from '../support/clients';
import { fmt, timed } from '../support/measure';

export interface CacheOptions {
  n: number;
  concurrency: number;
  latencyMs: number;
  /** Cold off/on pairs, and warm reruns; bars are judged on the median round. */
  rounds: number;
}

const NAME = '4 cache';

export async function cache(o: CacheOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const dir = await mkdtemp(join(tmpdir(), 'fastllm-bench-cache-'));
  const input = join(dir, 'prompts.txt');
  const lines = Array.from({ length: o.n }, (_, i) => `Cache benchmark prompt ${i}: answer in one sentence.`);
  await writeFile(input, `${lines.join('\n')}\n`);
  const server = await BenchServer.start({ latency: o.latencyMs });
  const rows: Row[] = [];
  try {
    const batch = async (cacheFile: string | undefined, out: string, file = input, rows = o.n) => {
      const c = cacheFile ? await SqliteCache.open(cacheFile) : undefined;
      try {
        const manager = benchManager(server.url, { concurrency: o.concurrency, maxRetries: 0, cache: c });
        const reader = { kind: 'chat' as const, defaults: { model: 'gpt-4o-mini' } };
        const s: BatchSummary = await runBatch({ input: file, out: join(dir, out), manager, reader });
        if (s.records !== rows || s.failed) throw new Error(`cache run ${out}: ${s.records} records, ${s.failed} failed`);
        return s;
      } finally {
        await c?.close();
      }
    };
    // Warm-up off the clock (JIT, connections, the sqlite3 addon).
    const warmInput = join(dir, 'warm-up.txt');
    await writeFile(warmInput, lines.slice(0, 500).map((l) => `warm-up ${l}`).join('\n'));
    await batch(join(dir, 'warm.sqlite'), 'warm.results.jsonl', warmInput, 500);
    await batch(undefined, 'warm.results.jsonl', warmInput, 500);

    // Each round: cache off, then a fresh cache on, then (on that cache) a warm rerun. The
    // off/on ratio of each pair, measured seconds apart, is one sample of what the cache costs.
    const offRates: number[] = [];
    const onRates: number[] = [];
    const warmRates: number[] = [];
    let served = 0;
    for (let round = 0; round < o.rounds; round++) {
      await server.reset();
      const off = (await timed(() => batch(undefined, 'off.results.jsonl'))).wallMs;
      const cacheFile = join(dir, `cold${round}.sqlite`);
      await server.reset();
      const on = (await timed(() => batch(cacheFile, 'on.results.jsonl'))).wallMs;
      await server.reset();
      const warm = await timed(() => batch(cacheFile, 'warm2.results.jsonl'));
      served += (await server.stats()).count;
      offRates.push((o.n * 1000) / off);
      onRates.push((o.n * 1000) / on);
      warmRates.push((o.n * 1000) / warm.wallMs);
      log(`  round ${round + 1}: cold, cache off ${fmt(offRates[round]!, 0)} rows/s, on ${fmt(onRates[round]!, 0)} rows/s ` +
        `(on ÷ off ${fmt(onRates[round]! / offRates[round]!)}); warm rerun ${fmt(warmRates[round]!, 0)} results/s, ` +
        `${fmt((warm.cpuMs / o.n) * 1000, 0)} µs CPU a row`);
    }

    rows.push(roundsBarRow(NAME, `warm rerun of ${o.n.toLocaleString('en-US')} rows: results/s`, warmRates, '>=', 5000, (x) => fmt(x, 0)));
    rows.push(barRow(NAME, `warm reruns: server requests (all ${o.rounds})`, served, '==', 0, (x) => String(x)));
    rows.push(roundsInfoRow(NAME, 'cold, cache off: rows/s', offRates, true, (x) => fmt(x, 0)));
    rows.push(roundsInfoRow(NAME, 'cold, cache on: rows/s', onRates, true, (x) => fmt(x, 0)));
    rows.push(roundsBarRow(NAME, 'cold: cache on ÷ cache off', onRates.map((on, i) => on / offRates[i]!), '>=', 0.9, (x) => fmt(x)));
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    rows,
    notes: [
      `Cache: ${o.n} one-line prompts in a .txt file, runBatch end to end (file read to results written), ` +
        `C=${o.concurrency}, server latency ${o.latencyMs} ms; ${o.rounds} rounds, each a cold run with the cache off, one with a ` +
        'fresh cache on, and a warm rerun on that cache. The on ÷ off ratio is taken per round; bars are judged on the median round.',
    ],
  };
}
