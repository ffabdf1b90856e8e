/** FastLLM: New Prompt File… (issue 12 item 4) in a real VS Code: a sample file, never over another, opened. */
import * as assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { SAMPLE_INPUTS } from '../../../src/core/batch/samples';
import { workspaceDir } from './helpers';

describe('New Prompt File', () => {
  it('writes a sample of the chosen format into the workspace, opens it, and never writes over a file', async () => {
    const first = await vscode.commands.executeCommand<vscode.Uri>('fastllm.newPromptFile', 'csv');
    const second = await vscode.commands.executeCommand<vscode.Uri>('fastllm.newPromptFile', 'csv');
    try {
      assert.equal(first.fsPath, path.join(workspaceDir(), 'prompts-sample.csv'));
      assert.equal(second.fsPath, path.join(workspaceDir(), 'prompts-sample-2.csv'));
      assert.equal(readFileSync(first.fsPath, 'utf8'), SAMPLE_INPUTS.csv.text);
      assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, second.fsPath);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      rmSync(first.fsPath, { force: true });
      rmSync(second.fsPath, { force: true });
    }
  });
});
