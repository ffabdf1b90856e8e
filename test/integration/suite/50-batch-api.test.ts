/**
 * Batch API mode in the extension host: Submit Batch Job… → the job list → Fetch Batch Results,
 * against the loopback fake Files/Batches server; then a live run of the same file makes no call.
 */
import * as assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { BatchState, FetchSummary } from '../../../src/core/batchApi';
import type { BatchSummary } from '../../../src/core/batch/runBatch';
import { startFakeBatchApi, type FakeBatchApi } from '../../support/fakeBatchApi';
import { answerOf, api, configure, readResults, workspaceDir, wsFile } from './helpers';

describe('Batch API mode', () => {
  let fake: FakeBatchApi;
  const input = () => wsFile('batch-api.txt');

  before(async () => {
    fake = await startFakeBatchApi();
    await configure({ baseUrl: fake.url, 'results.openWhenDone': false, 'batch.fetchWhenDone': false, 'batch.pollSeconds': 3600 });
    await (await api()).clearCache();
    writeFileSync(input().fsPath, 'one\ntwo\nthree\n');
    for (const f of ['batch-api.txt.batch.json', 'batch-api.results.jsonl']) rmSync(`${workspaceDir()}/${f}`, { force: true });
  });
  after(async () => {
    await fake.close();
    await configure({ 'batch.fetchWhenDone': undefined, 'batch.pollSeconds': undefined });
  });

  it('submits, follows, fetches in input order and fills the cache', async () => {
    fake.plan = () => ({ pollsBeforeDone: 1 });
    const state = await vscode.commands.executeCommand<BatchState | undefined>('fastllm.submitBatchJob', input(), { maxRequests: 2 });
    assert.ok(state, 'the command returned no state');
    assert.equal(state.jobs.length, 2);
    assert.ok(existsSync(`${input().fsPath}.batch.json`));
    await vscode.commands.executeCommand('fastllm.showBatchJobs');

    let states: BatchState[] = [];
    for (let i = 0; i < 5; i++) {
      states = (await vscode.commands.executeCommand<BatchState[]>('fastllm.refreshBatchJobs')) ?? [];
      if (states.every((s) => s.jobs.every((j) => j.status === 'completed'))) break;
    }
    const mine = states.find((s) => s.input === input().fsPath);
    assert.ok(mine?.jobs.every((j) => j.status === 'completed'));

    const summary = await vscode.commands.executeCommand<FetchSummary | undefined>('fastllm.fetchBatchResults', input());
    assert.ok(summary);
    assert.deepEqual(readResults(summary.out).map(answerOf), ['echo: one', 'echo: two', 'echo: three']);
    assert.equal(await (await api()).cacheCount(), 3);

    fake.reset();
    const live = await vscode.commands.executeCommand<BatchSummary | undefined>('fastllm.runBatch', input(), { confirm: false });
    assert.equal(live?.succeeded, 3);
    assert.equal(fake.counts['POST /v1/chat/completions'], undefined, 'the live run made no call');
  });

  it('cancels a running submission', async () => {
    fake.plan = () => ({ pollsBeforeDone: 1000 });
    writeFileSync(wsFile('batch-cancel.txt').fsPath, 'x\ny\n');
    const state = await vscode.commands.executeCommand<BatchState | undefined>('fastllm.submitBatchJob', wsFile('batch-cancel.txt'));
    assert.ok(state);
    const asked = await vscode.commands.executeCommand<string[]>('fastllm.cancelBatchJob', wsFile('batch-cancel.txt'));
    assert.deepEqual(asked, state.jobs.map((j) => j.id));
    const states = await vscode.commands.executeCommand<BatchState[]>('fastllm.refreshBatchJobs');
    assert.equal(states?.find((s) => s.input.endsWith('batch-cancel.txt'))?.jobs[0]?.status, 'cancelled');
  });
});
