import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestManager, RunStoppedError } from '../../src/core/manager';
import { KeyOnDemandProvider } from '../../src/core/providers/keyOnDemand';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { ScriptedProvider } from '../support/scriptedProvider';

const KEY = 'sk-local-0123456789';

function rows(n: number): LLMRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: 'chat' as const,
    custom_id: `r${i}`,
    line: i + 1,
    body: { model: 'local-model', messages: [{ role: 'user' as const, content: `row ${i}` }] },
  }));
}

/** A loopback server that wants `wanted`: every call is logged with the key it carried. */
function server(wanted: string) {
  const calls: { key: string; prompt: string }[] = [];
  const create = (key: string) =>
    new ScriptedProvider(({ prompt }) => {
      calls.push({ key, prompt });
      return key === wanted ? { latencyMs: 5 } : { latencyMs: 5, fail: { status: 401, code: 'invalid_api_key', message: 'Incorrect API key provided' } };
    });
  return { calls, create };
}

async function run(manager: RequestManager, input: LLMRequest[], signal?: AbortSignal): Promise<{ records: ResultRecord[]; stopped?: RunStoppedError }> {
  const records: ResultRecord[] = [];
  try {
    for await (const r of manager.run(input, { signal })) records.push(r);
  } catch (e) {
    if (e instanceof RunStoppedError) return { records, stopped: e };
    throw e;
  }
  return { records };
}

describe('KeyOnDemandProvider: a loopback server that wants a key (issue 16 item 3)', () => {
  test('asks once on the first 401, sends nothing keyless while asking, and every row then succeeds', async () => {
    const { calls, create } = server(KEY);
    let asks = 0;
    const pauses: boolean[] = [];
    const provider = new KeyOnDemandProvider({
      create,
      askKey: async () => {
        asks++;
        const keyless = calls.length;
        await new Promise((r) => setTimeout(r, 100));
        // Nothing went out while the user was being asked.
        assert.equal(calls.length, keyless);
        return KEY;
      },
      onPause: (p) => pauses.push(p),
    });
    const manager = new RequestManager({ provider, concurrency: 4, retryBaseMs: 5 });
    const { records, stopped } = await run(manager, rows(20));
    assert.equal(stopped, undefined);
    assert.equal(asks, 1);
    assert.deepEqual(pauses, [true, false]);
    assert.deepEqual(records.map((r) => r.error), records.map(() => null));
    const keyless = calls.filter((c) => c.key === '');
    assert.ok(keyless.length >= 1 && keyless.length <= 4, `${keyless.length} keyless calls`);
    assert.equal(calls.filter((c) => c.key === KEY).length, 20);
    // No retry was spent on the rows refused for want of a key.
    assert.equal(manager.stats.snapshot().retries, 0);
  });

  test('a server that needs no key is never asked about one', async () => {
    let asks = 0;
    const provider = new KeyOnDemandProvider({ create: () => new ScriptedProvider(), askKey: async () => (asks++, KEY) });
    const { records } = await run(new RequestManager({ provider, concurrency: 4 }), rows(8));
    assert.equal(asks, 0);
    assert.ok(records.every((r) => r.error === null));
  });

  test('declined: the 401 stands and the run stops as for a rejected key', async () => {
    const { create } = server(KEY);
    const provider = new KeyOnDemandProvider({ create, askKey: async () => undefined });
    const { stopped } = await run(new RequestManager({ provider, concurrency: 2 }), rows(6));
    assert.equal(stopped?.code, 'auth_failed');
  });

  test('a key that is refused too stops the run, without asking again', async () => {
    const { create } = server(KEY);
    let asks = 0;
    const provider = new KeyOnDemandProvider({ create, askKey: async () => (asks++, 'sk-wrong-key-000000') });
    const { stopped } = await run(new RequestManager({ provider, concurrency: 2 }), rows(6));
    assert.equal(stopped?.code, 'auth_failed');
    assert.equal(asks, 1);
  });

  test('a run cancelled while the user is asked ends at once, its rows cancelled', async () => {
    const { create } = server(KEY);
    const controller = new AbortController();
    const provider = new KeyOnDemandProvider({
      create,
      askKey: () => {
        setTimeout(() => controller.abort(), 20);
        return new Promise(() => undefined); // the user never answers
      },
    });
    const { records, stopped } = await run(new RequestManager({ provider, concurrency: 2 }), rows(4), controller.signal);
    assert.equal(stopped, undefined);
    assert.ok(records.length > 0);
    assert.ok(records.every((r) => r.error?.code === 'cancelled'), JSON.stringify(records.map((r) => r.error?.code)));
  });
});
