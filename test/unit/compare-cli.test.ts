/** `fastllm compare` as users run it: the bundled dist/cli.js in a child process. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { CLI, runCli as fastllm } from '../support/cli';


const record = (id: string, line: number, content: string | null, model = 'gpt-4o-mini') =>
  JSON.stringify({
    id: `fastllm-x-${line}`,
    custom_id: id,
    line,
    cached: false,
    attempts: 1,
    latency_ms: 1,
    error: content === null ? { code: 'server_error', message: 'boom' } : null,
    response: content === null ? null : { status_code: 200, request_id: null, body: { model, choices: [{ message: { role: 'assistant', content } }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } } },
  });

describe('fastllm compare', () => {
  let dir: string;
  let a: string;
  let b: string;
  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), 'fastllm-compare-cli-'));
    a = join(dir, 'a.results.jsonl');
    b = join(dir, 'b.results.jsonl');
    writeFileSync(a, [record('r1', 1, 'same'), record('r2', 2, 'Paris'), record('r3', 3, null), record('r4', 4, 'gone')].join('\n') + '\n');
    writeFileSync(b, [record('r1', 1, 'same', 'gpt-4o'), record('r2', 2, 'Paris, France', 'gpt-4o'), record('r3', 3, 'fixed', 'gpt-4o'), record('r5', 4, 'new', 'gpt-4o')].join('\n') + '\n');
  });

  test('identical files: exit 0', async () => {
    const r = await fastllm(['compare', a, a], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /same 3, differ 0, only in A 0, only in B 0, failed on either side 1: identical/);
  });

  test('prints the summary and writes the differing rows with --out: exit 1', async () => {
    const out = join(dir, 'diff.jsonl');
    const r = await fastllm(['compare', 'a.results.jsonl', 'b.results.jsonl', '--out', out], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^A: a\.results\.jsonl: 4 rows \(3 ok, 1 failed, 0 cached\), gpt-4o-mini, 15 tokens/m);
    assert.match(r.stdout, /^B: b\.results\.jsonl: 4 rows \(4 ok, 0 failed, 0 cached\), gpt-4o,/m);
    assert.match(r.stdout, /same 1, differ 1, only in A 1, only in B 1, failed on either side 1: 4 rows differ/);
    assert.match(r.stdout, /4 differing rows written to /);
    const rows = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, 4);
    const r2 = rows.find((x) => x.custom_id === 'r2');
    assert.deepEqual(r2, { custom_id: 'r2', kind: 'differ', line: 2, line_a: 2, line_b: 2, answer_a: 'Paris', answer_b: 'Paris, France' });
    assert.deepEqual(rows.find((x) => x.custom_id === 'r5'), { custom_id: 'r5', kind: 'onlyB', line: 4, line_a: null, line_b: 4, answer_a: null, answer_b: 'new' });
    assert.equal(rows.find((x) => x.custom_id === 'r3')?.answer_a, 'error server_error: boom');
  });

  test('--json prints the summary as JSON; without --out the rows are previewed', async () => {
    const r = await fastllm(['compare', a, b, '--json'], dir);
    assert.equal(r.code, 1);
    const s = JSON.parse(r.stdout) as { same: number; differing: number; identical: boolean; a: { totalTokens: number }; b: { models: string[] } };
    assert.deepEqual([s.same, s.differing, s.identical, s.a.totalTokens, s.b.models], [1, 4, false, 15, ['gpt-4o']]);
    const text = await fastllm(['compare', a, b], dir);
    assert.match(text.stdout, /r2 \(line 2, differs\): "Paris" → "Paris, France"/);
    assert.match(text.stdout, /r4 \(line 4, only in A\): "gone" → —/);
  });

  test('three files (one per model): each compared with the first; --out names the file of each row', async () => {
    const c = join(dir, 'c.results.jsonl');
    writeFileSync(c, [record('r1', 1, 'other', 'o3-mini'), record('r2', 2, 'Paris', 'o3-mini'), record('r3', 3, null, 'o3-mini'), record('r4', 4, 'gone', 'o3-mini')].join('\n') + '\n');
    const out = join(dir, 'diff3.jsonl');
    const r = await fastllm(['compare', 'a.results.jsonl', 'b.results.jsonl', 'c.results.jsonl', '--out', out], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^A: a\.results\.jsonl: 4 rows .* \(baseline\)$/m);
    assert.match(r.stdout, /^C: c\.results\.jsonl: 4 rows \(3 ok, 1 failed, 0 cached\), o3-mini,/m);
    assert.match(r.stdout, /^A vs B: same 1, differ 1, only in A 1, only in B 1, failed on either side 1: 4 rows differ$/m);
    // r3 failed the same way on both sides: not a difference.
    assert.match(r.stdout, /^A vs C: same 2, differ 1, only in A 0, only in B 0, failed on either side 1: 1 row differs?$/m);
    assert.match(r.stdout, /5 differing rows written to /);
    const rows = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.filter((x) => x.file_b === 'c.results.jsonl'), [
      { custom_id: 'r1', kind: 'differ', line: 1, line_a: 1, line_b: 1, answer_a: 'same', answer_b: 'other', file_b: 'c.results.jsonl' },
    ]);
    assert.equal(rows.filter((x) => x.file_b === 'b.results.jsonl').length, 4);
    const json = await fastllm(['compare', a, b, c, '--json'], dir);
    const s = JSON.parse(json.stdout) as { baseline: string; comparisons: { b: { path: string }; differing: number }[]; differing: number; identical: boolean };
    assert.deepEqual([s.baseline, s.comparisons.map((x) => [x.b.path, x.differing]), s.differing, s.identical], [a, [[b, 4], [c, 1]], 5, false]);
    const same = await fastllm(['compare', a, a, a], dir);
    assert.equal(same.code, 0, same.stdout);
  });

  test('usage errors and bad files: exit 2 with a message naming the file and line', async () => {
    const one = await fastllm(['compare', a], dir);
    assert.equal(one.code, 2);
    assert.match(one.stderr, /takes two or more results files/);
    const missing = await fastllm(['compare', a, 'nope.jsonl'], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.jsonl: no such file/);
    const bad = join(dir, 'bad.results.jsonl');
    writeFileSync(bad, `${record('r1', 1, 'same')}\nthis is not json\n${record('r2', 3, 'x')}\n`);
    const broken = await fastllm(['compare', a, bad], dir);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /bad\.results\.jsonl:2: invalid JSON/);
    const flag = await fastllm(['compare', a, b, '--tolerance', 'x'], dir);
    assert.equal(flag.code, 2);
    const unknown = await fastllm(['compare', a, b, '--bogus'], dir);
    assert.equal(unknown.code, 2);
  });
});
