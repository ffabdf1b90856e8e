/**
 * Batch API mode in the extension host: Submit Batch API Job… → the job list → Fetch Batch API
 * Results, against the loopback fake Files/Batches server; then a live run of the same file makes
 * no call. Also: cancelling one job or a whole submission, Remove only for ended submissions, and
 * no silent overwrite of a state with jobs not fetched. (The modal questions themselves are asked
 * in ui/70-batch-jobs.test.mts; here `confirm: false` skips them.)
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
    assert.equal(mine?.jobs.length, 2, 'the refreshed state lists both jobs');
    assert.ok(mine.jobs.every((j) => j.status === 'completed'));

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
    rmSync(`${wsFile('batch-cancel.txt').fsPath}.batch.json`, { force: true });
    writeFileSync(wsFile('batch-cancel.txt').fsPath, 'x\ny\n');
    const state = await vscode.commands.executeCommand<BatchState | undefined>('fastllm.submitBatchJob', wsFile('batch-cancel.txt'));
    assert.ok(state);
    const asked = await vscode.commands.executeCommand<string[]>('fastllm.cancelBatchJob', wsFile('batch-cancel.txt'), { confirm: false });
    assert.deepEqual(asked, state.jobs.map((j) => j.id));
    const states = await vscode.commands.executeCommand<BatchState[]>('fastllm.refreshBatchJobs');
    assert.equal(states?.find((s) => s.input.endsWith('batch-cancel.txt'))?.jobs[0]?.status, 'cancelled');
  });

  it('a job item cancels that job only; the submission item cancels the rest; Remove waits for the end', async () => {
    fake.plan = () => ({ pollsBeforeDone: 1000 });
    const file = wsFile('batch-three.txt');
    rmSync(`${file.fsPath}.batch.json`, { force: true });
    writeFileSync(file.fsPath, 'a\nb\nc\n');
    const state = await vscode.commands.executeCommand<BatchState | undefined>('fastllm.submitBatchJob', file, { maxRequests: 1 });
    assert.equal(state?.jobs.length, 3);
    const statePath = `${file.fsPath}.batch.json`;
    const [one, two, three] = state.jobs;
    // What the tree hands to an inline action on a job row.
    const jobNode = { type: 'job', statePath, job: two, state };
    assert.deepEqual(await vscode.commands.executeCommand<string[]>('fastllm.cancelBatchJob', jobNode, { confirm: false }), [two!.id]);
    const onServer = () => fake.jobs().filter((j) => state.jobs.some((s) => s.id === j.batch.id)).map((j) => j.batch.status === 'cancelling');
    assert.deepEqual(onServer(), [false, true, false], 'only the job asked for is being cancelled');
    // Still running: not removed.
    assert.equal(await vscode.commands.executeCommand<boolean>('fastllm.forgetBatchJob', file, { confirm: false }), false);
    const rest = await vscode.commands.executeCommand<string[]>('fastllm.cancelBatchSubmission', { type: 'submission', statePath, state }, { confirm: false });
    assert.deepEqual(rest, [one!.id, three!.id]);
    await vscode.commands.executeCommand('fastllm.refreshBatchJobs');
    assert.equal(await vscode.commands.executeCommand<boolean>('fastllm.forgetBatchJob', file, { confirm: false }), true);
  });

  it('submitting a file whose jobs were not fetched is refused without asking; force keeps the old state aside', async () => {
    fake.plan = () => ({ pollsBeforeDone: 1000 });
    const file = wsFile('batch-twice.txt');
    rmSync(`${file.fsPath}.batch.json`, { force: true });
    writeFileSync(file.fsPath, 'p\nq\n');
    const first = await vscode.commands.executeCommand<BatchState | undefined>('fastllm.submitBatchJob', file);
    assert.ok(first);
    const jobs = fake.jobs().length;
    assert.equal(await vscode.commands.executeCommand('fastllm.submitBatchJob', file, { confirm: false }), undefined);
    assert.equal(fake.jobs().length, jobs, 'nothing was sent');
    const second = await vscode.commands.executeCommand<BatchState | undefined>('fastllm.submitBatchJob', file, { confirm: false, force: true });
    assert.ok(second && second.jobs[0]!.id !== first.jobs[0]!.id);
    const listed = (await vscode.commands.executeCommand<BatchState[]>('fastllm.refreshBatchJobs')) ?? [];
    assert.ok(listed.some((s) => s.jobs[0]?.id === first.jobs[0]!.id), 'the old submission is still listed');
  });
});
