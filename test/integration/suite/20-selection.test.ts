import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { FakeServer } from '../../support/fakeServer';
import { api, configure, useFakeServer, waitFor, wsFile } from './helpers';

/** notes.md: line 0 "# Notes", line 1 empty, lines 2–4 three questions. */
const QUESTIONS = ['Explain rate limits in one sentence.', 'What does a 429 status mean?', 'Why cache LLM answers?'];
const ANSWERS_SCHEME = 'fastllm-answers';

async function openNotes(): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(wsFile('notes.md'));
  return vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preview: false });
}

async function revertNotes(): Promise<void> {
  const editor = await openNotes();
  if (editor.document.isDirty) await vscode.commands.executeCommand('workbench.action.files.revert');
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

function answersDocument(): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => d.uri.scheme === ANSWERS_SCHEME);
}

function untitledCount(): number {
  return vscode.workspace.textDocuments.filter((d) => d.isUntitled).length;
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
  beforeEach(() => {
    fake.reset();
    fake.setBehavior({ latencyMs: 0, plan: undefined });
  });
  afterEach(revertNotes);

  it('whole, beside: streamed into the one "FastLLM answers" document, newest first, never a new untitled document', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'beside' });
    const untitled = untitledCount();
    const editor = await openNotes();
    editor.selection = new vscode.Selection(2, 0, 2, QUESTIONS[0]!.length);
    const result = await (await api()).runSelection();
    assert.ok(result);
    assert.deepEqual(result.prompts, [QUESTIONS[0]]);
    assert.deepEqual(result.answers, [`echo: ${QUESTIONS[0]}`]);
    assert.equal(fake.count, 1);
    // The single prompt was streamed.
    assert.equal((fake.requests[0]?.body as { stream?: boolean }).stream, true);
    assert.equal(result.target.scheme, ANSWERS_SCHEME);
    const target = await waitFor(() => (answersDocument()?.getText().includes(`echo: ${QUESTIONS[0]}`) ? answersDocument() : undefined), 'the answer in the answers document');
    assert.equal(target.uri.toString(), result.target.toString());
    // The user's editor kept the keyboard.
    assert.equal(vscode.window.activeTextEditor?.document.uri.toString(), wsFile('notes.md').toString());

    editor.selection = new vscode.Selection(3, 0, 3, QUESTIONS[1]!.length);
    const second = await (await api()).runSelection();
    assert.equal(second?.target.toString(), result.target.toString(), 'a second answer went to another document');
    const text = await waitFor(() => {
      const t = answersDocument()?.getText() ?? '';
      return t.includes(`echo: ${QUESTIONS[1]}`) ? t : undefined;
    }, 'the second answer');
    assert.ok(text.indexOf(`echo: ${QUESTIONS[1]}`) < text.indexOf(`echo: ${QUESTIONS[0]}`), 'the newest answer is first');
    assert.equal(untitledCount(), untitled);
  });

  it('per line, below: each answer after a blank line, the selection does not grow, one undo takes all of it back', async () => {
    await configure({ 'selection.mode': 'perLine', 'selection.output': 'below' });
    await (await api()).clearCache();
    const editor = await openNotes();
    const original = editor.document.getText();
    const selection = new vscode.Selection(2, 0, 4, QUESTIONS[2]!.length);
    editor.selection = selection;
    const result = await vscode.commands.executeCommand<{ prompts: string[]; answers: (string | null)[] } | undefined>('fastllm.runSelection');
    assert.ok(result);
    assert.deepEqual(result.prompts, QUESTIONS);
    assert.deepEqual(result.answers, QUESTIONS.map((q) => `echo: ${q}`));
    assert.equal(fake.count, 3);
    const text = editor.document.getText().replace(/\r\n/g, '\n');
    assert.equal(
      text,
      `# Notes\n\n${QUESTIONS[0]}\n\necho: ${QUESTIONS[0]}\n\n${QUESTIONS[1]}\n\necho: ${QUESTIONS[1]}\n\n${QUESTIONS[2]}\n\necho: ${QUESTIONS[2]}\n`,
    );
    // The selection still ends where it did before the answers: at the end of the third question.
    assert.equal(editor.selection.start.line, 2);
    assert.equal(editor.document.lineAt(editor.selection.end.line).text, QUESTIONS[2]);
    await vscode.window.showTextDocument(editor.document);
    await vscode.commands.executeCommand('undo');
    assert.equal(editor.document.getText(), original, 'one undo did not take the insertion back');
  });

  it('below, streamed: an edit made above the prompt during the run is followed', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'below' });
    await (await api()).clearCache();
    fake.setBehavior({ latencyMs: 2500 });
    const editor = await openNotes();
    editor.selection = new vscode.Selection(3, 0, 3, QUESTIONS[1]!.length);
    const running = (await api()).runSelection();
    await waitFor(() => fake.count > 0, 'the request', 30_000);
    const edit = new vscode.WorkspaceEdit();
    edit.insert(editor.document.uri, new vscode.Position(1, 0), 'A line typed during the run.\nAnd another.\n');
    assert.ok(await vscode.workspace.applyEdit(edit));
    const result = await running;
    assert.deepEqual(result?.diverted, []);
    const lines = editor.document.getText().replace(/\r\n/g, '\n').split('\n');
    const at = lines.indexOf(QUESTIONS[1]!);
    assert.equal(at, 5);
    assert.deepEqual(lines.slice(at, at + 4), [QUESTIONS[1], '', `echo: ${QUESTIONS[1]}`, '']);
    assert.equal(lines[at + 4], QUESTIONS[2]);
  });

  it('replace: an edit elsewhere does not divert the answer; an edit of the selected text does', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'replace' });
    await (await api()).clearCache();
    fake.setBehavior({ latencyMs: 2500 });
    const editor = await openNotes();
    editor.selection = new vscode.Selection(4, 0, 4, QUESTIONS[2]!.length);
    let running = (await api()).runSelection();
    await waitFor(() => fake.count > 0, 'the request', 30_000);
    const outside = new vscode.WorkspaceEdit();
    outside.insert(editor.document.uri, new vscode.Position(0, 0), 'Typed at the top. ');
    assert.ok(await vscode.workspace.applyEdit(outside));
    let result = await running;
    assert.deepEqual(result?.diverted, []);
    assert.equal(editor.document.lineAt(4).text, `echo: ${QUESTIONS[2]}`);
    assert.equal(editor.document.lineAt(0).text, 'Typed at the top. # Notes');

    fake.reset();
    editor.selection = new vscode.Selection(2, 0, 2, QUESTIONS[0]!.length);
    running = (await api()).runSelection();
    await waitFor(() => fake.count > 0, 'the second request', 30_000);
    const inside = new vscode.WorkspaceEdit();
    inside.insert(editor.document.uri, new vscode.Position(2, 8), 'EDITED ');
    assert.ok(await vscode.workspace.applyEdit(inside));
    result = await running;
    assert.deepEqual(result?.diverted, [0]);
    assert.equal(editor.document.lineAt(2).text, 'Explain EDITED rate limits in one sentence.');
    assert.equal(result?.target.scheme, ANSWERS_SCHEME);
    await waitFor(() => answersDocument()?.getText().includes(`echo: ${QUESTIONS[0]}`), 'the diverted answer in the answers document');
  });

  it('a failed prompt leaves the file as it was: the error goes to a notification', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'below' });
    await (await api()).clearCache();
    fake.setBehavior({ plan: () => ({ status: 400 }) });
    const editor = await openNotes();
    const original = editor.document.getText();
    editor.selection = new vscode.Selection(2, 0, 2, QUESTIONS[0]!.length);
    const result = await (await api()).runSelection();
    assert.equal(result?.errors.length, 1);
    assert.equal(editor.document.getText(), original);
    assert.ok(!editor.document.isDirty);
  });

  it('every cursor of a multi-selection counts, and a repeat comes from the cache', async () => {
    await configure({ 'selection.mode': 'whole', 'selection.output': 'replace' });
    const fastllm = await api();
    await fastllm.clearCache();
    const editor = await openNotes();
    const both = () => [new vscode.Selection(2, 0, 2, QUESTIONS[0]!.length), new vscode.Selection(4, 0, 4, QUESTIONS[2]!.length)];
    editor.selections = both();
    await fastllm.runSelection();
    await revertNotes();
    fake.reset();
    const again = await openNotes();
    again.selections = both();
    const result = await fastllm.runSelection();
    assert.ok(result);
    assert.deepEqual(result.answers, [`echo: ${QUESTIONS[0]}`, `echo: ${QUESTIONS[2]}`]);
    await waitFor(() => again.document.lineAt(2).text === `echo: ${QUESTIONS[0]}`, 'the replacement');
    assert.equal(again.document.lineAt(4).text, `echo: ${QUESTIONS[2]}`);
    // Both answers were cached by the first run: no request.
    assert.equal(fake.count, 0);
  });
});
