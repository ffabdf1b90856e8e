/**
 * A new user's first day (issue 16), in the real workbench: the keyboard stays where the user
 * types when a run ends, results files are never taken as input, a cancelled run is reported as
 * cancelled with a record for every row, a loopback server that wants a key gets one without a
 * stopped run, a run on another model keeps the first results, and an edit elsewhere in the file
 * does not divert a `replace`.
 *
 * Runs last: it adds entries to the cache that the Cache Browser tests would otherwise count.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { startFakeServer, type FakeServer } from '../../support/fakeServer';
import { ui, type LaunchedWindow } from './context.mjs';
import { CANCEL_ROWS, TYPING_ROWS } from './fixtures.mjs';
import { EXTENSION_ID, setWorkspaceSettings, extensionLogSoFar, figure, rawLines, results, statusItem, statusSpinning, until, waitForBatch, workbench } from './helpers.mjs';
import { Workbench } from './workbench.mjs';


/** The Explorer row of a file at the workspace root. */
function explorerRow(page: Page, name: string) {
  return page
    .locator('.explorer-folders-view .monaco-list-row', { has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) })
    .first();
}

/** The labels of the context menu the Explorer shows for `name`. */
async function explorerMenu(page: Page, name: string): Promise<string[]> {
  await explorerRow(page, name).click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ state: 'visible' });
  const labels = (await menu.locator('.action-label').allInnerTexts()).map((l) => l.trim()).filter(Boolean);
  await page.keyboard.press('Escape');
  return labels;
}

/** Selects line `n` (from 1) of the active text editor with the keyboard, as a user would. */
async function selectLine(page: Page, n: number): Promise<void> {
  await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+Home');
  for (let i = 1; i < n; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+End');
}

describe('a first day with FastLLM (issue 16)', () => {
  before(async () => {
    await workbench().ready(EXTENSION_ID);
    // Earlier files leave a key stored for the fake (30-api-key) and another required (40-reliability).
    ui().fake.setBehavior({ requireKey: undefined, latencyMs: 0, plan: undefined });
  });
  after(() => ui().fake.setBehavior({ requireKey: ui().apiKey }));

  it('a run that ends while the user types in another editor leaves every keystroke there, and the results in a tab behind', async () => {
    const { page, fake, workspace } = ui();
    const wb = workbench();
    const notes = path.join(workspace, 'notes.md');
    const original = readFileSync(notes, 'utf8');
    fake.reset();
    fake.setBehavior({ latencyMs: 150 });
    try {
      await wb.openFile('typing.txt');
      await wb.runCommand('FastLLM: Run Batch from File…');
      await until(page, () => statusSpinning(), 'the run to start');
      await wb.openFile('notes.md');
      await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
      await page.keyboard.press('Control+End');
      let typed = '';
      const type = async () => {
        const chunk = ` typed-${typed.length}`;
        await page.keyboard.type(chunk);
        typed += chunk;
      };
      // Type until the run has ended and its results tab has opened, and on a little after.
      while (!(await wb.tab('typing.results.jsonl').count()) && typed.length < 4000) {
        await type();
        await page.waitForTimeout(100);
      }
      for (let i = 0; i < 5; i++) await type();
      await page.keyboard.press('Control+S');
      await until(page, () => readFileSync(notes, 'utf8') === original + typed, 'notes.md to hold exactly what was typed');
      assert.ok(typed.length > 20, 'nothing was typed while the run went');
      await wb.activeTab('notes.md').waitFor({ timeout: 2000 });
      const records = await waitForBatch('typing.results.jsonl', TYPING_ROWS);
      assert.equal(records.filter((r) => r.error === null).length, TYPING_ROWS);
      assert.ok(!rawLines('typing.results.jsonl').some((l) => l.includes('typed-')), 'typing landed in the results file');
    } finally {
      fake.setBehavior({ latencyMs: 0 });
      writeFileSync(notes, original);
    }
  });

  it('never takes a results file as input: not from the Explorer menu, not as the active editor; an untitled editor is asked to be saved', async () => {
    const { page, workspace } = ui();
    const wb = workbench();
    assert.ok((await explorerMenu(page, 'typing.txt')).includes('Run Batch from File…'));
    const menu = await explorerMenu(page, 'typing.results.jsonl');
    assert.ok(menu.includes('Rerun Failed Rows'), menu.join(' | '));
    assert.ok(!menu.includes('Run Batch from File…'), menu.join(' | '));

    // A results file opens in the Results view; as text (Reopen With…) it is an active text editor.
    await wb.openFile('typing.results.jsonl', { view: true });
    await wb.runCommand('View: Reopen Editor with Text Editor');
    await page.locator('.editor-group-container.active .editor-instance .monaco-editor .view-lines').first().waitFor();
    await wb.runCommand('FastLLM: Run Batch from File…');
    // A file dialog that says why, instead of a run of the results.
    await until(page, async () => /holds results/.test(await wb.quickInput.innerText().catch(() => '')), 'the file dialog');
    await page.keyboard.press('Escape');
    assert.ok(!existsSync(path.join(workspace, 'typing.results.results.jsonl')));

    await wb.runCommand('File: New Untitled Text File');
    await page.keyboard.type('What is 2+2?');
    await wb.runCommand('FastLLM: Run Batch from File…');
    await until(page, async () => (await wb.notifications()).some((n) => n.includes('save the file first')), 'the message to save first');
    assert.equal(await wb.quickInput.isVisible(), false, 'a dialog opened');
    await wb.runCommand('View: Revert and Close Editor');
  });

  it('a run cancelled part way writes a record for each of its 200 rows and says cancelled, in the toast and in Token Stats', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    await wb.runCommand('Notifications: Clear All Notifications');
    fake.reset();
    fake.setBehavior({ latencyMs: 400 });
    try {
      await wb.openFile('cancel.txt');
      await wb.runCommand('FastLLM: Run Batch from File…');
      await until(page, () => fake.count >= 10, 'ten requests');
      await wb.runCommand('FastLLM: Cancel Run');
      await until(page, async () => !(await statusSpinning()), 'the run to end');
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
    const toast = await until(page, async () => (await wb.notifications()).find((n) => /rows: \d+ ok/.test(n)), 'the finish notification');
    assert.match(toast, /^FastLLM: cancelled: /);
    assert.doesNotMatch(toast, /failed/);
    const records = results('cancel.results.jsonl');
    const ok = records.filter((r) => r.error === null).length;
    const unfinished = records.filter((r) => r.error && ['cancelled', 'run_stopped'].includes(r.error.code)).length;
    assert.ok(ok > 0 && unfinished > 0);
    assert.equal(ok + unfinished, records.length, 'some rows failed');
    await statusItem().click();
    const stats = await wb.webview('[data-testid="stats-root"]');
    await until(page, async () => (await stats.locator('[data-testid="stats-state"]').innerText()) === 'cancelled', 'Token Stats to say cancelled');
    assert.equal(await figure(stats, 'stat-run-failed'), 0);
    assert.equal(await figure(stats, 'stat-run-unfinished'), unfinished);
    // The README promises a record per input row: rows never started say so too.
    assert.equal(records.length, CANCEL_ROWS, `${records.length} records for ${CANCEL_ROWS} rows`);
  });

  it('a second run on another model keeps the first results file, and Compare opens both', async () => {
    const { page, workspace } = ui();
    const wb = workbench();
    const first = path.join(workspace, 'typing.results.jsonl');
    const before = readFileSync(first, 'utf8');
    await setWorkspaceSettings({ 'fastllm.model': 'gpt-4o' }, '"model":"gpt-4o"');
    try {
      await wb.runCommand('Notifications: Clear All Notifications');
      await wb.openFile('typing.txt');
      await wb.runCommand('FastLLM: Run Batch from File…');
      const records = await waitForBatch('typing.gpt-4o.results.jsonl', TYPING_ROWS);
      assert.ok(records.every((r) => r.error === null));
      assert.equal(readFileSync(first, 'utf8'), before, 'the first results file changed');
      const toast = page.locator('.notifications-toasts .notification-list-item', { hasText: 'typing.gpt-4o.results.jsonl' }).first();
      await toast.waitFor();
      await toast.locator('.monaco-button', { hasText: 'Compare' }).click();
      const view = await wb.webview('[data-testid="compare-root"]');
      await until(page, async () => (await view.locator('[data-testid="compare-count-same"]').getAttribute('data-value')) === String(TYPING_ROWS), 'the comparison');
    } finally {
      await setWorkspaceSettings({ 'fastllm.model': undefined }, '"model":"gpt-4o-mini"');
    }
  });

  it('an edit elsewhere in the file does not divert a replace: the answer takes the place of the selection', async () => {
    const { page, fake, workspace } = ui();
    const wb = workbench();
    const notes = path.join(workspace, 'notes.md');
    const original = readFileSync(notes, 'utf8');
    const question = 'What does a 429 status mean?';
    await setWorkspaceSettings({ 'fastllm.selection.output': 'replace' }, '"output":"replace"');
    fake.reset();
    fake.setBehavior({ latencyMs: 2500 });
    try {
      await wb.runCommand('View: Close All Editors');
      await wb.openFile('notes.md');
      const lines = page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
      await selectLine(page, 4); // the question
      await wb.runCommand('FastLLM: Run on Selection');
      await until(page, () => fake.count > 0, 'the request');
      // Type at the top of the file while the answer is on its way.
      await lines.click();
      await page.keyboard.press('Control+Home');
      await page.keyboard.type('Typed at the top. ');
      await until(page, () => fake.inFlight === 0 && fake.count > 0, 'the answer');
      await page.waitForTimeout(500);
      await page.keyboard.press('Control+S');
      const expected = original.replace('# Notes', 'Typed at the top. # Notes').replace(question, `echo: ${question}`);
      await until(page, () => readFileSync(notes, 'utf8') === expected, 'the answer in place of the question', 15_000);
      assert.equal(await wb.tab('FastLLM answers').count(), 0, 'the answer was diverted to the answers document');
    } finally {
      fake.setBehavior({ latencyMs: 0 });
      writeFileSync(notes, original);
      await setWorkspaceSettings({ 'fastllm.selection.output': undefined }, '"output":"beside"');
    }
  });

  it("Run on Selection's notification has a Cancel button: it stops the request, the file keeps its text, and a warning says cancelled", async () => {
    const { page, fake, workspace } = ui();
    const wb = workbench();
    // A prompt of its own: a question an earlier test asked would come from the cache, with no
    // request to cancel.
    const file = path.join(workspace, 'cancel-selection.md');
    const original = `# Cancel me\n\nName the ${Date.now()}th prime, slowly.\n`;
    writeFileSync(file, original);
    await setWorkspaceSettings({ 'fastllm.selection.output': 'replace' }, '"output":"replace"');
    fake.reset();
    fake.setBehavior({ latencyMs: 20_000 });
    try {
      await wb.runCommand('Notifications: Clear All Notifications');
      await wb.runCommand('View: Close All Editors');
      await wb.openFile('cancel-selection.md');
      await selectLine(page, 3);
      await wb.runCommand('FastLLM: Run on Selection');
      await until(page, () => fake.inFlight === 1, 'the request at the server');
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'FastLLM: answering the selection' });
      await toast.waitFor({ state: 'visible', timeout: 15_000 });
      await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
      // The client hangs up long before the server's 20 s answer: the request was stopped.
      await until(page, () => fake.inFlight === 0, 'the request to be abandoned', 10_000);
      assert.equal(fake.countByPath['/v1/chat/completions'], 1, 'Cancel was followed by a retry');
      await until(page, async () => (await wb.notifications()).some((t) => /1 of 1 prompts cancelled/.test(t)), 'the warning that says cancelled', 10_000);
      await toast.waitFor({ state: 'hidden', timeout: 10_000 });
      // Nothing written into the file: not the answer, not an error.
      assert.doesNotMatch((await wb.tab('cancel-selection.md').getAttribute('class')) ?? '', /\bdirty\b/, 'the editor was changed');
      const shown = await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().innerText();
      assert.match(shown.replace(/\u00a0/g, ' '), /Name the \d+th prime, slowly\./);
      assert.doesNotMatch(shown, /echo:|cancelled/);
      assert.equal(readFileSync(file, 'utf8'), original);
    } finally {
      fake.setBehavior({ latencyMs: 0 });
      await setWorkspaceSettings({ 'fastllm.selection.output': undefined }, '"output":"beside"');
      await wb.runCommand('View: Close All Editors');
    }
  });
});

describe('a loopback server that wants a key (issue 16 item 3)', () => {
  // The README's order: Set API Key (stored for api.openai.com), then point fastllm.baseUrl at a
  // local server. No OPENAI_API_KEY in this window's environment.
  const openaiKey = 'sk-fastllm-it-OPENAI-3c9a51d7e2';
  let local: FakeServer;
  let win: LaunchedWindow | undefined;

  before(async function () {
    this.timeout(90_000);
    local = await startFakeServer({ requireKey: openaiKey });
    win = await ui().launchWindow({ name: 'no-env-key', env: { OPENAI_API_KEY: undefined }, userSettings: { 'fastllm.concurrency': 2 } });
  });
  after(async () => {
    await win?.close();
    await local?.close();
  });

  it('asks for a key on the first 401, offering the one stored for api.openai.com by name, and the run goes on', async function () {
    this.timeout(120_000);
    assert.ok(win);
    const { page, workspace, userData } = win;
    const wb = new Workbench(page);
    await wb.ready();
    await until(page, () => extensionLogSoFar(userData).includes('FastLLM activated'), 'the extension activated', 60_000);
    // A workspace that never used FastLLM and sets none of its settings: no FastLLM item in the
    // status bar (issue 12), until a FastLLM command runs.
    await page.waitForTimeout(1000);
    assert.equal(await wb.statusItems(EXTENSION_ID).count(), 0, 'the FastLLM status item shows in a workspace that never used it');
    await wb.runCommand('FastLLM: Set API Key');
    await wb.answerInput(openaiKey);
    await until(page, async () => (await wb.notifications()).some((n) => n.includes('API key stored for https://api.openai.com/v1')), 'the key stored');
    await wb.statusItems(EXTENSION_ID).first().waitFor({ timeout: 10_000 });
    await setWorkspaceSettings({ 'fastllm.baseUrl': local.url }, `"baseUrl":"${local.url}"`, page, workspace, userData);

    // The status bar says there is no key for this server.
    const host = new URL(local.url).host;
    await wb.statusItems(EXTENSION_ID).first().hover();
    // The tooltip's text is written with non-breaking spaces.
    const hover = async () => (await page.locator('.workbench-hover').allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' '));
    await until(page, async () => (await hover()).some((t) => t.includes(`No key for ${host}`)), 'the tooltip');
    await page.keyboard.press('Escape');

    await wb.openFile('prompts.jsonl');
    await wb.runCommand('FastLLM: Run Batch from File…');
    await until(page, async () => (await wb.quickInput.innerText().catch(() => '')).includes('Use the key stored for api.openai.com'), 'the question for a key', 30_000);
    const question = await wb.quickInput.innerText();
    assert.ok(!question.includes(openaiKey) && !question.includes(openaiKey.slice(-6)), 'the question shows the key');
    const refused = local.count;
    assert.ok(refused >= 1);
    // While the user is asked, nothing more is sent.
    await page.waitForTimeout(1000);
    assert.equal(local.count, refused);
    await wb.pick('Use the key stored for api.openai.com');
    const out = path.join(workspace, 'prompts.results.jsonl');
    await until(page, () => existsSync(out) && readFileSync(out, 'utf8').trim().split('\n').length === 4, 'four records', 30_000);
    const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { error: unknown });
    assert.deepEqual(records.map((r) => r.error), [null, null, null, null]);
    const withKey = local.requests.filter((r) => r.headers.authorization === `Bearer ${openaiKey}`);
    const without = local.requests.filter((r) => r.headers.authorization !== `Bearer ${openaiKey}`);
    assert.ok(withKey.length >= 4);
    assert.equal(without.length, refused, 'requests went without the key after the first 401');
  });
});
