/** The sample files of New Prompt File… (src/core/batch/samples.ts) read without an invalid row. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBatch } from '../../src/core/batch/readers';
import { SAMPLE_INPUTS } from '../../src/core/batch/samples';

test('every sample reads as requests, none invalid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastllm-samples-'));
  for (const [format, sample] of Object.entries(SAMPLE_INPUTS)) {
    const file = join(dir, `sample.${format}`);
    writeFileSync(file, sample.text);
    const items = [];
    for await (const item of readBatch(file, { defaults: { model: 'gpt-4o-mini' } })) items.push(item);
    assert.ok(items.length >= 3, `${format}: ${items.length} rows`);
    assert.deepEqual(items.filter((i) => i.kind === 'invalid'), [], format);
  }
});
