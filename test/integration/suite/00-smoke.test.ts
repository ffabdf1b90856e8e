import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, extension } from './helpers';

describe('smoke', () => {
  it('the extension is installed (from the VSIX) and activates', async () => {
    const ext = extension();
    await ext.activate();
    assert.ok(ext.isActive);
    assert.equal(ext.id.toLowerCase(), EXTENSION_ID);
  });

  it('activation stays cheap: the engine (SDK, SQLite, tokenizer) is not loaded yet', async () => {
    // The first suite to run: nothing has used the engine so far.
    assert.equal((await extension().activate()).engineLoaded(), false);
  });

  it('registers every command it contributes', async () => {
    // Activated here too: run alone (FASTLLM_IT_GREP), this test must not lean on the one above.
    await extension().activate();
    const contributed = (extension().packageJSON as { contributes?: { commands?: { command: string }[] } }).contributes?.commands ?? [];
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.map((c) => c.command).filter((id) => !registered.has(id));
    assert.deepEqual(missing, []);
  });
});
