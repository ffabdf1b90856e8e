import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBatch } from '../../src/core/batch/runBatch';
import { InMemoryCache } from '../../src/core/cache/memory';
import { RequestManager } from '../../src/core/manager';
import type { ResultRecord } from '../../src/core/types';
import { ScriptedProvider } from '../support/scriptedProvider';

describe('runBatch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-runbatch-'));

  test('writes one record per row in order and summarises', async () => {
    const input = join(dir, 'in.txt');
    writeFileSync(input, 'a\n\nb\nc\n');
    const manager = new RequestManager({ provider: new ScriptedProvider(() => ({ latencyMs: 3 })) });
    const summary = await runBatch({ input, out: join(dir, 'in.results.jsonl'), manager, reader: { defaults: { model: 'm' } } });
    assert.deepEqual([summary.records, summary.succeeded, summary.failed, summary.cancelled], [3, 3, 0, false]);
    const lines = readFileSync(summary.out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);
    assert.deepEqual(lines.map((r) => r.line), [1, 3, 4]);
    assert.equal(summary.stats.total, 3);
  });

  test('a cancelled run ends in a summary, with every row read written and finished rows cached', async () => {
    const input = join(dir, 'big.txt');
    writeFileSync(input, Array.from({ length: 5000 }, (_, i) => `row ${i}`).join('\n'));
    const cache = new InMemoryCache();
    const manager = new RequestManager({ provider: new ScriptedProvider(() => ({ latencyMs: 2 })), cache, concurrency: 8 });
    const ac = new AbortController();
    let seen = 0;
    const summary = await runBatch({
      input,
      out: join(dir, 'big.results.jsonl'),
      manager,
      signal: ac.signal,
      reader: { defaults: { model: 'm' } },
      onRecord: () => {
        if (++seen === 100) ac.abort();
      },
    });
    assert.equal(summary.cancelled, true);
    assert.ok(summary.records >= 100 && summary.records < 5000, `${summary.records} records`);
    const lines = readFileSync(summary.out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);
    assert.equal(lines.length, summary.records);
    lines.forEach((r, i) => assert.equal(r.line, i + 1));
    assert.equal(await cache.count(), summary.succeeded);
    assert.ok(lines.slice(summary.succeeded).every((r) => r.error?.code === 'cancelled'));
  });

  test('a file refused whole leaves the previous results file as it was', async () => {
    const input = join(dir, 'rows.csv');
    const out = join(dir, 'rows.results.jsonl');
    writeFileSync(input, 'text\nhello\n');
    writeFileSync(out, '{"previous":true}\n');
    const manager = new RequestManager({ provider: new ScriptedProvider() });
    await assert.rejects(
      runBatch({ input, out, manager, reader: { defaults: { model: 'm' }, template: 'Say {{missing}}' } }),
      /missing/,
    );
    assert.equal(readFileSync(out, 'utf8'), '{"previous":true}\n');
  });
});
