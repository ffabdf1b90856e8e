import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FakeServer } from '../../support/fakeServer';
import { api, envKey, useFakeServer, workspaceDir, wsFile } from './helpers';

/** Every file under `dir` (recursively) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  if (!existsSync(dir)) return [];
  const hits: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (readFileSync(file).includes(needle)) hits.push(file);
  }
  return hits;
}

describe('the API key', () => {
  let fake: FakeServer;
  const storedKey = 'sk-fastllm-it-STORED-91d3a77c20';

  before(async () => (fake = await useFakeServer()));
  after(async () => {
    await (await api()).setApiKey('');
    await fake.close();
  });

  it('a key stored with Set API Key is used instead of OPENAI_API_KEY', async () => {
    const fastllm = await api();
    await fastllm.setApiKey(storedKey);
    fake.setBehavior({ requireKey: storedKey });
    fake.reset();
    await fastllm.clearCache();
    const summary = await fastllm.runBatchFile(wsFile('prompts.txt'), { confirm: false });
    assert.equal(summary?.failed, 0);
    assert.ok(fake.count > 0);
    for (const r of fake.requests) assert.equal(r.headers.authorization, `Bearer ${storedKey}`);
  });

  it('never appears in settings, the cache or the results', async () => {
    const fastllm = await api();
    // Make sure there is something in each place to look at.
    fake.setBehavior({ requireKey: storedKey });
    await fastllm.runBatchFile(wsFile('prompts.jsonl'), { confirm: false });
    const cacheDir = path.dirname(fastllm.cachePath());
    assert.ok(existsSync(fastllm.cachePath()));
    const places = [workspaceDir(), cacheDir];
    // The user settings.json, when the launcher says where it is.
    if (process.env.FASTLLM_IT_USER_SETTINGS) places.push(path.dirname(process.env.FASTLLM_IT_USER_SETTINGS));
    for (const key of [storedKey, envKey()]) {
      for (const place of places) assert.deepEqual(filesContaining(place, key), [], `${key} found under ${place}`);
    }
  });
});
