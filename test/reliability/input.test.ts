/**
 * Bad input, through the bundled CLI: each bad row gets a message naming its file and line (in its
 * record and on stderr), and the rest of the batch goes on. A file that cannot be read at all is
 * refused before any request, with a message naming it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResultRecord } from '../../src/core/types';
import { startFakeServer, type FakeServer } from '../support/fakeServer';
import { FiguresTable } from './figures';
import { answerOf, assertCliBuilt, expectedAnswer, fastllm, promptOf, readRecords, tempDir } from './helpers';

const table = new FiguresTable('input');

/** The fake's answer to prompts over its "context": 400 context_length_exceeded, as OpenAI sends it. */
const CONTEXT_CHARS = 100_000;
const contextExceeded = {
  status: 400 as const,
  body: {
    error: {
      message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 2621450 tokens. Please reduce the length of the messages.",
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    },
  },
};

describe('bad input', () => {
  let server: FakeServer;
  let dir: string;
  const figures = { files: 0, rows: 0, badRows: 0, goodRows: 0, requests: 0, lost: 0 };
  before(async () => {
    assertCliBuilt();
    server = await startFakeServer({ latencyMs: 1 });
    server.behavior.plan = ({ body }) => (promptOf(body).length > CONTEXT_CHARS ? contextExceeded : undefined);
    dir = tempDir('input');
  });
  after(async () => {
    await server.close();
  });

  /**
   * Runs the CLI on a file holding `content`. `rows` are the lines where the file's rows start:
   * each must get a record, and those that do not are counted as lost. A results file that
   * cannot be read (a torn or non-JSON line) fails the test; a missing one reads as no records,
   * and the tests of files refused before any request check that it is missing.
   */
  async function run(name: string, content: string | Buffer, rows: number[], extra: string[] = []) {
    const input = join(dir, name);
    writeFileSync(input, content);
    const out = join(dir, `${name}.results.jsonl`);
    const before = server.count;
    const result = await fastllm(['run', input, '--out', out, '--base-url', server.url, '--no-cache', '--quiet', ...extra], { cwd: dir });
    const requests = server.count - before;
    const written = existsSync(out);
    const records: ResultRecord[] = written ? readRecords(out) : [];
    figures.files++;
    figures.requests += requests;
    figures.rows += rows.length;
    const unused = records.map((r) => r.line);
    for (const line of rows) {
      const at = unused.indexOf(line);
      if (at === -1) figures.lost++;
      else unused.splice(at, 1);
    }
    return { input, out, ...result, records, requests, written };
  }

  /** A failed row: its record and stderr both say `<file>:<line>:` and match `what`. */
  function badRow(r: { input: string; stderr: string; records: ResultRecord[] }, line: number, what: RegExp) {
    const record = r.records.find((x) => x.line === line);
    assert.ok(record, `no record for line ${line}`);
    assert.ok(record.error, `line ${line} did not fail`);
    assert.ok(record.error.message.startsWith(`${r.input}:${line}: `) || r.stderr.includes(`${r.input}:${line}: `), `line ${line}: ${record.error.message}`);
    assert.match(record.error.message, what);
    const shown = r.stderr.split('\n').find((l) => l.includes(`${r.input}:${line}: `));
    assert.ok(shown, `stderr does not mention ${r.input}:${line}:\n${r.stderr}`);
    assert.match(shown, what);
    figures.badRows++;
  }

  function goodRow(r: { records: ResultRecord[] }, line: number, prompt: string) {
    const record = r.records.find((x) => x.line === line);
    assert.ok(record, `no record for line ${line}`);
    assert.equal(record.error, null, `line ${line}: ${JSON.stringify(record.error)}`);
    assert.equal(answerOf(record), expectedAnswer(prompt));
    figures.goodRows++;
  }

  test('an empty file and a file of blank lines: no requests, a message naming the file', async () => {
    // Injected: a 0-byte .txt, and a .jsonl of blank lines (spaces, tabs, CRLF).
    for (const [name, content] of [['empty.txt', ''], ['blank.jsonl', '\n   \n\t\r\n\r\n\n']] as const) {
      const r = await run(name, content, []);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.records.length, 0);
      assert.equal(r.requests, 0);
      assert.ok(r.stderr.includes(`no requests in ${r.input}`), r.stderr);
    }
  });

  test('a JSONL file mixing good lines with bad ones: each bad line reported, the rest answered', async () => {
    // Injected: invalid JSON, messages not a list, an unknown role, a number where text belongs
    // (content, prompt, model), JSON that is no request, invalid UTF-8 bytes, a duplicate
    // custom_id, and a 10 MB prompt (over the context: the server answers 400).
    const big = 'x'.repeat(10 * 1024 * 1024);
    const lines: (string | Buffer)[] = [
      '{"custom_id":"a","prompt":"good one"}', // 1
      '{"prompt": "unterminated', // 2
      '{"messages": {"role": "user", "content": "hi"}}', // 3
      '{"messages": [{"role": "wizard", "content": "hi"}]}', // 4
      '{"messages": [{"role": "user", "content": 42}]}', // 5
      '{"prompt": 7}', // 6
      '"good two"', // 7
      '{"prompt": "bad model", "model": 5}', // 8
      '[1, 2, 3]', // 9
      Buffer.from([0x7b, 0x22, 0x70, 0x72, 0x6f, 0x6d, 0x70, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]), // 10
      '{"custom_id":"a","prompt":"same id again"}', // 11
      `{"custom_id":"huge","prompt":"${big}"}`, // 12
      '{"custom_id":"c","messages":[{"role":"user","content":"good three"}]}', // 13
    ];
    const content = Buffer.concat(lines.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
    const r = await run('mixed.jsonl', content, lines.map((_, i) => i + 1));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.records.length, lines.length, 'one record per line');
    assert.deepEqual(r.records.map((x) => x.line), lines.map((_, i) => i + 1));
    goodRow(r, 1, 'good one');
    goodRow(r, 7, 'good two');
    goodRow(r, 13, 'good three');
    badRow(r, 2, /invalid JSON/);
    badRow(r, 3, /"messages" must be a list/);
    badRow(r, 4, /'wizard' is not a role/);
    badRow(r, 5, /content must be text/);
    badRow(r, 6, /"prompt" must be a string/);
    badRow(r, 8, /model/);
    badRow(r, 9, /expected a JSON object/);
    badRow(r, 10, /not valid UTF-8/);
    badRow(r, 11, /duplicate custom_id 'a' \(first on line 1\)/);
    badRow(r, 12, /maximum context length/);
    assert.match(r.stderr, /:12: huge: This model's maximum context length .*\(context_length_exceeded\)/);
    const huge = r.records.find((x) => x.custom_id === 'huge')!;
    assert.equal(huge.attempts, 1, 'a prompt over the context is not retried');
    assert.equal(r.requests, 4, 'only the 3 good rows and the huge one were sent, once each');
  });

  test('a single 10 MB line: sent once, reported as over the context, not retried', async () => {
    // Injected: a .txt that is one 10 MB line without a final newline.
    const r = await run('one-line.txt', 'y'.repeat(10 * 1024 * 1024), [1], ['--max-retries', '5']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.records.length, 1);
    badRow(r, 1, /maximum context length/);
    assert.equal(r.records[0]!.error!.code, 'context_length_exceeded');
    assert.equal(r.requests, 1);
  });

  test('CSV: quoted commas, quotes and line breaks; a short row; a duplicate id; BOM and CRLF', async () => {
    // Injected: a BOM, CRLF line ends, fields with commas, doubled quotes and a line break, a row
    // missing a field, a duplicate custom_id.
    const csv = [
      '\ufeffcustom_id,text,tone', // 1
      'r1,"hello, world",warm', // 2
      'r2,"she said ""hi""",dry', // 3
      'r3,"two', // 4
      'lines",plain', // 5
      'r4,only two fields', // 6
      'r1,duplicate id,warm', // 7
      'r5,last,calm', // 8
    ].join('\r\n');
    const r = await run('quoted.csv', csv, [2, 3, 4, 6, 7, 8], ['--template', 'Say ({{tone}}): {{text}}']);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.records.map((x) => x.custom_id), ['r1', 'r2', 'r3', 'line-6', 'line-7', 'r5']);
    goodRow(r, 2, 'Say (warm): hello, world');
    goodRow(r, 3, 'Say (dry): she said "hi"');
    goodRow(r, 4, 'Say (plain): two\nlines');
    badRow(r, 6, /has 2 fields, but the header has 3/);
    badRow(r, 7, /duplicate custom_id 'r1' \(first on line 2\)/);
    goodRow(r, 8, 'Say (calm): last');
  });

  test('CSV: a template naming a column the header lacks, and a header only', async () => {
    // Injected: a template with {{missing}}; a CSV with a header and no rows.
    const missing = await run('cols.csv', 'text,tone\nhi,warm\n', [], ['--template', '{{text}} {{missing}}']);
    assert.equal(missing.code, 2);
    assert.equal(missing.requests, 0);
    assert.equal(missing.written, false, 'a refused file leaves no results file');
    assert.ok(missing.stderr.includes(missing.input), missing.stderr);
    assert.match(missing.stderr, /template uses column 'missing', not in the header \(columns: 'text', 'tone'\)/);
    const header = await run('header.csv', 'prompt,custom_id\r\n', []);
    assert.equal(header.code, 0, header.stderr);
    assert.equal(header.records.length, 0);
    assert.ok(header.stderr.includes(`no requests in ${header.input}`), header.stderr);
  });

  test('a BOM and CRLF line ends in .txt and .jsonl are not part of any prompt', async () => {
    // Injected: a UTF-8 BOM at the start and \r\n line ends.
    const txt = await run('bom.txt', '\ufefffirst\r\nsecond\r\n', [1, 2]);
    assert.equal(txt.code, 0, txt.stderr);
    goodRow(txt, 1, 'first');
    goodRow(txt, 2, 'second');
    const jsonl = await run('bom.jsonl', '\ufeff{"prompt":"first"}\r\n"second"\r\n', [1, 2]);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    goodRow(jsonl, 1, 'first');
    goodRow(jsonl, 2, 'second');
  });

  test('a binary file, and a UTF-16 file, given as input: refused before any request, naming the file', async () => {
    // Injected: the first 64 KiB of the node binary saved as .txt; a UTF-16LE .jsonl.
    const binary = await run('binary.txt', readFileSync(process.execPath).subarray(0, 64 * 1024), []);
    assert.equal(binary.code, 2);
    assert.equal(binary.requests, 0);
    assert.equal(binary.written, false, 'a refused file leaves no results file');
    assert.match(binary.stderr, /binary\.txt looks like a binary file/);
    const utf16 = await run('utf16.jsonl', Buffer.from('\ufeff"hello"\n', 'utf16le'), []);
    assert.equal(utf16.code, 2);
    assert.equal(utf16.requests, 0);
    assert.equal(utf16.written, false, 'a refused file leaves no results file');
    assert.match(utf16.stderr, /utf16\.jsonl is UTF-16 encoded; save it as UTF-8/);
  });

  test('totals: every file had one record per row, none lost', (t) => {
    assert.ok(figures.badRows >= 13 && figures.goodRows >= 11, JSON.stringify(figures));
    assert.equal(figures.lost, 0, `${figures.lost} of ${figures.rows} rows have no record`);
    table.record(t, 'bad input', { label: 'All bad-input files', ...figures });
  });
});
