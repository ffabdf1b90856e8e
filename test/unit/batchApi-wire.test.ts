/**
 * Issue 11 item 6: our `_` annotation fields never leave, in Batch mode as in live runs: batch
 * lines are built from the same `wireBody` the live provider sends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchLine } from '../../src/core/batchApi';
import type { LLMRequest } from '../../src/core/types';

describe('Batch API request lines', () => {
  test('carry no top-level _ field and no streaming flags; the row itself is left as it was', () => {
    const row: LLMRequest = {
      kind: 'chat',
      custom_id: 'a',
      line: 1,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], _note: 'mine', _trace: { id: 1 }, stream: true, temperature: 0 },
    };
    const client = { endpointUrl: () => '/v1/chat/completions', deployment: undefined };
    const line = batchLine(row, client);
    assert.deepEqual(Object.keys(line.body).sort(), ['messages', 'model', 'temperature']);
    assert.equal((row.body as Record<string, unknown>)._note, 'mine');
    // A row with nothing to drop: wireBody hands back its own body, so the deployment goes on a copy.
    const plain: LLMRequest = { kind: 'chat', custom_id: 'b', line: 2, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } };
    const azure = batchLine(plain, { endpointUrl: () => '/chat/completions', deployment: 'dep' });
    assert.equal(azure.body.model, 'dep');
    assert.equal(plain.body.model, 'gpt-4o-mini', 'the deployment is set on a copy');
  });
});
