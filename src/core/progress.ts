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

/** `120/500 (24%) · 3 failed · 41% cached · 1.2k tok/s · ETA 12s` */
export function progressLine(s: StatsSnapshot): string {
  const parts = [s.total !== null ? `${s.done}/${s.total} (${pct(s.total ? s.done / s.total : 1)})` : `${s.done} done`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.retries) parts.push(`${s.retries} retries`);
  if (s.cacheHits + s.dedupHits) parts.push(`${pct(s.hitRatio)} cached`);
  parts.push(`${compact(s.freshTokensPerSec)} tok/s`, `${s.requestsPerSec.toFixed(1)} req/s`);
  if (s.rpm.saturation !== null) parts.push(`RPM ${pct(s.rpm.saturation)}`);
  if (s.tpm.saturation !== null) parts.push(`TPM ${pct(s.tpm.saturation)}`);
  if (s.etaSeconds !== null) parts.push(`ETA ${formatDuration(s.etaSeconds)}`);
  return parts.join(' · ');
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
  ].join('\n');
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
