/**
 * Scenario 2: with a server that answers at once, what the client itself costs per request.
 * Requests/s and CPU per request for a bare `fetch` loop (the floor), the openai SDK behind a
 * semaphore (what the manager's provider is built on), and the RequestManager, all at the same
 * concurrency. The clients take turns over several rounds so that drift in the machine's load
 * hits each of them alike.
 */
import { barRow, infoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer } from '../support/server';
import { bareFetch, semaphoreAll } from '../support/baselines';
import { benchManager, runManager } from '../support/clients';
import { chatRequests, fmt, timed } from '../support/measure';
import type { ChatBody } from '../../src/core/types';

export interface OverheadOptions {
  n: number;
  concurrency: number;
  rounds: number;
}

const NAME = '2 overhead';

export async function overhead(o: OverheadOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const C = o.concurrency;
  const per = Math.ceil(o.n / o.rounds);
  const clients: { name: string; run: (url: string, n: number) => Promise<number> }[] = [
    { name: 'bare fetch', run: (url, n) => bareFetch(url, bodies(n), C) },
    { name: 'semaphore (SDK)', run: async (url, n) => (await semaphoreAll(url, bodies(n), C)).length },
    {
      name: 'RequestManager',
      run: async (url, n) => {
        const r = await runManager(benchManager(url, { concurrency: C, maxRetries: 0 }), chatRequests(n));
        if (r.failed) throw new Error(`RequestManager: ${r.failed} failed (${r.firstError})`);
        return r.records;
      },
    },
  ];
  const total = new Map(clients.map((c) => [c.name, { wallMs: 0, cpuMs: 0, n: 0 }]));
  const server = await BenchServer.start({ latency: 0 });
  try {
    for (const c of clients) await c.run(server.url, 2 * C); // warm-up
    for (let round = 0; round < o.rounds; round++) {
      for (const c of clients) {
        await server.reset();
        const t = await timed(() => c.run(server.url, per));
        const st = await server.stats();
        if (t.value !== per || st.count !== per) throw new Error(`${c.name}: ${t.value} results, ${st.count} requests`);
        const acc = total.get(c.name)!;
        acc.wallMs += t.wallMs;
        acc.cpuMs += t.cpuMs;
        acc.n += per;
      }
    }
  } finally {
    await server.close();
  }
  const rate = (name: string) => {
    const a = total.get(name)!;
    return (a.n / a.wallMs) * 1000;
  };
  const rows: Row[] = [];
  for (const c of clients) {
    const a = total.get(c.name)!;
    const cpu = (a.cpuMs / a.n) * 1000;
    log(`  ${c.name}: ${fmt(rate(c.name), 0)} req/s, ${fmt(cpu, 0)} µs CPU per request`);
    rows.push(infoRow(NAME, `${c.name}: requests/s`, fmt(rate(c.name), 0)));
    rows.push(infoRow(NAME, `${c.name}: CPU per request`, `${fmt(cpu, 0)} µs`));
  }
  rows.push(barRow(NAME, 'RequestManager ÷ bare fetch, requests/s', rate('RequestManager') / rate('bare fetch'), '>=', 0.7, (x) => fmt(x)));
  rows.push(infoRow(NAME, 'RequestManager ÷ semaphore (SDK), requests/s', fmt(rate('RequestManager') / rate('semaphore (SDK)'))));
  return {
    rows,
    notes: [
      `Overhead: latency 0, N=${o.n} per client in ${o.rounds} alternating rounds, C=${C}. CPU is this process's ` +
        '(user + system) only: the server runs in a child process.',
    ],
  };
}

function bodies(n: number): ChatBody[] {
  return chatRequests(n).map((r) => r.body as ChatBody);
}
