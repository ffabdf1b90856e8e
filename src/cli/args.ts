/**
 * What every `fastllm` subcommand shares: the usage error (exit 2), number flags, and the API key
 * from the environment (never from a flag, which would land in shell history).
 */

/** A usage or configuration error: the command exits 2 with this one-line message. */
export class UsageError extends Error {}

/** A whole number ≥ 0 from `--name`, or undefined when the flag is absent. */
export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} takes a whole number, not "${v}"`);
  return n;
}

/** A finite number from `--name`, or undefined when the flag is absent. */
export function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} takes a number, not "${v}"`);
  return n;
}

/** OPENAI_API_KEY, or a usage error saying how to set it. */
export function apiKeyFromEnv(): string {
  const key = process.env.OPENAI_API_KEY;
  if (!key) throw new UsageError('set OPENAI_API_KEY (any value, e.g. "none", for servers that need no key)');
  return key;
}
