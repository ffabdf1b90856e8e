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
  /** The API key code-server's environment passes as OPENAI_API_KEY. */
  apiKey: string;
  /** Where README screenshots go (media/screenshots). */
  screenshots: string;
  /** Where failure screenshots and logs go (.vscode-test/artifacts). */
  artifacts: string;
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
