import * as vscode from 'vscode';
import type { PriceTable } from '../core/pricing';
import { Disposable } from './dispose';

export type SelectionMode = 'whole' | 'perLine' | 'ask';
export type SelectionOutput = 'beside' | 'below' | 'replace';

const SECTION = 'fastllm';

/**
 * The `fastllm.*` settings, typed: one getter per setting (JSDoc mirrors package.json) and one
 * change event. Values are read fresh on every access, so a getter never returns a stale value.
 *
 * Settings that decide where the API key goes (`baseUrl`, `extraHeaders`, `organization`,
 * `project`) and where results are written are listed in package.json under
 * `capabilities.untrustedWorkspaces.restrictedConfigurations`: in an untrusted workspace VS Code
 * hides the workspace's values of these from `get()`, so a cloned repository cannot redirect the key.
 */
export class Config extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  /** Fires once per settings change that touches any `fastllm.*` setting. */
  readonly onDidChange = this.changed.event;

  constructor() {
    super();
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) this.changed.fire();
      }),
    );
  }

  private get<T>(key: string, fallback: T): T {
    return vscode.workspace.getConfiguration(SECTION).get<T>(key, fallback) ?? fallback;
  }

  /** Model for prompts and rows that name none. @default "gpt-4o-mini" */
  get model(): string {
    return this.get('model', 'gpt-4o-mini').trim() || 'gpt-4o-mini';
  }
  /** Base URL of the API; the key is sent here. @default "https://api.openai.com/v1" */
  get baseUrl(): string {
    return this.get('baseUrl', 'https://api.openai.com/v1').trim().replace(/\/+$/, '') || 'https://api.openai.com/v1';
  }
  /** @default "" (none) */
  get organization(): string | undefined {
    return this.get('organization', '').trim() || undefined;
  }
  /** @default "" (none) */
  get project(): string | undefined {
    return this.get('project', '').trim() || undefined;
  }
  /** Extra request headers; non-string values are dropped. @default {} */
  get extraHeaders(): Record<string, string> {
    const raw = this.get<unknown>('extraHeaders', {});
    const out: Record<string, string> = {};
    if (raw && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') out[k] = v;
    }
    return out;
  }
  /** @default 16 */
  get concurrency(): number {
    return clampInt(this.get('concurrency', 16), 1, 1024, 16);
  }
  /** @default null (no limit) */
  get rpm(): number | null {
    return positiveOrNull(this.get<number | null>('rpm', null));
  }
  /** @default null (no limit) */
  get tpm(): number | null {
    return positiveOrNull(this.get<number | null>('tpm', null));
  }
  /** @default 5 */
  get maxRetries(): number {
    return clampInt(this.get('maxRetries', 5), 0, 20, 5);
  }
  /** @default 120000 */
  get timeoutMs(): number {
    return clampInt(this.get('timeoutMs', 120_000), 1000, 3_600_000, 120_000);
  }
  /** @default null (the server's default) */
  get temperature(): number | undefined {
    const t = this.get<number | null>('temperature', null);
    return typeof t === 'number' && Number.isFinite(t) ? t : undefined;
  }
  /** @default null (the server's default) */
  get maxTokens(): number | undefined {
    return positiveOrNull(this.get<number | null>('maxTokens', null)) ?? undefined;
  }
  /** @default "" (none) */
  get systemPrompt(): string | undefined {
    return this.get('systemPrompt', '') || undefined;
  }
  /** @default true */
  get cacheEnabled(): boolean {
    return this.get('cache.enabled', true);
  }
  /** Entry lifetime in ms, null = never expire. Setting is in seconds. @default 0 (never) */
  get cacheTtlMs(): number | null {
    const s = this.get('cache.ttlSeconds', 0);
    return typeof s === 'number' && s > 0 ? s * 1000 : null;
  }
  /**
   * Redis URL of a team cache, used instead of the workspace's SQLite file; its password, if any,
   * is in SecretStorage. Restricted in untrusted workspaces (prompts and answers go there).
   * @default "" (the SQLite file)
   */
  get cacheRedisUrl(): string {
    return this.get('cache.redisUrl', '').trim();
  }
  /** The project's namespace on the Redis cache. @default "" (the workspace folder's name, else "fastllm") */
  get cacheNamespace(): string {
    const name = this.get('cache.namespace', '').trim() || vscode.workspace.workspaceFolders?.[0]?.name || vscode.workspace.name || '';
    // Redis keys are `<namespace>::<key>`, so a namespace cannot end with ':' or contain '::'.
    return name.trim().replace(/:+/g, '-') || 'fastllm';
  }
  /** @default "whole" */
  get selectionMode(): SelectionMode {
    return oneOf(this.get('selection.mode', 'whole'), ['whole', 'perLine', 'ask'], 'whole');
  }
  /** @default "beside" */
  get selectionOutput(): SelectionOutput {
    return oneOf(this.get('selection.output', 'beside'), ['beside', 'below', 'replace'], 'beside');
  }
  /** Folder for results; empty = beside the input. @default "" */
  get resultsLocation(): string {
    return this.get('results.location', '').trim();
  }
  /** @default true */
  get openResultsWhenDone(): boolean {
    return this.get('results.openWhenDone', true);
  }
  /** @default "" (CSV needs a `prompt` column) */
  get csvTemplate(): string | undefined {
    return this.get('csv.template', '') || undefined;
  }
  /** Rows at or above which a batch asks first; 0 = never. @default 1000 */
  get confirmRowThreshold(): number {
    return clampInt(this.get('confirm.rowThreshold', 1000), 0, Number.MAX_SAFE_INTEGER, 1000);
  }
  /** Estimated dollars above which a batch asks first; 0 = never. @default 1 */
  get confirmCostThreshold(): number {
    const c = this.get('confirm.costThreshold', 1);
    return typeof c === 'number' && c > 0 ? c : 0;
  }
  /** User prices, merged over the built-in table by the engine. @default {} */
  get prices(): PriceTable {
    const raw = this.get<unknown>('prices', {});
    const out: PriceTable = {};
    if (raw && typeof raw === 'object') {
      for (const [model, p] of Object.entries(raw)) {
        const { input, output } = (p ?? {}) as { input?: unknown; output?: unknown };
        if (typeof input === 'number' && typeof output === 'number') out[model] = { input, output };
      }
    }
    return out;
  }

  /** The effective settings, for the log (no secrets: header values are masked). */
  describe(): string {
    const headers = Object.keys(this.extraHeaders);
    return JSON.stringify({
      model: this.model,
      baseUrl: this.baseUrl,
      organization: this.organization ?? null,
      project: this.project ?? null,
      extraHeaders: headers.length ? headers.map((h) => `${h}: ***`) : [],
      concurrency: this.concurrency,
      rpm: this.rpm,
      tpm: this.tpm,
      maxRetries: this.maxRetries,
      timeoutMs: this.timeoutMs,
      temperature: this.temperature ?? null,
      maxTokens: this.maxTokens ?? null,
      systemPrompt: this.systemPrompt ? `${this.systemPrompt.length} chars` : null,
      cache: {
        enabled: this.cacheEnabled,
        ttlMs: this.cacheTtlMs,
        redis: this.cacheRedisUrl ? { url: maskUrlPassword(this.cacheRedisUrl), namespace: this.cacheNamespace } : null,
      },
      selection: { mode: this.selectionMode, output: this.selectionOutput },
      resultsLocation: this.resultsLocation || '(beside input)',
      confirm: { rows: this.confirmRowThreshold, cost: this.confirmCostThreshold },
      trusted: vscode.workspace.isTrusted,
    });
  }
}

/** The URL with its password, if any, as `***` (kept here: the Redis code lives in the lazy engine bundle). */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^/]*@/i, '$1***@');
}

function clampInt(v: unknown, min: number, max: number, fallback: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(v)));
}

function positiveOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : null;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], fallback: T): T {
  return (allowed as readonly unknown[]).includes(v) ? (v as T) : fallback;
}
