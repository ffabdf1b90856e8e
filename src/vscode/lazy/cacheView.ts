import type { CacheProvider } from '../../core/cache/cacheProvider';
import { describeRequestHash } from '../../core/hash';
import type { CacheEntry, LLMRequest } from '../../core/types';
import type { CacheEntryView, CacheRow } from '../../webview/protocol';

const PREVIEW_CHARS = 200;

/** One page of the cache browser: summaries only, so a page stays small whatever the entries hold. */
export async function cacheRows(
  cache: CacheProvider,
  options: { offset: number; limit: number; filter: string },
): Promise<{ rows: CacheRow[]; total: number }> {
  const page = await cache.list({ offset: options.offset, limit: options.limit, filter: options.filter || undefined });
  const rows = page.entries.map(({ key, entry }) => ({
    key,
    created: entry.created,
    expires: entry.expires,
    model: String(entry.model ?? ''),
    preview: preview(entry),
    tokens: Number(entry.usage?.total_tokens) || 0,
    size: Buffer.byteLength(JSON.stringify(entry)),
  }));
  return { rows, total: page.total };
}

/** The full entry and how its key was composed (recomputed from the stored request). */
export function cacheEntryView(key: string, entry: CacheEntry): CacheEntryView {
  const request = { kind: entry.endpoint?.kind ?? 'chat', custom_id: '', line: 0, body: entry.request } as LLMRequest;
  const hash = describeRequestHash(request, { baseURL: entry.endpoint?.baseURL ?? '' });
  return {
    key,
    request: JSON.stringify(entry.request, null, 2),
    response: JSON.stringify(entry.response, null, 2),
    meta: {
      model: String(entry.model ?? ''),
      baseURL: entry.endpoint?.baseURL ?? '',
      kind: entry.endpoint?.kind ?? 'chat',
      created: entry.created,
      expires: entry.expires,
      requestId: entry.request_id ?? null,
    },
    usage: {
      prompt: Number(entry.usage?.prompt_tokens) || 0,
      completion: Number(entry.usage?.completion_tokens) || 0,
      total: Number(entry.usage?.total_tokens) || 0,
    },
    hash: { ...hash, matches: hash.key === key },
  };
}

/** The last user message (or the embeddings input), cut short. */
function preview(entry: CacheEntry): string {
  const body = entry.request as { messages?: { role?: unknown; content?: unknown }[]; input?: unknown };
  let text = '';
  if (Array.isArray(body.messages)) {
    const users = body.messages.filter((m) => m && m.role === 'user');
    const last = users[users.length - 1] ?? body.messages[body.messages.length - 1];
    const c = last?.content;
    if (typeof c === 'string') text = c;
    else if (Array.isArray(c)) text = c.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
  } else if (body.input !== undefined) {
    text = typeof body.input === 'string' ? body.input : JSON.stringify(body.input);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}
