/**
 * Scenario 7: `concurrency: 'auto'` against a GPU-like server (latency `baseMs` while at most
 * `capacity` requests are in flight, growing in proportion beyond it: vLLM or Ollama under load),
 * side by side with fixed concurrencies on the same server. Bars: auto reaches ≥ 0.9 of the best
 * fixed concurrency's throughput, with a median latency ≤ 1.5 × the unloaded latency.
 */
import { barRow, infoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer } from '../support/server';
import { benchManager } from '../support/clients';
import { chatRequests, fmt, timed } from '../support/measure';
import type { ResultRecord } from '../../src/core/types';

export interface AutoConcurrencyOptions {
  capacity: number;
  baseMs: number;
  /** Fixed concurrencies to compare with. */
  fixed: number[];
  /** Requests per fixed run. */
  nFixed: number;
  /** Requests in the auto run (longer: it includes finding the knee). */
  nAuto: number;
}

const NAME = '7 concurrency auto';

interface Run {
  throughput: number;
  medianLatency: number;
  settled?: number;
}

async function measure(server: BenchServer, concurrency: number | 'auto', n: number, tag: string): Promise<Run> {
  await server.reset();
  const manager = benchManager(server.url, { concurrency });
  const latencies: number[] = [];
  const t = await timed(async () => {
    for await (const r of manager.run(chatRequests(n, {}, tag)) as AsyncGenerator<ResultRecord>) {
      if (r.error) throw new Error(`${tag}: ${r.error.code}: ${r.error.message}`);
      latencies.push(r.latency_ms);
    }
  });
  latencies.sort((a, b) => a - b);
  return { throughput: n / (t.wallMs / 1000), medianLatency: latencies[latencies.length >> 1]!, settled: manager.stats.snapshot().pacing.concurrency ?? undefined };
}

export async function autoConcurrency(o: AutoConcurrencyOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const rows: Row[] = [];
  const server = await BenchServer.start({ gpu: { capacity: o.capacity, baseMs: o.baseMs } });
  try {
    let best = { concurrency: 0, throughput: 0 };
    for (const c of o.fixed) {
      const r = await measure(server, c, o.nFixed, `fixed${c}-`);
      log(`  fixed ${c}: ${fmt(r.throughput, 1)} rows/s, median latency ${fmt(r.medianLatency, 0)} ms`);
      rows.push(infoRow(NAME, `fixed concurrency ${c}: rows/s (median latency)`, `${fmt(r.throughput, 1)} (${fmt(r.medianLatency, 0)} ms)`));
      if (r.throughput > best.throughput) best = { concurrency: c, throughput: r.throughput };
    }
    const auto = await measure(server, 'auto', o.nAuto, 'auto-');
    log(`  auto: ${fmt(auto.throughput, 1)} rows/s, median latency ${fmt(auto.medianLatency, 0)} ms, settled on ${auto.settled}`);
    rows.push(infoRow(NAME, 'auto: rows/s (median latency), concurrency it settled on', `${fmt(auto.throughput, 1)} (${fmt(auto.medianLatency, 0)} ms), ${auto.settled}`));
    rows.push(barRow(NAME, `auto ÷ best fixed (${best.concurrency}), rows/s`, auto.throughput / best.throughput, '>=', 0.9, (x) => fmt(x, 2)));
    rows.push(barRow(NAME, 'auto: median latency ÷ unloaded latency', auto.medianLatency / o.baseMs, '<', 1.5, (x) => fmt(x, 2)));
  } finally {
    await server.close();
  }
  return {
    rows,
    notes: [
      `Concurrency auto: a GPU-like server with capacity ${o.capacity} and unloaded latency ${o.baseMs} ms (latency × in-flight ÷ capacity beyond it); ` +
        `fixed concurrencies ${o.fixed.join(', ')} with ${o.nFixed} rows each, then auto with ${o.nAuto} rows (its ramp from 4 included). Latency is each record's latency_ms.`,
    ],
  };
}
