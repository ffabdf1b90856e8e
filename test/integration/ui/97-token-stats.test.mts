/**
 * Token Stats worth looking at (issue 12 item 3), in the real workbench against the suite's fake
 * API: tokens/s and rows/s on charts with axes of their own, the 429s marked on the timeline when
 * they came, the latency distribution, the cost so far against the estimate the user was shown,
 * and a row per model that matches the results files.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { costOfUsage } from '../../../src/core/pricing';
import { niceCeil } from '../../../src/core/statsSeries';
import type { FakeBehavior } from '../../support/fakeServer';
import { ui } from './context.mjs';
import { STATS_INPUT, STATS_MODELS, STATS_MODELS_INPUT, STATS_MODELS_ROWS, STATS_ROWS, STATS_THROTTLE } from './fixtures.mjs';
import { EXTENSION_ID, setWorkspaceSettings, figure, readmeScreenshot, until, waitForBatch, workbench } from './helpers.mjs';
import { lastCommandAt } from './workbench.mjs';

const RESULTS = 'stats-run.results.jsonl';
/** The cost threshold above which a batch asks first: low, so that this run shows its estimate. */
const COST_THRESHOLD = 0.001;

interface Line {
  custom_id: string;
  latency_ms: number;
  error: { code: string } | null;
  cached: boolean;
  response: { body: { model?: string; usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } } } | null;
}

function lines(name: string): Line[] {
  const file = path.join(ui().workspace, name);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

/**
 * The fake's plan: the first attempt of each row marked {@link STATS_THROTTLE} gets a 429 with
 * `retry-after: 1`, as OpenAI answers when a rate limit is hit ("429: Rate limit reached for
 * requests", https://platform.openai.com/docs/guides/error-codes/api-errors, with the wait in
 * `retry-after`, https://platform.openai.com/docs/guides/rate-limits); the retry succeeds.
 */
const throttleOnce: NonNullable<FakeBehavior['plan']> = ({ body, attemptForBody }) =>
  attemptForBody === 1 && JSON.stringify(body.messages ?? '').includes(STATS_THROTTLE) ? { status: 429, retryAfter: 1 } : undefined;


/** The `q` quantile as TokenStats ranks it: the value of rank ceil(q·n). */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

/** What each model's rows add up to in results records. */
function byModel(records: Line[], modelOf: (r: Line, i: number) => string) {
  const out = new Map<string, { rows: number; failed: number; promptTokens: number; completionTokens: number; cost: number }>();
  records.forEach((r, i) => {
    const model = modelOf(r, i);
    const m = out.get(model) ?? { rows: 0, failed: 0, promptTokens: 0, completionTokens: 0, cost: 0 };
    m.rows++;
    if (r.error) m.failed++;
    const usage = r.response?.body.usage;
    if (usage && !r.cached) {
      m.promptTokens += usage.prompt_tokens;
      m.completionTokens += usage.completion_tokens;
      m.cost += costOfUsage(model, usage);
    }
    out.set(model, m);
  });
  return out;
}

/** The per-model rows of the panel: model → its cells' `data-value`s. */
async function modelRows(stats: Frame): Promise<Map<string, Record<string, number>>> {
  const rows = await stats.locator('[data-testid="stats-model-row"]').evaluateAll((trs) =>
    trs.map((tr) => [
      (tr as HTMLElement).dataset.model!,
      Object.fromEntries(Array.from(tr.querySelectorAll('td[data-col]')).map((td) => [(td as HTMLElement).dataset.col!, Number((td as HTMLElement).dataset.value)])),
    ]),
  );
  return new Map(rows as [string, Record<string, number>][]);
}

function assertModelsMatch(shown: Map<string, Record<string, number>>, expected: ReturnType<typeof byModel>): void {
  assert.deepEqual([...shown.keys()].sort(), [...expected.keys()].sort());
  for (const [model, e] of expected) {
    const s = shown.get(model)!;
    assert.equal(s.rows, e.rows, `${model} rows`);
    assert.equal(s.failed, e.failed, `${model} failed`);
    assert.equal(s.reused, 0, `${model} from cache`);
    assert.equal(s.promptTokens, e.promptTokens, `${model} tokens in`);
    assert.equal(s.completionTokens, e.completionTokens, `${model} tokens out`);
    assert.ok(e.cost > 0 && Math.abs(s.cost - e.cost) < 1e-9, `${model} cost ${s.cost} ≠ ${e.cost}`);
  }
}

describe('Token Stats worth looking at (issue 12)', () => {
  let stats: Frame;

  before(async () => {
    await workbench().ready(EXTENSION_ID);
    // Earlier files leave a key stored for the fake (30-api-key) that the fake does not want back
    // (90-first-day restores the launcher's): these tests are about the panel, not the key.
    ui().fake.setBehavior({ requireKey: undefined, latencyMs: 0, plan: undefined });
  });
  after(async () => {
    ui().fake.setBehavior({ requireKey: ui().apiKey, latencyMs: 0, plan: undefined });
    await setWorkspaceSettings({ 'fastllm.confirm.costThreshold': undefined }, '"confirm":{"rows":1000,"cost":1,').catch(() => undefined);
  });

  it('a run with 429s: marks where they came, rows/s and tokens/s on axes of their own, p50/p95/p99, cost against the estimate shown, a row per model', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    await setWorkspaceSettings({ 'fastllm.confirm.costThreshold': COST_THRESHOLD }, `"confirm":{"rows":1000,"cost":${COST_THRESHOLD},`);
    fake.reset();
    // Answers take 150–450 ms (two at a time): a run of a few seconds, long enough for several chart points.
    fake.setBehavior({ latencyMs: (i) => 150 + (i % 4) * 100, plan: throttleOnce });
    let estimateShown: string;
    let started: number;
    try {
      await wb.runCommand('View: Close All Editors');
      await wb.openFile(STATS_INPUT);
      await wb.runCommand('FastLLM: Run Batch from File…');
      started = lastCommandAt();
      // The estimate above the threshold: the dialog asks, with the estimated cost.
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible', timeout: 30_000 });
      const text = await dialog.innerText();
      estimateShown = /Estimated cost: (\$[\d.]+)/.exec(text)?.[1] ?? '';
      assert.ok(estimateShown, text);
      await wb.confirmDialog('Run');
      await waitForBatch(RESULTS, STATS_ROWS.length, 60_000);
    } finally {
      fake.setBehavior({ latencyMs: 0, plan: undefined });
    }
    const records = lines(RESULTS);
    const throttled = STATS_ROWS.filter((r) => r.prompt.includes(STATS_THROTTLE)).length;
    assert.equal(throttled, 3);
    assert.equal(fake.countByStatus[429], throttled);
    assert.ok(records.every((r) => !r.error && !r.cached), 'every row answered by the server');

    await wb.runCommand('FastLLM: Show Token Stats');
    stats = await wb.webview('[data-testid="stats-root"]');
    await until(page, async () => (await stats.locator('[data-testid="stats-label"]').innerText()) === STATS_INPUT && (await stats.locator('[data-testid="stats-state"]').innerText()) === 'finished', 'the finished run in Token Stats');

    // The 429s are marked on the timeline, within the run's time, as many as the fake sent.
    const marks = stats.locator('[data-testid="stats-mark-429"]');
    const counts = (await marks.evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-count')), Number(e.getAttribute('data-t'))]))) as [number, number][];
    assert.ok(counts.length >= 1, 'no 429 mark');
    assert.equal(
      counts.reduce((a, [n]) => a + n, 0),
      throttled,
    );
    for (const [, t] of counts) assert.ok(t >= started && t <= Date.now(), `a mark at ${t}, outside the run`);
    assert.equal(await figure(stats, 'stats-marks-429'), throttled);
    assert.equal(await figure(stats, 'stats-marks-retries'), 0);
    assert.equal(await figure(stats, 'stat-run-retries'), throttled);

    // Tokens/s and rows/s: each on its chart, its axis a round number at or above its own peak.
    for (const [axis, peak, chart] of [
      ['stats-axis-tokens', 'stats-chart-peak', 'stats-chart'],
      ['stats-axis-rows', 'stats-chart-rows-peak', 'stats-chart-rows'],
    ] as const) {
      const top = await figure(stats, axis);
      const high = await figure(stats, peak);
      assert.ok(high > 0 && top >= high && top <= 2.5 * high, `${axis} ${top} for a peak of ${high}`);
      assert.equal(niceCeil(top), top, `${axis} ${top} is not round`);
      assert.equal(await stats.locator(`[data-testid="${chart}"] polyline`).count(), 1, `${chart} has its line`);
      // The line is drawn against that axis: its highest point is the peak's height on it.
      const [height, points] = await stats.locator(`[data-testid="${chart}"]`).evaluate((el) => [Number(el.getAttribute('viewBox')!.split(' ')[3]), el.querySelector('polyline')!.getAttribute('points')!] as const);
      const topY = Math.min(...points.split(' ').map((p) => Number(p.split(',')[1])));
      const PAD = 4;
      assert.ok(Math.abs((height - PAD - topY) / (height - 2 * PAD) - high / top) < 0.02, `${chart}: the peak is drawn at ${topY} of ${height}, for ${high} on an axis to ${top}`);
    }
    assert.notEqual(await figure(stats, 'stats-axis-tokens'), await figure(stats, 'stats-axis-rows'));

    // The latency distribution: the results' own latencies, ranked as TokenStats ranks them (5 % buckets).
    const latencies = records.map((r) => r.latency_ms).sort((a, b) => a - b);
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const shown = await figure(stats, `stats-latency-${q}`);
      const truth = quantile(latencies, Number(q.slice(1)) / 100);
      assert.ok(shown >= truth && shown <= truth * 1.05 + 1, `${q}: shown ${shown}, results say ${truth}`);
    }
    // A throttled row waited out its retry-after: the slowest rows took over a second.
    assert.ok((await figure(stats, 'stats-latency-p99')) > 1000);
    const bars = (await stats.locator('[data-testid="stats-latency-bar"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))))) as number[];
    assert.equal(
      bars.reduce((a, b) => a + b, 0),
      records.length,
    );

    // Cost so far against the estimate the dialog showed.
    const spent = records.reduce((a, r, i) => a + costOfUsage(STATS_ROWS[i]!.model, r.response!.body.usage!), 0);
    assert.ok(Math.abs((await figure(stats, 'stats-cost-spent')) - spent) < 1e-9);
    assert.equal(await figure(stats, 'stats-cost-spent'), await figure(stats, 'stat-run-cost'));
    assert.equal(await stats.locator('[data-testid="stats-cost-estimate"]').innerText(), estimateShown);
    assert.ok((await figure(stats, 'stats-cost-estimate')) > spent, 'the estimate counts max_tokens as an upper bound');

    // A row per model, equal to what the results file says of that model's rows.
    assertModelsMatch(await modelRows(stats), byModel(records, (_r, i) => STATS_ROWS[i]!.model));

    await readmeScreenshot('token-stats', { tidy: true });
  });

  it('Run on Several Models: a row per model, each equal to its results file', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    const files = STATS_MODELS.map((m) => `stats-models.${m}.results.jsonl`);
    fake.reset();
    fake.setBehavior({ latencyMs: 100 });
    try {
      await wb.runCommand('View: Close All Editors');
      await wb.openFile(STATS_MODELS_INPUT);
      await wb.runCommand('FastLLM: Run on Several Models…');
      await wb.pick('Other models…');
      await page.keyboard.press('Enter');
      await wb.answerInput(STATS_MODELS.join(','));
      await until(page, () => files.every((f) => lines(f).length === STATS_MODELS_ROWS), 'a results file per model', 60_000);
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
    await wb.runCommand('FastLLM: Show Token Stats');
    stats = await wb.webview('[data-testid="stats-root"]');
    await until(page, async () => (await stats.locator('[data-testid="stats-state"]').innerText()) === 'finished' && (await stats.locator('[data-testid="stats-label"]').innerText()).startsWith(STATS_MODELS_INPUT), 'the finished runs in Token Stats');
    // Both models' rows, though each ran in a run of its own: the panel covers the runs that went together.
    const expected = byModel(
      files.flatMap((f) => lines(f)),
      (r) => r.response!.body.model!,
    );
    assert.deepEqual([...expected.keys()].sort(), [...STATS_MODELS].sort());
    await until(page, async () => (await modelRows(stats)).size === STATS_MODELS.length, 'a row per model');
    assertModelsMatch(await modelRows(stats), expected);
    // No estimate dialog ran before this one: the panel says so rather than show one.
    assert.equal(await stats.locator('[data-testid="stats-cost-estimate"]').innerText(), '');
    assert.match(await stats.locator('[data-testid="stats-cost-of"]').innerText(), /no estimate/);
  });
});
