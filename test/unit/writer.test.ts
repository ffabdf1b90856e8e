import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { defaultResultsPath, partialResultsPath, readResults, ResultsWriter } from '../../src/core/batch/index';
import type { ResultRecord } from '../../src/core/types';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastllm-writer-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = () => join(dir, `out${n++}.results.jsonl`);

function record(i: number, extra: Partial<ResultRecord> = {}): ResultRecord {
  return {
    id: `fastllm-abc-${i}`,
    custom_id: `line-${i}`,
    response: { status_code: 200, request_id: `req_${i}`, body: { choices: [{ message: { role: 'assistant', content: `answer ${i}\nwith "quotes"` } }] } },
    error: null,
    line: i,
    cached: false,
    attempts: 1,
    latency_ms: 12,
    ...extra,
  };
}

async function readAll(path: string, onInvalid?: (m: string) => void): Promise<ResultRecord[]> {
  const out: ResultRecord[] = [];
  for await (const r of readResults(path, { onInvalid })) out.push(r);
  return out;
}

describe('ResultsWriter', () => {
  it('writes one JSON line per record that parses line by line', async () => {
    const path = fresh();
    const w = await ResultsWriter.open(path);
    await w.write(record(1));
    await w.write(record(2, { response: null, error: { code: 'invalid_input', message: 'x.jsonl:2: bad' } }));
    assert.equal(w.count, 2);
    await w.close();
    await w.close(); // closing twice is harmless
    const text = await readFile(path, 'utf8');
    assert.ok(text.endsWith('\n'));
    const lines = text.split('\n').slice(0, -1);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines.map((l) => JSON.parse(l) as ResultRecord), [record(1), record(2, { response: null, error: { code: 'invalid_input', message: 'x.jsonl:2: bad' } })]);
  });

  it('replaces by default and appends on request', async () => {
    const path = fresh();
    let w = await ResultsWriter.open(path);
    await w.write(record(1));
    await w.close();
    w = await ResultsWriter.open(path, { append: true });
    await w.write(record(2));
    await w.close();
    assert.deepEqual((await readAll(path)).map((r) => r.line), [1, 2]);
    w = await ResultsWriter.open(path);
    await w.write(record(3));
    await w.close();
    assert.deepEqual((await readAll(path)).map((r) => r.line), [3]);
  });

  it('atomic: the previous file stays whole until commit, which replaces it in one rename', async () => {
    const path = fresh();
    let w = await ResultsWriter.open(path);
    await w.write(record(1));
    await w.close();
    w = await ResultsWriter.open(path, { atomic: true });
    assert.equal(w.path, partialResultsPath(path));
    assert.equal(w.destination, path);
    await w.write(record(2));
    await w.write(record(3));
    // Mid-run, the old results are still there, whole.
    assert.deepEqual((await readAll(path)).map((r) => r.line), [1]);
    await w.close();
    // Closed without commit (a stopped run): still the old file; the new records are in the partial file.
    assert.deepEqual((await readAll(path)).map((r) => r.line), [1]);
    assert.deepEqual((await readAll(partialResultsPath(path))).map((r) => r.line), [2, 3]);

    w = await ResultsWriter.open(path, { atomic: true });
    await w.write(record(4));
    assert.equal(await w.commit(), path);
    assert.deepEqual((await readAll(path)).map((r) => r.line), [4]);
    await assert.rejects(readFile(partialResultsPath(path)), { code: 'ENOENT' });
    assert.equal(partialResultsPath('/a/p.results.jsonl'), '/a/p.results.partial.jsonl');
    assert.equal(partialResultsPath('/a/out.json'), '/a/out.json.partial.jsonl');
  });

  it('keeps call order under overlapping writes and back-pressure', async () => {
    const path = fresh();
    const w = await ResultsWriter.open(path);
    const big = 'x'.repeat(4096); // fills the 16 KiB stream buffer after a few records
    await Promise.all(Array.from({ length: 2000 }, (_, i) => w.write(record(i, { response: { status_code: 200, request_id: null, body: big } }))));
    await w.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 2000);
    lines.forEach((l, i) => assert.equal((JSON.parse(l) as ResultRecord).line, i));
  });

  it('leaves a valid JSONL prefix when the process is killed mid-run', async () => {
    const path = fresh();
    const script = join(dir, 'writer-child.mts');
    const writerModule = resolve('src/core/batch/writer.ts'); // tests run from the project root
    await writeFile(
      script,
      `import { ResultsWriter } from ${JSON.stringify(writerModule)};
      const w = await ResultsWriter.open(${JSON.stringify(path)});
      const body = 'y'.repeat(2000);
      for (let i = 0; ; i++) {
        await w.write({ id: 'r' + i, custom_id: 'c' + i, response: { status_code: 200, request_id: null, body }, error: null, line: i, cached: false, attempts: 1, latency_ms: 1 });
        if (i === 200) console.log('running');
      }`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout, 'data');
    await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await once(child, 'exit');
    const notes: string[] = [];
    const records = await readAll(path, (m) => notes.push(m));
    assert.ok(records.length > 200, `only ${records.length} records`);
    records.forEach((r, i) => assert.equal(r.line, i));
    assert.ok(notes.every((m) => /incomplete last line/.test(m)), notes.join('\n'));
  });

  it('creates the folder of the results file', async () => {
    const path = join(dir, 'nested', 'deeper', 'r.jsonl');
    const w = await ResultsWriter.open(path);
    await w.write(record(1));
    await w.close();
    assert.equal((await readAll(path)).length, 1);
  });

  it('fails to open a path that is a folder, and rejects writes after close', async () => {
    await assert.rejects(ResultsWriter.open(dir), /EISDIR/);
    const w = await ResultsWriter.open(fresh());
    await w.close();
    await assert.rejects(w.write(record(1)), /write after close/);
  });

  it('cuts a torn last line before appending', async () => {
    const path = fresh();
    await writeFile(path, JSON.stringify(record(1)) + '\n' + JSON.stringify(record(2)).slice(0, 30));
    const w = await ResultsWriter.open(path, { append: true });
    await w.write(record(3));
    await w.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.deepEqual(lines.slice(0, -1).map((l) => (JSON.parse(l) as ResultRecord).line), [1, 3]);
  });

  it('cuts a file that is a single torn line to nothing before appending', async () => {
    const path = fresh();
    await writeFile(path, '{"id": "fastl');
    const w = await ResultsWriter.open(path, { append: true });
    await w.write(record(1));
    await w.close();
    assert.equal(await readFile(path, 'utf8'), JSON.stringify(record(1)) + '\n');
  });
});

describe('readResults', () => {
  it('skips a torn last line (an interrupted run) and blank lines', async () => {
    const path = fresh();
    await writeFile(path, `${JSON.stringify(record(1))}\n\n${JSON.stringify(record(2))}\n{"id": "half`);
    assert.deepEqual((await readAll(path)).map((r) => r.line), [1, 2]);
    const notes: string[] = [];
    await readAll(path, (m) => notes.push(m));
    assert.equal(notes.length, 1);
    assert.match(notes[0], /:4: invalid JSON.*incomplete last line/);
  });

  it('throws on a bad line in the middle, naming file and line, unless onInvalid is given', async () => {
    const path = fresh();
    await writeFile(path, `${JSON.stringify(record(1))}\nnot json\n[1]\n${JSON.stringify(record(4))}\n`);
    await assert.rejects(readAll(path), (err: Error) => err.message.startsWith(`${path}:2: invalid JSON`));
    const notes: string[] = [];
    assert.deepEqual((await readAll(path, (m) => notes.push(m))).map((r) => r.line), [1, 4]);
    assert.equal(notes.length, 2);
    assert.match(notes[1], /:3: not a result record/);
  });

  it('throws on a bad complete last line', async () => {
    const path = fresh();
    await appendFile(path, `${JSON.stringify(record(1))}\n{"no": "id"}\n`);
    await assert.rejects(readAll(path), /:2: not a result record/);
  });

  it('stops early without error', async () => {
    const path = fresh();
    const w = await ResultsWriter.open(path);
    for (let i = 0; i < 1000; i++) await w.write(record(i));
    await w.close();
    for await (const r of readResults(path)) {
      assert.equal(r.line, 0);
      break;
    }
  });
});

describe('defaultResultsPath', () => {
  it('puts <name>.results.jsonl beside the input', () => {
    assert.equal(defaultResultsPath(join('data', 'prompts.jsonl')), join('data', 'prompts.results.jsonl'));
    assert.equal(defaultResultsPath('/a/b/sheet.v2.csv'), '/a/b/sheet.v2.results.jsonl');
    assert.equal(defaultResultsPath('noext'), 'noext.results.jsonl');
  });
});
