/**
 * What a row sends as a Batch API request line, and a short fingerprint of that request, so that
 * fetch can tell whether a row of the input today still asks what was sent under its custom_id.
 *
 * Why not the cache key (computeRequestHash): the fingerprint must change whenever the bytes sent
 * would change, and nothing else. The cache key leaves out what cannot change an answer (and its
 * version moves when its rules do), so an upgrade between submit and fetch would make every row
 * look changed; the fingerprint only depends on the request line itself.
 */
import { createHash } from 'node:crypto';
import { wireBody } from '../request';
import type { LLMRequest } from '../types';
import type { BatchApiClient } from './client';
import type { BatchInputLine } from './types';

/**
 * The body as a batch line carries it: no streaming flags, none of our `_` fields; on an Azure
 * deployment, that deployment as the model (as a live call to its URL would use it).
 */
export function batchBody(request: LLMRequest, deployment: string | undefined): Record<string, unknown> {
  // wireBody is what live calls send too: one place decides which of our fields never leave.
  // A copy, because wireBody returns the row's own body when there is nothing to drop.
  const out = { ...wireBody(request) };
  if (deployment) out.model = deployment;
  return out;
}

/** The Batch API input line of a row, as submit writes it. */
export function batchLine(item: LLMRequest, client: Pick<BatchApiClient, 'endpointUrl' | 'deployment'>): BatchInputLine {
  return { custom_id: item.custom_id, method: 'POST', url: client.endpointUrl(item.kind), body: batchBody(item, client.deployment) };
}

/**
 * 128 bits of SHA-256 over the request line's `url` and `body` (keys sorted, every value kept:
 * `null`, `""` and `"\n"` all count), in base64url: 22 characters. The custom_id is left out, so
 * a row that moved (a line inserted above it) still matches what was sent for it.
 */
export function requestFingerprint(line: Pick<BatchInputLine, 'url' | 'body'>): string {
  return createHash('sha256').update(stableJson({ url: line.url, body: line.body }), 'utf8').digest('base64url').slice(0, 22);
}

/** JSON with object keys sorted at every level; otherwise exactly JSON.stringify's output. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stableJson(v))).join(',')}]`;
  const parts: string[] = [];
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(key)}:${stableJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}
