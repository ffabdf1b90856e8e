/**
 * A new user's first day (issue 16) and the settings a cloned repository must not control (issue
 * 11 item 16), in the extension host: what a run accepts as input, what its finish notification
 * says, where its results go, and what Token Stats tells apart.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RESTRICTED_SETTINGS } from '../../../src/vscode/config';
import { runQuestion } from '../../../src/vscode/lazy/estimate';
import type { FakeServer } from '../../support/fakeServer';
import { answerOf, api, configure, extension, readResults, txtPrompts, useFakeServer, waitFor, workspaceDir, wsFile } from './helpers';

/** Resolves with the promise's value, or rejects when it takes longer than `ms` (a dialog opened). */
function within<T>(ms: number, p: Thenable<T>, what: string): Promise<T> {
  return Promise.race([Promise.resolve(p), new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not return within ${ms} ms`)), ms))]);
}

function remove(...names: string[]): void {
  for (const n of names) rmSync(path.join(workspaceDir(), n), { force: true });
}

describe('a first day with FastLLM (issue 16)', () => {
  let fake: FakeServer;

  before(async () => {
    fake = await useFakeServer();
    await (await api()).clearCache();
  });
  after(async () => {
    await configure({ model: undefined, 'results.openWhenDone': false });
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    remove('prompts.results.jsonl', 'prompts.gpt-4o.results.jsonl', 'rows.csv', 'rows.results.jsonl');
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    fake.setBehavior({ latencyMs: 0, plan: undefined });
  });

  it('refuses a results file as input, given or active, and asks to save an untitled editor first, without a picker', async () => {
    const fastllm = await api();
    const first = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(first);
    const results = vscode.Uri.file(first.out);
    fake.reset();
    assert.equal(await within(5000, vscode.commands.executeCommand('fastllm.runBatch', results, { confirm: false }), 'Run Batch on a results file'), undefined);
    const partial = wsFile('prompts.results.partial.jsonl');
    writeFileSync(partial.fsPath, readFileSync(first.out));
    try {
      assert.equal(await within(5000, vscode.commands.executeCommand('fastllm.runBatch', partial, { confirm: false }), 'Run Batch on a partial results file'), undefined);
    } finally {
      rmSync(partial.fsPath, { force: true });
    }
    assert.ok(!existsSync(wsFile('prompts.results.results.jsonl').fsPath));
    // An untitled editor: a message, not an open dialog (which would keep the command waiting).
    const untitled = await vscode.workspace.openTextDocument({ content: 'What is 2+2?\n', language: 'plaintext' });
    await vscode.window.showTextDocument(untitled);
    assert.equal(await within(5000, vscode.commands.executeCommand('fastllm.runBatch', undefined, { confirm: false }), 'Run Batch on an untitled editor'), undefined);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    assert.equal(fake.count, 0);
  });

  it('the finish notification names each kind of failure with its count and first message', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    const bad = 'The model `gpt-5-nano` does not exist or you do not have access to it.';
    // Rows 2 and 4 are refused by the server; the others answer.
    fake.setBehavior({
      plan: ({ body }) =>
        /prime|synonym/.test(JSON.stringify(body))
          ? { status: 400, body: { error: { message: bad, type: 'invalid_request_error', param: 'model', code: 'model_not_found' } } }
          : undefined,
    });
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary);
    const notice = fastllm.lastBatchNotice;
    assert.ok(notice);
    assert.match(notice.text, /5 rows: 3 ok, 2 failed/);
    assert.ok(notice.text.includes(`2 failed: 2 × 400 model_not_found: ${bad}`), notice.text);
    assert.ok(notice.actions.includes('Rerun Failed Rows'));
  });

  it('a cancelled run says cancelled, counts unfinished rows apart from failures, and Token Stats says cancelled', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    fake.setBehavior({ latencyMs: 1500 });
    const running = fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    await waitFor(() => fake.count > 0, 'the first request');
    await vscode.commands.executeCommand('fastllm.cancelRun');
    const summary = await running;
    assert.ok(summary?.cancelled);
    const notice = fastllm.lastBatchNotice!;
    assert.match(notice.text, /^FastLLM: cancelled: /);
    assert.doesNotMatch(notice.text, /failed/);
    assert.match(notice.text, /\d+ (cancelled|not run)/);
    const view = fastllm.stats();
    assert.equal(view.running, false);
    assert.equal(view.ending?.state, 'cancelled');
    assert.equal(view.ending?.failed, 0);
    // Cancelled over a previous results file, the run's records are in its partial file.
    const records = readResults(summary.partial ?? summary.out);
    assert.equal(records.length, txtPrompts().length, 'every row has a record');
    const unfinished = records.filter((r) => r.error?.code === 'cancelled').length;
    assert.ok(unfinished > 0);
    assert.ok(view.ending!.unfinished >= unfinished);
    if (summary.partial) rmSync(summary.partial, { force: true });
  });

  it('a run stopped by a rejected key is "stopped" in Token Stats, not finished', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    fake.setBehavior({ requireKey: 'sk-fastllm-it-NOT-THE-ONE-SENT' });
    try {
      const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      assert.equal(summary?.stopped?.code, 'auth_failed');
      assert.equal(fastllm.stats().ending?.state, 'stopped');
      assert.match(fastllm.lastBatchNotice!.text, /the run stopped/);
    } finally {
      fake.setBehavior({ requireKey: process.env.OPENAI_API_KEY });
    }
  });

  it('a run on another model keeps the first results file: the new one is named after its model, and Compare is offered', async () => {
    const fastllm = await api();
    remove('prompts.results.jsonl', 'prompts.gpt-4o.results.jsonl');
    await configure({ model: 'gpt-4o-mini' });
    const first = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(first);
    const before = readFileSync(first.out, 'utf8');
    await configure({ model: 'gpt-4o' });
    const second = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(second);
    assert.equal(path.basename(second.out), 'prompts.gpt-4o.results.jsonl');
    assert.equal(readFileSync(first.out, 'utf8'), before, 'the first results file changed');
    assert.deepEqual([...new Set(readResults(second.out).map((r) => (r.response?.body as { model?: string }).model))], ['gpt-4o']);
    assert.ok(fastllm.lastBatchNotice!.actions.includes('Compare'), fastllm.lastBatchNotice!.text);
    // The same model again replaces its own file; back on the first model, the first file.
    const again = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(again?.out, second.out);
    await configure({ model: 'gpt-4o-mini' });
    const back = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(back?.out, first.out);
    assert.ok(!fastllm.lastBatchNotice!.actions.includes('Compare'));
  });

  it('results written elsewhere (no record of their run here) are judged by the model their answers name', async () => {
    const fastllm = await api();
    await configure({ model: 'gpt-4o-mini' });
    writeFileSync(path.join(workspaceDir(), 'facts.txt'), readFileSync(wsFile('prompts.txt').fsPath));
    const byHand = (model: string) =>
      writeFileSync(
        path.join(workspaceDir(), 'facts.results.jsonl'),
        ['line-1', 'line-2'].map((id, i) => JSON.stringify({ id: `x${i}`, custom_id: id, line: i + 1, error: null, response: { status_code: 200, request_id: null, body: { model, choices: [] } } })).join('\n') + '\n',
      );
    try {
      // The server names a snapshot of the model asked for: the same model, the file is replaced.
      byHand('gpt-4o-mini-2024-07-18');
      const same = await fastllm.runBatchFile(wsFile('facts.txt'), { confirm: false });
      assert.equal(path.basename(same!.out), 'facts.results.jsonl');
      // Remembered here as gpt-4o-mini's, then written again by another tool: judged by its answers.
      // A run on gpt-4o keeps gpt-4o-mini's answers, though one name starts with the other.
      byHand('gpt-4o-mini-2024-07-18');
      await configure({ model: 'gpt-4o' });
      const kept = await fastllm.runBatchFile(wsFile('facts.txt'), { confirm: false });
      assert.equal(path.basename(kept!.out), 'facts.gpt-4o.results.jsonl');
      assert.match(readFileSync(path.join(workspaceDir(), 'facts.results.jsonl'), 'utf8'), /gpt-4o-mini-2024-07-18/);
    } finally {
      await configure({ model: undefined });
      remove('facts.txt', 'facts.results.jsonl', 'facts.gpt-4o.results.jsonl');
    }
  });

  it('the finish notification offers Open Results only for results not already in view', async () => {
    const fastllm = await api();
    remove('prompts.results.jsonl');
    await configure({ model: undefined, 'results.openWhenDone': false });
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const first = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(first);
    assert.ok(fastllm.lastBatchNotice!.actions.includes('Open Results'));
    await vscode.window.showTextDocument(vscode.Uri.file(first.out));
    await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.deepEqual(fastllm.lastBatchNotice!.actions, []);
    // With fastllm.results.openWhenDone the results open in a tab behind the active editor.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await configure({ 'results.openWhenDone': true });
    const notes = await vscode.window.showTextDocument(wsFile('notes.md'), { preview: false });
    await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    await waitFor(() => vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.label === 'prompts.results.jsonl')), 'the results tab');
    assert.equal(vscode.window.activeTextEditor?.document, notes.document, 'the results took the active editor');
    assert.deepEqual(fastllm.lastBatchNotice!.actions, ['Show Results']);
    await configure({ 'results.openWhenDone': false });
  });

  it('a CSV without a prompt column asks for a template, prefilled with its most text-like column, and remembers it', async () => {
    const fastllm = await api();
    const csv = wsFile('rows.csv');
    writeFileSync(csv.fsPath, 'id,lang,text,stars\n1,en,The soup was cold and late.,2\n2,fr,Service impeccable et rapide.,5\n');
    let settled = false;
    const running = fastllm.runBatchFile(csv, { confirm: false }).then((s) => ((settled = true), s));
    // The input box opens, holding {{text}}: accept it as it is (accepting before it shows does nothing).
    await waitFor(async () => {
      if (settled || fake.count > 0) return true;
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await new Promise((r) => setTimeout(r, 300));
      return false;
    }, 'the template box to be accepted', 15_000);
    const summary = await within(15_000, running, 'the run after the template');
    assert.ok(summary);
    assert.deepEqual(readResults(summary.out).map(answerOf), ['echo: The soup was cold and late.', 'echo: Service impeccable et rapide.']);
    // The second run asks nothing: the template is remembered for this file.
    const again = await within(10_000, fastllm.runBatchFile(csv, { confirm: false }), 'the second run (it asked again?)');
    assert.equal(again?.succeeded, 2);
  });

  it('Token Stats and the status bar read requests/min as a rate over the time elapsed', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    const run = fastllm.stats().current!;
    // Five calls in well under a minute: far more than 5 a minute.
    assert.equal(run.rpm.used, 5);
    assert.ok(run.rpm.perMinute > 5, String(run.rpm.perMinute));
  });
});

describe('settings order and restricted settings (issues 16 item 10, 11 item 16)', () => {
  const manifest = () => extension().packageJSON as {
    capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
    contributes: { configuration: { properties: Record<string, { order?: number }> } };
  };

  it('restricts the thresholds, prices and cache namespace, as Config does', () => {
    const listed = manifest().capabilities.untrustedWorkspaces.restrictedConfigurations;
    for (const name of ['fastllm.confirm.rowThreshold', 'fastllm.confirm.costThreshold', 'fastllm.prices', 'fastllm.cache.namespace', 'fastllm.baseUrl']) {
      assert.ok(listed.includes(name), `${name} is not restricted`);
    }
    assert.deepEqual([...listed].sort(), RESTRICTED_SETTINGS.map((s) => `fastllm.${s}`).sort());
  });

  it('orders the settings by use: model, base URL, concurrency and limits first, the Batch API last', () => {
    const props = manifest().contributes.configuration.properties;
    const ordered = Object.entries(props)
      .filter(([, p]) => p.order !== undefined)
      .sort((a, b) => a[1].order! - b[1].order!)
      .map(([k]) => k);
    assert.deepEqual(ordered.slice(0, 5), ['fastllm.model', 'fastllm.baseUrl', 'fastllm.concurrency', 'fastllm.rpm', 'fastllm.tpm']);
    // Settings without an order come after those with one: the Batch API settings have none.
    const batch = Object.keys(props).filter((k) => k.startsWith('fastllm.batch.'));
    assert.ok(batch.length > 0);
    for (const k of batch) assert.equal(props[k]!.order, undefined, k);
    assert.equal(ordered.length, Object.keys(props).length - batch.length, 'every other setting has an order');
  });

  it('a model without a price is an unknown cost that asks, not $0 (except on a local server)', () => {
    const limits = { rowThreshold: 1000, costThreshold: 1, localServer: false };
    assert.deepEqual(runQuestion(10, { cost: 0, unpricedModels: ['mystery-model'] }, limits), { bigBatch: false, costly: false, unknownCost: true });
    assert.equal(runQuestion(10, { cost: 0.01, unpricedModels: [] }, limits).unknownCost, false);
    assert.equal(runQuestion(10, { cost: 0, unpricedModels: ['llama3.2'] }, { ...limits, localServer: true }).unknownCost, false);
    assert.equal(runQuestion(10, { cost: 0, unpricedModels: ['mystery-model'] }, { ...limits, costThreshold: 0 }).unknownCost, false);
    assert.equal(runQuestion(1000, undefined, limits).bigBatch, true);
  });
});
