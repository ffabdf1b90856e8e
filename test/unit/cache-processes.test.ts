import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, it } from 'node:test';
import { SqliteCache } from '../../src/core/cache/sqlite';

const WRITER = resolve(__dirname, '../support/cacheWriter.ts');
const PER_WRITER = 500;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runWriter(file: string, name: string): Promise<Outcome> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, file, name, String(PER_WRITER)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastllm-cache-proc-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('two processes write one cache file at the same time without "database is locked"', async () => {
  // A fresh file, so the two processes also race to create the table and switch to WAL.
  const file = join(dir, 'shared', 'cache.sqlite');
  const outcomes = await Promise.all([runWriter(file, 'alpha'), runWriter(file, 'beta')]);
  for (const [i, outcome] of outcomes.entries()) {
    assert.doesNotMatch(outcome.stderr, /locked|SQLITE_BUSY/i, `writer ${i} hit lock contention`);
    assert.equal(outcome.code, 0, `writer ${i} failed: ${outcome.stderr}`);
    assert.deepEqual(JSON.parse(outcome.stdout), { written: PER_WRITER, reads: Math.ceil(PER_WRITER / 8) * 3 });
  }

  const cache = await SqliteCache.open(file);
  try {
    assert.equal(await cache.count(), 2 * PER_WRITER);
    for (const name of ['alpha', 'beta']) {
      assert.equal(await cache.count(`${name} question`), PER_WRITER);
      for (let i = 0; i < PER_WRITER; i++) {
        const entry = await cache.get(`${name}-${i}`);
        assert.deepEqual(entry?.response, { text: `${name} answer ${i}` }, `${name}-${i}`);
      }
    }
    let seen = 0;
    for await (const item of cache.iterate({ pageSize: 128 })) {
      assert.match(item.key, /^(alpha|beta)-\d+$/);
      seen++;
    }
    assert.equal(seen, 2 * PER_WRITER);
  } finally {
    await cache.close();
  }
});
