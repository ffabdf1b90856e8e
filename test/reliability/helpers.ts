/**
 * What the reliability tests share: the bundled CLI in a child process, chat rows for the
 * RequestManager, and the checks every fault test makes (one record per row, answers that the
 * server really gave for that row, sends per row within the retry limit).
 *
 * Each test records its figures (./figures.ts), from which scripts/reliability-figures.mjs renders
 * the tables of docs/reliability.md.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import type { FakeServer, RecordedRequest } from '../support/fakeServer';

export const CLI = resolve(__dirname, '../../dist/cli.js');

/** The API key every test uses; long and unusual, so that a search for it cannot match by chance. */
export const KEY = 'sk-proj-RELIABILITY-7f3a9c21e4b8d0f6a5c2b9e1d7f4a3c8';

export function assertCliBuilt(): void {
  assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (npm test does)`);
}

const made: string[] = [];
// Removed when the test process ends; set FASTLLM_KEEP_TEST_DIRS=1 to look at them afterwards.
process.once('exit', () => {
  if (!process.env.FASTLLM_KEEP_TEST_DIRS) for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed at exit. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `fastllm-rel-${name}-`));
  made.push(dir);
  return dir;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
}

/** Starts `fastllm ARGS` with OPENAI_API_KEY = {@link KEY}; the caller collects or kills it. */
export function startCli(args: string[], opts: CliOptions): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined, FASTLLM_MODEL: undefined, ...opts.env },
  });
}

/** Resolves when the child exits, with everything it printed. */
export function collect(child: ChildProcessWithoutNullStreams): Promise<CliResult> {
  return new Promise((done, fail) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

export function fastllm(args: string[], opts: CliOptions): Promise<CliResult> {
  return collect(startCli(args, opts));
}

/** The records of a results file; throws on any line that is not JSON, or a missing final newline. */
export function readRecords(path: string): ResultRecord[] {
  const text = readFileSync(path, 'utf8');
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), `${path} ends with a torn (unterminated) line`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line, i) => {
      try {
        return JSON.parse(line) as ResultRecord;
      } catch (e) {
        throw new Error(`${path}:${i + 1} is not JSON (${(e as Error).message}): ${line.slice(0, 120)}`);
      }
    });
}

/** Choice 0's text of a successful record. */
export function answerOf(record: ResultRecord): string {
  const body = record.response?.body as { choices?: { message?: { content?: string } }[] } | undefined;
  const content = body?.choices?.[0]?.message?.content;
  assert.equal(typeof content, 'string', `record ${record.custom_id} has no answer: ${JSON.stringify(record).slice(0, 300)}`);
  return content!;
}

/** What the fake server answers for a prompt (see planChat in the fake). */
export const expectedAnswer = (prompt: string) => `echo: ${prompt}`;

/** Chat rows `row-0` … for the RequestManager, each with its own prompt. */
export function chatRows(n: number, prefix: string): (LLMRequest & { kind: 'chat' })[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: 'chat' as const,
    custom_id: `row-${i}`,
    line: i + 1,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: `${prefix} ${i}` }] },
  }));
}

/** The last user message of a chat body. */
export function promptOf(body: unknown): string {
  const messages = (body as { messages?: { role: string; content: unknown }[] }).messages ?? [];
  const last = [...messages].reverse().find((m) => m.role === 'user');
  return typeof last?.content === 'string' ? last.content : '';
}

/** Requests per distinct body, for chat requests only. */
export function sendsPerBody(requests: readonly RecordedRequest[]): Map<string, RecordedRequest[]> {
  const by = new Map<string, RecordedRequest[]>();
  for (const r of requests) {
    if (!r.path.endsWith('/chat/completions')) continue;
    const key = JSON.stringify(r.body);
    const list = by.get(key) ?? [];
    list.push(r);
    by.set(key, list);
  }
  return by;
}

export interface RunCheck {
  rows: readonly LLMRequest[];
  records: readonly ResultRecord[];
  /** The servers that saw the run (more than one when a server was restarted). */
  servers: readonly FakeServer[];
  maxRetries: number;
  /** custom_ids expected to fail; every other row must succeed. */
  failing?: ReadonlySet<string>;
  /**
   * custom_ids of rows refused with 429 for ever: rate limits do not use up `maxRetries` (they are
   * retried while the run makes progress), so their sends are not bounded by it.
   */
  rateLimited?: ReadonlySet<string>;
}

/**
 * The guarantees of every fault test:
 * - exactly one record per row, in input order;
 * - each success carries the answer the server gave to a request for that very row (the record's
 *   `x-request-id` names the request, whose body must be the row's), and that answer is the right one;
 * - no body was sent more than `maxRetries + 1` times, and `attempts` agrees with the server's count.
 */
export function checkRun({ rows, records, servers, maxRetries, failing = new Set(), rateLimited = new Set() }: RunCheck): void {
  assert.deepEqual(
    records.map((r) => r.custom_id),
    rows.map((r) => r.custom_id),
    'exactly one record per row, in input order',
  );
  const perBody = new Map<string, number>();
  for (const s of servers) {
    for (const [body, list] of sendsPerBody(s.requests)) perBody.set(body, (perBody.get(body) ?? 0) + list.length);
  }
  const unbounded = new Set(rows.filter((r) => rateLimited.has(r.custom_id)).map((r) => JSON.stringify(r.body)));
  for (const [body, n] of perBody) {
    if (unbounded.has(body)) continue;
    assert.ok(n <= maxRetries + 1, `a row was sent ${n} times, more than 1 + ${maxRetries} retries: ${body.slice(0, 100)}`);
  }
  rows.forEach((row, i) => {
    const record = records[i]!;
    if (failing.has(row.custom_id)) {
      assert.ok(record.error, `${row.custom_id} was expected to fail`);
      assert.equal(record.response?.status_code === 200, false);
      return;
    }
    assert.equal(record.error, null, `${row.custom_id} failed: ${JSON.stringify(record.error)}`);
    assert.equal(answerOf(record), expectedAnswer(promptOf(row.body)), `${row.custom_id}: wrong answer`);
    // The answer came from a request for this row: the fake's request id is `req_fake<index>`.
    const index = Number(/^req_fake(\d+)$/.exec(record.response!.request_id ?? '')?.[1]);
    const served = servers.map((s) => s.requests.find((r) => r.index === index));
    assert.ok(
      served.some((r) => r !== undefined && JSON.stringify(r.body) === JSON.stringify(row.body)),
      `${row.custom_id}: its answer (${record.response!.request_id}) was not the server's answer to this row`,
    );
    // Attempts that never reached a server (connection refused) are counted by the client only.
    const sent = perBody.get(JSON.stringify(row.body)) ?? 0;
    const agrees = servers.length > 1 ? record.attempts >= sent : record.attempts === sent;
    assert.ok(agrees, `${row.custom_id}: the record says ${record.attempts} attempts, the server saw ${sent}`);
  });
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
