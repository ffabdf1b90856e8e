import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsvParser, countRows, readBatch, type CsvRecord, type ReaderOptions } from '../../src/core/batch/index';
import type { ChatBody, InputError, InputItem, LLMRequest } from '../../src/core/types';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastllm-csv-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function csv(content: string | Buffer): Promise<string> {
  const path = join(dir, `in${n++}.csv`);
  await writeFile(path, content);
  return path;
}

async function all(path: string, options: ReaderOptions = { defaults: { model: 'm' } }): Promise<InputItem[]> {
  const items: InputItem[] = [];
  for await (const item of readBatch(path, options)) items.push(item);
  return items;
}

function req(item: InputItem | undefined): LLMRequest {
  assert.ok(item && item.kind !== 'invalid', `expected a request, got ${JSON.stringify(item)}`);
  return item;
}
function bad(item: InputItem | undefined): InputError {
  assert.ok(item && item.kind === 'invalid', `expected an error item, got ${JSON.stringify(item)}`);
  return item;
}
const prompt = (item: InputItem | undefined) => {
  const messages = (req(item).body as ChatBody).messages;
  return messages[messages.length - 1].content;
};

/** Parses text with the record parser directly, one line at a time. */
function parse(text: string): CsvRecord[] {
  const parser = new CsvParser();
  const out: CsvRecord[] = [];
  text.split('\n').forEach((t, i) => {
    const r = parser.push({ line: i + 1, text: t });
    if (r) out.push(r);
  });
  const last = parser.end();
  if (last) out.push(last);
  return out;
}

describe('CsvParser', () => {
  it('handles quoted commas, doubled quotes, empty fields and newlines inside quotes', () => {
    assert.deepEqual(parse('a,"b,c","say ""hi""",,"x\ny\n\nz",end\nnext,row'), [
      { line: 1, fields: ['a', 'b,c', 'say "hi"', '', 'x\ny\n\nz', 'end'] },
      { line: 5, fields: ['next', 'row'] },
    ]);
  });

  it('keeps stray quotes in unquoted fields and text after a closing quote', () => {
    assert.deepEqual(parse('5" screen,"a"b,""'), [{ line: 1, fields: ['5" screen', 'ab', ''] }]);
  });

  it('handles a trailing comma and skips blank lines between records', () => {
    assert.deepEqual(parse('a,\n\n  \nb,c'), [
      { line: 1, fields: ['a', ''] },
      { line: 4, fields: ['b', 'c'] },
    ]);
  });

  it('reports an unterminated quote at the end', () => {
    const records = parse('ok\n"never closed\nmore');
    assert.equal(records.length, 2);
    assert.equal(records[1].line, 2);
    assert.match(records[1].error ?? '', /not closed by the end of the file \(it starts on line 2\)/);
  });

  it('gives up on a runaway quoted field and starts again on the next line', () => {
    const parser = new CsvParser({ maxRecordChars: 20 });
    const out = ['"runaway', 'aaaaaaaaaa', 'bbbbbbbbbb', 'fresh,row'].map((text, i) => parser.push({ line: i + 1, text }));
    assert.equal(out[0], undefined);
    assert.equal(out[1], undefined);
    assert.match(out[2]?.error ?? '', /longer than 20 characters .* skipped through line 3/);
    assert.deepEqual(out[3], { line: 4, fields: ['fresh', 'row'] });
  });
});

describe('readBatch: .csv', () => {
  it('reads a prompt column with custom_id, system and model columns', async () => {
    const path = await csv('\uFEFFCustom_ID,prompt,system,model\r\nq1,"Hello, world",,\r\n,"Line one\r\nline two",Be terse,other\r\n');
    const items = await all(path, { defaults: { model: 'm', system: 'Default system' } });
    assert.equal(items.length, 2);
    assert.deepEqual(req(items[0]), {
      kind: 'chat',
      custom_id: 'q1',
      line: 2,
      body: { model: 'm', messages: [{ role: 'system', content: 'Default system' }, { role: 'user', content: 'Hello, world' }] },
    });
    assert.deepEqual(req(items[1]), {
      kind: 'chat',
      custom_id: 'line-3',
      line: 3,
      body: { model: 'other', messages: [{ role: 'system', content: 'Be terse' }, { role: 'user', content: 'Line one\nline two' }] },
    });
  });

  it('numbers records by the line they start on, across quoted newlines and blank lines', async () => {
    const path = await csv('prompt\n"a\nb\nc"\n\nd\n"e"\n');
    const items = await all(path);
    assert.deepEqual(items.map((i) => [i.line, prompt(i)]), [[2, 'a\nb\nc'], [6, 'd'], [7, 'e']]);
  });

  it('fills a template from the columns', async () => {
    const path = await csv('text,lang\nhello,French\n"good, day",German\n');
    const items = await all(path, { defaults: { model: 'm' }, template: 'Translate to {{ lang }}: {{text}}' });
    assert.deepEqual(items.map(prompt), ['Translate to French: hello', 'Translate to German: good, day']);
  });

  it('throws before any row when the template names missing columns', async () => {
    const path = await csv('text,lang\nhello,French\n');
    await assert.rejects(all(path, { defaults: { model: 'm' }, template: '{{tone}} {{text}} {{ audience }}' }), (err: Error) => {
      assert.equal(err.message, `${path}: the template uses columns 'tone', 'audience', not in the header (columns: 'text', 'lang')`);
      return true;
    });
  });

  it('throws when there is neither a prompt column nor a template', async () => {
    const path = await csv('question,answer\nq,a\n');
    await assert.rejects(all(path), /no 'prompt' column \(columns: 'question', 'answer'\); add one, or give a template such as "\{\{question\}\}"/);
  });

  it('yields nothing for a header only, or an empty file', async () => {
    assert.deepEqual(await all(await csv('prompt,custom_id\r\n')), []);
    assert.deepEqual(await all(await csv('prompt')), []);
    assert.deepEqual(await all(await csv('')), []);
  });

  it('reports a record with the wrong number of fields and goes on', async () => {
    const path = await csv('prompt,custom_id\nok,a\ntoo,many,fields\nfew\nlast,b\n');
    const items = await all(path);
    assert.equal(items.length, 4);
    assert.equal(bad(items[1]).error.message, `${path}:3: the record has 3 fields, but the header has 2`);
    assert.equal(bad(items[2]).error.message, `${path}:4: the record has 1 field, but the header has 2`);
    assert.equal(req(items[3]).custom_id, 'b');
  });

  it('reports an unterminated quote at the end of the file', async () => {
    const path = await csv('prompt\nfine\n"open\nstill open\n');
    const items = await all(path);
    assert.equal(prompt(items[0]), 'fine');
    assert.match(bad(items[1]).error.message, new RegExp(`:3: a quoted field is not closed by the end of the file`));
  });

  it('reports empty prompts, duplicate ids and invalid UTF-8 per record', async () => {
    const path = await csv(
      Buffer.concat([Buffer.from('prompt,custom_id\n,a\nx,b\ny,b\n"bad '), Buffer.from([0xff]), Buffer.from('\nstill the same record",c\nz,d\n')]),
    );
    const items = await all(path);
    assert.deepEqual(items.map((i) => [i.line, i.kind, i.custom_id]), [
      [2, 'invalid', 'a'],
      [3, 'chat', 'b'],
      [4, 'invalid', 'line-4'],
      [5, 'invalid', 'c'],
      [7, 'chat', 'd'],
    ]);
    assert.match(bad(items[0]).error.message, /:2: the prompt is empty/);
    assert.match(bad(items[2]).error.message, /:4: duplicate custom_id 'b' \(first on line 3\)/);
    assert.ok(bad(items[3]).error.message.startsWith(`${path}:5: the line is not valid UTF-8`));
  });

  it('names the line of bad UTF-8 inside a multi-line record', async () => {
    const path = await csv(Buffer.concat([Buffer.from('prompt\n"ok\nbad '), Buffer.from([0xff]), Buffer.from('"\nnext\n')]));
    const items = await all(path);
    assert.equal(bad(items[0]).error.message, `${path}:2: on line 3: the line is not valid UTF-8 (was the file saved in another encoding, such as Windows-1252?)`);
    assert.equal(prompt(items[1]), 'next');
  });

  it('makes embeddings requests when kind is embeddings', async () => {
    const items = await all(await csv('prompt\nvector me\n'), { defaults: { model: 'e' }, kind: 'embeddings' });
    assert.deepEqual(req(items[0]).body, { model: 'e', input: 'vector me' });
  });

  it('counts rows like the reader', async () => {
    const path = await csv('prompt,custom_id\r\n"a,\r\nb",1\r\n\r\nc,2\r\n"""quoted""",3');
    assert.equal(await countRows(path), 3);
    assert.equal((await all(path)).length, 3);
  });

  it('stops early without error', async () => {
    const path = await csv('prompt\n' + 'row\n'.repeat(5000));
    for await (const item of readBatch(path, { defaults: { model: 'm' } })) {
      assert.equal(item.line, 2);
      break;
    }
  });
});
