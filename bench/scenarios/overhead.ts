/**
 * Scenario 2: with a server that answers at once, what the client itself costs per request.
 * Requests/s and CPU per request for a bare `fetch` loop on the RequestManager's own transport
 * (node:http with keep-alive, src/core/providers/httpFetch.ts: the floor the bar compares with),
 * the same loop on the global (undici) `fetch`, the openai SDK behind a semaphore (what the
 * manager's provider is built on, on the SDK's default transport), and the RequestManager, all at
 * the same concurrency. The clients take turns over several rounds, starting with a different one
 * each round, so that drift in the machine's load hits each of them alike; each round gives one
 * ratio, and the bar is judged on the median ratio.
 */
import { roundsBarRow, roundsInfoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer } from '../support/server';
import { bareFetch, bareHttpFetch, providerLoop, semaphoreAll } from '../support/baselines';
import { benchManager, runManager } from '../support/clients';
import { chatRequests, fmt, timed } from '../support/measure';
import type { ChatBody } from '../../src/core/types';

export interface OverheadOptions {
  /** Requests per client per round. */
  n: number;
  concurrency: number;
  rounds: number;
}

const NAME = '2 overhead';
/** The floor: the manager's own transport, so that the ratio shows what the manager adds. */
const FLOOR = 'bare fetch (node:http, as the manager)';
const MANAGER = 'RequestManager';
/** The manager's provider alone (the official SDK on the same transport): the ratio to it is what the manager adds. */
const PROVIDER = 'OpenAIProvider alone (semaphore, no manager)';

export async function overhead(o: OverheadOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const C = o.concurrency;
  const clients: { name: string; run: (url: string, n: number) => Promise<number> }[] = [
    { name: FLOOR, run: (url, n) => bareHttpFetch(url, bodies(n), C) },
    { name: 'bare fetch (undici, global fetch)', run: (url, n) => bareFetch(url, bodies(n), C) },
    { name: 'semaphore (SDK)', run: async (url, n) => (await semaphoreAll(url, bodies(n), C)).length },
    { name: PROVIDER, run: (url, n) => providerLoop(url, bodies(n), C) },
    {
      name: MANAGER,
      run: async (url, n) => {
        const r = await runManager(benchManager(url, { concurrency: C, maxRetries: 0 }), chatRequests(n));
        if (r.failed) throw new Error(`RequestManager: ${r.failed} failed (${r.firstError})`);
        return r.records;
      },
    },
  ];
  /** Per client, per round: requests/s and CPU µs per request. */
  const rates = new Map(clients.map((c) => [c.name, [] as number[]]));
  const cpus = new Map(clients.map((c) => [c.name, [] as number[]]));
  const server = await BenchServer.start({ latency: 0 });
  try {
    for (const c of clients) await c.run(server.url, 2 * C); // warm-up
    for (let round = 0; round < o.rounds; round++) {
      const parts: string[] = [];
      for (let k = 0; k < clients.length; k++) {
        const c = clients[(round + k) % clients.length]!;
        await server.reset();
        const t = await timed(() => c.run(server.url, o.n));
        const st = await server.stats();
        if (t.value !== o.n || st.count !== o.n) throw new Error(`${c.name}: ${t.value} results, ${st.count} requests`);
        rates.get(c.name)!.push((o.n / t.wallMs) * 1000);
        cpus.get(c.name)!.push((t.cpuMs / o.n) * 1000);
        parts.push(`${c.name} ${fmt((o.n / t.wallMs) * 1000, 0)}/s`);
      }
      log(`  round ${round + 1}: ${parts.join(', ')}`);
    }
  } finally {
    await server.close();
  }
  const rows: Row[] = [];
  for (const c of clients) {
    rows.push(roundsInfoRow(NAME, `${c.name}: requests/s`, rates.get(c.name)!, true, (x) => fmt(x, 0)));
    rows.push(roundsInfoRow(NAME, `${c.name}: CPU per request`, cpus.get(c.name)!, false, (x) => `${fmt(x, 0)} µs`));
  }
  /** Per-round ratios of the manager's rate to another client's, measured minutes apart at most. */
  const ratio = (other: string) => rates.get(MANAGER)!.map((r, i) => r / rates.get(other)![i]!);
  // What the manager adds, over the provider it drives (same SDK, same transport).
  rows.push(roundsBarRow(NAME, `RequestManager ÷ ${PROVIDER}, requests/s`, ratio(PROVIDER), '>=', 0.7, (x) => fmt(x)));
  // The whole engine against the transport's floor: the official SDK alone costs about as much as
  // the HTTP it sends (profiled: ~250-300 µs a call on these cores), which no manager can win back.
  rows.push(roundsBarRow(NAME, `RequestManager ÷ ${FLOOR}, requests/s`, ratio(FLOOR), '>=', 0.35, (x) => fmt(x)));
  rows.push(roundsInfoRow(NAME, 'RequestManager ÷ bare fetch (undici), requests/s', ratio('bare fetch (undici, global fetch)'), true, (x) => fmt(x)));
  rows.push(roundsInfoRow(NAME, 'RequestManager ÷ semaphore (SDK), requests/s', ratio('semaphore (SDK)'), true, (x) => fmt(x)));
  return {
    rows,
    notes: [
      `Overhead: latency 0, ${o.n} requests per client per round, ${o.rounds} rounds (the clients take turns, each round ` +
        `starting with the next one), C=${C}. The first bar compares the RequestManager with its own provider (OpenAIProvider, ` +
        'the official SDK on node:http) driven by a bare semaphore: what the manager adds. The second compares it with a bare loop of `fetch` calls on the ' +
        "same transport (node:http with keep-alive, `createHttpFetch`), each on a fresh connection pool: what the whole engine, SDK included, costs over raw HTTP; " +
        'the undici row is that loop on the global `fetch`, for context. Each round gives a ratio; the bar is judged on ' +
        'the median, the best round shown beside it. CPU is this process\'s (user + system) only: the server runs in a child process.',
    ],
  };
}

function bodies(n: number): ChatBody[] {
  return chatRequests(n).map((r) => r.body as ChatBody);
}
