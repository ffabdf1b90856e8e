/**
 * `npm run bench`: FastLLM's benchmark suite. Starts its own loopback OpenAI-compatible server (in a
 * child process), runs each scenario with its baseline side by side, prints a table with each bar
 * and PASS/MISS, and (full mode) writes it to bench/results.md.
 *
 *   npm run bench                  full run (a few minutes), writes bench/results.md
 *   npm run bench -- --quick       small N, every scenario, well under a minute (CI); writes nothing
 *   npm run bench -- --only 2,4    some scenarios only; never writes results.md
 *
 * Exit status: 0 when it ran (CI checks that it runs, not the timings), 1 when a scenario broke.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { cache } from './scenarios/cache';
import { memory } from './scenarios/memory';
import { overhead } from './scenarios/overhead';
import { rateLimit } from './scenarios/rateLimit';
import { startup } from './scenarios/startup';
import { throughput } from './scenarios/throughput';
import { fmt } from './support/measure';
import { infoRow, markdownTable, textTable, type Row, type ScenarioResult } from './support/report';

const quick = process.argv.includes('--quick');
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1]!.split(',').map(Number)) : undefined;

/** Sizes: the in full mode; in quick mode just enough for every code path to run. */
const plan = quick
  ? {
      throughput: { n: 300, concurrency: 100, latencyMs: 100, variable: { min: 20, max: 400 }, rounds: 1 },
      overhead: { n: 1000, concurrency: 256, rounds: 1 },
      rateLimit: { windowMs: 1000, perWindow: 50, windows: 3, concurrency: 64, latencyMs: 20 },
      cache: { n: 500, concurrency: 64, latencyMs: 20, rounds: 1 },
      memory: { sizes: [500, 2000] as [number, number], concurrency: 64, latencyMs: 1 },
      startup: { runs: 2 },
    }
  : {
      throughput: { n: 5000, concurrency: 100, latencyMs: 100, variable: { min: 20, max: 400 }, rounds: 2 },
      overhead: { n: 20_000, concurrency: 256, rounds: 2 },
      rateLimit: { windowMs: 5000, perWindow: 250, windows: 4, concurrency: 64, latencyMs: 20 },
      // Four off/on rounds: single cold runs varied by ±15 % on the shared 2-core machine.
      cache: { n: 10_000, concurrency: 64, latencyMs: 20, rounds: 4 },
      memory: { sizes: [20_000, 200_000] as [number, number], concurrency: 64, latencyMs: 1 },
      startup: { runs: 5 },
    };

const scenarios: { id: number; title: string; run: (log: (s: string) => void) => Promise<ScenarioResult> }[] = [
  { id: 1, title: 'throughput against the physical limit', run: (log) => throughput(plan.throughput, log) },
  { id: 2, title: 'overhead per request', run: (log) => overhead(plan.overhead, log) },
  { id: 3, title: 'rate-limit precision', run: (log) => rateLimit(plan.rateLimit, log) },
  { id: 4, title: 'SQLite cache', run: (log) => cache(plan.cache, log) },
  { id: 5, title: 'memory at scale', run: (log) => memory(plan.memory, log) },
  { id: 6, title: 'extension start-up', run: (log) => startup(plan.startup, log) },
];

function machine(): string {
  const c = cpus();
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  return `${c.length} cores (${c[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 1)} GB RAM, Node ${process.version}, ${process.platform}/${process.arch}, load average at start ${load}`;
}

async function main(): Promise<number> {
  const started = Date.now();
  const header = `FastLLM benchmarks (${quick ? 'quick' : 'full'}) — ${new Date().toISOString()}\n${machine()}`;
  process.stdout.write(`${header}\n`);
  const rows: Row[] = [];
  const notes: string[] = [];
  let broken = 0;
  for (const s of scenarios) {
    if (only && !only.has(s.id)) continue;
    process.stdout.write(`\n[${s.id}] ${s.title}\n`);
    const t = Date.now();
    try {
      const r = await s.run((line) => process.stdout.write(`${line}\n`));
      rows.push(...r.rows);
      notes.push(...r.notes);
      for (const row of r.rows) if (row.pass !== undefined) process.stdout.write(`  ${row.pass ? 'PASS' : 'MISS'}  ${row.measure}: ${row.value} (bar ${row.bar})\n`);
    } catch (e) {
      broken++;
      process.stdout.write(`  ERROR: ${(e as Error).stack ?? e}\n`);
      rows.push(infoRow(`${s.id} ${s.title}`, 'ERROR', (e as Error).message));
    }
    process.stdout.write(`  (${fmt((Date.now() - t) / 1000, 1)} s)\n`);
  }
  const total = (Date.now() - started) / 1000;
  process.stdout.write(`\n${textTable(rows)}\n\ntotal ${fmt(total, 1)} s, load average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

  if (!quick && !only) {
    const md = [
      '# FastLLM benchmark results',
      '',
      'Written by `npm run bench` (full mode); `npm run bench -- --quick` is the small run CI uses to keep the suite working.',
      'Every ratio compares clients measured one after the other in the same run, against the same loopback server',
      '(a child process, so the client measured owns its process\'s CPU time).',
      '',
      `- Date: ${new Date().toISOString()}`,
      `- Machine: ${machine().replace(/, load average at start.*/, '')}`,
      `- Load average at start / end: ${header.match(/load average at start (.*)$/)?.[1]} / ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
      `- Total time: ${fmt(total, 0)} s`,
      '',
      markdownTable(rows),
      '',
      '## How each figure is measured',
      '',
      ...notes.map((n) => `- ${n}`),
      '',
    ].join('\n');
    writeFileSync(join(__dirname, 'results.md'), md);
    process.stdout.write('wrote bench/results.md\n');
  }
  return broken ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
