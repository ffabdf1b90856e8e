/**
 * *FastLLM: Try It Without a Key* (issue 14 item 4), in the extension host: the demo server starts
 * on 127.0.0.1, the sample batch runs through the normal batch command with its URL and a dummy
 * key, a second run comes from the cache with 0 calls, the results open, and nothing of the
 * demo's is stored: no setting changes and no key is saved.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DemoResult } from '../../../src/vscode/demo/tryDemo';
import { api, configure, workspaceDir } from './helpers';

const LABEL = '[FastLLM demo server: this answer is not from a model]';

describe('Try It Without a Key (issue 14)', () => {
  before(async () => {
    await api();
    await configure({ 'results.openWhenDone': false });
  });
  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('runs the sample against a loopback demo server, then again from the cache with 0 calls, and opens the results', async function () {
    this.timeout(90_000);
    const settings = path.join(workspaceDir(), '.vscode', 'settings.json');
    const settingsBefore = existsSync(settings) ? readFileSync(settings, 'utf8') : '';
    const baseUrlBefore = vscode.workspace.getConfiguration('fastllm').get<string>('baseUrl');

    const result = (await vscode.commands.executeCommand('fastllm.tryDemo')) as DemoResult | undefined;
    assert.ok(result, 'the demo ran to the end');
    assert.match(result.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const rows = readFileSync(path.join(extensionSample()), 'utf8').split('\n').filter((l) => l.trim()).length;
    assert.equal(result.first.records, rows);
    assert.equal(result.first.succeeded, rows);
    assert.equal(result.firstCalls, rows);
    assert.equal(result.second.succeeded, rows);
    assert.equal(result.secondCalls, 0, 'the second run came from the cache');
    assert.equal(result.second.stats.apiCalls, 0);
    assert.equal(result.second.stats.cacheHits, rows);

    const records = readFileSync(result.out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { response?: { body: { choices: { message: { content: string } }[] } } });
    assert.equal(records.length, rows);
    for (const r of records) assert.ok(r.response!.body.choices[0]!.message.content.startsWith(LABEL));

    // The results are open in the Results view (the default editor of *.results.jsonl).
    const open = vscode.window.tabGroups.all
      .flatMap((g) => g.tabs)
      .some((t) => t.input instanceof vscode.TabInputCustom && t.input.viewType === 'fastllm.results' && t.input.uri.fsPath === result.out);
    assert.ok(open, `${result.out} is open in the Results view`);

    // Nothing of the demo's stays: no setting changed, the dummy key is nowhere in the settings.
    assert.equal(vscode.workspace.getConfiguration('fastllm').get<string>('baseUrl'), baseUrlBefore);
    assert.equal(existsSync(settings) ? readFileSync(settings, 'utf8') : '', settingsBefore);
    assert.ok(!readFileSync(result.out, 'utf8').includes('fastllm-demo-no-key-needed'));
  });
});

function extensionSample(): string {
  const ext = vscode.extensions.getExtension('fastllm.fastllm-vscode');
  assert.ok(ext);
  return path.join(ext.extensionPath, 'media', 'samples', 'demo-prompts.txt');
}
