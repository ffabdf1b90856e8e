/**
 * Scenario 1: wall time of N requests at concurrency C against a server with latency L, as a
 * fraction of the physical limit ceil(N/C)·L, for the RequestManager and two hand-written
 * baselines over the openai SDK. Then the same with latency uniform in [20, 400) ms, where the
 * limit is Σ latency / C (C slots kept busy all the time) and chunking waits on each chunk's slowest.
 */
import { barRow, infoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer, type ServerLatency } from '../support/server';
import { chunkedPromiseAll, semaphoreAll } from '../support/baselines';
import { benchManager, runManager } from '../support/clients';
import { chatRequests, fmt, timed } from '../support/measure';
import type { ChatBody } from '../../src/core/types';

export interface ThroughputOptions {
  n: number;
  concurrency: number;
  latencyMs: number;
  variable: { min: number; max: number };
  /** Runs per client with fixed latency, taking turns; the best counts (noise only ever slows a run). */
  rounds: number;
}

const NAME = '1 throughput';

type Client = { name: string; run: (url: string, n: number, tag: string) => Promise<number> };

export async function throughput(o: ThroughputOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const C = o.concurrency;
  const clients: Client[] = [
    {
      name: 'RequestManager',
      run: async (url, n, tag) => {
        const r = await runManager(benchManager(url, { concurrency: C, maxRetries: 0 }), chatRequests(n, {}, tag));
        if (r.failed) throw new Error(`RequestManager: ${r.failed} failed (${r.firstError})`);
        return r.records;
      },
    },
    {
      name: 'chunked Promise.all (SDK)',
      run: async (url, n, tag) => (await chunkedPromiseAll(url, bodies(n, tag), C)).length,
    },
    {
      name: 'semaphore (SDK)',
      run: async (url, n, tag) => (await semaphoreAll(url, bodies(n, tag), C)).length,
    },
  ];
  const rows: Row[] = [];
  const notes: string[] = [];

  const server = await BenchServer.start({ latency: 1 });
  try {
    // Warm-up: JIT and a pool of keep-alive connections for each client, off the clock.
    for (const c of clients) await c.run(server.url, 2 * C, 'warm-');

    const runs: { label: string; latency: ServerLatency; rounds: number; limit: (latencySum: number) => number }[] = [
      { label: `L=${o.latencyMs} ms`, latency: o.latencyMs, rounds: o.rounds, limit: () => Math.ceil(o.n / C) * o.latencyMs },
      {
        label: `L=U(${o.variable.min},${o.variable.max}) ms`,
        latency: { ...o.variable, seed: 42 },
        rounds: 1,
        limit: (sum) => sum / C,
      },
    ];
    for (const run of runs) {
      const best = new Map<string, number>();
      for (let round = 0; round < run.rounds; round++) {
        for (const c of clients) {
          await server.configure({ latency: run.latency });
          const t = await timed(() => c.run(server.url, o.n, ''));
          const st = await server.stats();
          if (t.value !== o.n || st.count !== o.n) throw new Error(`${c.name}: ${t.value} results, ${st.count} requests`);
          const limit = run.limit(st.latencySum);
          const eff = limit / t.wallMs;
          best.set(c.name, Math.max(best.get(c.name) ?? 0, eff));
          log(`  ${run.label} ${c.name}: ${fmt(t.wallMs / 1000)} s (limit ${fmt(limit / 1000)} s), efficiency ${fmt(eff)}, ` +
            `${fmt((t.cpuMs / o.n) * 1000, 0)} µs CPU a request, max in flight ${st.maxInFlight}`);
        }
      }
      for (const c of clients) {
        const eff = best.get(c.name)!;
        const measure = `${run.label}: efficiency${run.rounds > 1 ? ` (best of ${run.rounds})` : ''}, ${c.name}`;
        rows.push(c.name === 'RequestManager' ? barRow(NAME, measure, eff, '>=', 0.9, (x) => fmt(x)) : infoRow(NAME, measure, fmt(eff)));
      }
    }
    notes.push(
      `Throughput: N=${o.n}, C=${C}. Fixed latency: limit = ceil(N/C)·L = ${fmt((Math.ceil(o.n / C) * o.latencyMs) / 1000)} s. ` +
        `Variable latency: uniform in [${o.variable.min}, ${o.variable.max}) ms, the same seeded sequence for each client; ` +
        'limit = Σ latency / C (C slots never idle). Efficiency = limit / wall time; with fixed latency the clients take ' +
        `turns for ${o.rounds} round(s) and each one's best run counts.`,
    );
  } finally {
    await server.close();
  }
  return { rows, notes };
}

function bodies(n: number, tag: string): ChatBody[] {
  return chatRequests(n, {}, tag).map((r) => r.body as ChatBody);
}
