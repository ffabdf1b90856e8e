/**
 * Scenario 9: opening a big results file in the Results view (issue 12). Writes a results file of
 * N chat records (N = 100,000 in full mode) and its .txt input, then times what the view's host
 * does before the first paint: index the file by byte offsets, index the input by lines, and serve
 * the first page of 100 rows joined to their prompts. Also times a page far down (a scroll), the
 * failed filter and a sort by latency, and reports the heap the index holds.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultsModel } from '../../src/core/results/view';
import { fmt } from '../support/measure';
import { barRow, infoRow, type ScenarioResult } from '../support/report';

export interface ResultsViewOptions {
  rows: number;
}

const NAME = '9 results view';
const PAGE = 100;

async function writeLines(path: string, count: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < count; i++) if (!out.write(line(i))) await once(out, 'drain');
  out.end();
  await once(out, 'close');
}

function record(i: number): string {
  const failed = i % 50 === 7;
  const prompt = 20 + (i % 40);
  const completion = 40 + (i % 90);
  return (
    JSON.stringify({
      id: `fastllm-bench-${i + 1}`,
      custom_id: `line-${i + 1}`,
      line: i + 1,
      cached: i % 4 === 0,
      attempts: failed ? 3 : 1,
      latency_ms: 50 + ((i * 7919) % 2000),
      error: failed ? { code: 'http_500', message: 'The server had an error while processing your request.' } : null,
      response: failed
        ? null
        : {
            status_code: 200,
            request_id: `req_${i}`,
            body: {
              id: `chatcmpl-${i}`,
              object: 'chat.completion',
              model: 'gpt-4o-mini',
              choices: [{ index: 0, message: { role: 'assistant', content: `Answer ${i + 1}: a short paragraph about topic ${i % 97}, long enough to look like a real answer to a real question.` }, finish_reason: 'stop' }],
              usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
            },
          },
    }) + '\n'
  );
}

export async function resultsView(o: ResultsViewOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const dir = await mkdtemp(join(tmpdir(), 'fastllm-bench-results-'));
  try {
    const input = join(dir, 'prompts.txt');
    const file = join(dir, 'prompts.results.jsonl');
    await writeLines(input, o.rows, (i) => `Question ${i + 1}: tell me one thing about topic ${i % 97}.\n`);
    await writeLines(file, o.rows, record);
    const size = (await stat(file)).size;
    log(`  ${NAME}: ${o.rows.toLocaleString('en-US')} records, ${fmt(size / 2 ** 20, 1)} MB`);
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const model = await ResultsModel.open(file, { siblings: false });
    const first = await model.page(0, PAGE);
    const firstPaintMs = performance.now() - t0;
    try {
      if (first.length !== Math.min(PAGE, o.rows) || !first[0]!.prompt.startsWith('Question 1:')) throw new Error('the first page is wrong');
      let t = performance.now();
      while (model.meta().indexing) await model.refresh();
      const fullMs = performance.now() - t;
      if (model.meta().rows !== o.rows) throw new Error(`indexed ${model.meta().rows} rows of ${o.rows}`);
      global.gc?.();
      const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
      t = performance.now();
      await model.page(Math.floor(o.rows / 2), PAGE);
      const scrollMs = performance.now() - t;
      t = performance.now();
      await model.setQuery({ filter: 'failed' });
      const failedMs = performance.now() - t;
      const failed = model.meta().count;
      t = performance.now();
      await model.setQuery({ sort: 'latency', desc: true });
      await model.page(0, PAGE);
      const sortMs = performance.now() - t;
      const ms = (n: number) => `${fmt(n, 0)} ms`;
      return {
        rows: [
          barRow(NAME, `open ${o.rows.toLocaleString('en-US')} rows: index + first page`, firstPaintMs, '<', 2000, ms),
          infoRow(NAME, 'the rest of the index (in the background)', ms(fullMs)),
          infoRow(NAME, 'page in the middle (a scroll)', ms(scrollMs)),
          infoRow(NAME, `failed filter (${failed.toLocaleString('en-US')} rows)`, ms(failedMs)),
          infoRow(NAME, 'sort by latency + first page', ms(sortMs)),
          infoRow(NAME, 'heap held by the index', `${fmt(heapMb, 1)} MB (file ${fmt(size / 2 ** 20, 0)} MB)`),
        ],
        notes: [`${NAME}: the host's work before the Results view's first paint (src/core/results), in this process; the first 8 MiB are indexed before the first page, the rest right after (the view's next poll); the webview draws only the ~60 rows in view.`],
      };
    } finally {
      await model.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
