/**
 * Scenario 3: rate limits as providers enforce them (test/support/fakeRateLimits.ts), each case
 * against a fresh server child in the same run:
 *
 * - **Per-second windows** (Azure: a 1,200-RPM deployment refuses more than 21 requests in any
 *   second) with the user's `--rpm`: achieved rate ÷ limit, 429s, failed rows.
 * - **Tokens per minute, quantized** (OpenAI's bucket holds one second's worth) with `--tpm` and
 *   `max_tokens` far above the answers: achieved charged tokens ÷ limit, 429s. A limiter that
 *   lowered a request's charge to the usage reported afterwards overruns here.
 * - **Headers only, no `--rpm`**: the limit is learned from `x-ratelimit-*`; failed rows, 429 share.
 * - **No headers and no `retry-after`**: AIMD; failed rows, time ÷ the ideal.
 * - **`insufficient_quota`** on every request: requests sent before the run stopped.
 *
 * Achieved ÷ limit is computed from the server's arrival times of admitted requests: (n − 1)
 * requests (or the tokens they were charged) over the time from the first to the last arrival.
 */
import { barRow, infoRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer, type ServerBehaviour } from '../support/server';
import { benchManager, runManager } from '../support/clients';
import { fmt, timed } from '../support/measure';
import { RunStoppedError, type RequestManagerOptions } from '../../src/core/manager';
import type { LLMRequest } from '../../src/core/types';
import { planChat } from '../../test/support/fakeReplies';

export interface RateLimitOptions {
  /** Requests per minute of the limited server. */
  rpm: number;
  /** How long the paced cases run, in seconds (sets their number of requests). */
  seconds: number;
  concurrency: number;
  latencyMs: number;
}

const NAME = '3 rate limits';
/** 60 characters: the server charges 15 prompt tokens (characters / 4) and 6 of framing … */
const PROMPT_CHARS = 60;
/** … plus max_tokens, far above the answers (about 15 tokens): the charge is what admission counts. */
const MAX_TOKENS = 100;

function requests(n: number, tag: string): LLMRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const content = `${tag} row ${i}: reply in one word. `.padEnd(PROMPT_CHARS, 'x').slice(0, PROMPT_CHARS);
    return {
      kind: 'chat' as const,
      custom_id: `row-${i + 1}`,
      line: i + 1,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }], max_tokens: MAX_TOKENS },
    };
  });
}

interface CaseRun {
  wallMs: number;
  failed: number;
  firstError?: string;
  stopped?: RunStoppedError;
  requests: number;
  throttled: number;
  /** Admitted requests per minute, from the server's arrival times. */
  achievedPerMinute: number;
  /** Tokens the server charged the admitted requests (its own planChat), per minute. */
  chargedPerMinute: number;
}

async function runCase(server: ServerBehaviour, client: Omit<RequestManagerOptions, 'provider'>, n: number, tag: string): Promise<CaseRun> {
  const s = await BenchServer.start({ ...server, recordBodies: true });
  try {
    const manager = benchManager(s.url, client);
    let stopped: RunStoppedError | undefined;
    const t = await timed(async () => {
      try {
        return await runManager(manager, requests(n, tag));
      } catch (e) {
        if (!(e instanceof RunStoppedError)) throw e;
        stopped = e;
        return { records: 0, failed: 0, retries: 0 };
      }
    });
    const st = await s.stats(true);
    // Each body is admitted once (its last arrival); earlier arrivals of it were refused.
    const last = new Map<string, number>();
    for (const a of st.arrivals!) last.set(a.body, a.at);
    const admitted = [...last.values()].sort((a, b) => a - b);
    const span = admitted.length > 1 ? admitted[admitted.length - 1]! - admitted[0]! : Infinity;
    // Tokens over the same span as requests: the first admitted request's charge is left out.
    const byTime = [...last].sort((a, b) => a[1] - b[1]);
    const charged = byTime.slice(1).reduce((sum, [body]) => sum + planChat(JSON.parse(body) as Record<string, unknown>).charge, 0);
    return {
      wallMs: t.wallMs,
      failed: t.value.failed,
      firstError: t.value.firstError,
      stopped,
      requests: st.count,
      throttled: st.throttled,
      achievedPerMinute: ((admitted.length - 1) / span) * 60_000,
      chargedPerMinute: (charged / span) * 60_000,
    };
  } finally {
    await s.close();
  }
}

export async function rateLimit(o: RateLimitOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const rows: Row[] = [];
  const n = Math.round((o.rpm / 60) * o.seconds);
  const perSecond = o.rpm / 60;
  const common = { concurrency: o.concurrency, retryBaseMs: 50, retryMaxMs: 2000 };

  // Per-second windows with the user's --rpm.
  {
    const azure: ServerBehaviour = {
      latency: o.latencyMs,
      rateLimit: { style: 'azure', rpm: o.rpm, shortWindows: [{ windowMs: 1000, requests: Math.ceil(perSecond) + 1 }] },
    };
    const r = await runCase(azure, { ...common, rpm: o.rpm }, n, 'azure');
    const ratio = r.achievedPerMinute / o.rpm;
    log(`  per-second windows, --rpm ${o.rpm}: ${n} rows in ${fmt(r.wallMs / 1000, 1)} s, rate ÷ limit ${fmt(ratio, 3)}, 429s ${r.throttled}, failed ${r.failed}`);
    rows.push(barRow(NAME, `per-second windows (≤ ${Math.ceil(perSecond) + 1} in any 1 s), --rpm ${o.rpm}: achieved ÷ limit`, ratio, '>=', 0.95, (x) => fmt(x, 3)));
    rows.push(barRow(NAME, 'per-second windows: 429s received', r.throttled, '==', 0, String));
    rows.push(barRow(NAME, 'per-second windows: failed rows', r.failed, '==', 0, String));
  }

  // Tokens per minute, quantized to a second, with max_tokens far above the answers.
  {
    const charge = planChat(requests(1, 'tpm')[0]!.body).charge;
    const tpm = Math.round(perSecond * charge * 60);
    const server: ServerBehaviour = { latency: o.latencyMs, rateLimit: { tpm, quantumMs: 1000 } };
    const r = await runCase(server, { ...common, tpm }, n, 'tpm');
    // What the server counted, not what the bench assumes: its own charge of each admitted body.
    const ratio = r.chargedPerMinute / tpm;
    log(`  TPM ${tpm} (~${charge} charged, ~15 used a request): ${n} rows in ${fmt(r.wallMs / 1000, 1)} s, charged ÷ limit ${fmt(ratio, 3)}, 429s ${r.throttled}, failed ${r.failed}`);
    rows.push(barRow(NAME, `TPM ${tpm}, max_tokens ${MAX_TOKENS} ≫ answers: achieved ÷ limit`, ratio, '>=', 0.95, (x) => fmt(x, 3)));
    rows.push(barRow(NAME, 'TPM: 429s received', r.throttled, '==', 0, String));
  }

  // Headers only: no --rpm; the server's OpenAI-style headers say the limit.
  {
    const server: ServerBehaviour = { latency: o.latencyMs, rateLimit: { rpm: o.rpm, quantumMs: 1000 } };
    const r = await runCase(server, { ...common, maxRetries: 0 }, n, 'headers');
    const share = r.throttled / r.requests;
    log(`  headers only, no --rpm: ${n} rows in ${fmt(r.wallMs / 1000, 1)} s, ${r.throttled} 429s of ${r.requests} requests, failed ${r.failed}, rate ÷ limit ${fmt(r.achievedPerMinute / o.rpm, 3)}`);
    rows.push(barRow(NAME, 'headers only, no --rpm: failed rows', r.failed, '==', 0, String));
    rows.push(barRow(NAME, 'headers only: 429s ÷ requests', share, '<', 0.05, (x) => fmt(x, 3)));
  }

  // Nothing to go on: bare 429s without retry-after or headers.
  {
    const server: ServerBehaviour = {
      latency: o.latencyMs,
      rateLimit: { style: 'none', rpm: o.rpm, shortWindows: [{ windowMs: 1000, requests: Math.ceil(perSecond) }] },
    };
    const r = await runCase(server, { ...common, maxRetries: 0 }, n, 'silent');
    const ideal = (n / perSecond) * 1000;
    log(`  no headers, no retry-after: ${n} rows in ${fmt(r.wallMs / 1000, 1)} s (ideal ${fmt(ideal / 1000, 1)} s), ${r.throttled} 429s, failed ${r.failed}`);
    rows.push(barRow(NAME, 'no headers, no retry-after: failed rows', r.failed, '==', 0, String));
    rows.push(barRow(NAME, 'no headers, no retry-after: time ÷ ideal', r.wallMs / ideal, '<', 2, (x) => fmt(x, 2)));
  }

  // No quota: every request is refused with insufficient_quota.
  {
    const r = await runCase({ latency: o.latencyMs, noQuota: true }, { ...common, concurrency: 16 }, 200, 'quota');
    log(`  insufficient_quota: stopped (${r.stopped?.code ?? 'not stopped'}) after ${r.requests} requests at concurrency 16`);
    rows.push(infoRow(NAME, 'insufficient_quota: run stopped with', r.stopped?.code ?? 'NOT STOPPED'));
    rows.push(barRow(NAME, 'insufficient_quota: requests sent (concurrency 16)', r.stopped?.code === 'insufficient_quota' ? r.requests : Infinity, '<', 17, String));
  }

  return {
    rows,
    notes: [
      `Rate limits: ${o.rpm} requests a minute, ${n} requests per case (${o.seconds} s at the limit), C=${o.concurrency}, server latency ${o.latencyMs} ms, ` +
        'a fresh server per case. Achieved ÷ limit = admitted requests (or the tokens charged for them at admission: prompt + max_tokens) over the time from the ' +
        "first to the last admission, from the server's arrival times; 429s are counted by the server. The client paces at 98 % of the limit, at half that for its first second.",
    ],
  };
}
