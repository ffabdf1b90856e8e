/**
 * The RequestManager's read-ahead cap (`orderWindow`): results come out in input order, so one
 * slow row at the head holds back every later result. The manager must then stop pulling input
 * once `orderWindow` rows are read and not delivered, so that memory stays bounded however long
 * the file, and deliver everything in order once the head finishes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RequestManager } from '../../src/core/manager';
import type { Provider, ProviderResponse, SendOptions } from '../../src/core/providers/provider';
import type { InputItem, LLMRequest, ResultRecord } from '../../src/core/types';

/** Answers `echo: <prompt>` at once, except the first row, which waits for {@link release}. */
class HeadStalls implements Provider {
  readonly name = 'head-stalls';
  readonly scope = { baseURL: 'http://head-stalls.test/v1' };
  calls = 0;
  private open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  release(): void {
    this.open();
  }

  async send(request: LLMRequest & { kind: 'chat' }, _options: SendOptions): Promise<ProviderResponse> {
    this.calls++;
    if (request.line === 1) await this.gate;
    else await new Promise((r) => setImmediate(r));
    const content = `echo: ${request.body.messages.at(-1)!.content as string}`;
    const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
    const choices = [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }];
    return { status: 200, requestId: `req_${request.line}`, headers: {}, body: { object: 'chat.completion', choices, usage } };
  }
}

const gc = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
const live = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RequestManager: the read-ahead cap behind one slow head row', () => {
  test('stops pulling at orderWindow rows, holds little, then delivers all rows in order', async (t) => {
    const rows = 2000;
    const window = 50;
    // 50 KB a prompt: the rows behind the head hold their answers (which echo the prompt) until
    // the head is done, so reading the whole input ahead would hold some 200 MB.
    const pad = 'p'.repeat(50_000);
    let pulled = 0;
    async function* input(): AsyncGenerator<InputItem> {
      for (let i = 0; i < rows; i++) {
        pulled++;
        yield { kind: 'chat', custom_id: `row-${i + 1}`, line: i + 1, body: { model: 'm', messages: [{ role: 'user', content: `${i} ${pad}` }] } };
      }
    }
    const provider = new HeadStalls();
    const manager = new RequestManager({ provider, concurrency: 4, orderWindow: window, maxRetries: 0 });
    const before = live();

    const records: ResultRecord[] = [];
    /** How far the reader was ahead of the consumer each time a record was delivered. */
    let maxAhead = 0;
    const consumed = (async () => {
      for await (const r of manager.run(input())) {
        records.push(r);
        maxAhead = Math.max(maxAhead, pulled - records.length);
      }
    })();

    // Wait until the rows the window admits have all had their call, then a while longer.
    for (let i = 0; i < 200 && provider.calls < window; i++) await sleep(10);
    await sleep(200);
    assert.equal(records.length, 0, 'nothing is delivered while the head row is unfinished');
    assert.ok(pulled >= window && pulled <= window + 1, `the reader pulled ${pulled} rows with the head stalled (window ${window})`);
    assert.equal(provider.calls, window, 'every row in the window got its call; none beyond it');
    const held = live() - before;
    t.diagnostic(`head stalled: ${pulled} rows pulled, ${provider.calls} calls, ${(held / 1e6).toFixed(1)} MB held`);
    assert.ok(held < 30e6, `${(held / 1e6).toFixed(1)} MB held with the head stalled (${window} rows of 100 KB would be 5 MB)`);

    provider.release();
    await consumed;
    assert.deepEqual(records.map((r) => r.custom_id), Array.from({ length: rows }, (_, i) => `row-${i + 1}`), 'every row, in input order');
    records.forEach((r, i) => {
      assert.equal(r.error, null);
      const content = (r.response!.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
      assert.ok(content.startsWith(`echo: ${i} `), `row ${i + 1} got the answer of another row`);
    });
    assert.equal(pulled, rows);
    assert.ok(maxAhead <= window + 1, `the reader ran ${maxAhead} rows ahead of the consumer (window ${window})`);
  });
});
