// The VS Code Language Model API provider (src/core/providers/languageModel.ts) with a stub model:
// code-server 1.100 cannot register a chat model provider (registerLanguageModelChatProvider is not
// in the 1.100 API, see README "Profiles"), so the error mapping is tested here. The stub throws
// errors shaped as VS Code documents LanguageModelError: an Error with `code` set to the name of the
// static factory (NoPermissions, Blocked, NotFound) or `Unknown` with a `cause`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryCache } from '../../src/core/cache/memory';
import { RequestManager, RunStoppedError } from '../../src/core/manager';
import { LanguageModelProvider, mapLanguageModelError, toLmMessages, type ChatModelBridge, type LmMessage } from '../../src/core/providers/languageModel';
import type { LLMRequest, ResultRecord } from '../../src/core/types';

class LanguageModelError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = code;
  }
}

/** A stub `LanguageModelChat`: answers `echo: <last message>`, or throws what `fail` returns for the call. */
class StubModel implements ChatModelBridge {
  readonly id = 'gpt-4o';
  readonly vendor = 'copilot';
  readonly family = 'gpt-4o';
  calls: LmMessage[][] = [];
  constructor(private readonly fail: (call: number) => Error | undefined = () => undefined) {}
  async sendRequest(messages: LmMessage[]): Promise<AsyncIterable<string>> {
    this.calls.push(messages);
    const err = this.fail(this.calls.length);
    if (err) throw err;
    const text = `echo: ${messages.at(-1)!.content}`;
    return (async function* () {
      yield text.slice(0, 3);
      yield text.slice(3);
    })();
  }
  async countTokens(text: string): Promise<number> {
    return text.split(/\s+/).filter(Boolean).length;
  }
}

const req = (prompt: string, line = 1): LLMRequest => ({
  kind: 'chat',
  custom_id: `line-${line}`,
  line,
  body: { model: 'gpt-4o', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: prompt }] },
});

async function collect(m: RequestManager, items: LLMRequest[]): Promise<{ records: ResultRecord[]; stopped?: RunStoppedError }> {
  const records: ResultRecord[] = [];
  try {
    for await (const r of m.run(items)) records.push(r);
  } catch (e) {
    if (e instanceof RunStoppedError) return { records, stopped: e };
    throw e;
  }
  return { records };
}

const managerFor = (model: StubModel, extra: Partial<ConstructorParameters<typeof RequestManager>[0]> = {}) =>
  new RequestManager({ provider: new LanguageModelProvider({ model }), concurrency: 1, retryBaseMs: 5, retryMaxMs: 10, ...extra });

void describe('LanguageModelProvider', () => {
  it('answers in chat-completion shape with token counts from countTokens; system messages go as user messages', async () => {
    const model = new StubModel();
    const p = new LanguageModelProvider({ model });
    const res = await p.send(req('hello world'), { signal: new AbortController().signal, timeoutMs: 1000 });
    const body = res.body as { choices: { message: { content: string } }[]; usage: Record<string, number>; model: string };
    assert.equal(body.choices[0]!.message.content, 'echo: hello world');
    assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });
    assert.deepEqual(model.calls[0], [{ role: 'user', content: 'be brief' }, { role: 'user', content: 'hello world' }]);
    assert.equal(p.scope.baseURL, 'vscode-lm://copilot/gpt-4o');
  });

  it('asks for consent once, before the first request, however many rows run at once', async () => {
    let asked = 0;
    const model = new StubModel();
    const p = new LanguageModelProvider({ model, beforeFirstRequest: async () => void asked++ });
    const m = new RequestManager({ provider: p, concurrency: 4 });
    const { records } = await collect(m, [req('a', 1), req('b', 2), req('c', 3)]);
    assert.equal(records.filter((r) => !r.error).length, 3);
    assert.equal(asked, 1);
  });

  it('NoPermissions stops the run, and the rows not sent are marked run_stopped', async () => {
    const model = new StubModel(() => new LanguageModelError('User did not consent', 'NoPermissions'));
    const { records, stopped } = await collect(managerFor(model), [req('a', 1), req('b', 2), req('c', 3)]);
    assert.equal(stopped?.code, 'lm_no_permissions');
    assert.match(stopped!.message, /may not use copilot\/gpt-4o .*Manage Language Model Access/);
    assert.equal(records[0]!.error?.code, 'lm_no_permissions');
    assert.ok(records.slice(1).every((r) => r.error?.code === 'run_stopped'), JSON.stringify(records.map((r) => r.error?.code)));
    assert.equal(model.calls.length, 1);
  });

  it('NotFound stops the run', async () => {
    const model = new StubModel(() => new LanguageModelError('no such model', 'NotFound'));
    const { stopped } = await collect(managerFor(model), [req('a', 1), req('b', 2)]);
    assert.equal(stopped?.code, 'lm_model_not_found');
    assert.equal(model.calls.length, 1);
  });

  it('Blocked is a rate limit: retried, and the row succeeds once the model answers', async () => {
    const model = new StubModel((n) => (n <= 2 ? new LanguageModelError('quota exceeded', 'Blocked') : undefined));
    const m = managerFor(model);
    const { records, stopped } = await collect(m, [req('a', 1)]);
    assert.equal(stopped, undefined);
    assert.equal(records[0]!.error, null);
    assert.equal(model.calls.length, 3);
    assert.equal(m.stats.snapshot().retries, 2);
  });

  it('Blocked for longer than the give-up time stops the run as rate_limited', async () => {
    const model = new StubModel(() => new LanguageModelError('quota exceeded', 'Blocked'));
    const { stopped } = await collect(managerFor(model, { rateLimitGiveUpMs: 60 }), [req('a', 1), req('b', 2)]);
    assert.equal(stopped?.code, 'rate_limited');
    assert.ok(model.calls.length >= 2);
  });

  it('any other error fails only its row (lm_error, with the cause), and the run goes on', async () => {
    const model = new StubModel((n) => (n === 1 ? new LanguageModelError('Unknown error', 'Unknown', { cause: new Error('context too long') }) : undefined));
    const { records, stopped } = await collect(managerFor(model), [req('a', 1), req('b', 2)]);
    assert.equal(stopped, undefined);
    assert.equal(records[0]!.error?.code, 'lm_error');
    assert.match(records[0]!.error!.message, /context too long/);
    assert.equal(records[1]!.error, null);
    assert.equal(model.calls.length, 2);
  });

  it('the RequestManager caches its answers: the same prompt again is not sent', async () => {
    const model = new StubModel();
    const cache = new InMemoryCache();
    await collect(managerFor(model, { cache }), [req('a', 1)]);
    const { records } = await collect(managerFor(model, { cache }), [req('a', 1)]);
    assert.equal(model.calls.length, 1);
    assert.equal(records[0]!.cached, true);
  });

  it('embeddings rows fail alone; non-text content is refused', async () => {
    const p = new LanguageModelProvider({ model: new StubModel() });
    await assert.rejects(
      p.send({ kind: 'embeddings', custom_id: 'e', line: 1, body: { model: 'x', input: 'a' } }, { signal: new AbortController().signal, timeoutMs: 100 }),
      /no embeddings endpoint/,
    );
    assert.throws(() => toLmMessages([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] as never }]), /not text/);
  });

  it('a model that does not answer in time gives a timeout', async () => {
    const model: ChatModelBridge = {
      id: 'm',
      vendor: 'v',
      family: 'f',
      sendRequest: (_m, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('Canceled')))),
      countTokens: async () => 1,
    };
    const p = new LanguageModelProvider({ model });
    await assert.rejects(p.send(req('a'), { signal: new AbortController().signal, timeoutMs: 30 }), (e: { code?: string }) => e.code === 'timeout');
  });

  it('mapLanguageModelError reads code as VS Code documents it', () => {
    assert.equal(mapLanguageModelError(new LanguageModelError('x', 'Blocked'), 'm').status, 429);
    assert.equal(mapLanguageModelError(new LanguageModelError('x', 'NotFound'), 'm').code, 'lm_model_not_found');
    assert.equal(mapLanguageModelError(new Error('boom'), 'm').code, 'lm_error');
  });
});
