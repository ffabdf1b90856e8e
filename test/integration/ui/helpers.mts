/** Helpers shared by the UI tests: files in the workspace, results, the extension's status item. */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { ui } from './context.mjs';
import { Workbench } from './workbench.mjs';

export const EXTENSION_ID = 'fastllm.fastllm-vscode';

export interface ResultLine {
  custom_id: string;
  error: { code: string; message: string } | null;
  cached: boolean;
  response: { body: { usage?: { total_tokens?: number }; choices?: { message?: { content?: string } }[] } } | null;
}

export function workbench(): Workbench {
  return new Workbench(ui().page);
}

/**
 * The records of `<name>.results.jsonl` in the workspace, or [] when it does not exist yet. Only
 * whole lines: a run may be writing the next one while we read.
 */
export function results(name: string): ResultLine[] {
  const file = path.join(ui().workspace, name);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .slice(0, -1)
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ResultLine);
}

/** The FastLLM status bar item. */
export function statusItem(): Locator {
  return workbench().statusItems(EXTENSION_ID).first();
}

/** The item's visible text (codicons are drawn with CSS, so they have no text). */
export async function statusText(): Promise<string> {
  return (await statusItem().innerText()).trim();
}

/** True while the item shows the spinning `$(loading~spin)` icon. */
export async function statusSpinning(): Promise<boolean> {
  return (await statusItem().locator('.codicon-loading').count()) > 0;
}

/** Polls `probe` until it returns a truthy value. */
export async function until<T>(page: Page, probe: () => Promise<T> | T, what: string, timeout = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await page.waitForTimeout(50);
  }
}

/**
 * Waits until a batch run wrote `rows` records to `resultsName`, the status item stopped spinning
 * and (fastllm.results.openWhenDone is on) the results file became the active editor: after that
 * nothing the run does can take the focus from the next step.
 */
export async function waitForBatch(resultsName: string, rows: number, timeout = 30_000): Promise<ResultLine[]> {
  const page = ui().page;
  await until(page, async () => results(resultsName).length === rows && !(await statusSpinning()), `${rows} records in ${resultsName}`, timeout);
  await workbench().activeTab(resultsName).waitFor({ timeout });
  return results(resultsName);
}

/**
 * Saves a README screenshot of the whole window into media/screenshots/. For a panel, `tidy`
 * first dismisses the notification toasts and hides the side bar (shown again afterwards), so
 * that the panel has the window to itself.
 */
export async function readmeScreenshot(name: string, options: { tidy?: boolean } = {}): Promise<void> {
  const { page, screenshots } = ui();
  const wb = workbench();
  mkdirSync(screenshots, { recursive: true });
  const sidebar = page.locator('.part.sidebar');
  const hideSidebar = options.tidy === true && (await sidebar.isVisible());
  if (options.tidy) await wb.runCommand('Notifications: Clear All Notifications');
  if (hideSidebar) {
    await wb.runCommand('View: Toggle Primary Side Bar Visibility');
    await sidebar.waitFor({ state: 'hidden' });
  }
  // Let the webviews and the status bar finish drawing.
  await page.waitForTimeout(400);
  await page.screenshot({ path: path.join(screenshots, `${name}.png`) });
  if (hideSidebar) await wb.runCommand('View: Toggle Primary Side Bar Visibility');
}

/** `data-value` of a stats figure, as a number. */
export async function figure(frame: { locator(s: string): Locator }, testid: string): Promise<number> {
  const value = await frame.locator(`[data-testid="${testid}"]`).getAttribute('data-value');
  if (value === null) throw new Error(`${testid} has no value`);
  return Number(value);
}

/**
 * The text of the extension's log files (`FastLLM.log`, one per extension host) under a user-data
 * folder, oldest first.
 */
export function extensionLog(userData = ui().userData): string {
  const logs = path.join(userData, 'logs');
  if (!existsSync(logs)) return '';
  return readdirSync(logs, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name === 'FastLLM.log')
    .map((e) => path.join(e.parentPath, e.name))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

/**
 * The extension's cache file for a workspace: `<workspaceStorage>/<id>/fastllm.fastllm-vscode/
 * fastllm-cache.sqlite`, where code-server's `meta.json` names the folder.
 */
export function cacheFileOf(workspace = ui().workspace, userData = ui().userData): string {
  const storage = path.join(userData, 'User', 'workspaceStorage');
  for (const id of existsSync(storage) ? readdirSync(storage) : []) {
    const meta = path.join(storage, id, 'meta.json');
    if (existsSync(meta) && (JSON.parse(readFileSync(meta, 'utf8')) as { name?: string }).name === path.basename(workspace)) {
      return path.join(storage, id, EXTENSION_ID, 'fastllm-cache.sqlite');
    }
  }
  throw new Error(`no workspace storage for ${workspace} under ${storage}`);
}

/** The lines of a workspace file as written so far (the last one may be partial), or []. */
export function rawLines(name: string): string[] {
  const file = path.join(ui().workspace, name);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n');
}

/** Reloads the window with VS Code's own command and waits until the extension is back. */
export async function reloadWindow(page: Page): Promise<void> {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 30_000 });
  // The palette may go away under our feet when the page unloads.
  await workbench().runCommand('Developer: Reload Window').catch(() => undefined);
  await navigated;
  await workbench().ready(EXTENSION_ID);
}
