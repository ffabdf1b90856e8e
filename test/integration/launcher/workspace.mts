/**
 * Throwaway folders for one integration run, shared by both launchers: a workspace with the
 * fixture files and its `.vscode/settings.json`, and VS Code's user settings.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const FIXTURES = path.join(ROOT, 'test/integration/fixtures');
/** The bundled extension-host suite (scripts/build-tests.mjs). */
export const HOST_SUITE = path.join(ROOT, 'out/test/integration/index.js');

/**
 * A fake API key the tests hand to the extension (environment, or Set API Key). Distinctive, so
 * that a search for it in settings, cache and results files cannot miss it or match by chance.
 */
export const TEST_API_KEY = 'sk-fastllm-it-SECRET-4f1c2e9b7a';
/** Every API key a test uses starts with this, so that one search finds any of them. */
export const KEY_PREFIX = 'sk-fastllm-it-';

/** Settings for every window: quiet, no network, nothing that steals focus from the tests. */
export const USER_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'npm.autoDetect': 'off',
  'typescript.tsserver.experimental.enableProjectDiagnostics': false,
  'files.autoSave': 'off',
  'window.restoreWindows': 'none',
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  // Tests run many small files once: the question before a file's first run is tested on its own
  // (ui/97-first-run), with this set back to true in its workspace.
  'fastllm.confirm.firstRun': false,
};

/** Writes VS Code's user settings into `<userDataDir>/User/settings.json`. */
export function writeUserSettings(userDataDir: string, extra: Record<string, unknown> = {}): string {
  const file = path.join(userDataDir, 'User', 'settings.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ ...USER_SETTINGS, ...extra }, null, 2));
  return file;
}

/** Creates `dir` with the fixture files and a `.vscode/settings.json` holding `settings`. */
export function prepareWorkspace(dir: string, settings: Record<string, unknown>): string {
  mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  cpSync(FIXTURES, dir, { recursive: true });
  writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
  return dir;
}
