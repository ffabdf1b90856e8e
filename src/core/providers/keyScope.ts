/**
 * Which base URLs an API key may be sent to without asking. A key from the environment
 * (`OPENAI_API_KEY`) was given for OpenAI, or for the server named in `OPENAI_BASE_URL`; sending it
 * to any other server (a gateway a workspace setting points at) would hand the user's OpenAI key to
 * a third party. Loopback servers are the user's own machine.
 */

/** OpenAI's own API host: the key in `OPENAI_API_KEY` is meant for it. */
export const OPENAI_HOST = 'api.openai.com';

/** `scheme://host[:port]/path` with scheme and host lower-cased and no trailing slash: one spelling per URL. */
export function canonicalBaseUrl(baseUrl: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(baseUrl.trim());
  const url = m ? m[1]!.toLowerCase() + m[2]!.toLowerCase() + m[3] : baseUrl.trim();
  return url.replace(/\/+$/, '');
}

/** The host (and port) of a base URL, for messages: `127.0.0.1:11434`, `api.openai.com`; the URL itself if it cannot be parsed. */
export function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl.trim()).host || baseUrl.trim();
  } catch {
    return baseUrl.trim();
  }
}

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`: servers on this machine. */
export function isLoopbackUrl(baseUrl: string): boolean {
  let host: string;
  try {
    host = new URL(baseUrl.trim()).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '[::1]' || host === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * True when a key from `OPENAI_API_KEY` may go to `baseUrl`: OpenAI's own host (over https), a
 * loopback server, or exactly the base URL in `OPENAI_BASE_URL` (the user paired that key with it).
 */
export function environmentKeyApplies(baseUrl: string, env: { OPENAI_BASE_URL?: string } = process.env): boolean {
  if (isLoopbackUrl(baseUrl)) return true;
  const wanted = env.OPENAI_BASE_URL?.trim();
  if (wanted && canonicalBaseUrl(wanted) === canonicalBaseUrl(baseUrl)) return true;
  try {
    const u = new URL(baseUrl.trim());
    return u.protocol === 'https:' && u.hostname.toLowerCase() === OPENAI_HOST;
  } catch {
    return false;
  }
}
