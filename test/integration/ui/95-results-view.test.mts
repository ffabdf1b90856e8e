/**
 * The Results view (issue 12): a run opens its results in the grid, not as raw JSON lines; the
 * failed filter, the row detail, the keyboard, CSV export and hostile text, in the real workbench.
 */
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import type { FakeBehavior } from '../../support/fakeServer';
import { csvRecords } from '../../../src/core/batch/csv';
import { readLines } from '../../../src/core/batch/lines';
import { ui } from './context.mjs';
import { REVIEW_FAIL, REVIEW_INPUT, REVIEW_PROMPTS, XSS } from './fixtures.mjs';
import { EXTENSION_ID, probeFrames, readmeScreenshot, results, until, waitForBatch, workbench } from './helpers.mjs';

const INPUT = REVIEW_INPUT;
const RESULTS = 'review.results.jsonl';
const FAIL = REVIEW_FAIL;
const PROMPTS = REVIEW_PROMPTS;

/** The fake's plan: a 400 (not retried) for the rows whose prompt holds {@link FAIL}. */
const refuseFailMe: NonNullable<FakeBehavior['plan']> = ({ body }) =>
  JSON.stringify(body.messages ?? '').includes(FAIL) ? { status: 400, body: { error: { message: 'The fake refuses FAIL-ME prompts.', type: 'invalid_request_error', code: 'bad_prompt' } } } : undefined;

async function rowTexts(view: Frame, col: string): Promise<string[]> {
  return view.locator(`[data-testid="results-row"] [data-col="${col}"]`).allTextContents();
}

async function selectedPosition(view: Frame): Promise<number> {
  return Number(await view.locator('[data-testid="results-row"].selected').getAttribute('data-position'));
}

describe('the Results view', () => {
  let view: Frame;

  before(async () => {
    await workbench().ready(EXTENSION_ID);
    // Earlier files leave a key stored for the fake (30-api-key) that the fake does not want back
    // (90-first-day restores the launcher's): these tests are about the view, not the key.
    ui().fake.setBehavior({ requireKey: undefined, latencyMs: 0, plan: undefined });
  });
  after(() => ui().fake.setBehavior({ requireKey: ui().apiKey }));

  it('a run opens the Results view, showing each prompt and its answer as text', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    fake.reset();
    fake.setBehavior({ plan: refuseFailMe });
    try {
      await wb.openFile(INPUT);
      await wb.runCommand('FastLLM: Run Batch from File…');
      await waitForBatch(RESULTS, PROMPTS.length);
    } finally {
      fake.setBehavior({ plan: undefined });
    }
    // The results tab is the Results view (a webview), behind the input: bring it to the front.
    await wb.tab(RESULTS).first().click();
    view = await wb.webview('[data-testid="results-root"]');
    await until(page, async () => (await view.locator('[data-testid="results-row"]').count()) === PROMPTS.length, 'every row in the grid');
    assert.deepEqual(await rowTexts(view, 'prompt'), PROMPTS);
    const records = results(RESULTS);
    const answers = records.map((r) => (r.error ? `error ${r.error.code}: ${r.error.message}` : r.response!.body.choices![0]!.message!.content!));
    assert.deepEqual(await rowTexts(view, 'answer'), answers);
    assert.equal(answers[0], `echo: ${PROMPTS[0]}`);
    // The hostile prompt and answer are text in the grid, and ran nowhere.
    assert.equal((await rowTexts(view, 'prompt'))[3], XSS);
    for (const probed of await probeFrames(page, [view], () => document.body?.dataset.pwned ?? null)) {
      assert.equal(probed.value, null, `script ran in ${probed.url}`);
    }
    assert.equal(await view.locator('[data-testid="results-row"] img').count(), 0);
    await readmeScreenshot('results-view', { tidy: true });
  });

  it('the failed filter shows exactly the failed rows', async () => {
    const { page } = ui();
    const failedIds = results(RESULTS)
      .filter((r) => r.error)
      .map((r) => r.custom_id);
    assert.deepEqual(failedIds, ['line-2', 'line-6']);
    await view.locator('[data-testid="results-filter"]').selectOption('failed');
    await until(page, async () => (await view.locator('[data-testid="results-grid"]').getAttribute('data-count')) === '2', 'the failed rows only');
    await until(page, async () => (await rowTexts(view, 'id')).join() === failedIds.join(), 'the failed rows drawn');
    const codes = results(RESULTS)
      .filter((r) => r.error)
      .map((r) => r.error!.code);
    assert.deepEqual(await rowTexts(view, 'status'), codes);
    await view.locator('[data-testid="results-filter"]').selectOption('all');
    await until(page, async () => (await view.locator('[data-testid="results-row"]').count()) === PROMPTS.length, 'all rows again');
  });

  it('the row detail shows the request, the answer and the error with the server message', async () => {
    const { page } = ui();
    await view.locator('[data-testid="results-row"][data-position="1"]').click();
    await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('line-2'), 'the detail of row 2');
    const request = JSON.parse((await view.locator('[data-testid="results-detail-request"]').textContent())!) as { model: string; messages: { content: string }[] };
    assert.equal(request.messages.at(-1)!.content, PROMPTS[1]);
    assert.ok(request.model, 'the request names its model');
    assert.match((await view.locator('[data-testid="results-detail-error"]').textContent())!, /FAIL-ME prompts/);
    await view.locator('[data-testid="results-row"][data-position="3"]').click();
    await until(page, async () => (await view.locator('[data-testid="results-detail-prompt"]').textContent()) === XSS, 'the detail of the hostile row, as text');
    assert.equal(await view.locator('[data-testid="results-detail-answer"]').textContent(), `echo: ${XSS}`);
    assert.equal(await view.locator('[data-testid="results-detail"] img').count(), 0);
  });

  it('arrow keys move the selection, and the detail follows; the grid keeps the focus', async () => {
    const { page } = ui();
    await view.locator('[data-testid="results-row"][data-position="0"]').click();
    await until(page, async () => (await selectedPosition(view)) === 0, 'row 1 selected');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await until(page, async () => (await selectedPosition(view)) === 2, 'row 3 selected by the keyboard');
    await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('line-3'), 'the detail of row 3');
    assert.equal(await view.locator('[data-testid="results-grid"]').getAttribute('aria-activedescendant'), 'results-row-2');
    await page.keyboard.press('End');
    await until(page, async () => (await selectedPosition(view)) === PROMPTS.length - 1, 'the last row selected');
    await page.keyboard.press('ArrowUp');
    await until(page, async () => (await selectedPosition(view)) === PROMPTS.length - 2, 'one row up');
    assert.equal(await view.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'results-grid');
  });

  it('Export CSV writes a new file whose answer column equals the results', async () => {
    const { page, workspace } = ui();
    const out = path.join(workspace, 'review.export.csv');
    await view.locator('[data-testid="results-export"]').click();
    await until(page, () => existsSync(out), 'the export file');
    await until(page, async () => /Exported 8 rows/.test((await view.locator('[data-testid="results-notice"]').textContent()) ?? ''), 'the export notice');
    const rows: string[][] = [];
    for await (const r of csvRecords(readLines(out))) rows.push(r.fields);
    const header = rows[0]!;
    const answer = header.indexOf('answer');
    const error = header.indexOf('error');
    assert.deepEqual(header.slice(0, 4), ['prompt', 'custom_id', 'line', 'answer']);
    const records = results(RESULTS);
    assert.deepEqual(
      rows.slice(1).map((r) => r[answer]),
      records.map((r) => (r.error ? '' : r.response!.body.choices![0]!.message!.content!)),
    );
    assert.deepEqual(
      rows.slice(1).map((r) => r[0]),
      PROMPTS,
    );
    assert.match(rows[2]![error]!, /^bad_prompt: /);
  });

  it('Rerun This Row asks the server again, the grid shows the new answer, and the focus stays on the button', async () => {
    const { page, fake } = ui();
    fake.reset(); // no plan: the fake answers row 2 this time
    await view.locator('[data-testid="results-filter"]').selectOption('all');
    await view.locator('[data-testid="results-row"][data-position="1"]').click();
    await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('line-2'), 'the detail of row 2');
    await view.locator('[data-testid="results-detail-rerun"]').focus();
    await page.keyboard.press('Enter');
    await until(page, () => results(RESULTS)[1]?.error === null, 'row 2 answered in the results file', 30_000);
    assert.equal(fake.count, 1, 'only the chosen row was sent');
    assert.equal(results(RESULTS).length, PROMPTS.length);
    assert.equal(results(RESULTS)[2]!.custom_id, 'line-3', 'the other rows kept their place');
    // The new answer, marked as changed since the run before (the tag is text, for screen readers too).
    const answerCell = view.locator('[data-testid="results-row"][data-position="1"] [data-col="answer"]');
    await until(page, async () => (await answerCell.textContent()) === `echo: ${PROMPTS[1]}changed`, 'the new answer in the grid (live)', 15_000);
    await until(page, async () => (await view.evaluate(() => document.activeElement?.getAttribute('data-testid'))) === 'results-detail-rerun', 'the focus back on Rerun This Row');
    await view.locator('[data-testid="results-filter"]').selectOption('changed');
    await until(page, async () => (await view.locator('[data-testid="results-grid"]').getAttribute('data-count')) === '1', 'one changed row');
    await until(page, async () => (await rowTexts(view, 'id')).join() === 'line-2', 'the changed row drawn');
    await view.locator('[data-testid="results-filter"]').selectOption('all');
  });

  it('while a rerun writes its partial file the row is not drawn; when it is again, so is the focus on Rerun This Row', async () => {
    const { page, fake } = ui();
    fake.reset();
    // The first row: the rerun's partial file holds no row until the server answers, and the view
    // shows that file meanwhile (the pane says "No rows yet."). A slow server makes that moment
    // certain; on a loaded machine it came by chance, and the focus was lost to it.
    fake.setBehavior({ latencyMs: 2_000 });
    try {
      await view.locator('[data-testid="results-row"][data-position="0"]').click();
      await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('line-1'), 'the detail of row 1');
      await view.locator('[data-testid="results-detail-rerun"]').focus();
      await page.keyboard.press('Enter');
      await until(page, async () => (await view.locator('[data-testid="results-grid"]').getAttribute('data-count')) === '0', 'the partial file, without the row, in the grid');
      await until(page, () => fake.count === 1 && (results(RESULTS)[0]?.latency_ms ?? 0) >= 2_000, 'the rerun written over the results file', 30_000);
      assert.equal(results(RESULTS).length, PROMPTS.length);
      await until(page, async () => (await view.locator('[data-testid="results-detail-title"]').textContent())?.includes('line-1'), 'the detail of row 1 again');
      await until(page, async () => (await view.evaluate(() => document.activeElement?.getAttribute('data-testid'))) === 'results-detail-rerun', 'the focus back on Rerun This Row');
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
  });

  it('Run on Several Models: three models at once, three answer columns and totals per model', async () => {
    const { page, fake, workspace } = ui();
    const wb = workbench();
    const models = ['m-one', 'm-two', 'm-three'];
    const files = models.map((m) => `review.${m}.results.jsonl`);
    fake.reset();
    fake.setBehavior({ plan: refuseFailMe });
    try {
      await wb.runCommand('View: Close All Editors');
      await wb.openFile(INPUT);
      await wb.runCommand('FastLLM: Run on Several Models…');
      await wb.pick('Other models…');
      await page.keyboard.press('Enter');
      await wb.answerInput(models.join(','));
      await until(page, () => files.every((f) => results(f).length === PROMPTS.length), 'a results file per model', 60_000);
    } finally {
      fake.setBehavior({ plan: undefined });
    }
    for (const [i, f] of files.entries()) {
      assert.ok(results(f).every((r) => r.error || (r.response?.body as { model?: string }).model === models[i]), `${f} holds ${models[i]}'s answers`);
    }
    assert.ok(existsSync(path.join(workspace, files[0]!)));
    // The view opens on the first model's file, with the others beside it.
    await wb.tab(files[0]!).first().waitFor({ timeout: 30_000 });
    await wb.tab(files[0]!).first().click();
    const several = await wb.webview('[data-testid="results-model-totals"] + [data-testid="results-model-totals"] + [data-testid="results-model-totals"]');
    const totals = several.locator('[data-testid="results-model-totals"]');
    assert.deepEqual((await totals.locator('th').allTextContents()).sort(), [...models].sort());
    assert.deepEqual(await several.locator('[data-testid="results-failed-count"]').allTextContents(), ['2', '2', '2']);
    const heads = await several.locator('#results-head [role="columnheader"]').allTextContents();
    assert.equal(heads.filter((t) => t.startsWith('Answer')).length, 3, heads.join(' | '));
    await until(page, async () => (await several.locator('[data-testid="results-row"]').count()) === PROMPTS.length, 'the rows');
    // The fake echoes the prompt whatever the model: the other columns hold the same answers.
    assert.deepEqual(await several.locator('[data-testid="results-row"][data-position="0"] [data-testid="results-model-answer"]').allTextContents(), [`echo: ${PROMPTS[0]}`, `echo: ${PROMPTS[0]}`]);
    await readmeScreenshot('results-view-models', { tidy: true });
  });
});
