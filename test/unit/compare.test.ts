/** Tests of src/core/compare.ts: joining, counting and listing the rows of two results files. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { answerOf, compareResults, sameAnswer, type DiffRow } from '../../src/core/compare';
import type { ResultRecord } from '../../src/core/types';

const dir = mkdtempSync(join(tmpdir(), 'fastllm-compare-'));
let fileNo = 0;

function file(lines: (ResultRecord | string)[], trailingNewline = true): string {
  const path = join(dir, `f${fileNo++}.results.jsonl`);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + (trailingNewline ? '\n' : ''));
  return path;
}

function chat(id: string, line: number, content: string, opts: { model?: string; prompt?: number; completion?: number; cached?: boolean } = {}): ResultRecord {
  const prompt = opts.prompt ?? 10;
  const completion = opts.completion ?? 5;
  return {
    id: `fastllm-x-${line}`,
    custom_id: id,
    line,
    cached: opts.cached ?? false,
    attempts: 1,
    latency_ms: 1,
    error: null,
    response: {
      status_code: 200,
      request_id: null,
      body: { model: opts.model ?? 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content } }], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } },
    },
  };
}

function failed(id: string, line: number, code = 'rate_limit', message = 'too many requests'): ResultRecord {
  return { id: `fastllm-x-${line}`, custom_id: id, line, cached: false, attempts: 3, latency_ms: 1, error: { code, message }, response: null };
}

function embedding(id: string, line: number, vector: number[]): ResultRecord {
  return {
    ...chat(id, line, ''),
    response: { status_code: 200, request_id: null, body: { model: 'text-embedding-3-small', data: [{ index: 0, embedding: vector }], usage: { prompt_tokens: 4, total_tokens: 4 } } },
  };
}

describe('compareResults', () => {
  test('identical files', async () => {
    const rows = [chat('a', 1, 'one'), chat('b', 2, 'two')];
    const s = await compareResults(file(rows), file(rows));
    assert.equal(s.identical, true);
    assert.deepEqual([s.same, s.differ, s.failed, s.onlyA, s.onlyB, s.differing], [2, 0, 0, 0, 0, 0]);
    assert.deepEqual(s.rows, []);
  });

  test('counts same, differ, only in A, only in B and failed; lists the differing rows in line order', async () => {
    const a = file([chat('r1', 1, 'same'), chat('r2', 2, 'old answer'), chat('r3', 3, 'only here'), failed('r4', 4), chat('r5', 5, 'ok'), failed('r6', 6)]);
    // B is in another order: the join is by custom_id, not position.
    const b = file([chat('r5', 1, 'ok'), failed('r6', 2), chat('r2', 3, 'new answer'), chat('r4', 4, 'answered now'), chat('r1', 5, 'same'), chat('r7', 6, 'new row')]);
    const seen: DiffRow[] = [];
    const s = await compareResults(a, b, { onRow: (r) => void seen.push(r) });
    assert.deepEqual({ same: s.same, differ: s.differ, failed: s.failed, onlyA: s.onlyA, onlyB: s.onlyB }, { same: 2, differ: 1, failed: 2, onlyA: 1, onlyB: 1 });
    // r6 failed the same way on both sides: counted as failed, but not a difference.
    assert.equal(s.differing, 4);
    assert.equal(s.identical, false);
    assert.deepEqual(
      s.rows.map((r) => [r.custom_id, r.kind, r.lineA, r.lineB]),
      [
        ['r2', 'differ', 2, 3],
        ['r3', 'onlyA', 3, null],
        ['r4', 'failed', 4, 4],
        ['r7', 'onlyB', null, 6],
      ],
    );
    assert.equal(seen.length, 4);
    const r2 = s.rows[0]!;
    assert.equal(r2.a, 'old answer');
    assert.equal(r2.b, 'new answer');
    assert.equal(s.rows[2]!.a, 'error rate_limit: too many requests');
    assert.equal(s.rows[1]!.b, null);
  });

  test('token and cost totals per side', async () => {
    const a = file([chat('x', 1, 'a', { model: 'gpt-4o-mini', prompt: 1_000_000, completion: 0 }), chat('y', 2, 'b', { cached: true, prompt: 0, completion: 1_000_000 }), failed('z', 3)]);
    const b = file([chat('x', 1, 'a', { model: 'gpt-4o', prompt: 1_000_000, completion: 1_000_000 })]);
    const s = await compareResults(a, b);
    assert.deepEqual(
      { rows: s.a.rows, ok: s.a.succeeded, failed: s.a.failed, cached: s.a.cached, p: s.a.promptTokens, c: s.a.completionTokens, t: s.a.totalTokens, models: s.a.models },
      { rows: 3, ok: 2, failed: 1, cached: 1, p: 1_000_000, c: 1_000_000, t: 2_000_000, models: ['gpt-4o-mini'] },
    );
    assert.ok(Math.abs(s.a.cost - (0.15 + 0.6)) < 1e-9, String(s.a.cost));
    assert.ok(Math.abs(s.b.cost - 12.5) < 1e-9, String(s.b.cost));
    assert.deepEqual(s.b.models, ['gpt-4o']);
  });

  test('repeated ids pair in order; rows without an id are joined by line', async () => {
    const a = file([chat('dup', 1, 'first'), chat('dup', 2, 'second'), chat('', 3, 'by line')]);
    const b = file([chat('dup', 1, 'first'), chat('dup', 2, 'SECOND'), chat('', 3, 'by line')]);
    const s = await compareResults(a, b);
    assert.deepEqual([s.same, s.differ], [2, 1]);
    assert.deepEqual(s.rows.map((r) => [r.custom_id, r.lineA, r.a, r.b]), [['dup', 2, 'second', 'SECOND']]);
  });

  test('embeddings are equal within the tolerance', async () => {
    const a = file([embedding('e1', 1, [0.1, 0.2, 0.3]), embedding('e2', 2, [0.1, 0.2, 0.3])]);
    const b = file([embedding('e1', 1, [0.1 + 1e-9, 0.2, 0.3]), embedding('e2', 2, [0.1, 0.25, 0.3])]);
    const s = await compareResults(a, b);
    assert.deepEqual([s.same, s.differ], [1, 1]);
    assert.equal(s.rows[0]!.custom_id, 'e2');
    assert.equal(s.rows[0]!.b, '0.1\n0.25\n0.3');
    const loose = await compareResults(a, b, { tolerance: 0.1 });
    assert.equal(loose.identical, true);
  });

  test('maxRows bounds the list, not the counts', async () => {
    const a = file(Array.from({ length: 50 }, (_, i) => chat(`r${i}`, i + 1, `a${i}`)));
    const b = file(Array.from({ length: 50 }, (_, i) => chat(`r${i}`, i + 1, `b${i}`)));
    let streamed = 0;
    const s = await compareResults(a, b, { maxRows: 7, onRow: () => void streamed++ });
    assert.equal(s.differ, 50);
    assert.equal(s.differing, 50);
    assert.equal(s.rows.length, 7);
    assert.equal(s.truncated, true);
    assert.equal(streamed, 50);
  });

  test('a bad line rejects naming the file and the line; an interrupted last line is skipped', async () => {
    const good = file([chat('a', 1, 'x')]);
    const bad = file([chat('a', 1, 'x'), '{"not": "a record"}', chat('b', 3, 'y')]);
    await assert.rejects(compareResults(good, bad), (e: Error) => e.message.startsWith(`${bad}:2: `));
    const torn = file([chat('a', 1, 'x'), '{"custom_id": "b", "resp'], false);
    const s = await compareResults(good, torn);
    assert.equal(s.identical, true);
    await assert.rejects(compareResults(good, join(dir, 'missing.jsonl')), /ENOENT/);
  });

  test('empty files are identical', async () => {
    const s = await compareResults(file([], false), file([], false));
    assert.equal(s.identical, true);
    assert.equal(s.a.rows, 0);
  });
});

describe('answerOf / sameAnswer', () => {
  test('joins several choices, shows tool calls, and treats HTTP errors as failures', () => {
    const r = chat('a', 1, 'x');
    (r.response!.body as { choices: unknown[] }).choices = [
      { message: { content: 'one' } },
      { message: { content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] } },
    ];
    const text = answerOf(r).text;
    assert.match(text, /^--- choice 0 ---\none\n--- choice 1 ---\n\[/);
    assert.match(text, /"name": "f"/);
    const http: ResultRecord = { ...chat('b', 2, ''), response: { status_code: 400, request_id: null, body: { error: { code: 'bad', message: 'no' } } } };
    assert.deepEqual(answerOf(http), { ok: false, text: 'error bad: no' });
    assert.equal(sameAnswer({ ok: true, text: 'x' }, { ok: false, text: 'x' }), false);
  });
});
