/**
 * Helpers shared by the suites that run inside the extension host. Each *.test.ts is bundled on
 * its own, so each gets its own copy of this module: nothing here may hold state across files.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ResultRecord } from '../../../src/core/types';
import type { FastLLMApi } from '../../../src/vscode/api';
import { startFakeServer, type FakeServer, type FakeServerOptions } from '../../support/fakeServer';

export type { FastLLMApi, ResultRecord };

export const EXTENSION_ID = 'fastllm.fastllm-vscode';

export function extension(): vscode.Extension<FastLLMApi> {
  const ext = vscode.extensions.getExtension<FastLLMApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not installed`);
  return ext;
}

/** The extension's test API (what activate() returns). */
export async function api(): Promise<FastLLMApi> {
  return extension().activate();
}

/** The API key the launcher put in the environment (OPENAI_API_KEY): the extension's fallback. */
export function envKey(): string {
  const key = process.env.OPENAI_API_KEY;
  if (!key) throw new Error('OPENAI_API_KEY is not set: run the suite through a launcher in test/integration/launcher/');
  return key;
}

export function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('no workspace folder is open');
  return folder.uri.fsPath;
}

export function wsFile(name: string): vscode.Uri {
  return vscode.Uri.file(path.join(workspaceDir(), name));
}

/** Sets `fastllm.*` settings in the workspace's .vscode/settings.json (undefined removes one). */
export async function configure(settings: Record<string, unknown>): Promise<void> {
  const config = vscode.workspace.getConfiguration('fastllm');
  for (const [key, value] of Object.entries(settings)) {
    await config.update(key, value, vscode.ConfigurationTarget.Workspace);
  }
}

/**
 * A fake OpenAI API in this process, that the workspace's `fastllm.baseUrl` points at while a
 * suite runs. It requires the environment's key, so a run that sends no key, or another, fails.
 */
export async function useFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const server = await startFakeServer({ requireKey: envKey(), ...options });
  await configure({ baseUrl: server.url, 'results.openWhenDone': false });
  return server;
}

/** The records of a results file, one per line. */
export function readResults(file: string): ResultRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ResultRecord);
}

/** The text of a chat completion body. */
export function answerOf(record: ResultRecord): string {
  const body = record.response?.body as { choices?: { message?: { content?: string } }[] } | undefined;
  return body?.choices?.[0]?.message?.content ?? '';
}

/** Total tokens of a record's response (`usage.total_tokens`). */
export function tokensOf(record: ResultRecord): number {
  const body = record.response?.body as { usage?: { total_tokens?: number } } | undefined;
  return body?.usage?.total_tokens ?? 0;
}

/** Polls `probe` until it returns a truthy value; throws with `what` after `timeout` ms. */
export async function waitFor<T>(probe: () => T | Promise<T>, what: string, timeout = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The prompts of the fixture prompts.txt, in order. */
export function txtPrompts(): string[] {
  return readFileSync(path.join(workspaceDir(), 'prompts.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
}
