import * as vscode from 'vscode';
import type { StatsSnapshot } from '../core/stats';
import { mergeModelStats, ThroughputSeries, type ModelStats, type SeriesTotals } from '../core/statsSeries';
import type { RunEnding, RunEstimate, SessionTotals, StatsView } from '../webview/protocol';
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
  /**
   * Ends the run; its final statistics go into the session totals. Safe to call twice. `ending`
   * says how it ended (default: cancelled if its signal was aborted, else finished, with the
   * statistics' failures and no unfinished rows).
   */
  end(ending?: RunEnding): void;
}

interface LastRun {
  label: string;
  snapshot: StatsSnapshot;
  ending?: RunEnding;
  /** Per model, over the runs that went with it (absent in runs kept by older versions). */
  models?: ModelStats[];
  estimate?: RunEstimate | null;
}

/** What a run may say about itself when it begins. */
export interface BeginOptions {
  /** The estimate the user saw before the run (Token Stats shows the cost so far against it). */
  estimate?: RunEstimate;
}

interface ActiveRun {
  id: number;
  label: string;
  kind: 'batch' | 'selection';
  stats: StatsSource;
  controller: AbortController;
  unsubscribe: () => void;
  estimate: RunEstimate | null;
}

const LAST_RUN_KEY = 'fastllm.lastRunStats';
/** How often listeners hear about changes during a run (stats change on every row). */
const NOTIFY_MS = 200;
const SAMPLE_MS = 1000;
const MAX_SAMPLES = 300;

const seriesTotals = (s: SessionTotals): SeriesTotals => ({ tokens: s.fresh.total, rows: s.requests, retries: s.retries, throttled: s.throttled ?? 0 });

export function emptyTotals(): SessionTotals {
  return {
    runs: 0, requests: 0, succeeded: 0, failed: 0, unfinished: 0, retries: 0, throttled: 0, apiCalls: 0, cacheHits: 0, dedupHits: 0, hitRatio: 0,
    providerCacheHits: 0, providerCachedTokens: 0, reasoningTokens: 0,
    fresh: { prompt: 0, completion: 0, total: 0 }, cached: { prompt: 0, completion: 0, total: 0 },
    cost: { spent: 0, saved: 0 }, busyMs: 0,
  };
}

function addSnapshot(t: SessionTotals, s: StatsSnapshot, ending?: RunEnding): SessionTotals {
  const out: SessionTotals = {
    runs: t.runs + 1,
    requests: t.requests + s.done,
    succeeded: t.succeeded + s.succeeded,
    failed: t.failed + (ending ? ending.failed : s.failed),
    unfinished: (t.unfinished ?? 0) + (ending?.unfinished ?? 0),
    retries: t.retries + s.retries,
    throttled: (t.throttled ?? 0) + (s.throttled ?? 0),
    apiCalls: t.apiCalls + s.apiCalls,
    cacheHits: t.cacheHits + s.cacheHits,
    dedupHits: t.dedupHits + s.dedupHits,
    providerCacheHits: (t.providerCacheHits ?? 0) + (s.providerCache?.hits ?? 0),
    providerCachedTokens: (t.providerCachedTokens ?? 0) + (s.providerCache?.tokens ?? 0),
    reasoningTokens: (t.reasoningTokens ?? 0) + (s.reasoningTokens ?? 0),
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
 * chart (of the newest run, or of the runs that went together). Listeners are told at most every 200 ms while a run goes, and at once when one starts or ends.
 *
 * Invariant: the session totals count each finished run exactly once, at its end; runs in
 * progress are added on top when a view is built.
 */
export class RunTracker extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private readonly ended = this._register(new vscode.EventEmitter<LastRun>());
  /** Fires when a run ends, with its final statistics. */
  readonly onDidEndRun = this.ended.event;
  private readonly problemChanged = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeProblem = this.problemChanged.event;

  private readonly active = new Map<number, ActiveRun>();
  private nextId = 1;
  private totals = emptyTotals();
  private last: LastRun | null;
  private readonly series = new ThroughputSeries(MAX_SAMPLES);
  /** Per-model tallies of the runs that ended while others of their group still ran. */
  private groupEnded: ModelStats[][] = [];
  private sampler: NodeJS.Timeout | undefined;
  private notifyTimer: NodeJS.Timeout | undefined;
  private blocking: string | undefined;
  /** Callers of {@link idle} waiting for the last run to end. */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly memento: vscode.Memento) {
    super();
    this.last = memento.get<LastRun>(LAST_RUN_KEY) ?? null;
    // The extension is stopping: its runs stop too (each still ends as a cancelled run does).
    this._register({ dispose: () => (this.cancelAll(), this.stopTimers()) });
  }

  get running(): boolean {
    return this.active.size > 0;
  }

  /** True while a batch (not a selection) runs: only one batch at a time. */
  get batchRunning(): boolean {
    return [...this.active.values()].some((r) => r.kind === 'batch');
  }

  /** When a batch runs, says so (only one batch at a time) and returns true: the caller starts nothing. */
  refuseSecondBatch(): boolean {
    if (!this.batchRunning) return false;
    void vscode.window.showWarningMessage('FastLLM: a batch is already running. Cancel it first, or wait for it to finish.');
    return true;
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

  /**
   * Starts tracking a run. Runs that overlap (as *Run on Several Models*'s) form a group: Token
   * Stats' per-model breakdown covers the whole group, until a run begins with none running.
   */
  begin(label: string, kind: ActiveRun['kind'], stats: StatsSource, options: BeginOptions = {}): RunHandle {
    if (this.active.size === 0) {
      // A new timeline too: the chart shows the run (or the runs that went together), not the
      // straight line an idle gap since the last one would draw.
      this.groupEnded = [];
      this.series.clear();
    }
    const run: ActiveRun = {
      id: this.nextId++,
      label,
      kind,
      stats,
      controller: new AbortController(),
      unsubscribe: stats.onChange(() => this.scheduleNotify()),
      estimate: options.estimate ?? null,
    };
    this.active.set(run.id, run);
    if (!this.sampler) {
      // From now, so that the retries and 429s of the first second are on the chart too.
      this.series.baseline(seriesTotals(this.session()));
      this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    }
    void vscode.commands.executeCommand('setContext', 'fastllm.running', true);
    this.changed.fire();
    return {
      signal: run.controller.signal,
      cancel: () => run.controller.abort(),
      end: (ending) => this.finish(run, ending),
    };
  }

  /** Cancels every run in progress; returns how many there were. */
  cancelAll(): number {
    for (const run of this.active.values()) run.controller.abort();
    return this.active.size;
  }

  /** Resolves once no run is in progress (at once when none is). */
  idle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The newest run in progress, or undefined. */
  get current(): { label: string; snapshot: StatsSnapshot; estimate: RunEstimate | null } | undefined {
    const runs = [...this.active.values()];
    const run = runs[runs.length - 1];
    return run && { label: run.label, snapshot: run.stats.snapshot(), estimate: run.estimate };
  }

  /** The session totals, including runs in progress. */
  session(): SessionTotals {
    let t = this.totals;
    for (const run of this.active.values()) t = addSnapshot(t, run.stats.snapshot());
    return t;
  }

  /** Everything the stats panel shows. */
  view(): StatsView {
    const running = this.current;
    const current = running ?? this.last;
    return {
      current: current?.snapshot ?? null,
      label: current?.label ?? null,
      running: this.running,
      ending: running ? null : (this.last?.ending ?? null),
      session: this.session(),
      history: this.series.samples(),
      models: running ? this.groupModels() : (this.last?.models ?? this.last?.snapshot.models ?? []),
      estimate: current?.estimate ?? null,
    };
  }

  /** Per model, over the runs of the group: those that ended and those still running. */
  private groupModels(): ModelStats[] {
    return mergeModelStats([...this.groupEnded, ...[...this.active.values()].map((r) => r.stats.snapshot().models)]);
  }

  private finish(run: ActiveRun, ending?: RunEnding): void {
    if (!this.active.delete(run.id)) return;
    run.unsubscribe();
    const snapshot = run.stats.snapshot();
    ending ??= { state: run.controller.signal.aborted ? 'cancelled' : 'finished', failed: snapshot.failed, unfinished: 0 };
    this.totals = addSnapshot(this.totals, snapshot, ending);
    this.groupEnded.push(snapshot.models ?? []);
    this.last = { label: run.label, snapshot, ending, models: this.groupModels(), estimate: run.estimate };
    void this.memento.update(LAST_RUN_KEY, this.last);
    if (this.active.size === 0) {
      this.sample();
      this.stopTimers();
      void vscode.commands.executeCommand('setContext', 'fastllm.running', false);
    }
    this.ended.fire({ label: run.label, snapshot, ending });
    this.changed.fire();
    if (this.active.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private scheduleNotify(): void {
    this.notifyTimer ??= setTimeout(() => {
      this.notifyTimer = undefined;
      this.changed.fire();
    }, NOTIFY_MS);
  }

  /** Adds a chart point: fresh tokens and rows per second since the previous point, and its retries and 429s. */
  private sample(): void {
    this.series.add(seriesTotals(this.session()));
  }

  private stopTimers(): void {
    if (this.sampler) clearInterval(this.sampler);
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    this.sampler = undefined;
    this.notifyTimer = undefined;
  }
}
