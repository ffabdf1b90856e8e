import * as vscode from 'vscode';
import type { StatsSnapshot } from '../core/stats';
import type { SessionTotals, StatsView, ThroughputSample } from '../webview/protocol';
import { Disposable } from './dispose';

/** What a run's statistics look like from here (the engine's TokenStats, loaded lazily). */
export interface StatsSource {
  snapshot(): StatsSnapshot;
  onChange(listener: () => void): () => void;
}

/** A run in progress: its cancellation, and how to say it is over. */
export interface RunHandle {
  readonly signal: AbortSignal;
  cancel(): void;
  /** Ends the run; its final statistics go into the session totals. Safe to call twice. */
  end(): void;
}

interface ActiveRun {
  id: number;
  label: string;
  kind: 'batch' | 'selection';
  stats: StatsSource;
  controller: AbortController;
  unsubscribe: () => void;
}

const LAST_RUN_KEY = 'fastllm.lastRunStats';
/** How often listeners hear about changes during a run (stats change on every row). */
const NOTIFY_MS = 200;
const SAMPLE_MS = 1000;
const MAX_SAMPLES = 300;

export function emptyTotals(): SessionTotals {
  return {
    runs: 0, requests: 0, succeeded: 0, failed: 0, retries: 0, apiCalls: 0, cacheHits: 0, dedupHits: 0, hitRatio: 0,
    fresh: { prompt: 0, completion: 0, total: 0 }, cached: { prompt: 0, completion: 0, total: 0 },
    cost: { spent: 0, saved: 0 }, busyMs: 0,
  };
}

function addSnapshot(t: SessionTotals, s: StatsSnapshot): SessionTotals {
  const out: SessionTotals = {
    runs: t.runs + 1,
    requests: t.requests + s.done,
    succeeded: t.succeeded + s.succeeded,
    failed: t.failed + s.failed,
    retries: t.retries + s.retries,
    apiCalls: t.apiCalls + s.apiCalls,
    cacheHits: t.cacheHits + s.cacheHits,
    dedupHits: t.dedupHits + s.dedupHits,
    hitRatio: 0,
    fresh: { prompt: t.fresh.prompt + s.fresh.prompt, completion: t.fresh.completion + s.fresh.completion, total: t.fresh.total + s.fresh.total },
    cached: { prompt: t.cached.prompt + s.cached.prompt, completion: t.cached.completion + s.cached.completion, total: t.cached.total + s.cached.total },
    cost: { spent: t.cost.spent + s.cost.spent, saved: t.cost.saved + s.cost.saved },
    busyMs: t.busyMs + s.elapsedMs,
  };
  out.hitRatio = out.succeeded > 0 ? (out.cacheHits + out.dedupHits) / out.succeeded : 0;
  return out;
}

/**
 * The runs of this session: which are in progress (for the status bar, Cancel Run and the
 * `fastllm.running` context key), the totals of all of them, and a throughput history for the
 * chart. Listeners are told at most every 200 ms while a run goes, and at once when one starts or ends.
 *
 * Invariant: the session totals count each finished run exactly once, at its end; runs in
 * progress are added on top when a view is built.
 */
export class RunTracker extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private readonly ended = this._register(new vscode.EventEmitter<{ label: string; snapshot: StatsSnapshot }>());
  /** Fires when a run ends, with its final statistics. */
  readonly onDidEndRun = this.ended.event;
  private readonly problemChanged = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeProblem = this.problemChanged.event;

  private readonly active = new Map<number, ActiveRun>();
  private nextId = 1;
  private totals = emptyTotals();
  private last: { label: string; snapshot: StatsSnapshot } | null;
  private history: ThroughputSample[] = [];
  private lastSample: { t: number; tokens: number; rows: number } | undefined;
  private sampler: NodeJS.Timeout | undefined;
  private notifyTimer: NodeJS.Timeout | undefined;
  private blocking: string | undefined;

  constructor(private readonly memento: vscode.Memento) {
    super();
    this.last = memento.get<{ label: string; snapshot: StatsSnapshot }>(LAST_RUN_KEY) ?? null;
    this._register({ dispose: () => this.stopTimers() });
  }

  get running(): boolean {
    return this.active.size > 0;
  }

  /** True while a batch (not a selection) runs: only one batch at a time. */
  get batchRunning(): boolean {
    return [...this.active.values()].some((r) => r.kind === 'batch');
  }

  /** A problem that blocks every run (a missing or rejected API key), shown by the status bar. */
  get problem(): string | undefined {
    return this.blocking;
  }

  setProblem(problem: string | undefined): void {
    if (problem === this.blocking) return;
    this.blocking = problem;
    this.problemChanged.fire();
  }

  begin(label: string, kind: ActiveRun['kind'], stats: StatsSource): RunHandle {
    const run: ActiveRun = {
      id: this.nextId++,
      label,
      kind,
      stats,
      controller: new AbortController(),
      unsubscribe: stats.onChange(() => this.scheduleNotify()),
    };
    this.active.set(run.id, run);
    if (!this.sampler) {
      this.lastSample = undefined;
      this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    }
    void vscode.commands.executeCommand('setContext', 'fastllm.running', true);
    this.changed.fire();
    return {
      signal: run.controller.signal,
      cancel: () => run.controller.abort(),
      end: () => this.finish(run),
    };
  }

  /** Cancels every run in progress; returns how many there were. */
  cancelAll(): number {
    for (const run of this.active.values()) run.controller.abort();
    return this.active.size;
  }

  /** The newest run in progress, or undefined. */
  get current(): { label: string; snapshot: StatsSnapshot } | undefined {
    const runs = [...this.active.values()];
    const run = runs[runs.length - 1];
    return run && { label: run.label, snapshot: run.stats.snapshot() };
  }

  /** The session totals, including runs in progress. */
  session(): SessionTotals {
    let t = this.totals;
    for (const run of this.active.values()) t = addSnapshot(t, run.stats.snapshot());
    return t;
  }

  /** Everything the stats panel shows. */
  view(): StatsView {
    const current = this.current ?? this.last;
    return {
      current: current?.snapshot ?? null,
      label: current?.label ?? null,
      running: this.running,
      session: this.session(),
      history: this.history,
    };
  }

  private finish(run: ActiveRun): void {
    if (!this.active.delete(run.id)) return;
    run.unsubscribe();
    const snapshot = run.stats.snapshot();
    this.totals = addSnapshot(this.totals, snapshot);
    this.last = { label: run.label, snapshot };
    void this.memento.update(LAST_RUN_KEY, this.last);
    if (this.active.size === 0) {
      this.sample();
      this.stopTimers();
      void vscode.commands.executeCommand('setContext', 'fastllm.running', false);
    }
    this.ended.fire({ label: run.label, snapshot });
    this.changed.fire();
  }

  private scheduleNotify(): void {
    this.notifyTimer ??= setTimeout(() => {
      this.notifyTimer = undefined;
      this.changed.fire();
    }, NOTIFY_MS);
  }

  /** Adds a chart point: fresh tokens and rows per second since the previous point. */
  private sample(): void {
    const now = Date.now();
    const s = this.session();
    const tokens = s.fresh.total;
    const rows = s.requests;
    if (this.lastSample) {
      const dt = Math.max(1, now - this.lastSample.t) / 1000;
      this.history = [
        ...this.history.slice(-(MAX_SAMPLES - 1)),
        { t: now, tokensPerSec: Math.max(0, tokens - this.lastSample.tokens) / dt, rowsPerSec: Math.max(0, rows - this.lastSample.rows) / dt },
      ];
    }
    this.lastSample = { t: now, tokens, rows };
  }

  private stopTimers(): void {
    if (this.sampler) clearInterval(this.sampler);
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    this.sampler = undefined;
    this.notifyTimer = undefined;
  }
}
