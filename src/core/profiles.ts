/**
 * Provider profiles: named endpoints (base URL, kind, default model, limits, extra headers) that the
 * user switches between instead of editing `fastllm.baseUrl` and re-entering keys. The extension
 * reads them from the `fastllm.profiles` setting, the CLI from a `fastllm.json` file; both resolve
 * them here, so that a profile means the same thing in both. No `vscode` import.
 *
 * Keys are never part of a profile: the extension keeps one per profile in SecretStorage, the CLI
 * reads it from the environment variable the profile names (`apiKeyEnv`), else `FASTLLM_API_KEY`,
 * else `OPENAI_API_KEY`.
 */
import { DEFAULT_AZURE_API_VERSION } from './providers/azure';

/** What a profile's endpoint speaks. */
export type ProfileKind = 'openai-compatible' | 'azure' | 'vscode-lm';
export const PROFILE_KINDS: readonly ProfileKind[] = ['openai-compatible', 'azure', 'vscode-lm'];

/** One named endpoint, checked. */
export interface Profile {
  /** The name the user picks it by (`fastllm.profile`, `--profile`). */
  name: string;
  /** @default 'openai-compatible' */
  kind: ProfileKind;
  /**
   * Base URL: up to the version segment for `openai-compatible` (`http://localhost:11434/v1`),
   * the resource (`https://RES.openai.azure.com`) for `azure`; unused for `vscode-lm`.
   */
  baseUrl?: string;
  /** The default model (Azure: the deployment when `deployment` is absent; vscode-lm: a model id or family). */
  model?: string;
  /** Requests per minute; undefined = the general setting (or the server's headers). */
  rpm?: number;
  /** Tokens per minute; undefined = the general setting. */
  tpm?: number;
  /** Extra request headers (values are not secrets: keys never go here). */
  extraHeaders?: Record<string, string>;
  /** Azure: the data-plane API version. @default DEFAULT_AZURE_API_VERSION */
  apiVersion?: string;
  /** Azure: the deployment to call; when absent, `model` names it. */
  deployment?: string;
  /** vscode-lm: the vendor to select models from (`copilot`). @default any vendor */
  vendor?: string;
  /** CLI: the environment variable holding this profile's key. @default FASTLLM_API_KEY, then OPENAI_API_KEY */
  apiKeyEnv?: string;
}

/** A profile setting or config file that cannot be used; the message names the place and the profile. */
export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const KNOWN_KEYS = new Set(['name', 'kind', 'baseUrl', 'model', 'rpm', 'tpm', 'extraHeaders', 'apiVersion', 'deployment', 'vendor', 'apiKeyEnv']);

/**
 * Reads profiles from a setting or file value: an object `{ "name": { … } }` or an array
 * `[{ "name": "…", … }]`. Each entry is checked; a bad entry throws a {@link ProfileError} naming
 * `where` and the profile, so that nothing runs against an endpoint the user did not mean.
 *
 * @example
 * parseProfiles({ local: { baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3' } }, 'fastllm.json')
 */
export function parseProfiles(raw: unknown, where: string): Profile[] {
  if (raw === undefined || raw === null) return [];
  let entries: [string, unknown][];
  if (Array.isArray(raw)) {
    entries = raw.map((p, i) => {
      const name = (p as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name.trim()) throw new ProfileError(`${where}: profile #${i + 1} has no "name"`);
      return [name, p];
    });
  } else if (typeof raw === 'object') {
    entries = Object.entries(raw as Record<string, unknown>);
  } else {
    throw new ProfileError(`${where}: "profiles" must be an object of named profiles or an array, not ${typeof raw}`);
  }
  const seen = new Set<string>();
  return entries.map(([name, value]) => {
    const profile = checkProfile(name.trim(), value, where);
    if (seen.has(profile.name)) throw new ProfileError(`${where}: two profiles are named "${profile.name}"`);
    seen.add(profile.name);
    return profile;
  });
}

function checkProfile(name: string, value: unknown, where: string): Profile {
  const at = `${where}: profile "${name}"`;
  if (!name) throw new ProfileError(`${where}: a profile has an empty name`);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ProfileError(`${at} must be an object`);
  const v = value as Record<string, unknown>;
  if ('apiKey' in v || 'key' in v) {
    throw new ProfileError(`${at}: API keys never go in profiles (VS Code: FastLLM: Set API Key; CLI: the variable named by "apiKeyEnv")`);
  }
  const unknownKeys = Object.keys(v).filter((k) => !KNOWN_KEYS.has(k));
  if (unknownKeys.length) {
    throw new ProfileError(`${at}: unknown key "${unknownKeys[0]}" (known: ${[...KNOWN_KEYS].filter((k) => k !== 'name').join(', ')})`);
  }
  const kind = v.kind ?? 'openai-compatible';
  if (!PROFILE_KINDS.includes(kind as ProfileKind)) throw new ProfileError(`${at}: "kind" must be one of ${PROFILE_KINDS.join(', ')}, not ${JSON.stringify(kind)}`);
  const str = (key: string): string | undefined => {
    const s = v[key];
    if (s === undefined || s === null) return undefined;
    if (typeof s !== 'string') throw new ProfileError(`${at}: "${key}" must be a string`);
    return s.trim() || undefined;
  };
  const limit = (key: string): number | undefined => {
    const n = v[key];
    if (n === undefined || n === null) return undefined;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) throw new ProfileError(`${at}: "${key}" must be a whole number above 0`);
    return n;
  };
  const profile: Profile = { name, kind: kind as ProfileKind };
  const baseUrl = str('baseUrl');
  if (kind !== 'vscode-lm') {
    if (!baseUrl) throw new ProfileError(`${at} has no "baseUrl"`);
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ProfileError(`${at}: "baseUrl" ${JSON.stringify(baseUrl)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ProfileError(`${at}: "baseUrl" must start with http:// or https://`);
    if (url.username || url.password) throw new ProfileError(`${at}: "baseUrl" must not carry a user name or password`);
    profile.baseUrl = baseUrl.replace(/\/+$/, '');
  }
  const set = <K extends keyof Profile>(key: K, val: Profile[K] | undefined) => {
    if (val !== undefined) profile[key] = val;
  };
  set('model', str('model'));
  set('rpm', limit('rpm'));
  set('tpm', limit('tpm'));
  set('apiVersion', str('apiVersion'));
  set('deployment', str('deployment'));
  set('vendor', str('vendor'));
  const env = str('apiKeyEnv');
  if (env !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) throw new ProfileError(`${at}: "apiKeyEnv" must be an environment variable name`);
  set('apiKeyEnv', env);
  const headers = v.extraHeaders;
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== 'object' || Array.isArray(headers)) throw new ProfileError(`${at}: "extraHeaders" must be an object of strings`);
    const out: Record<string, string> = {};
    for (const [h, hv] of Object.entries(headers)) {
      if (typeof hv !== 'string') throw new ProfileError(`${at}: header "${h}" must be a string`);
      out[h] = hv;
    }
    profile.extraHeaders = out;
  }
  if (kind === 'azure' && !profile.deployment && !profile.model && !/\/openai\/deployments\/[^/]+/i.test(profile.baseUrl ?? '')) {
    throw new ProfileError(`${at}: an azure profile needs "deployment" (or "model" naming it)`);
  }
  return profile;
}

/** One layer of a setting, as VS Code's `inspect()` gives it. */
export interface SettingLayers<T> {
  /** The user's (global) value. */
  user?: T;
  /** The workspace's value (and workspace folder's, merged by the caller). */
  workspace?: T;
}

/** The profiles and the chosen one, after trust and layers are taken into account. */
export interface ProfileChoice {
  /** Every usable profile, in order; workspace profiles override user profiles of the same name. */
  profiles: Profile[];
  /** The active profile, or undefined when none is named (the plain `fastllm.*` settings apply). */
  active: Profile | undefined;
  /** The profile name that was asked for (set also when no such profile exists: runs must then stop). */
  wanted: string | undefined;
  /** What the user should know: a named profile that does not exist, profiles ignored as untrusted, bad entries. */
  problems: string[];
}

/**
 * Resolves `fastllm.profiles` and `fastllm.profile` from their user and workspace values. In an
 * untrusted workspace the workspace's values are ignored altogether, as `fastllm.baseUrl` is (a
 * cloned repository must not send the user's key to a server of its choosing, nor pick which of the
 * user's profiles gets used); `problems` says so when the workspace set any.
 *
 * A bad profile entry makes that layer's profiles unusable (with a problem) rather than dropping
 * only the entry, and a named profile that does not exist resolves to no profile (with a problem):
 * the caller must stop a run in that case instead of silently using the plain settings.
 */
export function resolveProfiles(
  profiles: SettingLayers<unknown>,
  active: SettingLayers<unknown>,
  trusted: boolean,
): ProfileChoice {
  const problems: string[] = [];
  const layer = (raw: unknown, where: string): Profile[] => {
    try {
      return parseProfiles(raw, where);
    } catch (e) {
      problems.push((e as Error).message);
      return [];
    }
  };
  const byName = new Map<string, Profile>();
  for (const p of layer(profiles.user, 'user settings fastllm.profiles')) byName.set(p.name, p);
  const workspaceSet = profiles.workspace !== undefined || (typeof active.workspace === 'string' && active.workspace.trim() !== '');
  if (trusted) {
    for (const p of layer(profiles.workspace, 'workspace settings fastllm.profiles')) byName.set(p.name, p);
  } else if (workspaceSet) {
    problems.push('The workspace sets fastllm.profiles or fastllm.profile, which are ignored until you trust the workspace.');
  }
  const wanted = (trusted && typeof active.workspace === 'string' && active.workspace.trim()) || (typeof active.user === 'string' && active.user.trim()) || '';
  const list = [...byName.values()];
  if (!wanted) return { profiles: list, active: undefined, wanted: undefined, problems };
  const found = byName.get(wanted);
  if (!found) problems.push(unknownProfileMessage(wanted, list));
  return { profiles: list, active: found, wanted, problems };
}

/** `no profile named "x" (profiles: a, b)`. */
export function unknownProfileMessage(name: string, profiles: Profile[], where = 'fastllm.profiles'): string {
  const names = profiles.map((p) => p.name);
  return `no profile named "${name}" in ${where} (${names.length ? `profiles: ${names.join(', ')}` : 'none defined'})`;
}

/** Where requests of a profile go: the base URL the provider takes, and Azure's options. */
export interface ProfileEndpoint {
  baseURL: string;
  azure?: { apiVersion: string };
}

/**
 * The provider's base URL for an HTTP profile. Azure profiles name the resource and the deployment
 * apart; the provider wants `https://RES.openai.azure.com/openai/deployments/DEP` (Azure OpenAI's
 * data-plane path) and the API version.
 */
export function profileEndpoint(profile: Profile, model?: string): ProfileEndpoint {
  if (profile.kind === 'vscode-lm' || !profile.baseUrl) throw new ProfileError(`profile "${profile.name}" has no HTTP endpoint (kind ${profile.kind})`);
  if (profile.kind !== 'azure') return { baseURL: profile.baseUrl };
  const apiVersion = profile.apiVersion ?? DEFAULT_AZURE_API_VERSION;
  if (/\/openai\/deployments\/[^/]+/i.test(profile.baseUrl)) return { baseURL: profile.baseUrl, azure: { apiVersion } };
  const deployment = model ?? profile.deployment ?? profile.model;
  const resource = profile.baseUrl.replace(/\/openai$/i, '');
  return { baseURL: `${resource}/openai/deployments/${encodeURIComponent(deployment ?? '')}`, azure: { apiVersion } };
}

/** The SecretStorage id of a profile's key. The unnamed (default) profile keeps the key stored per base URL. */
export function profileKeyId(profile: Profile | undefined): string | undefined {
  return profile ? `profile:${profile.name}` : undefined;
}

/** The key for a profile from the environment: its `apiKeyEnv`, else FASTLLM_API_KEY, else OPENAI_API_KEY. */
export function profileKeyFromEnv(
  profile: Profile | undefined,
  env: Record<string, string | undefined> = process.env,
): { key: string | undefined; from: string } {
  if (profile?.apiKeyEnv) return { key: env[profile.apiKeyEnv]?.trim() || undefined, from: profile.apiKeyEnv };
  for (const name of ['FASTLLM_API_KEY', 'OPENAI_API_KEY']) {
    const key = env[name]?.trim();
    if (key) return { key, from: name };
  }
  return { key: undefined, from: 'FASTLLM_API_KEY or OPENAI_API_KEY' };
}

/** The parsed `fastllm.json`: the same keys as the settings, without the `fastllm.` prefix. */
export interface ConfigFile {
  path: string;
  profiles: Profile[];
  /** The `profile` the file names as the default one, if any. */
  profile?: string;
}

/**
 * Parses the text of a `fastllm.json` file. A JSON syntax error names the file, the line and the
 * column; a bad profile names the file and the profile.
 */
export function parseConfigFile(text: string, path: string): ConfigFile {
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    if (pos) {
      const { line, column } = lineAndColumn(text, Number(pos[1]));
      throw new ProfileError(`${path}:${line}:${column}: not valid JSON: ${msg.replace(/ in JSON at position \d+.*$/, '')}`);
    }
    throw new ProfileError(`${path}: not valid JSON: ${msg}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new ProfileError(`${path}: must hold a JSON object ({"profiles": {…}, "profile": "name"})`);
  const d = data as Record<string, unknown>;
  const unknownKeys = Object.keys(d).filter((k) => k !== 'profiles' && k !== 'profile' && k !== '$schema');
  if (unknownKeys.length) throw new ProfileError(`${path}: unknown key "${unknownKeys[0]}" (known: profiles, profile)`);
  if (d.profile !== undefined && typeof d.profile !== 'string') throw new ProfileError(`${path}: "profile" must be a profile name`);
  const profiles = parseProfiles(d.profiles, path);
  const profile = typeof d.profile === 'string' && d.profile.trim() ? d.profile.trim() : undefined;
  if (profile && !profiles.some((p) => p.name === profile)) throw new ProfileError(`${path}: "profile": ${unknownProfileMessage(profile, profiles, path)}`);
  return { path, profiles, ...(profile ? { profile } : {}) };
}

/** 1-based line and column of `offset` in `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
