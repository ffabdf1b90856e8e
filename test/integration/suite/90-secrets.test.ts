import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FakeServer } from '../../support/fakeServer';
import { api, configure, envKey, useFakeServer, waitFor, workspaceDir, wsFile } from './helpers';

/** Every file under `dir` (recursively) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  if (!existsSync(dir)) return [];
  const hits: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (readFileSync(file).includes(needle)) hits.push(file);
  }
  return hits;
}

describe('the API key', () => {
  let fake: FakeServer;
  const storedKey = 'sk-fastllm-it-STORED-91d3a77c20';

  before(async () => (fake = await useFakeServer()));
  after(async () => {
    await (await api()).setApiKey('');
    await fake.close();
  });

  it('a key stored with Set API Key is used instead of OPENAI_API_KEY', async () => {
    const fastllm = await api();
    await fastllm.setApiKey(storedKey);
    fake.setBehavior({ requireKey: storedKey });
    fake.reset();
    await fastllm.clearCache();
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(summary?.failed, 0);
    assert.ok(fake.count > 0);
    for (const r of fake.requests) assert.equal(r.headers.authorization, `Bearer ${storedKey}`);
  });

  it('never appears in settings, the cache or the results', async () => {
    const fastllm = await api();
    // Make sure there is something in each place to look at.
    fake.setBehavior({ requireKey: storedKey });
    await fastllm.runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
    const cacheDir = path.dirname(fastllm.cachePath());
    assert.ok(existsSync(fastllm.cachePath()));
    const places = [workspaceDir(), cacheDir];
    // The user settings.json, when the launcher says where it is.
    if (process.env.FASTLLM_IT_USER_SETTINGS) places.push(path.dirname(process.env.FASTLLM_IT_USER_SETTINGS));
    for (const key of [storedKey, envKey()]) {
      for (const place of places) assert.deepEqual(filesContaining(place, key), [], `${key} found under ${place}`);
    }
  });
});

describe('OPENAI_API_KEY goes only where it was meant to (issue 11 item 14)', () => {
  let fake: FakeServer;
  /** A base URL that is neither OpenAI's nor this machine's (never reached: `.invalid` does not resolve). */
  const gateway = 'https://gateway.fastllm-it.invalid/v1';
  /** The tooltip's text, without Markdown's escapes (`appendText` escapes punctuation and writes spaces as `&nbsp;`). */
  const tooltip = async () => (await api()).statusBarTooltip().replace(/&nbsp;/g, ' ').replace(/\\(.)/g, '$1');

  before(async () => (fake = await useFakeServer()));
  after(async () => {
    delete process.env.OPENAI_BASE_URL;
    await configure({ baseUrl: fake.url, maxRetries: undefined });
    await fake.close();
  });

  it('is sent to a loopback server', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    fake.reset();
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(summary?.failed, 0);
    for (const r of fake.requests) assert.equal(r.headers.authorization, `Bearer ${envKey()}`);
  });

  it('is not sent to another server: FastLLM asks for a key, and the status bar says there is none', async () => {
    const fastllm = await api();
    await configure({ baseUrl: gateway, maxRetries: 0 });
    await waitFor(async () => (await tooltip()).includes('No key for gateway.fastllm-it.invalid'), 'the tooltip to say there is no key', 10_000);
    let settled = false;
    const running = Promise.resolve(vscode.commands.executeCommand('fastllm.runBatch', wsFile('prompts.txt'), { confirm: false })).then((s) => ((settled = true), s));
    // Escape the key box once it shows. Had the environment's key been used, no box would show and
    // the run would end with a summary (of connection errors).
    await waitFor(async () => {
      if (settled) return true;
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      await new Promise((r) => setTimeout(r, 300));
      return false;
    }, 'the key box', 20_000);
    assert.equal(await running, undefined, 'the run went without asking for a key');
    await waitFor(() => fastllm.statusBarText().startsWith('$(key)'), 'the status bar to show the missing key');
  });

  it('is sent to the base URL named in OPENAI_BASE_URL', async () => {
    const fastllm = await api();
    process.env.OPENAI_BASE_URL = `${gateway}/`;
    await configure({ baseUrl: fake.url });
    await configure({ baseUrl: gateway, maxRetries: 0 });
    // No box: the run goes (and fails, since the host does not resolve), with the key.
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary, 'the run asked for a key instead of using OPENAI_API_KEY');
    assert.equal(summary.succeeded, 0);
    assert.ok(!(await tooltip()).includes('No key for'), await tooltip());
  });
});
