import * as vscode from 'vscode';
import type { PriceTable } from '../core/pricing';
import { canonicalBaseUrl } from '../core/providers/keyScope';
import { profileEndpoint, profileKeyId, resolveProfiles, type Profile, type ProfileChoice } from '../core/profiles';
import { Disposable } from './dispose';

export type SelectionMode = 'whole' | 'perLine' | 'ask';
export type SelectionOutput = 'beside' | 'below' | 'replace';

const SECTION = 'fastllm';

/**
 * Settings a cloned repository must not set (package.json `restrictedConfigurations`, same list):
 * where the key goes, where results and cached prompts go, and the thresholds and prices that
 * decide whether a costly run asks first.
 */
export const RESTRICTED_SETTINGS = [
  'baseUrl',
  'extraHeaders',
  'organization',
  'project',
  'results.location',
  'cache.redisUrl',
  'cache.namespace',
  'confirm.rowThreshold',
  'confirm.costThreshold',
  'confirm.firstRun',
  'prices',
  'profiles',
  'profile',
] as const;
const RESTRICTED: ReadonlySet<string> = new Set(RESTRICTED_SETTINGS);

/**
 * The `fastllm.*` settings, typed: one getter per setting (JSDoc mirrors package.json) and one
 * change event. Values are read fresh on every access, so a getter never returns a stale value.
 *
 * The settings of {@link RESTRICTED_SETTINGS} (where the API key goes, where results and cached
 * prompts go, the confirmation thresholds and prices) are listed in package.json under
 * `capabilities.untrustedWorkspaces.restrictedConfigurations`, and in an untrusted workspace this
 * class reads only their user (or default) value, whatever the workspace sets: a cloned repository
 * can neither redirect the key nor switch off the question before a costly run.
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
    const config = vscode.workspace.getConfiguration(SECTION);
    if (RESTRICTED.has(key) && !vscode.workspace.isTrusted) {
      // VS Code already hides restricted workspace values; this does not rely on it.
      const seen = config.inspect<T>(key);
      return seen?.globalValue ?? seen?.defaultValue ?? fallback;
    }
    return config.get<T>(key, fallback) ?? fallback;
  }

  /**
   * `fastllm.profiles` and `fastllm.profile` from the user's settings and, in a trusted workspace
   * only, the workspace's (see resolveProfiles in src/core/profiles.ts).
   */
  get profileChoice(): ProfileChoice {
    const config = vscode.workspace.getConfiguration(SECTION);
    const layers = (key: string) => {
      const seen = config.inspect<unknown>(key);
      return { user: seen?.globalValue, workspace: seen?.workspaceFolderValue ?? seen?.workspaceValue };
    };
    return resolveProfiles(layers('profiles'), layers('profile'), vscode.workspace.isTrusted);
  }
  /** The active profile (`fastllm.profile`), or undefined: the plain settings apply. @default "" (none) */
  get activeProfile(): Profile | undefined {
    return this.profileChoice.active;
  }
  /** The active profile when it talks HTTP (not `vscode-lm`). */
  private get httpProfile(): Profile | undefined {
    const p = this.activeProfile;
    return p && p.kind !== 'vscode-lm' ? p : undefined;
  }
  /**
   * The SecretStorage id of the key for `baseUrl`: the active profile's own key when `baseUrl` is
   * that profile's endpoint, else undefined (the key stored per base URL, as without profiles).
   */
  profileKeyFor(baseUrl: string): string | undefined {
    const p = this.httpProfile;
    if (!p) return undefined;
    return canonicalBaseUrl(profileEndpoint(p).baseURL) === canonicalBaseUrl(baseUrl) ? profileKeyId(p) : undefined;
  }
  /** Azure OpenAI options of the active profile (kind `azure`), else undefined (recognised from the URL). */
  get azure(): { apiVersion: string } | undefined {
    const p = this.httpProfile;
    return p ? profileEndpoint(p).azure : undefined;
  }

  /** Model for prompts and rows that name none; the active profile's when it has one. @default "gpt-4o-mini" */
  get model(): string {
    const p = this.activeProfile;
    const own = p?.model ?? (p?.kind === 'azure' ? p.deployment : undefined);
    return own ?? (this.get('model', 'gpt-4o-mini').trim() || 'gpt-4o-mini');
  }
  /** Base URL of the API; the key is sent here. The active HTTP profile's, if any. @default "https://api.openai.com/v1" */
  get baseUrl(): string {
    const p = this.httpProfile;
    if (p) return profileEndpoint(p).baseURL;
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
    // A profile's headers replace these: they may carry a gateway's credentials meant for one server.
    const p = this.httpProfile;
    if (p) return { ...(p.extraHeaders ?? {}) };
    const raw = this.get<unknown>('extraHeaders', {});
    const out: Record<string, string> = {};
    if (raw && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') out[k] = v;
    }
    return out;
  }
  /** Requests in flight, or `'auto'` (found while the run goes). @default 16 */
  get concurrency(): number | 'auto' {
    const raw = this.get<number | string>('concurrency', 16);
    return raw === 'auto' ? 'auto' : clampInt(raw, 1, 1024, 16);
  }
  /** Seconds without a successful call before a run gives up on rate limits. @default 300 */
  get rateLimitGiveUpSeconds(): number {
    return clampInt(this.get('rateLimit.giveUpSeconds', 300), 10, 86_400, 300);
  }
  /** @default null (no limit) */
  get rpm(): number | null {
    if (this.activeProfile?.rpm) return this.activeProfile.rpm;
    return positiveOrNull(this.get<number | null>('rpm', null));
  }
  /** @default null (no limit) */
  get tpm(): number | null {
    if (this.activeProfile?.tpm) return this.activeProfile.tpm;
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
  /**
   * Which API prompts and `{"input"}` rows go to: `chat` (Chat Completions) or `responses`
   * (OpenAI's Responses API, `/v1/responses`). @default "chat"
   */
  get api(): 'chat' | 'responses' {
    return this.get<string>('api', 'chat') === 'responses' ? 'responses' : 'chat';
  }
  /** Reasoning effort for reasoning models (`minimal`, `low`, `medium`, `high`). @default "" (the model's default) */
  get reasoningEffort(): string | undefined {
    const v = this.get<string>('reasoningEffort', '');
    return typeof v === 'string' && /^[a-z]+$/.test(v) ? v : undefined;
  }
  /**
   * A JSON schema file every answer must follow (relative paths: to the first workspace folder).
   * @default "" (none)
   */
  get schemaFile(): string | undefined {
    const v = this.get<string>('schemaFile', '');
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
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
  /** Ask before the first run of each file, whatever the thresholds. @default true */
  get confirmFirstRun(): boolean {
    return this.get<unknown>('confirm.firstRun', true) !== false;
  }
  /** User prices, merged over the built-in table by the engine. @default {} */
  get prices(): PriceTable {
    const raw = this.get<unknown>('prices', {});
    const out: PriceTable = {};
    if (raw && typeof raw === 'object') {
      for (const [model, p] of Object.entries(raw)) {
        const { input, output, cachedInput } = (p ?? {}) as { input?: unknown; output?: unknown; cachedInput?: unknown };
        if (typeof input === 'number' && typeof output === 'number') {
          out[model] = { input, output, ...(typeof cachedInput === 'number' ? { cachedInput } : {}) };
        }
      }
    }
    return out;
  }

  /** The effective settings, for the log (no secrets: header values are masked). */
  describe(): string {
    const headers = Object.keys(this.extraHeaders);
    const choice = this.profileChoice;
    const profile = choice.active;
    return JSON.stringify({
      profile: profile ? `${profile.name} (${profile.kind})` : null,
      profiles: choice.profiles.map((p) => p.name),
      ...(choice.problems.length ? { profileProblems: choice.problems } : {}),
      model: this.model,
      baseUrl: this.baseUrl,
      organization: this.organization ?? null,
      project: this.project ?? null,
      extraHeaders: headers.length ? headers.map((h) => `${h}: ***`) : [],
      concurrency: this.concurrency,
      rpm: this.rpm,
      tpm: this.tpm,
      maxRetries: this.maxRetries,
      rateLimitGiveUpSeconds: this.rateLimitGiveUpSeconds,
      timeoutMs: this.timeoutMs,
      temperature: this.temperature ?? null,
      maxTokens: this.maxTokens ?? null,
      api: this.api,
      reasoningEffort: this.reasoningEffort ?? null,
      schemaFile: this.schemaFile ?? null,
      systemPrompt: this.systemPrompt ? `${this.systemPrompt.length} chars` : null,
      cache: {
        enabled: this.cacheEnabled,
        ttlMs: this.cacheTtlMs,
        redis: this.cacheRedisUrl ? { url: maskUrlPassword(this.cacheRedisUrl), namespace: this.cacheNamespace } : null,
      },
      selection: { mode: this.selectionMode, output: this.selectionOutput },
      resultsLocation: this.resultsLocation || '(beside input)',
      confirm: { rows: this.confirmRowThreshold, cost: this.confirmCostThreshold, firstRun: this.confirmFirstRun },
      prices: Object.keys(this.prices),
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
