/**
 * Scenario 3: the server enforces a sliding-window limit (429 + retry-after when exceeded); the
 * client is set to the same limit. How close does it run to the limit, and how many 429s does it
 * draw? Runs once with a request limit, once with a token limit, the window scaled down so that a
 * run of several windows takes seconds.
 *
 * Achieved rate ÷ limit: a sliding window lets through at most R requests in any window W, so for
 * the admitted requests in arrival order t₀ ≤ t₁ ≤ …, every gap t(i) − t(i−R) is ≥ W, and a client
 * exactly at the limit has a mean gap of W. The ratio is W ÷ mean gap, which is 1 at the limit
 * whether the client sends in bursts or evenly, and cannot exceed 1 without 429s.
 */
import { barRow, type Row, type ScenarioResult } from '../support/report';
import { BenchServer } from '../support/server';
import { benchManager, runManager } from '../support/clients';
import { fmt, timed } from '../support/measure';
import type { LLMRequest } from '../../src/core/types';

export interface RateLimitOptions {
  windowMs: number;
  /** Requests the limit lets through per window. */
  perWindow: number;
  /** Windows' worth of requests to send. */
  windows: number;
  concurrency: number;
  latencyMs: number;
}

const NAME = '3 rate limit';
/** 60 characters: the server charges 15 prompt tokens (characters / 4) … */
const PROMPT_CHARS = 60;
/** … plus max_tokens; answers are longer, so they are cut to exactly this many tokens. */
const MAX_TOKENS = 5;
const CHARGE = PROMPT_CHARS / 4 + MAX_TOKENS;

function requests(n: number, tag: string): LLMRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const content = `${tag} rate-limit benchmark row ${i}: reply in one word. `.padEnd(PROMPT_CHARS, 'x').slice(0, PROMPT_CHARS);
    return {
      kind: 'chat' as const,
      custom_id: `row-${i + 1}`,
      line: i + 1,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }], max_tokens: MAX_TOKENS },
    };
  });
}

export async function rateLimit(o: RateLimitOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const rows: Row[] = [];
  const W = o.windowMs;
  const R = o.perWindow;
  const n = R * o.windows;
  const kinds = [
    { label: 'RPM', limit: { rpm: R }, client: { rpm: R }, shown: `${R} requests / ${W / 1000} s` },
    { label: 'TPM', limit: { tpm: R * CHARGE }, client: { tpm: R * CHARGE }, shown: `${R * CHARGE} tokens / ${W / 1000} s (${CHARGE} a request)` },
  ];
  for (const k of kinds) {
    const server = await BenchServer.start({ latency: o.latencyMs, recordBodies: true, rateLimit: { ...k.limit, windowMs: W } });
    try {
      const manager = benchManager(server.url, { concurrency: o.concurrency, rateWindowMs: W, maxRetries: 20, ...k.client });
      const t = await timed(() => runManager(manager, requests(n, k.label)));
      if (t.value.failed) throw new Error(`${k.label}: ${t.value.failed} failed (${t.value.firstError})`);
      const st = await server.stats(true);
      // Each body is admitted once (its last arrival); earlier arrivals of it were 429s.
      const last = new Map<string, number>();
      for (const a of st.arrivals!) last.set(a.body, a.at);
      const admitted = [...last.values()].sort((a, b) => a - b);
      const rejected = st.count - admitted.length;
      const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
      const meanGap = (mean(admitted.slice(-R)) - mean(admitted.slice(0, R))) / (o.windows - 1);
      const ratio = W / meanGap;
      log(`  ${k.label} ${k.shown}: ${n} requests in ${fmt(t.wallMs / 1000)} s, rate ÷ limit ${fmt(ratio, 3)}, 429s ${rejected} (client retries ${t.value.retries})`);
      rows.push(barRow(NAME, `${k.label} (${k.shown}): achieved ÷ limit`, ratio, '>=', 0.95, (x) => fmt(x, 3)));
      rows.push(barRow(NAME, `${k.label}: 429s received`, rejected, '==', 0, (x) => String(x)));
    } finally {
      await server.close();
    }
  }
  return {
    rows,
    notes: [
      `Rate limit: the server's sliding window is ${W / 1000} s and the client's rateWindowMs the same; ${n} requests ` +
        `(${o.windows} windows' worth), C=${o.concurrency}, server latency ${o.latencyMs} ms. Achieved ÷ limit = W ÷ mean over admitted requests of t(i) − t(i−R), from the ` +
        "server's arrival times; 1.000 is exactly at the limit. 429s are counted by the server.",
    ],
  };
}
