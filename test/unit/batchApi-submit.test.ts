/**
 * Submitting safely (src/core/batchApi/submit.ts, state.ts): a state file with jobs not fetched is
 * never overwritten (unless forced, and then kept aside); a submit that stopped half-way resumes,
 * sending only what no job accepted, and adopts a job whose creation answer was lost; a state
 * file is believed only as far as the user's own configuration agrees with it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  BatchApiClient,
  checkState,
  fetchResults,
  readState,
  replacedStatePath,
  statePathFor,
  SubmissionExistsError,
  submitBatch,
  waitForJobs,
  type BatchState,
} from '../../src/core/batchApi';
import { createProvider } from '../../src/core/providers';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';

const fast = { minIntervalMs: 1, maxIntervalMs: 5 };
const prompt = (l: { body: Record<string, unknown> }) => (l.body as { messages: { content: string }[] }).messages.at(-1)!.content;

describe('Batch API submit', () => {
  let api: FakeBatchApi;
  let client: BatchApiClient;
  let dir: string;
  let n = 0;
  const scope = () => createProvider({ apiKey: 'k', baseURL: api.url }).scope;
  const inputOf = (rows: string[]) => {
    const p = join(dir, `in-${++n}.txt`);
    writeFileSync(p, rows.join('\n') + '\n');
    return p;
  };
  const submit = (input: string, more: { maxRequests?: number; force?: boolean; model?: string } = {}) =>
    submitBatch({ input, reader: { defaults: { model: more.model ?? 'gpt-4o-mini' } }, client, scope: scope(), maxRequests: more.maxRequests, force: more.force });
  /** Every row sent in the jobs the fake made since job `from`, as prompts. */
  const sentPrompts = (from: number) => api.jobs().slice(from).flatMap((j) => j.lines.map(prompt));

  before(async () => {
    api = await startFakeBatchApi();
    client = new BatchApiClient({ apiKey: 'sk-submit', baseURL: api.url });
    dir = mkdtempSync(join(tmpdir(), 'fastllm-batch-submit-'));
  });
  after(() => api.close());
  beforeEach(() => {
    api.reset();
    api.plan = () => ({});
  });

  test('a state with jobs not fetched is refused; force keeps it aside, where its jobs can still be fetched', async () => {
    const input = inputOf(['one', 'two']);
    const first = await submit(input);
    const jobs = api.jobs().length;
    await assert.rejects(submit(input), (e: SubmissionExistsError) => {
      assert.ok(e instanceof SubmissionExistsError);
      assert.equal(e.unfetched.length, 1);
      assert.match(e.message, /holds 1 Batch API job\(s\) whose results were not fetched/);
      return true;
    });
    assert.equal(api.jobs().length, jobs, 'nothing was sent');
    assert.deepEqual((await readState(statePathFor(input))).jobs.map((j) => j.id), first.jobs.map((j) => j.id));

    const second = await submit(input, { force: true });
    assert.notEqual(second.jobs[0]!.id, first.jobs[0]!.id);
    const aside = replacedStatePath(statePathFor(input), first);
    const kept = await readState(aside);
    assert.deepEqual(kept.jobs.map((j) => j.id), first.jobs.map((j) => j.id));
    assert.deepEqual(checkState(kept, aside, { baseURL: api.url }), [], 'the kept state is usable as it is');
    await waitForJobs(kept, client, fast);
    const summary = await fetchResults({ state: kept, statePath: aside, client, out: join(dir, 'kept.results.jsonl') });
    assert.equal(summary.succeeded, 2);

    // Once fetched, submitting again needs no force.
    await waitForJobs(second, client, fast);
    await fetchResults({ state: second, statePath: statePathFor(input), client });
    await submit(input);
  });

  test('a submit that failed half-way resumes: only the parts no job accepted are sent', async () => {
    const rows = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    const input = inputOf(rows);
    const from = api.jobs().length;
    api.inject('POST /v1/batches', null, { status: 500 });
    await assert.rejects(submit(input, { maxRequests: 2 }), /HTTP 500/);
    const half = await readState(statePathFor(input));
    assert.equal(half.complete, false);
    assert.equal(half.jobs.length, 1);

    const resumed = await submit(input, { maxRequests: 2 });
    assert.equal(resumed.complete, true);
    assert.equal(resumed.jobs[0]!.id, half.jobs[0]!.id, 'the accepted job was kept');
    assert.equal(resumed.jobs.length, 3);
    assert.deepEqual(sentPrompts(from).sort(), rows, 'each row was sent once');
    await waitForJobs(resumed, client, fast);
    const summary = await fetchResults({ state: resumed, client });
    assert.equal(summary.succeeded, 6);
  });

  test('a job created although the answer to the create call was lost is adopted, not created twice', async () => {
    const rows = ['s1', 's2', 's3', 's4'];
    const input = inputOf(rows);
    const from = api.jobs().length;
    // The second create takes effect on the server, but its answer never arrives.
    api.inject('POST /v1/batches', null, 'lost');
    await assert.rejects(submit(input, { maxRequests: 2 }), /POST \/batches: .*(fetch failed|socket|closed)/i);
    assert.equal(api.jobs().length - from, 2, 'the server made both jobs');
    assert.equal((await readState(statePathFor(input))).jobs.length, 1, 'the state knows one');

    const resumed = await submit(input, { maxRequests: 2 });
    assert.equal(api.jobs().length - from, 2, 'no job was created twice');
    assert.deepEqual(resumed.jobs.map((j) => j.id).sort(), api.jobs().slice(from).map((j) => j.batch.id).sort());
    assert.deepEqual(sentPrompts(from).sort(), rows);
    await waitForJobs(resumed, client, fast);
    assert.equal((await fetchResults({ state: resumed, client })).succeeded, 4);
  });

  test('resuming with other options or another server is refused, with the way out', async () => {
    const input = inputOf(['t1', 't2', 't3']);
    api.inject('POST /v1/batches', null, { status: 500 });
    await assert.rejects(submit(input, { maxRequests: 1 }), /HTTP 500/);
    await assert.rejects(submit(input, { maxRequests: 1, model: 'gpt-4o' }), /was made with other options.*force to start over/);
    const other = await startFakeBatchApi();
    try {
      const elsewhere = submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client: new BatchApiClient({ apiKey: 'k', baseURL: other.url }), scope: createProvider({ apiKey: 'k', baseURL: other.url }).scope });
      await assert.rejects(elsewhere, /went to http:\/\/127\.0\.0\.1:\d+\/v1, not http:\/\/127\.0\.0\.1:\d+\/v1; use that base URL/);
      assert.equal(other.jobs().length, 0);
    } finally {
      await other.close();
    }
  });

  test('checkState: another base URL, an input that is not beside the state, a path outside the workspace', () => {
    const ws = join(dir, 'ws');
    mkdirSync(ws, { recursive: true });
    const input = join(ws, 'p.txt');
    const state = { version: 1, input, baseURL: 'https://api.openai.com/v1', jobs: [], fetched: null } as unknown as BatchState;
    const statePath = statePathFor(input);
    assert.deepEqual(checkState(state, statePath, { baseURL: 'HTTPS://API.OPENAI.COM/v1/', roots: [ws] }), []);

    const [url] = checkState({ ...state, baseURL: 'https://evil.example/v1' }, statePath, { baseURL: 'https://api.openai.com/v1' });
    assert.equal(url?.code, 'base_url');
    assert.match(url!.message, /submitted to https:\/\/evil\.example\/v1, but the configured base URL is https:\/\/api\.openai\.com\/v1/);
    assert.deepEqual(checkState({ ...state, baseURL: 'https://evil.example/v1' }, statePath, { baseURL: 'https://api.openai.com/v1', acceptedBaseURL: 'https://evil.example/v1' }), []);

    assert.deepEqual(checkState({ ...state, input: '/home/someone/.bashrc' }, statePath, { baseURL: state.baseURL }).map((p) => p.code), ['input_elsewhere']);
    assert.deepEqual(checkState(state, `${input}.2024-01-01T00-00-00-000Z.batch.json`, { baseURL: state.baseURL }), [], 'a state kept aside by force');
    assert.deepEqual(checkState(state, join(ws, 'other.txt.batch.json'), { baseURL: state.baseURL }).map((p) => p.code), ['input_elsewhere']);

    const outside = join(dir, 'elsewhere');
    mkdirSync(outside, { recursive: true });
    const far = join(outside, 'q.txt');
    assert.deepEqual(checkState({ ...state, input: far }, statePathFor(far), { baseURL: state.baseURL, roots: [ws] }).map((p) => p.code), ['outside']);
    assert.deepEqual(checkState({ ...state, fetched: { at: 0, out: join(outside, 'x.jsonl') } }, statePath, { baseURL: state.baseURL, roots: [ws] }).map((p) => p.code), ['outside']);
    // A folder in the workspace that is a link to somewhere else is somewhere else.
    symlinkSync(outside, join(ws, 'link'));
    const linked = join(ws, 'link', 'q.txt');
    assert.deepEqual(checkState({ ...state, input: linked }, statePathFor(linked), { baseURL: state.baseURL, roots: [ws] }).map((p) => p.code), ['outside']);
  });

  test('a state file of the wrong shape is refused with its path', async () => {
    const bad = join(dir, 'bad.txt.batch.json');
    writeFileSync(bad, JSON.stringify({ version: 1, input: 'x', baseURL: 'y', jobs: [{ id: 3 }] }));
    await assert.rejects(readState(bad), new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a FastLLM batch state file`));
    writeFileSync(bad, '{"version": 1, "input": ');
    await assert.rejects(readState(bad), /not a FastLLM batch state file/);
    assert.ok(existsSync(bad));
  });
});
