import * as assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import * as vscode from 'vscode';
import type { FakeServer } from '../../support/fakeServer';
import type { BatchSummary } from '../../../src/core/batch/runBatch';
import { answerOf, api, envKey, readResults, tokensOf, txtPrompts, useFakeServer, waitFor, workspaceDir, wsFile } from './helpers';

describe('Run Batch from File', () => {
  let fake: FakeServer;

  before(async () => {
    fake = await useFakeServer();
    await (await api()).clearCache();
    for (const f of ['prompts.results.jsonl']) rmSync(`${workspaceDir()}/${f}`, { force: true });
  });
  after(() => fake.close());
  beforeEach(() => fake.reset());

  it('a .txt file gives a results file with one record per row, in order', async () => {
    const prompts = txtPrompts();
    // Through the command, as the palette and the context menus run it.
    const summary = await vscode.commands.executeCommand<BatchSummary | undefined>('fastllm.runBatch', wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary, 'the command returned no summary');
    assert.equal(summary.out, wsFile('prompts.results.jsonl').fsPath);
    const records = readResults(summary.out);
    assert.equal(records.length, prompts.length);
    assert.deepEqual(records.map((r) => r.error), prompts.map(() => null));
    assert.deepEqual(records.map(answerOf), prompts.map((p) => `echo: ${p}`));
    assert.deepEqual(records.map((r) => r.line), prompts.map((_, i) => i + 1));
    assert.equal(summary.succeeded, prompts.length);
    assert.equal(fake.countByPath['/v1/chat/completions'], prompts.length);
    // Every request carried the key from the environment, as a bearer token.
    for (const r of fake.requests) assert.equal(r.headers.authorization, `Bearer ${envKey()}`);
  });

  it('a .jsonl file gives one record per row with its custom_id', async () => {
    const summary = await (await api()).runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
    assert.ok(summary);
    const records = readResults(summary.out);
    assert.deepEqual(records.map((r) => r.custom_id), ['a', 'b', 'c', 'd']);
    assert.deepEqual(records.map(answerOf), [
      'echo: Summarise the plot of Hamlet in one line.',
      'echo: Write a haiku about caching.',
      'echo: Two plus two?',
      'echo: List three sorting algorithms.',
    ]);
    assert.equal(fake.count, 4);
    // The system message of row c reached the server.
    const c = fake.requests.find((r) => JSON.stringify(r.body).includes('Two plus two?'));
    assert.match(JSON.stringify(c?.body), /Answer tersely\./);
  });

  it('a rerun is served from the cache: no request reaches the server', async () => {
    const fastllm = await api();
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary);
    assert.equal(fake.count, 0, `the server got ${fake.count} requests`);
    const records = readResults(summary.out);
    assert.equal(records.length, txtPrompts().length);
    assert.ok(records.every((r) => r.cached && r.attempts === 0 && r.error === null), 'every record is a cache hit');
    assert.equal(summary.stats.cacheHits, records.length);
    assert.equal(summary.stats.apiCalls, 0);
  });

  it('the statistics equal the results file', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    const summary = await fastllm.runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
    assert.ok(summary);
    const records = readResults(summary.out);
    const view = fastllm.stats();
    const run = view.current;
    assert.ok(run, 'the stats have no current run');
    assert.equal(view.label, 'prompts.jsonl');
    assert.equal(run.done, records.length);
    assert.equal(run.succeeded, records.filter((r) => !r.error).length);
    assert.equal(run.failed, records.filter((r) => r.error).length);
    assert.equal(run.fresh.total + run.cached.total, records.reduce((n, r) => n + tokensOf(r), 0));
    assert.equal(run.apiCalls, fake.count);
    // Session totals include this run and the earlier ones.
    assert.ok(view.session.requests >= run.done);
  });

  it('the status bar shows progress during a run and totals after it', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    // Rows finish one by one over ~1 s: the status bar updates every 200 ms.
    fake.setBehavior({ latencyMs: (i) => 200 * (i + 1) });
    try {
      const seen = new Set<string>();
      const poll = setInterval(() => seen.add(fastllm.statusBarText()), 20);
      const running = fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      await waitFor(() => fastllm.isRunning(), 'the run to start');
      const during = await waitFor(() => {
        const text = fastllm.statusBarText();
        return /^\$\(loading~spin\) \d+\/5$/.test(text) ? text : undefined;
      }, 'progress in the status bar');
      assert.match(during, /^\$\(loading~spin\) \d+\/5$/);
      await running;
      clearInterval(poll);
      assert.ok([...seen].some((t) => t.startsWith('$(loading~spin) ')), `texts seen: ${[...seen].join(' | ')}`);
      const after = fastllm.statusBarText();
      assert.match(after, /^\$\(sparkle\) \S+ tok · \d+% cached$/);
      assert.equal(fastllm.isRunning(), false);
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
  });

  it('Cancel Run stops a run and keeps a record for every row read', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    fake.setBehavior({ latencyMs: 400 });
    try {
      const running = fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
      await waitFor(() => fake.count > 0, 'the first request');
      assert.equal(await vscode.commands.executeCommand('fastllm.cancelRun'), 1);
      const summary = await running;
      assert.ok(summary?.cancelled, 'the run says it was cancelled');
      assert.ok(existsSync(summary.out));
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
  });
});
