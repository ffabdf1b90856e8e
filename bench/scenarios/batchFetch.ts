/**
 * Scenario 7: peak memory of `fastllm batch fetch` (dist/cli.js, in a fresh process) joining a
 * Batch API output of embedding rows (1,536 dimensions, ~21 KB of JSON a line, about 1 GB for
 * 50,000 rows) back to its input. The output is served in shuffled order, as OpenAI may write it,
 * so the join must seek; if output lines were held in memory, the peak would grow with the file.
 *
 * The submission is made up here (the state file, the input, the output file) rather than run
 * through submit: what is measured is the fetch alone. The loopback server streams the file from
 * disk, so the parent does not hold it either.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readBatch } from '../../src/core/batch/readers';
import { BatchApiClient, requestFingerprint, batchLine, statePathFor, type BatchState } from '../../src/core/batchApi';
import { normalizeBaseURL } from '../../src/core/hash';
import { fmt } from '../support/measure';
import { barRow, infoRow, type ScenarioResult } from '../support/report';

export interface BatchFetchOptions {
  /** Embedding rows in the one job. */
  rows: number;
  /** Dimensions of each embedding. @default 1536 */
  dimensions?: number;
}

const NAME = '8 batch fetch';
const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const MB = 1024 * 1024;
const MODEL = 'text-embedding-3-small';

/** A few distinct embeddings, written the way OpenAI writes floats (e.g. -0.0069754217). */
function embeddings(dimensions: number, variants: number): string[] {
  let x = 2463534242;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 2 ** 32);
  return Array.from({ length: variants }, () => `[${Array.from({ length: dimensions }, () => ((next() - 0.5) / 10).toFixed(10)).join(',')}]`);
}

async function writeLines(path: string, count: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < count; i++) if (!out.write(line(i))) await once(out, 'drain');
  out.end();
  await once(out, 'close');
}

export async function batchFetch(o: BatchFetchOptions, log: (s: string) => void): Promise<ScenarioResult> {
  if (!existsSync(CLI)) return { rows: [infoRow(NAME, 'peak RSS', 'not run: dist/cli.js missing (npm run build)')], notes: [] };
  const dims = o.dimensions ?? 1536;
  const dir = await mkdtemp(join(tmpdir(), 'fastllm-bench-batchfetch-'));
  const input = join(dir, 'texts.txt');
  const outputFile = join(dir, 'output.jsonl');
  const out = join(dir, 'texts.results.jsonl');
  const report = join(dir, 'rss.json');
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/v1/batches/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ...batch, status: 'completed', completed_at: batch.created_at + 60, output_file_id: 'file-out', request_counts: { total: o.rows, completed: o.rows, failed: 0 } }));
    }
    if (req.url === '/v1/files/file-out/content') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return void createReadStream(outputFile).pipe(res);
    }
    res.writeHead(404).end();
  });
  const batch = { id: 'batch_bench', object: 'batch', endpoint: '/v1/embeddings', input_file_id: 'file-in', completion_window: '24h', status: 'in_progress', created_at: Math.floor(Date.now() / 1000) - 3600 };
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const t0 = Date.now();
    await writeLines(input, o.rows, (i) => `Text number ${i} to embed for the batch fetch benchmark.\n`);

    // What submit would have recorded: each row's custom_id and the fingerprint of its request line.
    const client = new BatchApiClient({ apiKey: 'bench', baseURL: url });
    const reader = { kind: 'embeddings' as const, defaults: { model: MODEL } };
    const sent: Record<string, string> = {};
    for await (const item of readBatch(input, reader)) if (item.kind !== 'invalid') sent[item.custom_id] = requestFingerprint(batchLine(item, client));
    const { size, mtimeMs } = await stat(input);
    const state: BatchState = {
      version: 1,
      id: 'bench',
      complete: true,
      input,
      baseURL: normalizeBaseURL(url),
      reader,
      inputStat: { size, mtimeMs },
      submittedAt: Date.now() - 3_600_000,
      rows: o.rows,
      cachedRows: 0,
      invalidRows: 0,
      repeatRows: 0,
      jobs: [
        {
          id: batch.id,
          kind: 'embeddings',
          model: MODEL,
          inputFileId: 'file-in',
          requests: o.rows,
          bytes: 0,
          ranges: [[0, o.rows]],
          status: 'in_progress',
          counts: { total: o.rows, completed: 0, failed: 0 },
          createdAt: batch.created_at,
          expiresAt: null,
          endedAt: null,
          outputFileId: null,
          errorFileId: null,
          errors: null,
          sent,
        },
      ],
      fetched: null,
    };
    await writeFile(statePathFor(input), JSON.stringify(state));

    // The output, in a shuffled order (a stride through the rows that visits each once).
    const vectors = embeddings(dims, 16);
    let stride = Math.floor(o.rows * 0.618) | 1;
    while (gcd(stride, o.rows) !== 1) stride += 2;
    await writeLines(outputFile, o.rows, (k) => {
      const i = (k * stride) % o.rows;
      const body = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":${vectors[i % vectors.length]}}],"model":"${MODEL}","usage":{"prompt_tokens":12,"total_tokens":12}}`;
      return `{"id":"batch_req_${i}","custom_id":"line-${i + 1}","response":{"status_code":200,"request_id":"req_${i}","body":${body}},"error":null}\n`;
    });
    const outputBytes = (await stat(outputFile)).size;
    log(`  ${o.rows.toLocaleString('en-US')} rows × ${dims} dimensions: output file ${fmt(outputBytes / MB, 0)} MB (made in ${fmt((Date.now() - t0) / 1000, 1)} s)`);

    const args = ['-r', join(__dirname, '../support/maxrss.cjs'), CLI, 'batch', 'fetch', input, '--base-url', url, '--no-cache', '--out', out];
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, OPENAI_API_KEY: 'bench', BENCH_RSS_FILE: report }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    const r = JSON.parse(await readFile(report, 'utf8')) as { maxRssBytes: number; uptimeMs: number };
    const written = await checkResults(out, o.rows, dims);
    if (code !== 0 || written !== o.rows) throw new Error(`batch fetch: exit ${code}, ${written} of ${o.rows} records; stderr: ${stderr.slice(0, 500)}`);
    log(`  fetch: peak RSS ${fmt(r.maxRssBytes / MB, 1)} MB, ${fmt(r.uptimeMs / 1000, 1)} s (${fmt(outputBytes / MB / (r.uptimeMs / 1000), 0)} MB/s of output)`);
    return {
      rows: [
        infoRow(NAME, `${o.rows.toLocaleString('en-US')} rows: output file`, `${fmt(outputBytes / MB, 0)} MB`),
        barRow(NAME, `${o.rows.toLocaleString('en-US')} embedding rows (${dims} dims): peak RSS`, r.maxRssBytes / MB, '<', 300, (x) => `${fmt(x, 1)} MB`),
      ],
      notes: [
        `Batch fetch: \`node dist/cli.js batch fetch texts.txt --no-cache\` in a fresh process, joining ${o.rows.toLocaleString('en-US')} embedding answers ` +
          `(${dims} dimensions, ${fmt(outputBytes / MB, 0)} MB of output JSONL in shuffled order, served from disk by a loopback server) to the input; ` +
          'peak RSS is process.resourceUsage().maxRSS read at exit.',
      ],
    };
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Counts the records, checking that each is in input order with a whole embedding. */
async function checkResults(path: string, rows: number, dims: number): Promise<number> {
  const { readLines } = await import('../../src/core/batch/lines');
  let n = 0;
  for await (const { text } of readLines(path)) {
    if (!text) continue;
    n++;
    // Only a sample is parsed whole: the check must not cost more than the fetch.
    if (n === 1 || n === rows || n % 997 === 0) {
      const r = JSON.parse(text) as { custom_id: string; response: { body: { data: { embedding: number[] }[] } } };
      if (r.custom_id !== `line-${n}` || r.response.body.data[0]!.embedding.length !== dims) throw new Error(`record ${n} is ${r.custom_id} with ${r.response.body.data[0]?.embedding.length} dimensions`);
    }
  }
  return n;
}
