import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FakeServer } from '../../support/fakeServer';
import { api, useFakeServer, workspaceDir, wsFile } from './helpers';

describe('the workspace cache', () => {
  let fake: FakeServer;
  before(async () => (fake = await useFakeServer()));
  after(() => fake.close());

  it('lives in the workspace storage folder, not in the workspace', async () => {
    const fastllm = await api();
    await fastllm.runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
    const file = fastllm.cachePath();
    assert.ok(existsSync(file), `${file} exists`);
    assert.ok(!path.resolve(file).startsWith(path.resolve(workspaceDir()) + path.sep), `${file} is outside the workspace`);
    assert.ok(fastllm.engineLoaded());
  });

  it('counts entries, filters them, and Clear Cache empties it', async () => {
    const fastllm = await api();
    assert.ok((await fastllm.cacheCount()) >= 4);
    assert.equal(await fastllm.cacheCount('haiku about caching'), 1);
    assert.equal(await fastllm.cacheCount('no entry has this text 8c1f'), 0);
    const deleted = await vscode.commands.executeCommand<number | undefined>('fastllm.clearCache', { confirm: false });
    assert.ok(deleted && deleted >= 4);
    assert.equal(await fastllm.cacheCount(), 0);
  });

  it('with fastllm.cache.enabled off, nothing is cached', async () => {
    const fastllm = await api();
    await vscode.workspace.getConfiguration('fastllm').update('cache.enabled', false, vscode.ConfigurationTarget.Workspace);
    try {
      fake.reset();
      await fastllm.runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
      await fastllm.runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
      assert.equal(fake.count, 8);
      assert.equal(await fastllm.cacheCount(), 0);
    } finally {
      await vscode.workspace.getConfiguration('fastllm').update('cache.enabled', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });
});
