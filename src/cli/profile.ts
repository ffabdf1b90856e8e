/**
 * `--profile NAME` and `--config FILE` of the CLI: the profile comes from a `fastllm.json` file
 * (the working folder's, or `--config PATH`) with the same keys as the extension's
 * `fastllm.profiles` / `fastllm.profile` settings; its key from the environment variable it names
 * (`apiKeyEnv`), else FASTLLM_API_KEY, else OPENAI_API_KEY.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { environmentKeyApplies, hostOf } from '../core/providers/keyScope';
import { parseConfigFile, ProfileError, profileEndpoint, profileKeyFromEnv, unknownProfileMessage, type ConfigFile, type Profile } from '../core/profiles';
import { UsageError } from './args';

/** The default config file, looked for in the working folder. */
export const CONFIG_FILE = 'fastllm.json';

/** What a run takes from its profile. */
export interface CliProfile {
  profile: Profile;
  apiKey: string;
  baseURL: string;
  azure?: { apiVersion: string };
}

/** Reads `--config FILE` (must exist) or `./fastllm.json` (if it exists); undefined when neither. */
export function readConfigFile(flag: string | undefined, cwd = process.cwd()): ConfigFile | undefined {
  const path = resolve(cwd, flag ?? CONFIG_FILE);
  if (!existsSync(path)) {
    if (flag !== undefined) throw new UsageError(`--config ${flag}: no such file`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
  try {
    return parseConfigFile(text, path);
  } catch (e) {
    if (e instanceof ProfileError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * The profile of this run: `--profile`, else $FASTLLM_PROFILE, else the config file's `profile`;
 * undefined when none is named (the flags and OPENAI_* variables apply as before). The key must be
 * in the environment; OPENAI_API_KEY goes only where it would go without a profile (OpenAI,
 * loopback servers, OPENAI_BASE_URL), so that a `fastllm.json` in a cloned folder cannot send it
 * elsewhere.
 */
export function resolveCliProfile(
  options: { profile?: string; config?: string; model?: string },
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): CliProfile | undefined {
  const file = readConfigFile(options.config, cwd);
  const name = options.profile ?? (env.FASTLLM_PROFILE?.trim() || undefined) ?? file?.profile;
  if (!name) return undefined;
  if (!file) throw new UsageError(`--profile ${name}: no ${CONFIG_FILE} in ${cwd} (or pass --config FILE)`);
  const profile = file.profiles.find((p) => p.name === name);
  if (!profile) throw new UsageError(`--profile: ${unknownProfileMessage(name, file.profiles, file.path)}`);
  if (profile.kind === 'vscode-lm') {
    throw new UsageError(`profile "${name}" (${file.path}) is of kind vscode-lm: VS Code's language models can only be used inside VS Code`);
  }
  const { baseURL, azure } = profileEndpoint(profile, profile.kind === 'azure' ? options.model : undefined);
  const { key, from } = profileKeyFromEnv(profile, env);
  if (!key) throw new UsageError(`profile "${name}" needs its API key in ${from} (any value, e.g. "none", for servers that need no key)`);
  if (from === 'OPENAI_API_KEY' && !environmentKeyApplies(baseURL, { OPENAI_BASE_URL: env.OPENAI_BASE_URL })) {
    throw new UsageError(
      `profile "${name}" sends requests to ${hostOf(baseURL)}; OPENAI_API_KEY is only sent to OpenAI, loopback servers and OPENAI_BASE_URL. ` +
        `Put this server's key in FASTLLM_API_KEY${profile.apiKeyEnv ? '' : ' (or in a variable named by the profile\'s "apiKeyEnv")'}.`,
    );
  }
  return { profile, apiKey: key, baseURL, ...(azure ? { azure } : {}) };
}
