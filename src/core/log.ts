/**
 * The engine logs through this small interface so that the CLI (stderr) and the extension (a
 * LogOutputChannel) can each supply their own sink.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Replaces every occurrence of each secret in `text` with a masked form (`sk-…abcd`), and any
 * bearer token in a header dump with `Bearer ***`. Applied to every log line and error message.
 */
export function maskSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join(maskKey(s));
  }
  return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g, '$1***');
}

/** `sk-proj-abc…wxyz` → `sk-…wxyz`: enough to tell keys apart, not enough to use one. */
export function maskKey(key: string): string {
  return key.length <= 8 ? '***' : `${key.slice(0, 3)}…${key.slice(-4)}`;
}
