/** Timing, CPU and formatting helpers shared by the scenarios. */
import type { ChatBody, LLMRequest } from '../../src/core/types';

export interface Timed<T> {
  value: T;
  /** Wall time, ms. */
  wallMs: number;
  /** CPU time (user + system) of this process, ms. */
  cpuMs: number;
}

/** Runs `fn` after a GC (when exposed), timing wall clock and this process's CPU. */
export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  (globalThis as { gc?: () => void }).gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { value, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** A chat body for prompt `i`: distinct prompts, so that no two requests share a call or a cache entry. */
export function chatBody(i: number, extra: Partial<ChatBody> = {}): ChatBody {
  return { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Benchmark prompt ${i}: answer briefly.` }], ...extra };
}

export function chatRequests(n: number, extra: Partial<ChatBody> = {}, tag = ''): LLMRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: 'chat' as const,
    custom_id: `${tag}row-${i + 1}`,
    line: i + 1,
    body: chatBody(i, extra),
  }));
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(digits);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The median of `xs` (the mean of the two middle values for an even count). Bars are judged on
 * it: one lucky round moves the best, but not the median.
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
