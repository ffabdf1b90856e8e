/**
 * Fetching Batch API results safely (src/core/batchApi/collect.ts, outputIndex.ts): an answer goes
 * only to the row whose request it answers, also after the input was edited or lines were
 * inserted, and also for state files written before request fingerprints; the results file is
 * replaced only when a fetch succeeds; downloads that break off are retried; output files in any
 * order, with failures in both files, join back in input order.
 *
 * Every answer of the fake is `echo: <prompt>`, so a test can tell a right answer from a wrong one.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { partialResultsPath } from '../../src/core/batch/writer';
import { BatchApiClient, fetchResults, OutputIndex, readState, statePathFor, submitBatch, waitForJobs, writeState } from '../../src/core/batchApi';
import { InMemoryCache } from '../../src/core/cache/memory';
import { createProvider } from '../../src/core/providers';
import type { ResultRecord } from '../../src/core/types';
import { startFakeBatchApi, type FakeBatchApi } from '../support/fakeBatchApi';

const readRecords = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);
const answer = (r: ResultRecord) => (r.response?.body as { choices: { message: { content: string } }[] } | undefined)?.choices[0]!.message.content;
const fast = { minIntervalMs: 1, maxIntervalMs: 5 };

/** Every cached answer must be the echo of the prompt it is cached under. */
async function assertCacheHonest(cache: InMemoryCache): Promise<number> {
  let n = 0;
  for await (const { entry } of cache.iterate()) {
    const prompt = (entry.request as { messages: { content: string }[] }).messages.at(-1)!.content;
    const got = (entry.response as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
    assert.equal(got, `echo: ${prompt}`, 'a wrong answer went into the cache');
    n++;
  }
  return n;
}

describe('Batch API fetch', () => {
  let api: FakeBatchApi;
  let client: BatchApiClient;
  let dir: string;
  let n = 0;
  const scope = () => createProvider({ apiKey: 'k', baseURL: api.url }).scope;
  const write = (lines: string[], ext = 'txt', name = `in-${++n}`) => {
    const p = join(dir, `${name}.${ext}`);
    writeFileSync(p, lines.join('\n') + '\n');
    return p;
  };
  const submitted = async (lines: string[], cache?: InMemoryCache, maxRequests?: number) => {
    const input = write(lines);
    const state = await submitBatch({ input, reader: { defaults: { model: 'gpt-4o-mini' } }, client, scope: scope(), cache, maxRequests });
    await waitForJobs(state, client, fast);
    await writeState(statePathFor(input), state);
    return { input, state };
  };

  before(async () => {
    api = await startFakeBatchApi();
    client = new BatchApiClient({ apiKey: 'sk-fetch', baseURL: api.url });
    dir = mkdtempSync(join(tmpdir(), 'fastllm-batch-fetch-'));
  });
  after(() => api.close());
  beforeEach(() => {
    api.reset();
    api.plan = () => ({});
  });

  test('a row edited after submission gets batch_input_changed, and its answer never reaches the cache', async () => {
    const cache = new InMemoryCache();
    const { input, state } = await submitted(['Say hello', 'What is 2+2?', 'Name a colour'], cache);
    writeFileSync(input, 'Say hello\nWhat is 3+3?\nName a colour\n');
    const summary = await fetchResults({ state, client, cache });
    const records = readRecords(summary.out);
    assert.deepEqual(records.map((r) => r.error?.code ?? answer(r)), ['echo: Say hello', 'batch_input_changed', 'echo: Name a colour']);
    assert.match(records[1]!.error!.message, /input changed after submission.*Run the row again/);
    assert.equal(records[1]!.response, null);
    assert.equal(await assertCacheHonest(cache), 2);
  });

  test('a line inserted above: every row keeps its own answer (they moved), the new row is not answered', async () => {
    // The repro: .txt rows get line-N ids, so after an insert line-2 names another prompt.
    const cache = new InMemoryCache();
    const { input, state } = await submitted(['Say hello', 'What is 2+2?', 'Name a colour'], cache);
    writeFileSync(input, 'Count to three\nSay hello\nWhat is 2+2?\nName a colour\n');
    const summary = await fetchResults({ state, client, cache });
    const records = readRecords(summary.out);
    assert.deepEqual(records.map((r) => r.custom_id), ['line-1', 'line-2', 'line-3', 'line-4']);
    assert.deepEqual(records.map((r) => r.error?.code ?? answer(r)), ['batch_input_changed', 'echo: Say hello', 'echo: What is 2+2?', 'echo: Name a colour']);
    assert.equal(summary.fromBatch, 3);
    assert.equal(await assertCacheHonest(cache), 3);
  });

  test('a state file from before fingerprints: what was sent is read back from the jobs\' input files', async () => {
    const cache = new InMemoryCache();
    const { input, state } = await submitted(['Say hello', 'What is 2+2?', 'Name a colour'], cache);
    const statePath = statePathFor(input);
    const legacy = await readState(statePath);
    for (const job of legacy.jobs) delete job.sent;
    delete legacy.id;
    delete legacy.complete;
    await writeState(statePath, legacy);
    writeFileSync(input, 'Count to three\nSay hello\nWhat is 3+3?\nName a colour\n');
    api.reset();
    const summary = await fetchResults({ state: await readState(statePath), statePath, client, cache });
    assert.equal(api.counts['GET /v1/files/:id/content'], 2, 'the input file and the output file');
    assert.deepEqual(readRecords(summary.out).map((r) => r.error?.code ?? answer(r)), ['batch_input_changed', 'echo: Say hello', 'batch_input_changed', 'echo: Name a colour']);
    assert.equal(await assertCacheHonest(cache), 2);
    assert.ok((await readState(statePath)).jobs[0]!.sent, 'the state file now records what was sent');
    assert.ok(state.jobs[0]!.sent);
  });

  test('… and when that input file cannot be read: batch_unverified, nothing accepted or cached', async () => {
    const cache = new InMemoryCache();
    const { input } = await submitted(['one', 'two'], cache);
    const statePath = statePathFor(input);
    const legacy = await readState(statePath);
    for (const job of legacy.jobs) delete job.sent;
    await writeState(statePath, legacy);
    api.inject('GET /v1/files/:id/content', { status: 404 });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const summary = await fetchResults({ state: await readState(statePath), client, cache, logger });
    assert.deepEqual(readRecords(summary.out).map((r) => r.error?.code), ['batch_unverified', 'batch_unverified']);
    assert.equal(await cache.count(), 0);
    assert.match(warnings.join('\n'), /cannot be matched to rows safely.*could not be read/);
  });

  test('output files in any order, failures in both the output and the error file: joined in input order', async () => {
    const prompts = Array.from({ length: 30 }, (_, i) => `question ${i}`);
    const failing = new Set(['line-3', 'line-8', 'line-13', 'line-21', 'line-30']);
    api.plan = () => ({ rowError: (l) => (failing.has(l.custom_id) ? { status: 400, code: 'invalid_prompt', message: `Refused ${l.custom_id} (fake).` } : undefined) });
    const { state } = await submitted(prompts, undefined, 12);
    // The fake really is unkind: shuffled output, failures in both files.
    const output: string[] = [];
    for (const job of state.jobs) {
      const dest = join(dir, `${job.id}.out.jsonl`);
      await client.downloadFile(job.outputFileId!, dest);
      output.push(...readFileSync(dest, 'utf8').trimEnd().split('\n'));
    }
    const ids = output.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    assert.notDeepEqual(ids, [...ids].sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))), 'the fake wrote its output in input order');
    assert.ok(output.some((l) => (JSON.parse(l) as { response: { status_code: number } }).response.status_code === 400), 'no failure in an output file');
    assert.ok(state.jobs.some((j) => j.errorFileId), 'no error file');

    const summary = await fetchResults({ state, client });
    const records = readRecords(summary.out);
    assert.deepEqual(records.map((r) => r.line), prompts.map((_, i) => i + 1));
    for (const r of records) {
      if (failing.has(r.custom_id)) assert.deepEqual(r.error, { code: 'invalid_prompt', message: `Refused ${r.custom_id} (fake).` });
      else assert.equal(answer(r), `echo: ${prompts[r.line - 1]}`);
    }
    assert.deepEqual(summary.errors, { invalid_prompt: 5 });
  });

  test('a download that breaks off (cut half-way, then a 502) is retried from the start', async () => {
    const { state } = await submitted(['alpha', 'beta', 'gamma']);
    api.inject('GET /v1/files/:id/content', 'cut', 502);
    const summary = await fetchResults({ state, client, retry: { baseMs: 1, maxMs: 5 } });
    assert.deepEqual(readRecords(summary.out).map(answer), ['echo: alpha', 'echo: beta', 'echo: gamma']);
    assert.equal(api.counts['GET /v1/files/:id/content'], 3);
  });

  test('a fetch that stops half-way leaves the previous results file as it was and names the partial file', async () => {
    const { input, state } = await submitted(['p1', 'p2', 'p3', 'p4']);
    const first = await fetchResults({ state, client });
    const before = readFileSync(first.out, 'utf8');
    const abort = new AbortController();
    let seen = 0;
    await assert.rejects(
      fetchResults({ state, client, signal: abort.signal, onRecord: () => void (++seen === 2 && abort.abort()) }),
      (e: Error) => {
        assert.ok(e.message.includes(`${first.out} was left as it was`), e.message);
        assert.ok(e.message.includes(partialResultsPath(first.out)), e.message);
        return true;
      },
    );
    assert.equal(readFileSync(first.out, 'utf8'), before, 'the previous results were touched');
    assert.ok(readFileSync(partialResultsPath(first.out), 'utf8').startsWith(before.split('\n').slice(0, 2).join('\n')));
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.fastllm-batch-download-')), [], 'a download folder was left behind');
    assert.ok(existsSync(input));
  });

  test('the output index: OpenAI\'s layout read from the line start, any other layout parsed whole, never a nested custom_id', async () => {
    const file = join(dir, 'index.jsonl');
    const body = (content: string) => ({ status_code: 200, request_id: 'r', body: { content } });
    writeFileSync(
      file,
      [
        JSON.stringify({ id: 'batch_req_1', custom_id: 'a "quoted" id', response: body('first'), error: null }),
        // custom_id after a response whose body has a custom_id of its own: the whole line decides.
        JSON.stringify({ response: { status_code: 200, request_id: 'r', body: { custom_id: 'nested' } }, custom_id: 'b', error: null }),
        '',
        'not json at all',
        JSON.stringify({ custom_id: 'c', response: body('crlf'), error: null }) + '\r',
        JSON.stringify({ id: 'batch_req_4', custom_id: 'a "quoted" id', response: body('later'), error: null }),
        JSON.stringify({ id: 'batch_req_5', custom_id: 'last', response: body('no newline'), error: null }),
      ].join('\n'),
    );
    const index = new OutputIndex();
    const warnings: string[] = [];
    await index.add({ jobId: 'j', path: file }, { debug() {}, info() {}, warn: (m) => void warnings.push(m), error() {} });
    try {
      assert.equal(index.size, 4);
      assert.equal(((await index.get('j', 'a "quoted" id'))!.response!.body as { content: string }).content, 'later');
      assert.equal((await index.get('j', 'b'))!.custom_id, 'b');
      assert.equal(index.has('j', 'nested'), false);
      assert.equal(((await index.get('j', 'c'))!.response!.body as { content: string }).content, 'crlf');
      assert.equal(((await index.get('j', 'last'))!.response!.body as { content: string }).content, 'no newline');
      assert.equal(await index.get('other-job', 'b'), undefined);
      assert.deepEqual(warnings, [`${file}:4: not a batch output line (no custom_id); skipped`]);
    } finally {
      await index.close();
    }
  });
});
