/**
 * Rate limits in the editor (issue 10): the settings reach the engine, and a run stopped because
 * the account has no quota says so and offers the provider's billing page.
 */
import * as assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import type { FakeServer } from '../../support/fakeServer';
import { quotaErrorBody } from '../../support/fakeServer';
import { api, configure, txtPrompts, useFakeServer, workspaceDir, wsFile } from './helpers';

describe('rate limits in VS Code (issue 10)', () => {
  let fake: FakeServer;

  before(async () => {
    fake = await useFakeServer();
    await (await api()).clearCache();
  });
  after(async () => {
    await configure({ concurrency: undefined });
    rmSync(path.join(workspaceDir(), 'prompts.results.partial.jsonl'), { force: true });
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    fake.setBehavior({ latencyMs: 0, plan: undefined, gpu: undefined });
  });

  it('no quota: the run stops at once, every row has a record, and the message offers the billing page', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    await configure({ concurrency: 2 });
    fake.setBehavior({ latencyMs: 20, plan: () => ({ status: 429, body: quotaErrorBody() }) });
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary);
    assert.equal(summary.stopped?.code, 'insufficient_quota');
    assert.ok(fake.count <= 2, `${fake.count} requests at concurrency 2`);
    assert.equal(summary.records, txtPrompts().length, 'every row has a record');
    const notice = fastllm.lastBatchNotice!;
    assert.match(notice.text, /no quota left.*billing/);
    assert.deepEqual(notice.actions, ['Open Billing Page']);
  });

  it('"auto" concurrency reaches the engine, and Token Stats shows the concurrency in force', async () => {
    const fastllm = await api();
    await fastllm.clearCache();
    await configure({ concurrency: 'auto' });
    fake.setBehavior({ gpu: { capacity: 4, baseMs: 5 } });
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.ok(summary);
    assert.equal(summary.failed, 0);
    assert.equal(summary.stats.pacing.autoConcurrency, true);
    assert.ok((summary.stats.pacing.concurrency ?? 0) >= 1);
  });
});
