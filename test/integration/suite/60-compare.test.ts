import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { workspaceDir } from './helpers';

/** What `fastllm.compareResults` returns (src/vscode/compare.ts, CompareOutcome). */
interface Outcome {
  summary: { same: number; differ: number; failed: number; onlyA: number; onlyB: number; differing: number; identical: boolean; a: { totalTokens: number }; b: { models: string[] } };
  rows: { custom_id: string; kind: string; left: string; right: string }[];
}

function record(id: string, line: number, content: string | null, model: string): string {
  return JSON.stringify({
    id: `fastllm-t-${line}`,
    custom_id: id,
    line,
    cached: false,
    attempts: 1,
    latency_ms: 1,
    error: content === null ? { code: 'server_error', message: 'boom' } : null,
    response: content === null ? null : { status_code: 200, request_id: null, body: { model, choices: [{ message: { role: 'assistant', content } }], usage: { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 } } },
  });
}

describe('Compare Results Files', () => {
  let a: vscode.Uri;
  let b: vscode.Uri;
  before(() => {
    const dir = path.join(workspaceDir(), 'compare-host');
    mkdirSync(dir, { recursive: true });
    a = vscode.Uri.file(path.join(dir, 'mini.results.jsonl'));
    b = vscode.Uri.file(path.join(dir, 'big.results.jsonl'));
    writeFileSync(a.fsPath, [record('q1', 1, 'same text', 'gpt-4o-mini'), record('q2', 2, 'short answer', 'gpt-4o-mini'), record('q3', 3, null, 'gpt-4o-mini')].join('\n') + '\n');
    writeFileSync(b.fsPath, [record('q1', 1, 'same text', 'gpt-4o'), record('q2', 2, 'a longer\nanswer', 'gpt-4o'), record('q3', 3, 'ok', 'gpt-4o'), record('q4', 4, 'extra', 'gpt-4o')].join('\n') + '\n');
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('compares two files given as the Explorer selection, with counts', async () => {
    const outcome = await vscode.commands.executeCommand<Outcome | undefined>('fastllm.compareResults', a, [a, b]);
    assert.ok(outcome, 'the command returned the comparison');
    const s = outcome.summary;
    assert.deepEqual({ same: s.same, differ: s.differ, failed: s.failed, onlyA: s.onlyA, onlyB: s.onlyB, differing: s.differing }, { same: 1, differ: 1, failed: 1, onlyA: 0, onlyB: 1, differing: 3 });
    assert.equal(s.identical, false);
    assert.equal(s.a.totalTokens, 20);
    assert.deepEqual(s.b.models, ['gpt-4o']);
    assert.deepEqual(outcome.rows.map((r) => [r.custom_id, r.kind]), [['q2', 'differ'], ['q3', 'failed'], ['q4', 'onlyB']]);
  });

  it('serves each side as a fastllm-compare: document and opens them in the diff editor', async () => {
    const outcome = (await vscode.commands.executeCommand<Outcome | undefined>('fastllm.compareResults', a, [a, b]))!;
    const row = outcome.rows[0]!;
    const left = vscode.Uri.parse(row.left);
    const right = vscode.Uri.parse(row.right);
    assert.equal(left.scheme, 'fastllm-compare');
    assert.equal((await vscode.workspace.openTextDocument(left)).getText(), 'short answer');
    assert.equal((await vscode.workspace.openTextDocument(right)).getText(), 'a longer\nanswer');
    await vscode.commands.executeCommand('vscode.diff', left, right, 'q2');
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, 'a diff editor is active');
    assert.equal(tab.input.original.toString(), left.toString());
    const onlyB = outcome.rows.find((r) => r.kind === 'onlyB')!;
    assert.match((await vscode.workspace.openTextDocument(vscode.Uri.parse(onlyB.left))).getText(), /no row "q4" in mini\.results\.jsonl/);
  });

  it('a file with a bad line is refused with its name and line', async () => {
    const bad = vscode.Uri.file(path.join(workspaceDir(), 'compare-host', 'bad.results.jsonl'));
    writeFileSync(bad.fsPath, `${record('q1', 1, 'x', 'm')}\nnot json\n${record('q2', 3, 'y', 'm')}\n`);
    const outcome = await vscode.commands.executeCommand<Outcome | undefined>('fastllm.compareResults', a, [a, bad]);
    assert.equal(outcome, undefined);
  });
});
