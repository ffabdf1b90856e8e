import * as assert from 'node:assert/strict';
import type { Frame } from 'playwright-core';
import { ui } from './context.mjs';
import { XSS } from './fixtures.mjs';
import { EXTENSION_ID, probeFrames, readmeScreenshot, until, waitForBatch, workbench } from './helpers.mjs';

async function total(frame: Frame): Promise<number> {
  return Number(await frame.locator('[data-testid="cache-total"]').getAttribute('data-value'));
}

describe('the Cache Browser', () => {
  let cache: Frame;

  before(async () => {
    const wb = workbench();
    await wb.ready(EXTENSION_ID);
    await wb.openFile('xss.txt');
    await wb.runCommand('FastLLM: Run Batch from File…');
    await waitForBatch('xss.results.jsonl', 1);
  });

  it('lists the entries of the workspace cache, with counts', async () => {
    const { page } = ui();
    await workbench().runCommand('FastLLM: Open Cache Browser');
    cache = await workbench().webview('[data-testid="cache-rows"]');
    // 30 rows of topics.txt (10-batch) and the one of xss.txt.
    await until(page, async () => (await total(cache)) === 31, '31 entries');
    assert.equal(await cache.locator('[data-testid="cache-row"]').count(), 31);
    assert.match(await cache.locator('[data-testid="cache-count"]').innerText(), /1–31 of 31/);
    assert.match(await cache.locator('[data-testid="cache-file-size"]').innerText(), /\d/);
  });

  it('searches', async () => {
    const { page } = ui();
    await cache.locator('[data-testid="cache-search"]').fill('rate limits');
    await cache.locator('[data-testid="cache-search"]').press('Enter');
    await until(page, async () => (await cache.locator('[data-testid="cache-row"]').count()) === 5, '5 rows about rate limits');
    for (const preview of await cache.locator('[data-testid="cache-row-preview"]').allInnerTexts()) assert.match(preview, /rate limits/);
    await cache.locator('[data-testid="cache-search"]').fill('onerror');
    await cache.locator('[data-testid="cache-search"]').press('Enter');
    await until(page, async () => (await cache.locator('[data-testid="cache-row"]').count()) === 1, 'the one row with markup');
  });

  it('shows an entry; markup in a prompt or answer is text and runs nothing', async () => {
    const { page } = ui();
    await cache.locator('[data-testid="cache-row"]').first().click();
    const detail = cache.locator('[data-testid="cache-detail"]');
    await detail.waitFor({ state: 'visible' });
    await until(page, async () => (await cache.locator('[data-testid="cache-detail-response"]').textContent())?.includes(`echo: ${XSS}`), 'the answer in the detail');
    assert.ok((await cache.locator('[data-testid="cache-detail-request"]').textContent())?.includes(XSS));
    assert.ok((await cache.locator('[data-testid="cache-row-preview"]').first().textContent())?.includes('<img src=x'));
    // No element was made from the markup, and its handler never ran, in any frame.
    assert.equal(await cache.locator('img').count(), 0);
    for (const probed of await probeFrames(page, [cache], () => document.body?.dataset.pwned ?? null)) {
      assert.equal(probed.value, null, `script ran in ${probed.url}`);
    }
    assert.match(await cache.locator('[data-testid="cache-detail-hash"]').innerText(), /sha256/);
    // Headed with the prompt (as text), beside the list and in view; the list has an answer column.
    assert.equal(await cache.locator('[data-testid="cache-detail-title"]').textContent(), XSS);
    assert.equal(await cache.locator('[data-testid="cache-row-answer"]').first().textContent(), `echo: ${XSS}`);
    const list = await cache.locator('[data-testid="cache-rows"]').boundingBox();
    const box = await detail.boundingBox();
    assert.ok(list && box);
    assert.ok(box.x >= list.x + list.width - 1, `the detail (x ${box.x}) is not beside the list (x ${list.x}, width ${list.width})`);
    assert.ok(box.y < list.y + 100, `the detail starts at y ${box.y}, below the list's top (${list.y})`);
    // For the README: the full list with this entry open.
    await showAll();
    await readmeScreenshot('cache-browser', { tidy: true });
  });

  it('clears the detail when the search no longer lists its entry', async () => {
    const { page } = ui();
    const detail = cache.locator('[data-testid="cache-detail"]');
    assert.ok(await detail.isVisible());
    await cache.locator('[data-testid="cache-search"]').fill('rate limits');
    await cache.locator('[data-testid="cache-search"]').press('Enter');
    await until(page, async () => !(await detail.isVisible()), 'the detail to go');
  });

  async function showAll(): Promise<void> {
    await cache.locator('[data-testid="cache-search"]').fill('');
    await cache.locator('[data-testid="cache-search"]').press('Enter');
    await until(ui().page, async () => (await cache.locator('[data-testid="cache-count"]').getAttribute('data-total')) === String(await total(cache)), 'the full list');
  }

  it('deletes one entry', async () => {
    const { page } = ui();
    await showAll();
    const before = await total(cache);
    const key = await cache.locator('[data-testid="cache-row"]').nth(3).getAttribute('data-key');
    await cache.locator('[data-testid="cache-row"]').nth(3).locator('[data-testid="cache-row-delete"]').click();
    await until(page, async () => (await total(cache)) === before - 1, 'one entry fewer');
    assert.equal(await cache.locator(`[data-testid="cache-row"][data-key="${key}"]`).count(), 0);
    // Undo puts it back, as it was.
    await cache.locator('[data-testid="cache-undo-button"]').click();
    await until(page, async () => (await total(cache)) === before, 'the entry back');
    assert.equal(await cache.locator(`[data-testid="cache-row"][data-key="${key}"]`).count(), 1);
    // By keyboard this time: the row that takes the deleted one's place gets the focus.
    const next = await cache.locator('[data-testid="cache-row"]').nth(4).getAttribute('data-key');
    await cache.locator('[data-testid="cache-row"]').nth(3).locator('[data-testid="cache-row-delete"]').focus();
    await page.keyboard.press('Enter');
    await until(page, async () => (await total(cache)) === before - 1, 'one entry fewer again');
    // The row, not its ✕: a second Enter must not delete that one too.
    await until(page, async () => (await cache.evaluate(() => `${document.activeElement?.getAttribute('data-testid')} ${document.activeElement?.getAttribute('data-key')}`)) === `cache-row ${next}`, 'the focus on the next row');
  });

  it('clears all entries after a confirmation', async () => {
    const { page } = ui();
    await cache.locator('[data-testid="cache-clear-all"]').click();
    await workbench().confirmDialog('Clear Cache');
    await until(page, async () => (await total(cache)) === 0, 'an empty cache');
    assert.equal(await cache.locator('[data-testid="cache-row"]').count(), 0);
    assert.match(await cache.locator('[data-testid="cache-rows"]').innerText(), /empty/i);
  });
});
