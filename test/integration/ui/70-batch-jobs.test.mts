/**
 * Batch API mode in the workbench: FastLLM: Submit Batch Job… from the palette (the file picked in
 * VS Code's own open dialog) against a loopback fake of the Files/Batches API, then the
 * "FastLLM Batch Jobs" view in the Explorer lists the jobs with their status and counts.
 *
 * A window of its own (`ui().launchWindow`): its workspace points `fastllm.baseUrl` at the fake
 * Batch API and polls every second, and its cache and job list start empty, so the other UI tests
 * and this one cannot see each other's state.
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Locator } from 'playwright-core';
import { startFakeBatchApi, type FakeBatchApi } from '../../support/fakeBatchApi';
import { ui, type LaunchedWindow } from './context.mjs';
import { EXTENSION_ID, extensionLog, until } from './helpers.mjs';
import { Workbench } from './workbench.mjs';

const INPUT = 'questions.txt';
const QUESTIONS = [
  'What is a token?',
  'Why cache LLM answers?',
  'What does a 429 mean?',
  'When should I retry?',
  'What is a rate limit?',
  'Why batch requests?',
];

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

describe('Batch Jobs view', () => {
  let fake: FakeBatchApi;
  let win: LaunchedWindow | undefined;

  before(async function () {
    this.timeout(90_000);
    fake = await startFakeBatchApi();
    // Job 1 completes, job 2 expires with one of its two rows answered, job 3 keeps running.
    fake.plan = (i) => [{}, { finalStatus: 'expired' as const, answered: 1 }, { pollsBeforeDone: 100_000 }][i] ?? {};
    win = await ui().launchWindow({
      name: 'batch-jobs',
      workspaceSettings: {
        'fastllm.baseUrl': fake.url,
        'fastllm.batch.maxRequests': 2,
        'fastllm.batch.pollSeconds': 1,
        'fastllm.batch.fetchWhenDone': false,
        'fastllm.results.openWhenDone': false,
      },
    });
    writeFileSync(path.join(win.workspace, INPUT), QUESTIONS.join('\n') + '\n');
  });
  afterEach(async function () {
    // The launcher's failure screenshot is of the main window: this test's is the other one.
    if (this.currentTest?.state === 'failed' && win && !win.page.isClosed()) {
      mkdirSync(ui().artifacts, { recursive: true });
      await win.page.screenshot({ path: path.join(ui().artifacts, 'ui-batch-jobs-window.png'), timeout: 5000 }).catch(() => undefined);
    }
  });
  after(async () => {
    await win?.close();
    await fake?.close();
  });

  it('submits a file from the palette; the Batch Jobs view lists the jobs with status and counts', async function () {
    this.timeout(120_000);
    assert.ok(win);
    const { page, workspace, userData } = win;
    const wb = new Workbench(page);
    await wb.ready(EXTENSION_ID);
    await until(page, () => extensionLog(userData).includes('FastLLM activated'), 'the extension activated', 60_000);

    // The command asks for the file with VS Code's open dialog (the quick-input one in the browser).
    await wb.runCommand('FastLLM: Submit Batch Job…');
    await pickFile(wb, path.join(workspace, INPUT));

    // 6 rows, 2 per job: 3 jobs, uploaded and created on the fake; no live call.
    await until(page, () => fake.jobs().length === 3, 'three jobs on the fake Batch API', 30_000);
    assert.equal(fake.counts['POST /v1/files'], 3);
    assert.equal(fake.counts['POST /v1/batches'], 3);
    assert.equal(fake.counts['POST /v1/chat/completions'], undefined, 'a live call was made');
    assert.deepEqual(
      fake.jobs().map((j) => j.lines.map((l) => (l.body as { messages: { content: string }[] }).messages.at(-1)?.content)),
      [QUESTIONS.slice(0, 2), QUESTIONS.slice(2, 4), QUESTIONS.slice(4, 6)],
    );
    const ids = fake.jobs().map((j) => j.batch.id);
    await until(page, async () => (await wb.notifications()).some((n) => n.includes('6 rows sent as 3 Batch job(s)')), 'the submitted notification');

    // The view, in the Explorer, expanded.
    await wb.runCommand('FastLLM: Show Batch Jobs');
    const pane = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'FastLLM Batch Jobs' }) });
    await pane.locator('.pane-header.expanded').waitFor({ timeout: 20_000 });
    const rows = pane.locator('.monaco-list-row');
    const label = (row: Locator) => row.locator('.label-name').first().innerText();
    const description = (row: Locator) => row.locator('.label-description').first().innerText().catch(() => '');
    const shown = async () => {
      const out: [string, string][] = [];
      for (const row of await rows.all()) out.push([(await label(row)).trim(), (await description(row)).trim()]);
      return out;
    };

    // Polled every second: two jobs end on their first poll, the third stays in progress.
    const expected: [string, string][] = [
      [INPUT, '2/3 jobs ended'],
      [ids[0]!, 'completed · 2/2 done'],
      [ids[1]!, 'expired · 1/2 done, 1 failed'],
      [ids[2]!, 'in_progress · 0/2 done'],
    ];
    let last: [string, string][] = [];
    await until(page, async () => JSON.stringify((last = await shown())) === JSON.stringify(expected), `the jobs in the view (last: ${JSON.stringify(last)})`, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}; the view showed ${JSON.stringify(last)}`);
    });
    assert.deepEqual(last, expected);
    // Icons: done, expired, still running; the submission is still being followed.
    assert.equal(await rows.nth(1).locator('.codicon-check').count(), 1);
    assert.equal(await rows.nth(2).locator('.codicon-watch').count(), 1);
    assert.equal(await rows.nth(3).locator('.codicon-sync').count(), 1);
    assert.equal(await rows.nth(0).locator('.codicon-loading').count(), 1);

    // The state file beside the input, as the CLI writes it, holds the same jobs.
    const statePath = path.join(workspace, `${INPUT}.batch.json`);
    assert.ok(existsSync(statePath));
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { jobs: { id: string; status: string }[] };
    assert.deepEqual(state.jobs.map((j) => [j.id, j.status]), [[ids[0], 'completed'], [ids[1], 'expired'], [ids[2], 'in_progress']]);

    // README screenshot (media/screenshots with `npm run test:screenshots`): the input file in the
    // editor, the view expanded in the Explorer, no toast over the editor.
    await wb.openFile(INPUT);
    await wb.runCommand('Notifications: Clear All Notifications');
    await wb.runCommand('FastLLM: Show Batch Jobs');
    await page.mouse.move(0, 0);
    await page.waitForTimeout(500);
    mkdirSync(ui().screenshots, { recursive: true });
    await page.screenshot({ path: path.join(ui().screenshots, 'batch-jobs.png') });
  });
});
