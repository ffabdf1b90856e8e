/**
 * The `fastllm run` flags of issue 13, as users run them (the bundled dist/cli.js in a child
 * process, against the loopback fake server): `--api responses`, `--max-tokens` for reasoning
 * models, `--reasoning-effort`, `--schema FILE`, and the summary lines for truncated answers,
 * reasoning tokens and provider cache hits.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { answerText } from '../../src/core/answer';
import type { ResultRecord } from '../../src/core/types';
import { startFakeBatchApi } from '../support/fakeBatchApi';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { CLI, runCli, type CliResult } from '../support/cli';


function fastllm(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, cwd, { OPENAI_API_KEY: 'sk-test-modern', OPENAI_BASE_URL: undefined });
}

const readRecords = (path: string): ResultRecord[] => readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as ResultRecord);

describe('fastllm run: Responses API, reasoning models, structured outputs', () => {
  let server: FakeServer;
  let dir: string;
  let n = 0;
  const input = (lines: string[], ext = 'txt') => {
    const p = join(dir, `in-${++n}.${ext}`);
    writeFileSync(p, lines.join('\n') + '\n');
    return p;
  };
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startFakeServer();
    dir = mkdtempSync(join(tmpdir(), 'fastllm-cli-modern-'));
  });
  after(() => server.close());

  test('--api responses sends bare prompts to /v1/responses with the system message as instructions', async () => {
    server.reset();
    server.behavior = {};
    const file = input(['alpha', 'beta']);
    const run = await fastllm(['run', file, '--base-url', server.url, '--api', 'responses', '--system', 'Be brief', '--no-cache'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.countByPath['/v1/responses'], 2);
    assert.deepEqual(server.requests.map((r) => (r.body as { instructions: string }).instructions), ['Be brief', 'Be brief']);
    const records = readRecords(file.replace(/\.txt$/, '.results.jsonl'));
    assert.deepEqual(records.map((r) => answerText(r.response?.body)), ['echo: alpha', 'echo: beta']);
    const bad = await fastllm(['run', file, '--api', 'completions'], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--api takes chat, responses or embeddings, not "completions"/);
  });

  test('--max-tokens goes as max_completion_tokens to o-series models, with --reasoning-effort; truncated answers and reasoning tokens are in the summary', async () => {
    server.reset();
    server.behavior = { reasoningTokens: 9, rejectMaxTokens: true };
    const file = input(['a prompt that is long enough to be cut short by two tokens']);
    const run = await fastllm(['run', file, '--base-url', server.url, '--model', 'o4-mini', '--max-tokens', '2', '--reasoning-effort', 'low', '--no-cache'], dir);
    assert.equal(run.code, 0, run.stderr);
    const sent = server.requests[0]!.body as Record<string, unknown>;
    assert.deepEqual([sent.max_completion_tokens, sent.max_tokens, sent.reasoning_effort], [2, undefined, 'low']);
    assert.equal(server.countByStatus[400], undefined);
    assert.match(run.stderr, /truncated 1 answers cut short by the token limit/);
    assert.match(run.stderr, /reasoning 9 reasoning tokens/);
    assert.equal(readRecords(file.replace(/\.txt$/, '.results.jsonl'))[0]!.truncated, true);
  });

  test('--schema: answers are validated; a non-matching one fails the run (exit 1) with schema_valid false', async () => {
    server.reset();
    server.behavior = { answerText: (b) => (JSON.stringify(b).includes('broken') ? '{"name": 3}' : undefined), cachedTokens: 2 };
    const schema = join(dir, 'person.json');
    writeFileSync(schema, JSON.stringify({ type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false }));
    const file = input(['fine', 'broken']);
    const run = await fastllm(['run', file, '--base-url', server.url, '--schema', schema, '--no-cache'], dir);
    assert.equal(run.code, 1, run.stderr);
    const records = readRecords(file.replace(/\.txt$/, '.results.jsonl'));
    assert.deepEqual(records.map((r) => r.schema_valid), [true, false]);
    assert.equal(records[1]!.error!.code, 'schema_invalid');
    assert.match(run.stderr, /schema_invalid: the answer does not match the JSON schema: \/name must be string/);
    assert.match(run.stderr, /provider  2 prompt-cache hits, 4 cached input tokens/);
    const sent = server.requests[0]!.body as { response_format: { type: string; json_schema: { name: string; strict: boolean } } };
    assert.deepEqual([sent.response_format.type, sent.response_format.json_schema.name, sent.response_format.json_schema.strict], ['json_schema', 'person', true]);
  });

  test('a bad --schema file is a usage error naming the file, before any request', async () => {
    server.reset();
    const schema = join(dir, 'broken.json');
    writeFileSync(schema, '{"type": "object", "properties": ');
    const run = await fastllm(['run', input(['x']), '--base-url', server.url, '--schema', schema], dir);
    assert.equal(run.code, 2);
    assert.ok(run.stderr.includes(`--schema ${schema}: the schema file is not JSON`), run.stderr);
    assert.equal(server.count, 0);
  });

  test('batch submit --api responses sends /v1/responses jobs; fetch reads their answers', async () => {
    const api = await startFakeBatchApi();
    try {
      const file = input(['alpha', 'beta']);
      const sub = await fastllm(['batch', 'submit', file, '--base-url', api.url, '--api', 'responses', '--model', 'gpt-5-mini', '--reasoning-effort', 'high', '--no-cache'], dir);
      assert.equal(sub.code, 0, sub.stderr);
      const job = api.jobs().at(-1)!;
      assert.equal(job.batch.endpoint, '/v1/responses');
      assert.deepEqual(job.lines.map((l) => [l.url, (l.body as { reasoning?: { effort?: string } }).reasoning?.effort]), [['/v1/responses', 'high'], ['/v1/responses', 'high']]);
      const fetched = await fastllm(['batch', 'fetch', file, '--base-url', api.url, '--wait', '--poll-ms', '5', '--max-poll-ms', '20', '--no-cache'], dir);
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.match(fetched.stderr, /reasoning 16 reasoning tokens/, 'the fake Batch API reports 8 per gpt-5 answer');
      const records = readRecords(file.replace(/\.txt$/, '.results.jsonl'));
      assert.deepEqual(records.map((r) => answerText(r.response?.body)), ['echo: alpha', 'echo: beta']);
    } finally {
      await api.close();
    }
  });
});
