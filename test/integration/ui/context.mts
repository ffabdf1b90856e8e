/**
 * What the launcher hands the UI tests: the workbench page, the fake API behind it, folders.
 * Set once by launcher/codeServer.mts before mocha loads the test files.
 */
import type { Page } from 'playwright-core';
import type { FakeServer } from '../../support/fakeServer';

export interface UiContext {
  /** A workbench window with `workspace` open; the extension is installed from the VSIX. */
  page: Page;
  /** The fake OpenAI API the workspace's `fastllm.baseUrl` points at; it requires {@link apiKey}. */
  fake: FakeServer;
  /** The workspace folder on disk (fixtures: prompts.txt, prompts.jsonl, notes.md). */
  workspace: string;
  /** VS Code's user data folder of {@link page} (settings, logs, workspace storage). */
  userData: string;
  /** The API key code-server's environment passes as OPENAI_API_KEY. */
  apiKey: string;
  /** Where README screenshots go (media/screenshots). */
  screenshots: string;
  /** Where failure screenshots and logs go (.vscode-test/artifacts). */
  artifacts: string;
  /**
   * Opens another window on a code-server of its own (own user data and workspace, the same
   * installed extension). The caller closes it.
   */
  launchWindow(options: WindowOptions): Promise<LaunchedWindow>;
}

export interface WindowOptions {
  /** Folder name under `.vscode-test/run/windows/`. */
  name: string;
  /** User settings on top of the launcher's quiet defaults. */
  userSettings?: Record<string, unknown>;
  /** The workspace's `.vscode/settings.json` (the workspace also gets the fixture files). */
  workspaceSettings?: Record<string, unknown>;
  /** Start code-server without `--disable-workspace-trust`. @default false */
  workspaceTrust?: boolean;
  /**
   * Environment variables over the launcher's (undefined removes one), e.g.
   * `{ OPENAI_API_KEY: undefined }` for a user with no key in the environment. @default {}
   */
  env?: Record<string, string | undefined>;
}

export interface LaunchedWindow {
  page: Page;
  workspace: string;
  userData: string;
  /** Closes the page and stops its code-server. */
  close(): Promise<void>;
}

// Kept on globalThis: mocha may load this module through another loader than the launcher's
// import (CommonJS vs ESM), which would give each its own copy of a module-level variable.
const KEY = Symbol.for('fastllm.integration.uiContext');
type WithContext = typeof globalThis & { [KEY]?: UiContext };

export function setUiContext(context: UiContext): void {
  (globalThis as WithContext)[KEY] = context;
}

export function ui(): UiContext {
  const current = (globalThis as WithContext)[KEY];
  if (!current) throw new Error('the UI suite runs from test/integration/launcher/codeServer.mts');
  return current;
}
