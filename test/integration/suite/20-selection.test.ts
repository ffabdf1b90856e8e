import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { FakeServer } from '../../support/fakeServer';
import { api, configure, useFakeServer, waitFor, wsFile } from './helpers';

/** notes.md: line 0 "# Notes", line 1 empty, lines 2–4 three questions. */
const QUESTIONS = ['Explain rate limits in one sentence.', 'What does a 429 status mean?', 'Why cache LLM answers?'];

async function openNotes(): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(wsFile('notes.md'));
  return vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preview: false });
}

async function revertNotes(): Promise<void> {
  const editor = await openNotes();
  if (editor.document.isDirty) await vscode.commands.executeCommand('workbench.action.files.revert');
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

describe('Run on Selection', () => {
  let fake: FakeServer;

  before(async () => {
    fake = await useFakeServer();
    await (await api()).clearCache();
  });
  after(async () => {
    await configure({ 'selection.mode': undefined, 'selection.output': undefined });
    await revertNotes();
    await fake.close();
  });
  beforeEach(() => fake.reset());
  afterEach(revertNotes);

  it('whole: the selection is one prompt, streamed into a new editor beside', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'beside' });
    const editor = await openNotes();
    editor.selection = new vscode.Selection(2, 0, 2, QUESTIONS[0]!.length);
    const result = await (await api()).runSelection();
    assert.ok(result);
    assert.deepEqual(result.prompts, [QUESTIONS[0]]);
    assert.deepEqual(result.answers, [`echo: ${QUESTIONS[0]}`]);
    assert.equal(fake.count, 1);
    // The single prompt was streamed.
    assert.equal((fake.requests[0]?.body as { stream?: boolean }).stream, true);
    const target = vscode.workspace.textDocuments.find((d) => d.uri.toString() === result.target.toString());
    assert.ok(target, 'the answer document is open');
    assert.equal(target.getText().trim(), `echo: ${QUESTIONS[0]}`);
  });

  it('per line: each selected line is its own prompt, answers inserted below each', async () => {
    await configure({ 'selection.mode': 'perLine', 'selection.output': 'below' });
    // The first question's answer is cached by the test above: start from an empty cache.
    await (await api()).clearCache();
    const editor = await openNotes();
    editor.selection = new vscode.Selection(2, 0, 4, QUESTIONS[2]!.length);
    const result = await vscode.commands.executeCommand<{ prompts: string[]; answers: (string | null)[] } | undefined>('fastllm.runSelection');
    assert.ok(result);
    assert.deepEqual(result.prompts, QUESTIONS);
    assert.deepEqual(result.answers, QUESTIONS.map((q) => `echo: ${q}`));
    assert.equal(fake.count, 3);
    const text = editor.document.getText();
    for (const q of QUESTIONS) assert.ok(text.includes(`echo: ${q}`), `the document has the answer to "${q}"`);
    // Each answer comes after its own question.
    const at = (s: string) => text.indexOf(s);
    assert.ok(at(QUESTIONS[0]!) < at(`echo: ${QUESTIONS[0]}`) && at(`echo: ${QUESTIONS[0]}`) < at(QUESTIONS[1]!));
  });

  it('every cursor of a multi-selection counts, and a repeat comes from the cache', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'replace' });
    const editor = await openNotes();
    editor.selections = [new vscode.Selection(2, 0, 2, QUESTIONS[0]!.length), new vscode.Selection(4, 0, 4, QUESTIONS[2]!.length)];
    const fastllm = await api();
    const result = await fastllm.runSelection();
    assert.ok(result);
    assert.deepEqual(result.answers, [`echo: ${QUESTIONS[0]}`, `echo: ${QUESTIONS[2]}`]);
    await waitFor(() => editor.document.lineAt(2).text === `echo: ${QUESTIONS[0]}`, 'the replacement');
    assert.equal(editor.document.lineAt(4).text, `echo: ${QUESTIONS[2]}`);
    // Both answers were cached by the earlier tests: no request.
    assert.equal(fake.count, 0);
  });
});
