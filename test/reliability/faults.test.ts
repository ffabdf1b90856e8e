/**
 * Faults: the real OpenAIProvider and RequestManager against a loopback server that misbehaves on
 * purpose (test/support/fakeServer.ts). Each test says what it injects; all of them check that
 * every row ends with exactly one record, that each success is the answer the server gave to that
 * row, and that no row is sent more often than the retry limit allows (see checkRun).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RequestManager, RunStoppedError, type RequestManagerOptions } from '../../src/core/manager';
import { OpenAIProvider } from '../../src/core/providers/openai';
import { ProviderError, type Provider } from '../../src/core/providers/provider';
import { silentLogger } from '../../src/core/log';
import { classifyFailure } from '../../src/core/retry';
import type { LLMRequest, ResultRecord } from '../../src/core/types';
import { startFakeServer, type FakeAction, type FakeServer, type PlanContext } from '../support/fakeServer';
import { expectedOf, FiguresTable, recordsLost } from './figures';
import { answerOf, chatRows, checkRun, expectedAnswer, KEY, promptOf, sendsPerBody, sleep } from './helpers';

const figures = new FiguresTable('faults');
/** The right answer to a row (see the fake's planChat). */
const answerTo = (row: LLMRequest) => expectedAnswer(promptOf(row.body));
/** Records lost: rows without a record of their own (id, line and, unless it may fail, the right answer). */
const lostOf = (rows: readonly LLMRequest[], records: readonly ResultRecord[], failing?: ReadonlySet<string>) =>
  recordsLost(expectedOf(rows, answerTo, failing), records);

const servers: FakeServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(options: Parameters<typeof startFakeServer>[0] = {}): Promise<FakeServer> {
  const s = await startFakeServer(options);
  servers.push(s);
  return s;
}

function manager(s: FakeServer, options: Partial<RequestManagerOptions> = {}): RequestManager {
  const provider = new OpenAIProvider({ apiKey: KEY, baseURL: s.url });
  return new RequestManager({ provider, concurrency: 8, maxRetries: 3, retryBaseMs: 10, retryMaxMs: 50, ...options });
}

async function runAll(m: RequestManager, rows: LLMRequest[]): Promise<ResultRecord[]> {
  const records: ResultRecord[] = [];
  for await (const r of m.run(rows)) records.push(r);
  return records;
}

/** Rows whose prompt starts with this always fail: they must use up exactly the retry budget. */
const DOOMED = 'doomed';
const isDoomed = (body: Record<string, unknown>) => promptOf(body).startsWith(DOOMED);

function rowsWithDoomed(n: number, doomed: number, prefix: string): LLMRequest[] {
  const rows: LLMRequest[] = chatRows(n, prefix);
  const bad = chatRows(doomed, DOOMED).map((r, i) => ({ ...r, custom_id: `doomed-${i}` }));
  // Spread the doomed rows through the batch.
  bad.forEach((r, i) => rows.splice(Math.floor(((i + 1) * rows.length) / (doomed + 1)), 0, r));
  return rows.map((r, i) => ({ ...r, line: i + 1 }));
}

describe('faults', () => {
  /** `label`: the fault as docs/reliability.md names it. */
  const transient: { name: string; label: string; action: FakeAction; timeoutMs?: number }[] = [
    { name: 'HTTP 500', label: 'HTTP 500', action: { status: 500 } },
    { name: 'HTTP 502', label: 'HTTP 502', action: { status: 502 } },
    { name: 'HTTP 503', label: 'HTTP 503', action: { status: 503 } },
    { name: 'connection reset', label: 'Connection reset (socket destroyed, no answer)', action: { reset: true } },
    { name: 'a reply that is not valid JSON', label: '200 whose body is not valid JSON', action: { badJson: true } },
    { name: 'a reply cut in the middle', label: 'Reply cut in the middle (half the body, then reset)', action: { cutStream: true } },
    { name: 'a server that stalls past the timeout', label: 'Server stalls past the 200 ms timeout', action: { stall: true }, timeoutMs: 200 },
    { name: 'headers then a stall past the timeout', label: 'Headers sent, then a stall past the timeout', action: { stall: true, afterHeaders: true }, timeoutMs: 200 },
  ];
  for (const { name, label, action, timeoutMs } of transient) {
    test(`${name}: a third of requests fail (twice at most per row), 2 rows always fail`, async (t) => {
      // Injected: `action` for every request whose index is a multiple of 3 (first two attempts of
      // a body only, so those rows must end up answered), and for every attempt of 2 doomed rows.
      const s = await server({ latencyMs: 2 });
      let faults = 0;
      s.behavior.plan = ({ index, body, attemptForBody }: PlanContext) => {
        if (isDoomed(body) || (index % 3 === 0 && attemptForBody <= 2)) {
          faults++;
          return action;
        }
        return undefined;
      };
      const maxRetries = 3;
      const rows = rowsWithDoomed(60, 2, name);
      const records = await runAll(manager(s, { maxRetries, timeoutMs: timeoutMs ?? 10_000 }), rows);
      const failing = new Set(['doomed-0', 'doomed-1']);
      checkRun({ rows, records, servers: [s], maxRetries, failing });
      for (const [body, list] of sendsPerBody(s.requests)) {
        if (isDoomed(JSON.parse(body) as Record<string, unknown>)) {
          assert.equal(list.length, maxRetries + 1, 'a row that keeps failing is retried exactly maxRetries times');
        }
      }
      for (const r of records.filter((x) => failing.has(x.custom_id))) {
        assert.equal(r.attempts, maxRetries + 1);
        assert.match(r.error!.message, /gave up after 4 attempts/);
      }
      assert.ok(faults >= 20, `only ${faults} faults were injected`);
      const failed = records.filter((r) => r.error).length;
      figures.record(t, `transient: ${name}`, { label, rows: rows.length, requests: s.count, faults, failed, failedNote: 'the doomed rows', lost: lostOf(rows, records, failing) });
    });
  }

  /**
   * A 429 storm with a server-given wait: checks that the retry of a refused body never reaches
   * the server sooner than the wait after the 429 left it, and that no call begins while the run
   * is paused. The pause is timed on the client: from the moment the manager, having got the 429,
   * paused the run (it logs the retry right after), calls that begin are counted. (Timed by server
   * arrivals, a request already on its way when the 429 came could arrive late on a loaded
   * machine and look like one sent during the pause.)
   */
  async function retryAfterStorm(
    t: { diagnostic(m: string): void },
    opts: { label: string; rows: number; concurrency: number; waitMs: number; header: 'retry-after' | 'retry-after-ms'; refuse: (ctx: PlanContext) => boolean },
  ) {
    const s = await server();
    const refused = new Set<number>();
    s.behavior.plan = (ctx) => {
      if (!opts.refuse(ctx)) return undefined;
      refused.add(ctx.index);
      return opts.header === 'retry-after' ? { status: 429, retryAfter: opts.waitMs / 1000 } : { status: 429, retryAfterMs: opts.waitMs };
    };
    // Refusals go out at once (so that `at` is when the 429 was sent); answers take 5 ms.
    s.behavior.latencyMs = (index) => (refused.has(index) ? 0 : 5);
    const starts: number[] = [];
    const pauses: number[] = [];
    const inner = new OpenAIProvider({ apiKey: KEY, baseURL: s.url });
    const provider: Provider = {
      name: inner.name,
      scope: inner.scope,
      send: (request, o) => {
        starts.push(performance.now());
        return inner.send(request, o);
      },
      close: () => inner.close(),
    };
    const logger = { ...silentLogger, debug: (m: string) => void (/\b429\b/.test(m) && /retry/i.test(m) && pauses.push(performance.now())) };
    const maxRetries = 5;
    const rows = chatRows(opts.rows, `storm ${opts.header}`);
    const records = await runAll(manager(s, { maxRetries, concurrency: opts.concurrency, provider, logger }), rows);
    checkRun({ rows, records, servers: [s], maxRetries });

    const requests = s.requests;
    for (const r of requests.filter((x) => refused.has(x.index))) {
      const next = requests.find((x) => x.index > r.index && JSON.stringify(x.body) === JSON.stringify(r.body));
      assert.ok(next, 'a refused row was sent again');
      assert.ok(next.at - r.at >= opts.waitMs - 1, `retry-after ${opts.waitMs} ms was undercut: the retry came ${next.at - r.at} ms later`);
    }
    assert.equal(pauses.length, refused.size, 'the manager logged a retry for each 429 (the moment its pause began)');
    for (const p of pauses) {
      const during = starts.filter((x) => x > p && x < p + opts.waitMs - 2);
      assert.deepEqual(during.map((x) => `+${(x - p).toFixed(1)} ms`), [], `calls began during the ${opts.waitMs} ms pause`);
    }
    assert.ok(refused.size >= 2, `only ${refused.size} refusals`);
    const failed = records.filter((r) => r.error).length;
    figures.record(t, `429 with ${opts.header}`, { label: opts.label, rows: rows.length, requests: s.count, faults: refused.size, failed, lost: lostOf(rows, records) });
  }

  test('429 storm with retry-after-ms: a third refused; never undercut, nothing sent during the pause', async (t) => {
    // Injected: 429 + `retry-after-ms: 250` for every third request (first two attempts of a body).
    await retryAfterStorm(t, {
      label: '429 storm with `retry-after-ms: 250` (30 rows, concurrency 6)',
      rows: 30,
      concurrency: 6,
      waitMs: 250,
      header: 'retry-after-ms',
      refuse: ({ index, attemptForBody }) => index % 3 === 0 && attemptForBody <= 2,
    });
  });

  test('429 with retry-after in seconds: never undercut, nothing sent during the pause', async (t) => {
    // Injected: 429 + `retry-after: 1` for the first attempt of every fourth request.
    await retryAfterStorm(t, {
      label: '429 with `retry-after: 1` (seconds; 8 rows, concurrency 4)',
      rows: 8,
      concurrency: 4,
      waitMs: 1000,
      header: 'retry-after',
      refuse: ({ index, attemptForBody }) => index % 4 === 1 && attemptForBody === 1,
    });
  });

  test('429 storm without retry-after: rows retried past maxRetries while the run makes progress; rows refused for ever end rate_limited', async (t) => {
    // Injected: a bare 429 (no retry-after) for a third of requests (up to 3 times per body), and
    // for every attempt of 2 doomed rows. Rate limits do not use up maxRetries (issue 10): the
    // doomed rows are retried until the run has had no success for rateLimitGiveUpMs.
    const s = await server({ latencyMs: 2 });
    let faults = 0;
    s.behavior.plan = ({ index, body, attemptForBody }) => {
      if (!isDoomed(body) && !(index % 3 === 0 && attemptForBody <= 3)) return undefined;
      faults++;
      return { status: 429 };
    };
    const maxRetries = 1;
    const giveUpMs = 1500;
    const rows = rowsWithDoomed(60, 2, 'bare 429');
    const records: ResultRecord[] = [];
    let stopped: unknown;
    try {
      for await (const r of manager(s, { maxRetries, rateLimitGiveUpMs: giveUpMs }).run(rows)) records.push(r);
    } catch (e) {
      stopped = e;
    }
    const failing = new Set(['doomed-0', 'doomed-1']);
    // Bounded by the three 429s the plan gives each other row, not by maxRetries.
    checkRun({ rows, records, servers: [s], maxRetries: 3, failing, rateLimited: failing });
    assert.ok(stopped instanceof RunStoppedError && stopped.code === 'rate_limited', String(stopped));
    // Rows refused up to three times succeeded with a retry budget of one.
    assert.ok(records.some((r) => r.error === null && r.attempts > maxRetries + 1));
    for (const r of records.filter((x) => failing.has(x.custom_id))) {
      assert.equal(r.error?.code, 'rate_limited');
      assert.ok(r.attempts > maxRetries + 1, `${r.custom_id}: ${r.attempts} attempts`);
    }
    figures.record(t, '429 without retry-after', {
      label: '429 storm without `retry-after` (up to 3 per row; `maxRetries` 1, give-up after 1.5 s without a success)',
      rows: rows.length,
      requests: s.count,
      faults,
      failed: records.filter((r) => r.error).length,
      failedNote: 'the doomed rows, `rate_limited` after more than `1 + maxRetries` attempts; the rows refused three times succeeded',
      lost: lostOf(rows, records, failing),
    });
  });

  test('a 400 (context length exceeded) is reported and not retried', async (t) => {
    // Injected: 400 context_length_exceeded for every prompt longer than 1,000 characters.
    const s = await server({ latencyMs: 2 });
    s.behavior.plan = ({ body }) =>
      promptOf(body).length > 1000
        ? {
            status: 400,
            body: {
              error: {
                message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 250003 tokens.",
                type: 'invalid_request_error',
                param: 'messages',
                code: 'context_length_exceeded',
              },
            },
          }
        : undefined;
    const rows = chatRows(20, 'short');
    rows[7]!.body.messages[0]!.content = 'x'.repeat(1_000_000);
    const records = await runAll(manager(s, { maxRetries: 5 }), rows);
    checkRun({ rows, records, servers: [s], maxRetries: 0, failing: new Set(['row-7']) });
    assert.equal(records[7]!.error!.code, 'context_length_exceeded');
    assert.match(records[7]!.error!.message, /maximum context length/);
    assert.equal(records[7]!.attempts, 1);
    figures.record(t, '400 context_length_exceeded', {
      label: '400 `context_length_exceeded` for a 1 MB prompt',
      rows: rows.length,
      requests: s.count,
      faults: 1,
      failed: records.filter((r) => r.error).length,
      failedNote: 'sent once, not retried',
      lost: lostOf(rows, records, new Set(['row-7'])),
    });
  });

  test('a rejected key (401) mid-run stops the run after the requests in flight; the message says what to do', async (t) => {
    // Injected: from request #40 on, 401 whose message echoes the whole key (a hostile proxy).
    const s = await server({ latencyMs: 5 });
    const start = 40;
    s.behavior.plan = ({ index }) =>
      index >= start
        ? { status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error', code: 'invalid_api_key' } } }
        : undefined;
    const concurrency = 8;
    const rows = chatRows(300, 'auth');
    const records: ResultRecord[] = [];
    let stopped: unknown;
    try {
      for await (const r of manager(s, { concurrency }).run(rows)) records.push(r);
    } catch (e) {
      stopped = e;
    }
    assert.ok(stopped instanceof RunStoppedError, `the run did not stop: ${String(stopped)}`);
    assert.equal(stopped.code, 'auth_failed');
    assert.match(stopped.message, /rejected the API key.*Check the key/);
    assert.ok(!stopped.message.includes(KEY), 'the key is in the message');
    const rejected = s.count - start;
    assert.ok(rejected >= 1 && rejected <= concurrency, `${rejected} requests were sent after the key was rejected (concurrency ${concurrency})`);
    // Every row read so far has exactly one record; the answered ones are right.
    assert.deepEqual(records.map((r) => r.custom_id), rows.slice(0, records.length).map((r) => r.custom_id));
    const ok = records.filter((r) => !r.error);
    assert.ok(ok.length >= start - concurrency);
    for (const r of ok) assert.equal(answerOf(r), expectedAnswer(`auth ${r.line - 1}`));
    assert.ok(records.some((r) => r.error?.code === 'run_stopped'));
    assert.ok(!JSON.stringify(records).includes(KEY), 'the key is in a record');
    // Lost: a row in the delivered prefix without its own record, or a row the server answered
    // (an answer paid for) whose record does not hold that answer.
    const bodies = (list: typeof s.requests) => new Set(list.map((r) => JSON.stringify(r.body)));
    const sent = bodies(s.requests);
    const answered = bodies(s.requests.filter((r) => r.index < start));
    const owed = rows.filter((r, i) => i < records.length || sent.has(JSON.stringify(r.body)));
    const expected = owed.map((r) => ({ custom_id: r.custom_id, line: r.line, answer: answered.has(JSON.stringify(r.body)) ? answerTo(r) : undefined }));
    const lost = recordsLost(expected, records);
    assert.equal(lost, 0, `${lost} rows sent to the server (or read before the stop) have no record with their answer`);
    figures.record(t, '401 mid-run', {
      label: '401 from request #40 on, with the whole key echoed (300 rows, concurrency 8)',
      rows: records.length,
      rowsNote: 'read before the stop',
      requests: s.count,
      faults: rejected,
      failed: records.filter((r) => r.error).length,
      failedNote: 'the run stopped',
      varies: 'rows,failed',
      lost,
    });
  });

  test('the server goes away mid-run and comes back on the same port a second later: the run finishes', async (t) => {
    // Injected: at request #60 the server closes (sockets destroyed, then connection refused);
    // a new server listens on the same port 1 s later.
    const first = await server({ latencyMs: 5 });
    const port = first.port;
    let second: FakeServer | undefined;
    let restarted: Promise<void> | undefined;
    first.behavior.plan = ({ index }) => {
      if (index === 60) {
        restarted = (async () => {
          await first.close();
          await sleep(1000);
          second = await server({ latencyMs: 5, port });
        })();
      }
      return undefined;
    };
    // 10 retries of at least 200 ms each outlast the outage whatever the jitter draws.
    const maxRetries = 10;
    const rows = chatRows(200, 'outage');
    const started = Date.now();
    const records = await runAll(manager(first, { maxRetries, retryBaseMs: 400, retryMaxMs: 1000 }), rows);
    await restarted;
    assert.ok(second, 'the server was restarted');
    assert.ok(Date.now() - started >= 1000, 'the run went on across the outage');
    checkRun({ rows, records, servers: [first, second], maxRetries });
    const retried = records.filter((r) => r.attempts > 1).length;
    assert.ok(retried >= 1, 'some rows were hit by the outage');
    assert.ok(second.count >= 1, 'the restarted server answered');
    figures.record(t, 'server away 1 s', {
      label: 'Server closed at request #60, back on the same port 1 s later (200 rows)',
      rows: rows.length,
      requests: first.count + second.count,
      faults: retried,
      faultsNote: 'rows retried across the outage',
      failed: records.filter((r) => r.error).length,
      lost: lostOf(rows, records),
    });
  });
});

describe('streaming (provider.stream)', () => {
  const row: LLMRequest & { kind: 'chat' } = chatRows(1, 'stream me these several words please, one piece at a time')[0]!;
  const full = expectedAnswer(promptOf(row.body));

  // The fake sends half of the answer's events (at least the role chunk and one piece) before
  // each fault, so that the client holds a real prefix when the fault comes.
  for (const { name, key, action, code } of [
    { name: 'a stream cut in the middle', key: 'stream: cut', action: { cutStream: true } as FakeAction, code: /connection_error|bad_response/ },
    { name: 'an event that is not JSON', key: 'stream: bad event', action: { badJson: true } as FakeAction, code: /bad_response/ },
    { name: 'headers and some chunks, then a stall', key: 'stream: stall', action: { stall: true, afterHeaders: true } as FakeAction, code: /timeout/ },
    { name: 'a clean end ([DONE]) without a finish_reason', key: 'stream: no finish_reason', action: { noFinishReason: true } as FakeAction, code: /bad_response/ },
  ]) {
    test(`${name}: fails with a retryable error, never a partial answer; the retry gets the whole answer`, async (t) => {
      // Injected: `action` on the first attempt of the body; the second attempt is answered normally.
      const s = await server();
      s.behavior.plan = ({ attemptForBody }) => (attemptForBody === 1 ? action : undefined);
      const provider = new OpenAIProvider({ apiKey: KEY, baseURL: s.url });
      const pieces: string[] = [];
      const failure = await provider.stream(row, (d) => pieces.push(d), { signal: new AbortController().signal, timeoutMs: 300 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(failure instanceof ProviderError, `the stream did not fail: ${String(failure)}`);
      assert.match(failure.code, code);
      assert.equal(classifyFailure(failure), 'retry');
      const streamed = pieces.join('');
      // Several pieces reached onDelta before the fault: the prefix check below checks something.
      assert.ok(pieces.length >= 2, `only ${pieces.length} pieces were streamed before the fault`);
      assert.ok(full.startsWith(streamed), `what was streamed is not a prefix of the answer: ${streamed}`);
      if ('noFinishReason' in action) assert.equal(streamed, full, 'every piece came; only the finish_reason was missing');
      else assert.ok(streamed.length < full.length, 'only a prefix was streamed');
      let again = '';
      const ok = await provider.stream(row, (d) => (again += d), { signal: new AbortController().signal, timeoutMs: 2000 });
      assert.equal(again, full);
      assert.equal((ok.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content, full);
      assert.equal(s.count, 2);
      provider.close();
      figures.record(t, key, {
        label: `Stream (\`provider.stream\`): ${name}`,
        rows: 1,
        requests: s.count,
        faults: 1,
        faultsNote: `after ${pieces.length} of ${full.match(/\S+\s*/g)!.length} pieces`,
        failed: 0,
        failedNote: 'the retry got the whole answer',
        lost: again === full ? 0 : 1,
      });
    });
  }
});
