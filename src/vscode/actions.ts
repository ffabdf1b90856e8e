import * as vscode from 'vscode';
import type { Config } from './config';
import type { Engine } from './engine';
import type { Log } from './log';
import { CacheBrowserPanel } from './panels/cacheBrowserPanel';
import type { Secrets } from './secrets';

/**
 * Clear Cache: deletes every entry of the workspace cache after a modal confirmation (skipped
 * only when a caller passes `{ confirm: false }`). Returns how many entries went, or undefined.
 */
export async function clearCache(engine: Engine, log: Log, options?: { confirm?: boolean }): Promise<number | undefined> {
  const cache = await engine.cache();
  const count = await cache.count();
  if (options?.confirm !== false) {
    if (count === 0) {
      void vscode.window.showInformationMessage('FastLLM: the cache is already empty.');
      return 0;
    }
    const pick = await vscode.window.showWarningMessage(
      `Delete all ${count.toLocaleString()} cached answers of this workspace?`,
      { modal: true, detail: `Their requests will be sent to the API again the next time they run.\n${engine.cachePath}` },
      'Clear Cache',
    );
    if (pick !== 'Clear Cache') return undefined;
  }
  const deleted = await cache.clear();
  log.info(`Cache cleared: ${deleted} entries deleted.`);
  CacheBrowserPanel.refresh();
  if (options?.confirm !== false) void vscode.window.showInformationMessage(`FastLLM: deleted ${deleted.toLocaleString()} cache entries.`);
  return deleted;
}

/**
 * Set API Key: stores the key for the configured base URL in secret storage. With no argument it
 * asks with a password input; an empty input removes the stored key.
 */
export async function setApiKey(secrets: Secrets, config: Config, key?: unknown): Promise<boolean> {
  const baseUrl = config.baseUrl;
  if (typeof key === 'string') {
    await secrets.set(baseUrl, key);
    return true;
  }
  const value = await vscode.window.showInputBox({
    title: 'FastLLM: Set API Key',
    prompt: `API key for ${baseUrl}. Stored in VS Code's secret storage, never in settings. Leave empty to remove the stored key.`,
    password: true,
    ignoreFocusOut: true,
    placeHolder: 'sk-…',
  });
  if (value === undefined) return false;
  await secrets.set(baseUrl, value);
  void vscode.window.showInformationMessage(value.trim() ? `FastLLM: API key stored for ${baseUrl}.` : `FastLLM: API key removed for ${baseUrl}.`);
  return true;
}
