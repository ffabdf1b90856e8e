import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { ui } from './context.mjs';
import { XSS } from './fixtures.mjs';
import { EXTENSION_ID, extensionLog, probeFrames, readmeScreenshot, reloadWindow, until, workbench } from './helpers.mjs';

const FILE_A = 'answers-v1.results.jsonl';
const FILE_B = 'answers-v2.results.jsonl';
/** A third run for the three-file comparison: v1's answers, but q1 and q8 reworded. */
const FILE_C = 'answers-v3.results.jsonl';

const QUESTIONS = [
  'What is a token?',
  'Why cache LLM answers?',
  'What does a 429 mean?',
  'When should I retry?',
  'What is a rate limit?',
  'What is an embedding?',
  'Why batch requests?',
  'What does temperature do?',
];

function record(i: number, content: string | null, model: string, tokens: [number, number]): string {
  return JSON.stringify({
    id: `fastllm-ui-${i + 1}`,
    custom_id: `q${i + 1}`,
    line: i + 1,
    cached: false,
    attempts: content === null ? 6 : 1,
    latency_ms: 400,
    error: content === null ? { code: 'rate_limit_exceeded', message: 'Rate limit reached; retries exhausted.' } : null,
    response:
      content === null
        ? null
        : { status_code: 200, request_id: null, body: { model, choices: [{ index: 0, message: { role: 'assistant', content } }], usage: { prompt_tokens: tokens[0], completion_tokens: tokens[1], total_tokens: tokens[0] + tokens[1] } } },
  });
}

/**
 * Two runs of the same questions: v1 on gpt-4o-mini, v2 on gpt-4o with a reworded prompt.
 * q1, q4, q5, q6, q8 agree; q2 and q7 differ; q3 failed in v1; q9 is new in v2 (and carries markup).
 */
function writeFixtures(workspace: string): void {
  const v1 = QUESTIONS.map((q, i) => record(i, i === 2 ? null : `${q.replace(/\?$/, '')}: answer ${i + 1}.`, 'gpt-4o-mini', [420 + 7 * i, 180 + 11 * i]));
  const v2 = QUESTIONS.map((q, i) => {
    let text = `${q.replace(/\?$/, '')}: answer ${i + 1}.`;
    if (i === 1) text = 'Caching saves money and time:\nidentical requests are answered locally.';
    if (i === 6) text = 'Batching amortises overhead.';
    return record(i, text, 'gpt-4o', [440 + 7 * i, 260 + 13 * i]);
  });
  v2.push(record(8, XSS, 'gpt-4o', [12, 12]));
  writeFileSync(path.join(workspace, FILE_A), v1.join('\n') + '\n');
  writeFileSync(path.join(workspace, FILE_B), v2.join('\n') + '\n');
  const v3 = QUESTIONS.map((q, i) => record(i, i === 0 || i === 7 ? `Reworded answer ${i + 1}.` : i === 2 ? null : `${q.replace(/\?$/, '')}: answer ${i + 1}.`, 'o3-mini', [400, 100]));
  writeFileSync(path.join(workspace, FILE_C), v3.join('\n') + '\n');
}

/** The Explorer row of a file at the workspace root. */
function explorerRow(page: Page, name: string) {
  return page.locator('.explorer-folders-view .monaco-list-row', { has: page.locator('.label-name', { hasText: name }) }).first();
}

async function count(frame: Frame, key: string): Promise<number> {
  return Number(await frame.locator(`[data-testid="compare-count-${key}"]`).getAttribute('data-value'));
}

describe('Compare Results Files', () => {
  let view: Frame;

  before(async () => {
    writeFixtures(ui().workspace);
    await workbench().ready(EXTENSION_ID);
  });

  it('picks two files, shows the counts, the totals per side and the differing rows', async () => {
    const { page } = ui();
    const wb = workbench();
    await wb.runCommand('FastLLM: Compare Results Files…');
    await wb.pick(FILE_A);
    await wb.pick(FILE_B);
    view = await wb.webview('[data-testid="compare-root"]');
    await until(page, async () => (await view.locator('[data-testid="compare-count-same"]').getAttribute('data-value')) !== null, 'the comparison in the view');
    assert.deepEqual(
      { same: await count(view, 'same'), differ: await count(view, 'differ'), onlyA: await count(view, 'onlyA'), onlyB: await count(view, 'onlyB'), failed: await count(view, 'failed') },
      { same: 5, differ: 2, onlyA: 0, onlyB: 1, failed: 1 },
    );
    assert.equal(await view.locator('[data-testid="compare-status"]').innerText(), '4 rows differ');
    assert.equal(await view.locator('[data-testid="compare-a-failed"]').getAttribute('data-value'), '1');
    assert.equal(await view.locator('[data-testid="compare-b-rows"]').getAttribute('data-value'), '9');
    assert.equal(await view.locator('[data-testid="compare-b-models"]').innerText(), 'gpt-4o');
    assert.deepEqual(await view.locator('[data-testid="compare-row-id"]').allInnerTexts(), ['q2', 'q3', 'q7', 'q9']);
    // An answer with markup is shown as text and runs nothing.
    assert.ok((await view.locator('[data-testid="compare-row"][data-kind="onlyB"] [data-testid="compare-row-b"]').innerText()).includes('<img src=x'));
    assert.equal(await view.locator('img').count(), 0);
    for (const probed of await probeFrames(page, [view], () => document.body?.dataset.pwned ?? null)) {
      assert.equal(probed.value, null, `script ran in ${probed.url}`);
    }
    await readmeScreenshot('compare-view', { tidy: true });
  });

  it('clicking a row opens both answers in the diff editor', async () => {
    const { page } = ui();
    await view.locator('[data-testid="compare-row"][data-kind="differ"]').first().click();
    const diff = page.locator('.monaco-diff-editor').first();
    await diff.waitFor({ state: 'visible', timeout: 20_000 });
    // Side by side, or inline when the editor is narrow: either way both texts are drawn.
    const text = async () => (await diff.innerText()).replace(/\u00a0/g, ' ');
    await until(page, async () => (await text()).includes('Why cache LLM answers: answer 2.'), "A's answer");
    await until(page, async () => (await text()).includes('Caching saves money and time:') && (await text()).includes('identical requests are answered locally.'), "B's answer");
    await workbench().tab(`q2: ${FILE_A} ↔ ${FILE_B}`).waitFor();
  });

  it('after a window reload the panel is back: it compares its files again, and its rows still open their diff', async function () {
    this.timeout(120_000);
    const { page } = ui();
    const compared = () => extensionLog().split(`${FILE_A} ↔ `).length - 1;
    const before = compared();
    assert.ok(before >= 1, 'the comparison above was logged');
    await reloadWindow(page);
    // The restored page shows what it kept at once; the host then compares the two files again.
    const restored = await workbench().webview('[data-testid="compare-root"]');
    await until(page, async () => (await restored.locator('[data-testid="compare-count-differ"]').getAttribute('data-value')) === '2', 'the restored counts');
    await until(page, () => compared() > before, 'the files compared again after the reload', 30_000);
    assert.equal(await restored.locator('[data-testid="compare-status"]').innerText(), '4 rows differ');
    assert.deepEqual(await restored.locator('[data-testid="compare-row-id"]').allInnerTexts(), ['q2', 'q3', 'q7', 'q9']);
    // A row not opened before the reload: its answers come from the new comparison.
    await restored.locator('[data-testid="compare-row"][data-kind="differ"]').nth(1).click();
    const diff = page.locator('.monaco-diff-editor', { hasText: 'Batching amortises overhead.' }).first();
    await diff.waitFor({ state: 'visible', timeout: 20_000 });
    assert.ok((await diff.innerText()).replace(/\u00a0/g, ' ').includes('Why batch requests: answer 7.'), "A's answer in the diff");
    await workbench().tab(`q7: ${FILE_A} ↔ ${FILE_B}`).waitFor();
  });

  it('three files selected in the Explorer: A against each of the others, switched on the page', async function () {
    this.timeout(90_000);
    const { page } = ui();
    const wb = workbench();
    await page.keyboard.press('Control+Shift+E');
    await page.locator('.explorer-folders-view').waitFor();
    // A, then Shift+Down twice: v1, v2 and v3 sit next to each other. Clicking A opens it in an
    // editor; that settles first, since a focus change would drop keys and close the menu.
    await explorerRow(page, FILE_A).click();
    await page.waitForTimeout(1000);
    await explorerRow(page, FILE_A).click();
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+ArrowDown');
    const selected = page.locator('.explorer-folders-view .monaco-list-row.selected .label-name');
    await until(page, async () => (await selected.allInnerTexts()).join(' ') === [FILE_A, FILE_B, FILE_C].join(' '), 'the three files selected');
    const menu = page.locator('.context-view .monaco-menu');
    await until(page, async () => {
      if (!(await menu.isVisible())) {
        await explorerRow(page, FILE_A).click({ button: 'right' });
        await menu.waitFor({ state: 'visible', timeout: 5000 });
      }
      const item = menu.locator('.action-label', { hasText: 'Compare Results Files…' }).first();
      await item.hover();
      await item.click({ timeout: 5000 });
      await menu.waitFor({ state: 'hidden', timeout: 3000 }).catch(() => undefined);
      return !(await menu.isVisible());
    }, 'the context menu command run');
    const panel = await wb.webview('[data-testid="compare-root"]');
    const title = () => panel.locator('[data-testid="compare-title"]').innerText();
    const buttons = panel.locator('[data-testid="compare-group"] [data-testid="compare-with"]');
    // The panel showed A against B before (the tests above): wait for the three-file view.
    await until(page, async () => (await buttons.count()) === 2, 'the files compared with A, as buttons');
    assert.ok((await title()).includes(`A: ${FILE_A}`) && (await title()).includes(`B: ${FILE_B}`), await title());
    assert.deepEqual(await buttons.allInnerTexts(), [FILE_B, FILE_C]);
    assert.equal(await buttons.nth(0).getAttribute('aria-pressed'), 'true');
    await until(page, async () => (await count(panel, 'differ')) === 2, "B's counts");
    // Switch B to the third file: v3 differs from v1 in q1 and q8 only (q3 failed in both).
    // By keyboard: the buttons are drawn anew, and the focus stays on the one pressed.
    await buttons.nth(1).focus();
    await page.keyboard.press('Enter');
    await until(page, async () => (await title()).includes(`B: ${FILE_C}`), 'A against C');
    await until(page, async () => (await panel.evaluate(() => `${document.activeElement?.getAttribute('data-testid')} ${document.activeElement?.getAttribute('data-index')}`)) === 'compare-with 1', 'the focus on the button pressed');
    await until(page, async () => (await count(panel, 'differ')) === 2 && (await count(panel, 'onlyB')) === 0, "C's counts");
    assert.deepEqual(await panel.locator('[data-testid="compare-row-id"]').allInnerTexts(), ['q1', 'q8']);
    assert.equal(await count(panel, 'same'), 5);
    assert.equal(await buttons.nth(1).getAttribute('aria-pressed'), 'true');
    assert.equal(await panel.locator('[data-testid="compare-b-models"]').innerText(), 'o3-mini');
  });
});
