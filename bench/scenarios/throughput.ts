/**
 * Scenario 1: wall time of N requests at concurrency C against a server with latency L, as a
 * fraction of the physical limit ceil(N/C)·L, for the RequestManager and two hand-written
 * baselines over the openai SDK. Then the same with latency uniform in [20, 400) ms, where the
 * limit is Σ latency / C (C slots kept busy all the time) and chunking waits on each chunk's slowest.
 */
import { roundsBarRow, roundsInfoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer, type ServerLatency } from '../support/server';
import { chunkedPromiseAll, semaphoreAll } from '../support/baselines';
import { benchManager, runManager } from '../support/clients';
import { chatRequests, fmt, timed } from '../support/measure';
import type { ChatBody } from '../../src/core/types';

export interface ThroughputOptions {
  n: number;
  concurrency: number;
  latencyMs: number;
  /** Latency uniform in [min, max), for `n` requests. */
  variable: { min: number; max: number; n: number };
  /** Runs per client with fixed latency, taking turns; the bar is judged on the median run. */
  rounds: number;
  /** The same with variable latency. */
  variableRounds: number;
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

    const { n: nVar, ...spread } = o.variable;
    const runs: { label: string; n: number; latency: ServerLatency; rounds: number; limit: (latencySum: number) => number }[] = [
      { label: `L=${o.latencyMs} ms`, n: o.n, latency: o.latencyMs, rounds: o.rounds, limit: () => Math.ceil(o.n / C) * o.latencyMs },
      {
        label: `L=U(${spread.min},${spread.max}) ms`,
        n: nVar,
        latency: { ...spread, seed: 42 },
        rounds: o.variableRounds,
        limit: (sum) => sum / C,
      },
    ];
    for (const run of runs) {
      const effs = new Map<string, number[]>(clients.map((c) => [c.name, []]));
      for (let round = 0; round < run.rounds; round++) {
        // Each round starts with the next client, so that none always runs right after another.
        for (let k = 0; k < clients.length; k++) {
          const c = clients[(round + k) % clients.length]!;
          await server.configure({ latency: run.latency });
          const t = await timed(() => c.run(server.url, run.n, ''));
          const st = await server.stats();
          if (t.value !== run.n || st.count !== run.n) throw new Error(`${c.name}: ${t.value} results, ${st.count} requests`);
          const limit = run.limit(st.latencySum);
          const eff = limit / t.wallMs;
          effs.get(c.name)!.push(eff);
          log(`  ${run.label} ${c.name}: ${fmt(t.wallMs / 1000)} s (limit ${fmt(limit / 1000)} s), efficiency ${fmt(eff)}, ` +
            `${fmt((t.cpuMs / run.n) * 1000, 0)} µs CPU a request, max in flight ${st.maxInFlight}`);
        }
      }
      for (const c of clients) {
        const measure = `${run.label}: efficiency, ${c.name}`;
        const show = (x: number) => fmt(x);
        rows.push(c.name === 'RequestManager' ? roundsBarRow(NAME, measure, effs.get(c.name)!, '>=', 0.9, show) : roundsInfoRow(NAME, measure, effs.get(c.name)!, true, show));
      }
    }
    notes.push(
      `Throughput: C=${C}. Fixed latency: N=${o.n}, limit = ceil(N/C)·L = ${fmt((Math.ceil(o.n / C) * o.latencyMs) / 1000)} s, ${o.rounds} round(s). ` +
        `Variable latency: N=${nVar}, uniform in [${spread.min}, ${spread.max}) ms, the same seeded sequence for each client; ` +
        `limit = Σ latency / C (C slots never idle), ${o.variableRounds} round(s). Efficiency = limit / wall time; the clients take ` +
        'turns, each round starting with the next one, and the bar is judged on the median round (best in brackets).',
    );
  } finally {
    await server.close();
  }
  return { rows, notes };
}

function bodies(n: number, tag: string): ChatBody[] {
  return chatRequests(n, {}, tag).map((r) => r.body as ChatBody);
}
