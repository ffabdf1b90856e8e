/**
 * Batch API mode in the workbench, against loopback fakes of the Files/Batches API:
 *
 * 1. The "FastLLM Batch API Jobs" view is hidden until used, and the palette offers only the
 *    Batch API commands that make sense without a tree item.
 * 2. FastLLM: Submit Batch API Job… (the file picked in VS Code's own open dialog) shows the same
 *    estimate dialog as Run Batch; then the view lists the jobs with their status and counts.
 * 3. The inline cancel of a job cancels that job only, after a modal naming it; the submission's
 *    cancel asks too; Remove is offered only once every job has ended, and asks.
 * 4. A state file changed on disk to point at another server is no longer followed, and Refresh
 *    asks before using it: "no" sends nothing there. Once the list is empty, the welcome shows.
 * 5. In Restricted Mode nothing is polled; granting trust starts the polling.
 *
 * Windows of their own (`ui().launchWindow`): their workspaces point `fastllm.baseUrl` at a fake
 * Batch API and poll every second, and their cache and job list start empty.
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { startFakeBatchApi, type FakeBatchApi } from '../../support/fakeBatchApi';
import { ui, type LaunchedWindow } from './context.mjs';
import { EXTENSION_ID, extensionLog, extensionLogSoFar, until } from './helpers.mjs';
import { Workbench } from './workbench.mjs';

const INPUT = 'questions.txt';
const QUESTIONS = [
  'What is a token?',
  'Why cache LLM answers?',
  'What does a 429 mean?',
  'When should I retry?',
  'What is a rate limit?',
  'Why batch requests?',
  'What is a context window?',
  'Why stream answers?',
];
const VIEW = 'FastLLM Batch API Jobs';

/**
 * Answers VS Code's open dialog (in the browser, a quick input that starts with the folder's path)
 * with a file's full path. The dialog fills in its start path once it has read the folder: type
 * only after that, or the path typed is overwritten.
 */
async function pickFile(wb: Workbench, file: string): Promise<void> {
  const input = wb.page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await until(wb.page, async () => (await input.inputValue()).startsWith('/'), 'the start path in the open dialog');
  await wb.page.waitForTimeout(300);
  await input.fill(file);
  await until(wb.page, async () => (await input.inputValue()) === file, `${file} in the open dialog`);
  await wb.page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The view's pane in the Explorer (present only while the view is shown). */
const paneOf = (page: Page) => page.locator('.pane', { has: page.locator('.pane-header', { hasText: VIEW }) });

/** The visible modal dialog: its message, detail, and a way to press one of its buttons. */
async function dialog(page: Page): Promise<{ text: string; press: (button: string) => Promise<void> }> {
  const box = page.locator('.monaco-dialog-box');
  await box.waitFor({ state: 'visible', timeout: 20_000 });
  const text = await box.innerText();
  return {
    text,
    press: async (button) => {
      await box.locator('.dialog-buttons .monaco-button, .dialog-buttons a', { hasText: new RegExp(`^${button}$`) }).first().click();
      await box.waitFor({ state: 'hidden', timeout: 10_000 });
    },
  };
}

/** The row of the view whose label is `label`. */
const rowOf = (pane: Locator, label: string) => pane.locator('.monaco-list-row', { has: pane.page().locator('.label-name', { hasText: label }) }).first();

/** The titles of the inline actions a row shows when hovered. */
async function inlineActions(row: Locator): Promise<string[]> {
  await row.hover();
  await row.locator('.actions .action-label').first().waitFor({ state: 'visible', timeout: 5000 }).catch(() => undefined);
  return (await row.locator('.actions .action-label').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''))).filter(Boolean);
}

/** The palette rows shown for `query` (a `>` is added), then the palette is closed. */
async function paletteRows(wb: Workbench, query: string): Promise<string[]> {
  await wb.page.keyboard.press('F1');
  const input = wb.page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${query}`);
  await wb.page.waitForTimeout(800);
  const rows = await wb.page.locator('.quick-input-list .monaco-list-row').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
  await wb.page.keyboard.press('Escape');
  return rows;
}

describe('Batch API Jobs view', () => {
  let fake: FakeBatchApi;
  let attacker: FakeBatchApi;
  let win: LaunchedWindow | undefined;
  let ids: string[] = [];

  before(async function () {
    this.timeout(90_000);
    fake = await startFakeBatchApi();
    attacker = await startFakeBatchApi();
    // Job 1 completes, job 2 expires with one of its two rows answered, jobs 3 and 4 (and any later one) keep running.
    fake.plan = (i) => [{}, { finalStatus: 'expired' as const, answered: 1 }][i] ?? { pollsBeforeDone: 100_000 };
    win = await ui().launchWindow({
      name: 'batch-jobs',
      workspaceSettings: {
        'fastllm.baseUrl': fake.url,
        'fastllm.batch.maxRequests': 2,
        'fastllm.batch.pollSeconds': 1,
        'fastllm.batch.fetchWhenDone': false,
        'fastllm.results.openWhenDone': false,
        // Eight rows: as for Run Batch, Submit asks first.
        'fastllm.confirm.rowThreshold': 8,
      },
    });
    writeFileSync(path.join(win.workspace, INPUT), QUESTIONS.join('\n') + '\n');
    writeFileSync(path.join(win.workspace, 'other.txt'), 'one more\nand another\n');
  });
  afterEach(async function () {
    // The launcher's failure screenshot is of the main window: this test's is the other one.
    if (this.currentTest?.state === 'failed' && win && !win.page.isClosed()) {
      mkdirSync(ui().artifacts, { recursive: true });
      await win.page.screenshot({ path: path.join(ui().artifacts, `ui-batch-jobs-window-${this.currentTest.title.slice(0, 20).replace(/\W+/g, '-')}.png`), timeout: 5000 }).catch(() => undefined);
    }
  });
  after(async () => {
    await win?.close();
    await fake?.close();
    await attacker?.close();
  });

  it('the view is hidden until used; the palette offers no Batch API command that needs a tree item', async function () {
    this.timeout(90_000);
    assert.ok(win);
    const wb = new Workbench(win.page);
    await wb.ready(EXTENSION_ID);
    await until(win.page, () => extensionLogSoFar(win!.userData).includes('FastLLM activated'), 'the extension activated', 60_000);
    await win.page.keyboard.press('Control+Shift+E');
    await win.page.locator('.explorer-folders-view').waitFor();
    assert.equal(await paneOf(win.page).count(), 0, 'the Batch API Jobs view shows in a workspace that never used it');

    const listed = await paletteRows(wb, 'FastLLM: Batch API');
    for (const title of ['Submit Batch API Job…', 'Show Batch API Jobs', 'Refresh Batch API Jobs']) {
      assert.ok(listed.some((l) => l.includes(title)), `the palette lacks ${title}: ${JSON.stringify(listed)}`);
    }
    for (const title of ['Cancel Batch API Job', 'Cancel All Batch API Jobs', 'Fetch Batch API Results', 'Remove from Batch API Jobs List']) {
      assert.ok(!listed.some((l) => l.includes(title)), `the palette offers ${title}: ${JSON.stringify(listed)}`);
    }
    // Issue 16: typing "FastLLM: Cancel" lists no Batch API job to cancel.
    assert.deepEqual((await paletteRows(wb, 'FastLLM: Cancel')).filter((l) => /Cancel.*Batch/.test(l)), []);
  });

  it('submits after the same estimate dialog as Run Batch; the view lists the jobs with status and counts', async function () {
    this.timeout(120_000);
    assert.ok(win);
    const { page, workspace, userData } = win;
    const wb = new Workbench(page);
    await wb.ready(EXTENSION_ID);
    await until(page, () => extensionLogSoFar(userData).includes('FastLLM activated'), 'the extension activated', 60_000);

    // The command asks for the file with VS Code's open dialog (the quick-input one in the browser).
    await wb.runCommand('FastLLM: Submit Batch API Job…');
    await pickFile(wb, path.join(workspace, INPUT));
    const ask = await dialog(page);
    assert.match(ask.text, /Submit 8 prompts from questions\.txt as Batch API jobs\?/);
    assert.match(ask.text, /Estimated cost at batch prices \(half of live\): \$/);
    assert.match(ask.text, /Expected cache hits \(not sent\): 0/);
    assert.equal(fake.jobs().length, 0, 'a job was created before the answer');
    await ask.press('Submit');

    // 8 rows, 2 per job: 4 jobs, uploaded and created on the fake; no live call.
    await until(page, () => fake.jobs().length === 4, 'four jobs on the fake Batch API', 30_000);
    assert.equal(fake.counts['POST /v1/files'], 4);
    assert.equal(fake.counts['POST /v1/chat/completions'], undefined, 'a live call was made');
    assert.deepEqual(
      fake.jobs().map((j) => j.lines.map((l) => (l.body as { messages: { content: string }[] }).messages.at(-1)?.content)),
      [QUESTIONS.slice(0, 2), QUESTIONS.slice(2, 4), QUESTIONS.slice(4, 6), QUESTIONS.slice(6, 8)],
    );
    ids = fake.jobs().map((j) => j.batch.id);
    await until(page, async () => (await wb.notifications()).some((n) => n.includes('8 rows sent as 4 Batch API job(s)')), 'the submitted notification');

    // The view, in the Explorer, now shown and expanded.
    await wb.runCommand('FastLLM: Show Batch API Jobs');
    const pane = paneOf(page);
    await pane.locator('.pane-header.expanded').waitFor({ timeout: 20_000 });
    const rows = pane.locator('.monaco-list-row');
    const shown = async () => {
      const out: [string, string][] = [];
      for (const row of await rows.all()) {
        out.push([(await row.locator('.label-name').first().innerText()).trim(), (await row.locator('.label-description').first().innerText().catch(() => '')).trim()]);
      }
      return out;
    };
    // Polled every second: two jobs end on their first poll, the others stay in progress.
    const expected: [string, string][] = [
      [INPUT, '2/4 jobs ended'],
      [ids[0]!, 'completed · 2/2 done'],
      [ids[1]!, 'expired · 1/2 done, 1 failed'],
      [ids[2]!, 'in_progress · 0/2 done'],
      [ids[3]!, 'in_progress · 0/2 done'],
    ];
    let last: [string, string][] = [];
    await until(page, async () => JSON.stringify((last = await shown())) === JSON.stringify(expected), `the jobs in the view (last: ${JSON.stringify(last)})`, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}; the view showed ${JSON.stringify(last)}`);
    });
    assert.equal(await rows.nth(1).locator('.codicon-check').count(), 1);
    assert.equal(await rows.nth(2).locator('.codicon-watch').count(), 1);
    assert.equal(await rows.nth(3).locator('.codicon-sync').count(), 1);
    assert.equal(await rows.nth(0).locator('.codicon-loading').count(), 1);

    // The state file beside the input, as the CLI writes it, holds the same jobs.
    const statePath = path.join(workspace, `${INPUT}.batch.json`);
    assert.ok(existsSync(statePath));
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { jobs: { id: string; status: string }[] };
    assert.deepEqual(state.jobs.map((j) => [j.id, j.status]), [[ids[0], 'completed'], [ids[1], 'expired'], [ids[2], 'in_progress'], [ids[3], 'in_progress']]);

    // README screenshot (media/screenshots with `npm run test:screenshots`): the input file in the
    // editor, the view expanded in the Explorer, no toast over the editor.
    await wb.openFile(INPUT);
    await wb.runCommand('Notifications: Clear All Notifications');
    await wb.runCommand('FastLLM: Show Batch API Jobs');
    await page.mouse.move(0, 0);
    await page.waitForTimeout(500);
    mkdirSync(ui().screenshots, { recursive: true });
    await page.screenshot({ path: path.join(ui().screenshots, 'batch-jobs.png') });
  });

  it('cancel on a job cancels that job only, after asking; Remove waits until every job has ended, and asks', async function () {
    this.timeout(120_000);
    assert.ok(win && ids.length === 4);
    const { page } = win;
    const pane = paneOf(page);
    const status = (i: number) => fake.jobs()[i]!.batch.status;

    // A running submission offers "cancel all", not Remove (its jobs are still billed).
    const submission = rowOf(pane, INPUT);
    const onSubmission = await inlineActions(submission);
    assert.ok(onSubmission.includes('Cancel All Batch API Jobs of This File'), JSON.stringify(onSubmission));
    assert.ok(!onSubmission.some((a) => a.startsWith('Remove')), `Remove offered on a running submission: ${JSON.stringify(onSubmission)}`);

    // The inline cancel of job 4: a modal naming that job; "Cancel Job" cancels it and only it.
    const job4 = rowOf(pane, ids[3]!);
    assert.ok((await inlineActions(job4)).includes('Cancel Batch API Job'));
    await job4.locator('.actions .action-label[aria-label="Cancel Batch API Job"]').click();
    const ask = await dialog(page);
    assert.match(ask.text, new RegExp(`Cancel Batch API job ${ids[3]} of questions\\.txt\\?`));
    await ask.press('Cancel Job');
    await until(page, () => ['cancelling', 'cancelled'].includes(status(3)), 'job 4 cancelled');
    assert.equal(status(2), 'in_progress', 'the other running job was cancelled too');
    assert.equal(fake.counts['POST /v1/batches/:id/cancel'], 1);

    // The submission's cancel: asks again, names what is left, and the answer "no" cancels nothing.
    await inlineActions(submission);
    await submission.locator('.actions .action-label[aria-label="Cancel All Batch API Jobs of This File"]').click();
    const second = await dialog(page);
    assert.match(second.text, new RegExp(`Cancel Batch API job ${ids[2]} of questions\\.txt\\?`));
    await second.press('Cancel');
    await page.waitForTimeout(1500);
    assert.equal(status(2), 'in_progress');
    await inlineActions(submission);
    await submission.locator('.actions .action-label[aria-label="Cancel All Batch API Jobs of This File"]').click();
    await (await dialog(page)).press('Cancel Job');
    await until(page, async () => (await submission.locator('.label-description').innerText()).includes('4/4 jobs ended'), 'every job ended', 30_000);

    // Ended: Remove is offered, asks, says the results were not fetched, and removes.
    assert.ok((await inlineActions(submission)).includes('Remove from Batch API Jobs List'));
    await submission.locator('.actions .action-label[aria-label="Remove from Batch API Jobs List"]').click();
    const remove = await dialog(page);
    assert.match(remove.text, /Remove questions\.txt from the Batch API Jobs list\?/);
    assert.match(remove.text, /NOT fetched yet/);
    await remove.press('Remove');
    await until(page, async () => (await rowOf(pane, INPUT).count()) === 0, 'questions.txt removed from the view');
  });

  it('a state file pointed at another server is no longer followed; Refresh asks, and "no" sends nothing', async function () {
    this.timeout(180_000);
    assert.ok(win);
    const { page, workspace } = win;
    const wb = new Workbench(page);
    await wb.runCommand('FastLLM: Submit Batch API Job…');
    await pickFile(wb, path.join(workspace, 'other.txt'));
    await until(page, () => fake.jobs().length === 5, 'the job of other.txt');
    const statePath = path.join(workspace, 'other.txt.batch.json');
    await until(page, () => existsSync(statePath) && (JSON.parse(readFileSync(statePath, 'utf8')) as { complete?: boolean }).complete === true, 'the state of other.txt');

    const pane = paneOf(page);
    const row = rowOf(pane, 'other.txt');
    await until(page, async () => (await row.locator('.label-description').innerText().catch(() => '')).includes('0/1 jobs ended'), 'other.txt followed');
    // Someone changes the state file (a pull, a shared folder) to send the key to their server.
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { baseURL: string };
    writeFileSync(statePath, JSON.stringify({ ...state, baseURL: attacker.url }, null, 2));
    await until(page, async () => (await row.locator('.label-description').innerText().catch(() => '')).includes('not followed'), 'other.txt shown as not followed', 30_000);
    await page.waitForTimeout(3000);
    assert.deepEqual(attacker.counts, {}, 'the state\'s server was called');

    // Refresh asks, naming both servers; "Cancel" sends nothing there.
    await pane.locator('.pane-header').hover();
    await pane.locator('.pane-header .action-label[aria-label="Refresh Batch API Jobs"]').click();
    const ask = await dialog(page);
    assert.ok(ask.text.includes(`was submitted to ${attacker.url}, not to ${fake.url} (fastllm.baseUrl)`), ask.text);
    await ask.press('Cancel');
    await page.waitForTimeout(2000);
    assert.deepEqual(attacker.counts, {});
    assert.deepEqual(attacker.authHeaders, []);

    // A submission not followed can be removed; with the list empty, the welcome explains the view.
    assert.ok((await inlineActions(row)).includes('Remove from Batch API Jobs List'));
    await row.locator('.actions .action-label[aria-label="Remove from Batch API Jobs List"]').click();
    await (await dialog(page)).press('Remove');
    const welcome = pane.locator('.welcome-view-content');
    await welcome.waitFor({ timeout: 20_000 });
    assert.match(await welcome.innerText(), /half the price.*24 hours/s);
    assert.equal(await welcome.locator('.monaco-button', { hasText: 'Submit Batch API Job…' }).count(), 1);
  });
});

describe('Batch API Jobs in Restricted Mode', () => {
  let fake: FakeBatchApi;
  let win: LaunchedWindow | undefined;

  before(async function () {
    this.timeout(90_000);
    fake = await startFakeBatchApi();
    fake.plan = () => ({ pollsBeforeDone: 1 });
    win = await ui().launchWindow({
      name: 'batch-untrusted',
      workspaceTrust: true,
      userSettings: {
        'security.workspace.trust.enabled': true,
        'security.workspace.trust.startupPrompt': 'never',
        'security.workspace.trust.banner': 'never',
        'fastllm.baseUrl': fake.url,
        'fastllm.batch.pollSeconds': 1,
        'fastllm.batch.fetchWhenDone': false,
      },
    });
    writeFileSync(path.join(win.workspace, 'later.txt'), 'first\nsecond\n');
  });
  after(async () => {
    await win?.close();
    await fake?.close();
  });

  it('polls nothing while the workspace is untrusted, and starts when trust is granted', async function () {
    this.timeout(150_000);
    assert.ok(win);
    const { page, workspace, userData } = win;
    const wb = new Workbench(page);
    // Untrusted, its workspace settings are not read: FastLLM's status item waits for a first use.
    await wb.ready();
    await until(page, () => extensionLogSoFar(userData).includes('FastLLM activated'), 'the extension activated', 60_000);
    assert.match(extensionLog(userData), /"trusted":false/);
    await wb.runCommand('FastLLM: Submit Batch API Job…');
    await pickFile(wb, path.join(workspace, 'later.txt'));
    await until(page, () => fake.jobs().length === 1, 'the job on the fake', 30_000);
    await page.waitForTimeout(4000);
    assert.equal(fake.counts['GET /v1/batches/:id'], undefined, 'a job was polled in Restricted Mode');
    await wb.runCommand('FastLLM: Refresh Batch API Jobs');
    await until(page, async () => (await wb.notifications()).some((n) => n.includes('not checked in Restricted Mode')), 'the Restricted Mode notice');
    assert.equal(fake.counts['GET /v1/batches/:id'], undefined);

    await wb.runCommand('Workspaces: Manage Workspace Trust');
    await page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).first().click();
    await until(page, () => (fake.counts['GET /v1/batches/:id'] ?? 0) > 0, 'a poll once trusted', 30_000);
    await until(page, () => fake.jobs()[0]!.batch.status === 'completed', 'the job followed to its end', 30_000);
  });
});
