/**
 * Scenario 5: peak memory of the CLI (dist/cli.js) running a big .txt batch against a fast server,
 * at two sizes, each in a fresh process. If input, in-flight work and output are streamed, the
 * peak hardly grows with the file.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { barRow, infoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer } from '../support/server';
import { fmt } from '../support/measure';

export interface MemoryOptions {
  sizes: [small: number, large: number];
  concurrency: number;
  latencyMs: number;
}

const NAME = '5 memory';
const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const MB = 1024 * 1024;

interface ChildReport {
  code: number;
  maxRssBytes: number;
  heapUsedBytes: number;
  cpuMs: number;
  uptimeMs: number;
}

async function writePrompts(path: string, n: number): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < n; i++) {
    if (!out.write(`Memory benchmark prompt number ${i}: summarise this line in a few words.\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

async function countLines(path: string): Promise<number> {
  const text = await readFile(path, 'utf8');
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

export async function memory(o: MemoryOptions, log: (s: string) => void): Promise<ScenarioResult> {
  if (!existsSync(CLI)) {
    return { rows: [infoRow(NAME, 'peak RSS', 'not run: dist/cli.js missing (npm run build)')], notes: [] };
  }
  const dir = await mkdtemp(join(tmpdir(), 'fastllm-bench-mem-'));
  const server = await BenchServer.start({ latency: o.latencyMs });
  const peaks: number[] = [];
  const rows: Row[] = [];
  try {
    for (const n of o.sizes) {
      const input = join(dir, `prompts-${n}.txt`);
      const out = join(dir, `prompts-${n}.results.jsonl`);
      const report = join(dir, `rss-${n}.json`);
      await writePrompts(input, n);
      await server.reset();
      const args = ['-r', join(__dirname, '../support/maxrss.cjs'), CLI, 'run', input, '--out', out, '--base-url', server.url,
        '--no-cache', '--quiet', '--concurrency', String(o.concurrency), '--max-retries', '0'];
      const child = spawn(process.execPath, args, {
        cwd: dir,
        env: { ...process.env, OPENAI_API_KEY: 'bench', BENCH_RSS_FILE: report },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      const r = JSON.parse(await readFile(report, 'utf8')) as ChildReport;
      const written = await countLines(out);
      const served = (await server.stats()).count;
      if (code !== 0 || written !== n || served !== n) throw new Error(`memory ${n}: exit ${code}, ${written} results, ${served} requests`);
      peaks.push(r.maxRssBytes);
      log(`  ${n.toLocaleString('en-US')} lines: peak RSS ${fmt(r.maxRssBytes / MB, 1)} MB, ${fmt((n / r.uptimeMs) * 1000, 0)} rows/s, ${fmt((r.cpuMs / n) * 1000, 0)} µs CPU a row`);
      rows.push(infoRow(NAME, `${n.toLocaleString('en-US')} lines: peak RSS`, `${fmt(r.maxRssBytes / MB, 1)} MB`));
    }
    const [small, large] = peaks as [number, number];
    rows[rows.length - 1] = barRow(NAME, `${o.sizes[1].toLocaleString('en-US')} lines: peak RSS`, large / MB, '<', 300, (x) => `${fmt(x, 1)} MB`);
    rows.push(barRow(NAME, `growth ${o.sizes[0].toLocaleString('en-US')} → ${o.sizes[1].toLocaleString('en-US')} lines`, ((large - small) / small) * 100, '<', 25, (x) => `${fmt(x, 1)} %`));
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    rows,
    notes: [
      `Memory: \`node dist/cli.js run prompts.txt --no-cache --concurrency ${o.concurrency}\` in a fresh process per size, ` +
        `server latency ${o.latencyMs} ms; peak RSS is process.resourceUsage().maxRSS read at exit.`,
    ],
  };
}
