/**
 * The request hash: the cache key of a request.
 *
 * Key format (version `v2`, documented for users in docs/request-hash.md):
 *
 * ```
 * key       = "v2:" + hex(sha256(utf8(canonical)))
 * canonical = canonicalJson({
 *               v: 2,
 *               endpoint: { kind: request.kind, baseURL: normalizeBaseURL(scope.baseURL) },
 *               body: request.body minus its top-level `stream`, `stream_options`,
 *                     `prompt_cache_key` and `_*` fields,
 *             })
 * ```
 *
 * What is deliberately left out, and why:
 * - `custom_id` and `line` name a row, not a question: two rows asking the same thing share an entry.
 * - `stream` / `stream_options` change how the answer travels, not the answer.
 * - `prompt_cache_key` is a routing hint for the provider's prompt cache (see EXCLUDED_BODY_FIELDS).
 * - The endpoint kind (`chat`, `embeddings`, `responses`) is part of the key: a Responses request
 *   and a chat request never share an entry, whatever their bodies.
 * - Top-level body fields starting with `_` are ours (annotations, tracing), never sent upstream.
 * - The API key is not an input at all ({@link computeRequestHash} cannot see it), so rotating a
 *   key keeps the cache and no key can ever be recovered from, or leak through, a cache key.
 * - User info in the base URL (`https://user:password@host/…`) is a credential, not a server:
 *   {@link normalizeBaseURL} removes it.
 *
 * `canonicalJson` makes equivalent bodies byte-identical: object keys sorted at every level, and
 * `null` and `undefined` values dropped from objects (an omitted parameter and a null one mean the
 * same to the server). Every string counts as it is, blank ones included: `stop: "\n"` or an
 * embeddings `input: " "` is a different question from none. Arrays keep their order and their
 * `null`s, because position is meaning there (messages, embedding inputs).
 *
 * v1 (until this version) also dropped empty and whitespace-only strings, so that `stop: "\n"`
 * hashed like no `stop`, and identical-row de-duplication merged such rows into one call.
 *
 * Changing any of these rules changes keys, so it must come with a new {@link HASH_VERSION}: old
 * entries then simply stop matching instead of matching the wrong request.
 */
import { createHash } from 'node:crypto';
import type { EndpointScope } from './providers/provider';
import type { LLMRequest } from './types';

/** Prefix of every key; bumped whenever the canonical form changes. */
export const HASH_VERSION = 'v2';

/** The `v` number written into the canonical JSON; kept in step with {@link HASH_VERSION}. */
const CANONICAL_VERSION = 2;

/**
 * Top-level body fields that never reach the key (besides `_`-prefixed ones). `prompt_cache_key`
 * routes a request to the provider's prompt cache (a hint for speed and price, not part of the
 * question: https://platform.openai.com/docs/guides/prompt-caching), so the same question under
 * another `prompt_cache_key` is answered from our cache. Leaving it out can only make a key equal
 * to the key of the same body without it, never match another question: no version bump.
 */
const EXCLUDED_BODY_FIELDS: ReadonlySet<string> = new Set(['stream', 'stream_options', 'prompt_cache_key']);

/**
 * True for values that an object drops: absent, null, and what JSON has no form for (functions,
 * symbols; non-finite numbers, which JSON.stringify sends as null). Never a string: a blank
 * string is a value the server sees (a stop sequence, an input to embed).
 */
function isDropped(value: unknown): boolean {
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return true;
    case 'number':
      // JSON has no NaN/Infinity; JSON.stringify writes them as null, and nulls are dropped.
      return !Number.isFinite(value);
    case 'object':
      return value === null;
    default:
      return false;
  }
}

/**
 * Appends the canonical JSON of `value` to `out`. Writing into one array and joining once avoids
 * building an intermediate (filtered, sorted) copy of the body for every request.
 * `skipKey`, when given, applies to the keys of this object only, not to nested ones.
 */
function write(value: unknown, out: string[], skipKey?: (key: string) => boolean): void {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // Same as JSON.stringify: Dates and other toJSON-able objects hash as their JSON form.
    value = (value as { toJSON(): unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      out.push(Number.isFinite(value) ? JSON.stringify(value) : 'null');
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt has no JSON form');
    case 'object':
      break;
    default:
      // undefined, functions and symbols: JSON.stringify writes null for these inside arrays.
      out.push('null');
      return;
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      write(value[i], out);
    }
    out.push(']');
    return;
  }
  const object = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units: locale-independent, so keys agree on every machine.
  const keys = Object.keys(object).sort();
  out.push('{');
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (isDropped(item) || (skipKey !== undefined && skipKey(key))) continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    write(item, out);
  }
  out.push('}');
}

/**
 * JSON with object keys sorted at every level and `undefined` and `null` values dropped from
 * objects. Strings are kept as they are, blank ones too. Arrays keep their elements and order
 * (a `null` element stays `null`). Numbers are written as JSON.stringify writes them.
 *
 * @example
 * canonicalJson({ b: 1, a: { d: null, c: ' ' }, e: [null, ''] }) // '{"a":{"c":" "},"b":1,"e":[null,""]}'
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out);
  return out.join('');
}

/** True for top-level body fields that are not part of the key. */
function isExcludedBodyField(key: string): boolean {
  return key.charCodeAt(0) === 0x5f /* _ */ || EXCLUDED_BODY_FIELDS.has(key);
}

// The scope's base URL is the same for every request of a run: remember the last one normalised.
let lastRawBaseURL: string | undefined;
let lastNormalizedBaseURL = '';

/**
 * Lower-cases the scheme and host (they are case-insensitive; the path is not), removes user info
 * (`user:password@`, a credential that must never reach a key or a cache entry) and strips
 * trailing slashes, so `HTTPS://API.example.com/v1/` and `https://api.example.com/v1` share keys.
 */
export function normalizeBaseURL(baseURL: string): string {
  if (baseURL === lastRawBaseURL) return lastNormalizedBaseURL;
  let result = baseURL.trim();
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(result);
  if (match) {
    const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
    result = scheme.toLowerCase() + withoutUserInfo(authority).toLowerCase() + rest;
  }
  result = result.replace(/\/+$/, '');
  lastRawBaseURL = baseURL;
  lastNormalizedBaseURL = result;
  return result;
}

/**
 * The host part of a URL authority: what follows the last `@` (WHATWG URL parsing takes the last
 * one too, so a password holding an unescaped `@` is removed whole).
 */
function withoutUserInfo(authority: string): string {
  return authority.slice(authority.lastIndexOf('@') + 1);
}

/**
 * A base URL without user info (`https://user:pw@host/v1` → `https://host/v1`), otherwise as
 * given: what may be shown, logged or stored as the server an answer came from.
 */
export function baseURLWithoutCredentials(baseURL: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(baseURL.trim());
  if (!match || !match[2]!.includes('@')) return baseURL;
  return match[1]! + withoutUserInfo(match[2]!) + match[3]!;
}

/** Builds the canonical text; `bodyJson` is the already-canonical body. */
function canonicalText(request: LLMRequest, baseURL: string, bodyJson: string): string {
  // Written out by hand in sorted key order ("body" < "endpoint" < "v"), which is exactly what
  // canonicalJson would produce for the wrapper; the unit tests hold the two equal.
  const endpoint: string[] = [];
  write({ kind: request.kind, baseURL }, endpoint);
  return `{"body":${bodyJson},"endpoint":${endpoint.join('')},"v":${CANONICAL_VERSION}}`;
}

function canonicalBody(request: LLMRequest): string {
  const out: string[] = [];
  write(request.body, out, isExcludedBodyField);
  return out.join('');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The cache key of a request sent to `scope`: `"v2:"` followed by 64 lower-case hex digits.
 * It takes no API key by design (see the file header).
 */
export function computeRequestHash(request: LLMRequest, scope: EndpointScope): string {
  const canonical = canonicalText(request, normalizeBaseURL(scope.baseURL), canonicalBody(request));
  return `${HASH_VERSION}:${sha256Hex(canonical)}`;
}

/** How a key was composed, for the cache browser. */
export interface RequestHashDescription {
  /** {@link HASH_VERSION} at the time of hashing. */
  version: string;
  /** The exact text that was hashed. */
  canonical: string;
  /** The resulting key, as {@link computeRequestHash} returns it. */
  key: string;
  /**
   * The inputs, in order: `version`, `endpoint.kind`, `endpoint.baseURL`, one `body.<field>` per
   * body field that counts (canonical JSON), and finally `excluded`: the comma-separated body
   * fields that were left out (only when there are any).
   */
  parts: { name: string; value: string }[];
}

/** Explains {@link computeRequestHash}: the canonical text, the key, and what went into it. */
export function describeRequestHash(request: LLMRequest, scope: EndpointScope): RequestHashDescription {
  const baseURL = normalizeBaseURL(scope.baseURL);
  const canonical = canonicalText(request, baseURL, canonicalBody(request));
  const parts: { name: string; value: string }[] = [
    { name: 'version', value: HASH_VERSION },
    { name: 'endpoint.kind', value: request.kind },
    { name: 'endpoint.baseURL', value: baseURL },
  ];
  const body = request.body as Record<string, unknown>;
  const excluded: string[] = [];
  for (const field of Object.keys(body).sort()) {
    if (isExcludedBodyField(field)) excluded.push(field);
    else if (!isDropped(body[field])) parts.push({ name: `body.${field}`, value: canonicalJson(body[field]) });
  }
  if (excluded.length > 0) parts.push({ name: 'excluded', value: excluded.join(', ') });
  return { version: HASH_VERSION, canonical, key: `${HASH_VERSION}:${sha256Hex(canonical)}`, parts };
}
