/** Helpers shared by the UI tests: files in the workspace, results, the extension's status item. */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';
import { ui } from './context.mjs';
import { lastCommandAt, Workbench } from './workbench.mjs';

export const EXTENSION_ID = 'fastllm.fastllm-vscode';

export interface ResultLine {
  custom_id: string;
  error: { code: string; message: string } | null;
  cached: boolean;
  latency_ms?: number;
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
 * True when the extension logged the end of a run (`Batch done|cancelled|stopped: … → …/<resultsName>`)
 * at or after `since` (epoch ms). Log lines start with their local time, to the millisecond.
 */
export function batchEndedSince(resultsName: string, since: number, userData = ui().userData): boolean {
  const pattern = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3}) \[\w+\] Batch (?:done|cancelled|stopped): .* → (.*)$/;
  return extensionLog(userData)
    .split('\n')
    .some((line) => {
      const m = pattern.exec(line);
      return !!m && path.basename(m[3]!.trim()) === resultsName && new Date(`${m[1]}T${m[2]}`).getTime() >= since;
    });
}

/**
 * Waits until the batch run started by the last palette command ended (its end is in the log),
 * wrote `rows` records to `resultsName`, the status item stopped spinning and (with
 * fastllm.results.openWhenDone) the results file got its tab, behind the active editor: after that
 * the run does nothing more to the workbench.
 */
export async function waitForBatch(resultsName: string, rows: number, timeout = 30_000): Promise<ResultLine[]> {
  const page = ui().page;
  const since = lastCommandAt();
  await until(page, () => batchEndedSince(resultsName, since), `the end of the run that writes ${resultsName}`, timeout);
  await until(page, async () => results(resultsName).length === rows && !(await statusSpinning()), `${rows} records in ${resultsName}`, timeout);
  await workbench().tab(resultsName).first().waitFor({ timeout });
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

/** The extension's log files (`FastLLM.log`, one per extension host) under a user-data folder, oldest first. */
function extensionLogFiles(userData: string): string[] {
  const logs = path.join(userData, 'logs');
  if (!existsSync(logs)) return [];
  return readdirSync(logs, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name === 'FastLLM.log')
    .map((e) => path.join(e.parentPath, e.name))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
}

/**
 * The text of the extension's log files under a user-data folder, oldest first. Throws when there
 * is no log, or when no log has the activation line: a check that something is *not* in the log
 * must never pass because there was no log to look at.
 */
export function extensionLog(userData = ui().userData): string {
  const files = extensionLogFiles(userData);
  if (files.length === 0) throw new Error(`no FastLLM.log under ${path.join(userData, 'logs')}: the extension never logged anything`);
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  if (!text.includes('FastLLM activated')) throw new Error(`the FastLLM logs under ${userData} have no activation line: ${files.join(', ')}`);
  return text;
}

/**
 * The log as written so far, '' while there is none yet: only for waiting until a line appears
 * (`until(page, () => extensionLogSoFar().includes(…))`), where an empty log can only time out.
 */
export function extensionLogSoFar(userData = ui().userData): string {
  return extensionLogFiles(userData).map((f) => readFileSync(f, 'utf8')).join('\n');
}

/**
 * Runs `probe` in every frame of the page and returns what each one gave, by frame URL. A frame
 * that goes away while probed is skipped; any other error fails. The frames in `mustProbe` (the
 * webview that holds the hostile content) must have been probed: a check that no payload ran
 * must not pass because there was no frame to look in.
 */
export async function probeFrames<T>(page: Page, mustProbe: Frame[], probe: () => T): Promise<{ url: string; value: T }[]> {
  const out: { url: string; value: T; frame: Frame }[] = [];
  for (const frame of page.frames()) {
    try {
      out.push({ url: frame.url(), value: await frame.evaluate(probe), frame });
    } catch (e) {
      if (frame.isDetached() || /detached|destroyed|navigat/i.test((e as Error).message)) continue;
      throw e;
    }
  }
  for (const f of mustProbe) {
    if (!out.some((p) => p.frame === f)) throw new Error(`the frame ${f.url()} was not probed (of ${page.frames().length} frames)`);
  }
  return out.map(({ url, value }) => ({ url, value }));
}

/**
 * The extension's cache file for a workspace: `<workspaceStorage>/<id>/fastllm.fastllm-vscode/
 * fastllm-cache.sqlite`. The extension host writes a `meta.json` naming the workspace when it
 * creates `<id>/`; but when the workbench created that folder first (a race CI lost once), there
 * is none, and the path the extension logged when it opened the cache ("Cache: <file>") says it.
 */
export function cacheFileOf(workspace = ui().workspace, userData = ui().userData): string {
  const storage = path.join(userData, 'User', 'workspaceStorage');
  for (const id of existsSync(storage) ? readdirSync(storage) : []) {
    const meta = path.join(storage, id, 'meta.json');
    if (existsSync(meta) && (JSON.parse(readFileSync(meta, 'utf8')) as { name?: string }).name === path.basename(workspace)) {
      return path.join(storage, id, EXTENSION_ID, 'fastllm-cache.sqlite');
    }
  }
  // The host suite shares this user-data folder with its own workspace, and logs first (the logs
  // are read oldest first): the UI window's cache is the last one logged.
  const logged = [...extensionLog(userData).matchAll(/Cache: (.+fastllm-cache\.sqlite)\s*$/gm)].map((m) => m[1]!).filter((f) => f.startsWith(storage + path.sep));
  if (logged.length > 0) return logged[logged.length - 1]!;
  throw new Error(`no workspace storage for ${workspace} under ${storage} (no meta.json names it, and the log names no cache file under it)`);
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

/**
 * Changes the workspace's settings file (a key set to undefined is removed) and waits until the
 * extension has read the change: its "Settings changed" log line holds `seen`.
 */
export async function setWorkspaceSettings(patch: Record<string, unknown>, seen: string, page: Page = ui().page, workspace = ui().workspace, userData = ui().userData): Promise<void> {
  const file = path.join(workspace, '.vscode', 'settings.json');
  const settings = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete settings[k];
    else settings[k] = v;
  }
  const before = extensionLog(userData).split('Settings changed').length;
  writeFileSync(file, JSON.stringify(settings, null, 2));
  await until(page, () => {
    const log = extensionLog(userData);
    return log.split('Settings changed').length > before && log.slice(log.lastIndexOf('Settings changed')).includes(seen);
  }, `the extension to read ${seen}`);
}
