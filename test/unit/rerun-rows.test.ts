/**
 * The Results view's *Rerun This Row* / *Rerun Shown Rows* (src/vscode/lazy/rerun.ts with `rows`):
 * exactly the chosen rows run again, succeeded ones too, with the cache refreshed, and the file is
 * rewritten in input order with every other record kept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InMemoryCache } from '../../src/core/cache/memory';
import { RequestManager } from '../../src/core/manager';
import type { ResultRecord } from '../../src/core/types';
import { rerunFailed } from '../../src/vscode/lazy/rerun';
import { ScriptedProvider } from '../support/scriptedProvider';

const read = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultRecord);

function old(line: number, failed = false): ResultRecord {
  return {
    id: `old-${line}`,
    custom_id: `line-${line}`,
    response: failed ? null : { status_code: 200, request_id: null, body: { old: true, line } },
    error: failed ? { code: 'timeout', message: 'old timeout' } : null,
    line,
    cached: false,
    attempts: 1,
    latency_ms: 1,
  };
}

test('rows: exactly the chosen rows run again (a succeeded one too), past the cache with refresh; the rest are kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-rerun-rows-'));
  const input = join(dir, 'p.txt');
  const out = join(dir, 'p.results.jsonl');
  writeFileSync(input, ['one', 'two', 'three', 'four'].join('\n') + '\n');
  writeFileSync(out, [old(1), old(2, true), old(3), old(4)].map((r) => JSON.stringify(r) + '\n').join(''));
  const cache = new InMemoryCache();
  const reader = { defaults: { model: 'm' } };
  // Fill the cache with the answer to row 3, as the first run did.
  const warm = new ScriptedProvider();
  for await (const _ of new RequestManager({ provider: warm, cache }).run([{ kind: 'chat', custom_id: 'line-3', line: 3, body: { model: 'm', messages: [{ role: 'user', content: 'three' }] } }])) void _;
  const provider = new ScriptedProvider();
  let announced = -1;
  const summary = await rerunFailed({
    input,
    out,
    reader,
    rows: new Set(['line-3']),
    manager: new RequestManager({ provider, cache, cachePolicy: 'refresh' }),
    onTotal: (n) => (announced = n),
  });
  assert.equal(announced, 1);
  assert.deepEqual(provider.calls.map((c) => c.prompt), ['three'], 'row 3 asked the server again, not the cache; the failed row 2 was not chosen');
  const records = read(out);
  assert.deepEqual(records.map((r) => r.line), [1, 2, 3, 4]);
  assert.deepEqual(records[0], old(1));
  assert.deepEqual(records[1], old(2, true));
  assert.deepEqual(records[3], old(4));
  assert.equal(records[2]!.cached, false);
  assert.notDeepEqual(records[2], old(3));
  assert.equal(summary.records, 4);
});
