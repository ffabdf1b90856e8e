import type { FailureKind } from './batch/tally';
import type { StatsSnapshot } from './stats';

/**
 * Turns statistics into text for people (FastLLM's ProgressTracker): one progress line, and a
 * summary at the end. Used by the CLI on stderr and by the extension's status bar tooltip.
 */

/** 1234 → "1.2k", 2_500_000 → "2.5M". */
export function compact(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatCost(dollars: number): string {
  return dollars === 0 ? '$0' : dollars < 0.01 ? `$${dollars.toFixed(4)}` : `$${dollars.toFixed(2)}`;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** What set the limits in force, as shown after them. */
const SOURCE_LABEL = { user: '', server: ' (server)', adaptive: ' (slowed)' } as const;

/** `RPM 97% of 600 (server)`: the limit in force and what set it; null without a limit. */
function limitText(kind: 'RPM' | 'TPM', s: StatsSnapshot): string | null {
  const l = kind === 'RPM' ? s.rpm : s.tpm;
  if (l.limit === null || l.saturation === null) return null;
  return `${kind} ${pct(l.saturation)} of ${compact(l.limit)}${s.pacing.source ? SOURCE_LABEL[s.pacing.source] : ''}`;
}

/** `120/500 (24%) · 3 failed · 41% cached · 1.2k tok/s · RPM 97% of 600 (server) · ETA 12s` */
export function progressLine(s: StatsSnapshot): string {
  const parts = [s.total !== null ? `${s.done}/${s.total} (${pct(s.total ? s.done / s.total : 1)})` : `${s.done} done`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.retries) parts.push(`${s.retries} retries`);
  if (s.throttled) parts.push(`${s.throttled} × 429`);
  if (s.cacheHits + s.dedupHits) parts.push(`${pct(s.hitRatio)} cached`);
  parts.push(`${compact(s.freshTokensPerSec)} tok/s`, `${s.requestsPerSec.toFixed(1)} req/s`);
  for (const kind of ['RPM', 'TPM'] as const) {
    const text = limitText(kind, s);
    if (text) parts.push(text);
  }
  if (s.pacing.autoConcurrency && s.pacing.concurrency !== null) parts.push(`concurrency ${s.pacing.concurrency} (auto)`);
  if (s.etaSeconds !== null) parts.push(`ETA ${formatDuration(s.etaSeconds)}`);
  return parts.join(' · ');
}

/** `pacing    600 requests/min (learned from the server), concurrency 16 (auto), 3 rate-limit 429s retried`, or null. */
function pacingText(s: StatsSnapshot): string | null {
  const parts: string[] = [];
  const from = s.pacing.source === 'server' ? ' (learned from the server)' : s.pacing.source === 'adaptive' ? ' (slowed after 429s)' : '';
  if (s.rpm.limit !== null) parts.push(`${compact(s.rpm.limit)} requests/min${from}`);
  if (s.tpm.limit !== null) parts.push(`${compact(s.tpm.limit)} tokens/min${s.rpm.limit === null ? from : ''}`);
  if (s.pacing.autoConcurrency && s.pacing.concurrency !== null) parts.push(`concurrency ${s.pacing.concurrency} (auto)`);
  if (s.throttled) parts.push(`${s.throttled} rate-limit 429s retried`);
  return parts.length ? `pacing    ${parts.join(', ')}` : null;
}

/**
 * Summary lines about the answers, only for runs they concern: provider prompt-cache hits,
 * reasoning tokens, answers cut short, answers that broke their JSON schema. (`?.`: snapshots
 * saved before these figures existed stay readable.)
 */
export function answerLines(s: StatsSnapshot): string[] {
  const lines: string[] = [];
  if (s.providerCache?.hits) lines.push(`provider  ${s.providerCache.hits} prompt-cache hits, ${s.providerCache.tokens} cached input tokens (at the cached-input price)`);
  if (s.reasoningTokens) lines.push(`reasoning ${s.reasoningTokens} reasoning tokens (part of completion, priced as output)`);
  if (s.truncated) lines.push(`truncated ${s.truncated} answers cut short by the token limit ("truncated": true in the results)`);
  if (s.schemaInvalid) lines.push(`schema    ${s.schemaInvalid} answers did not match the JSON schema ("schema_valid": false, counted as failed)`);
  return lines;
}

/** A multi-line end-of-run summary. */
export function summaryText(s: StatsSnapshot): string {
  const secs = s.elapsedMs / 1000;
  return [
    `requests  ${s.done} (${s.succeeded} ok, ${s.failed} failed, ${s.retries} retries, ${s.apiCalls} API calls)`,
    `cache     ${s.cacheHits} hits, ${s.dedupHits} de-duplicated (${pct(s.hitRatio)})`,
    `tokens    ${s.fresh.total} fresh (${s.fresh.prompt} prompt + ${s.fresh.completion} completion), ${s.cached.total} from cache`,
    `speed     ${compact(s.freshTokensPerSec)} fresh tokens/s, ${s.requestsPerSec.toFixed(1)} requests/s, ${formatDuration(secs)}`,
    `cost      ${formatCost(s.cost.spent)} spent, ${formatCost(s.cost.saved)} saved by the cache (estimated)`,
    ...answerLines(s),
    pacingText(s),
  ]
    .filter((line) => line !== null)
    .join('\n');
}

/** How much of a failure's first message {@link failureText} shows. */
const FAILURE_MESSAGE_CHARS = 120;

/**
 * The failures of a run in one line, one clause per kind (code and HTTP status), most frequent
 * first, each with its count and first message (cut to about 120 characters); '' when none.
 *
 * @example
 * failureText([{ code: 'invalid_request_error', status: 400, count: 6, message: "Invalid 'temperature'" }])
 * // → "6 failed: 6 × 400 invalid_request_error: Invalid 'temperature'"
 */
export function failureText(failures: readonly FailureKind[]): string {
  if (failures.length === 0) return '';
  const total = failures.reduce((n, f) => n + f.count, 0);
  const clauses = failures.map((f) => {
    const oneLine = f.message.replace(/\s+/g, ' ').trim();
    const message = oneLine.length > FAILURE_MESSAGE_CHARS ? `${oneLine.slice(0, FAILURE_MESSAGE_CHARS - 1).trimEnd()}…` : oneLine;
    return `${f.count} × ${f.status !== null ? `${f.status} ` : ''}${f.code}${message ? `: ${message}` : ''}`;
  });
  return `${total} failed: ${clauses.join('; ')}`;
}

/**
 * Writes progress to a stream: on a terminal one line rewritten in place, elsewhere (CI logs) a
 * new line every `intervalMs`.
 */
export class ProgressTracker {
  private timer: NodeJS.Timeout | undefined;
  private lastLength = 0;

  constructor(
    private readonly out: { write(s: string): unknown; isTTY?: boolean },
    private readonly snapshot: () => StatsSnapshot,
    private readonly intervalMs = out.isTTY ? 200 : 5000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.render(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.out.isTTY && this.lastLength) this.out.write(`\r${' '.repeat(this.lastLength)}\r`);
  }

  private render(): void {
    const line = progressLine(this.snapshot());
    if (this.out.isTTY) {
      this.out.write(`\r${line.padEnd(this.lastLength)}`);
      this.lastLength = line.length;
    } else {
      this.out.write(`${line}\n`);
    }
  }
}
