import * as assert from 'node:assert/strict';
import { ui } from './context.mjs';
import { EXTENSION_ID, until, waitForBatch, workbench } from './helpers.mjs';

describe('Set API Key', () => {
  // Starts with the prefix the launcher searches every written file for afterwards.
  const typedKey = 'sk-fastllm-it-TYPED-5e8d1b02c4';

  it('stores the key typed in a password box, and runs send it', async () => {
    const { page, fake } = ui();
    const wb = workbench();
    await wb.ready(EXTENSION_ID);
    await wb.runCommand('FastLLM: Set API Key');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    assert.equal(await input.getAttribute('type'), 'password');
    await wb.answerInput(typedKey);
    await until(page, async () => (await wb.notifications()).some((n) => n.includes('API key stored')), 'the confirmation');

    fake.setBehavior({ requireKey: typedKey });
    fake.reset();
    await wb.openFile('prompts.jsonl');
    await wb.runCommand('FastLLM: Run Batch from File…');
    const records = await waitForBatch('prompts.results.jsonl', 4);
    assert.deepEqual(records.map((r) => r.error), [null, null, null, null]);
    assert.ok(fake.count >= 4);
    for (const r of fake.requests) assert.equal(r.headers.authorization, `Bearer ${typedKey}`);
  });
});
