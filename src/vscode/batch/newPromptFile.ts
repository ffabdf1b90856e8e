/**
 * *FastLLM: New Prompt File…*: writes a small sample `.txt`, `.jsonl` or `.csv` into the workspace
 * (never over a file), opens it, and offers to run it.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InputFormat } from '../../core/batch/readers';
import { SAMPLE_INPUTS } from '../../core/batch/samples';
import { Disposable } from '../dispose';

export const NEW_PROMPT_FILE_COMMAND = 'fastllm.newPromptFile';

export class NewPromptFileCommand extends Disposable {
  constructor() {
    super();
    this._register(vscode.commands.registerCommand(NEW_PROMPT_FILE_COMMAND, (format?: unknown) => this.run(format)));
  }

  /** `format` ('txt' | 'jsonl' | 'csv') skips the quick pick. Returns the file written. */
  async run(given?: unknown): Promise<vscode.Uri | undefined> {
    const formats = Object.keys(SAMPLE_INPUTS) as InputFormat[];
    let format = formats.find((f) => f === given);
    if (!format) {
      const pick = await vscode.window.showQuickPick(
        formats.map((f) => ({ label: `.${f}`, description: SAMPLE_INPUTS[f].description, format: f })),
        { title: 'FastLLM: New Prompt File', placeHolder: 'The format of the sample file' },
      );
      format = pick?.format;
    }
    if (!format) return undefined;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    let file: string | undefined;
    if (folder) file = freshName(path.join(folder, `prompts-sample.${format}`));
    else file = (await vscode.window.showSaveDialog({ title: 'FastLLM: New Prompt File', filters: { Prompts: [format] } }))?.fsPath;
    if (!file) return undefined;
    await writeFile(file, SAMPLE_INPUTS[format].text, { flag: 'wx' });
    const uri = vscode.Uri.file(file);
    await vscode.window.showTextDocument(uri, { preview: false });
    void vscode.window.showInformationMessage(`FastLLM: wrote ${path.basename(file)}, a sample (${SAMPLE_INPUTS[format].description}). Edit it, then run it.`, 'Run Batch').then((pick) => {
      if (pick) void vscode.commands.executeCommand('fastllm.runBatch', uri);
    });
    return uri;
  }
}

function freshName(file: string): string {
  if (!existsSync(file)) return file;
  const ext = path.extname(file);
  const stem = file.slice(0, -ext.length);
  for (let n = 2; ; n++) if (!existsSync(`${stem}-${n}${ext}`)) return `${stem}-${n}${ext}`;
}
