import { isResponsesBody, outputText } from '../../core/answer';
import type { CacheProvider } from '../../core/cache/cacheProvider';
import { describeRequestHash } from '../../core/hash';
import type { CacheEntry, LLMRequest } from '../../core/types';
import type { CacheEntryView, CacheRow } from '../../webview/protocol';

const PREVIEW_CHARS = 200;
/** The detail's heading holds the prompt: long enough to read, bounded so that a 1 MiB prompt stays cheap. */
const PROMPT_CHARS = 2000;

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
    preview: cut(promptText(entry), PREVIEW_CHARS),
    answer: cut(answerPreview(entry.response), PREVIEW_CHARS),
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
    prompt: cut(promptText(entry), PROMPT_CHARS),
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

/** The last user message (or the embeddings input), whitespace collapsed. */
function promptText(entry: CacheEntry): string {
  const body = entry.request as { messages?: { role?: unknown; content?: unknown }[]; input?: unknown };
  let text = '';
  if (Array.isArray(body.messages)) {
    const users = body.messages.filter((m) => m && m.role === 'user');
    const last = users[users.length - 1] ?? body.messages[body.messages.length - 1];
    text = contentText(last?.content);
  } else if (body.input !== undefined) {
    text = typeof body.input === 'string' ? body.input : JSON.stringify(body.input);
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** The answer's text (first choice), or for embeddings their shape: `[1536 numbers]`. */
function answerPreview(response: unknown): string {
  const body = response as { choices?: { message?: { content?: unknown; refusal?: unknown } }[]; data?: { embedding?: unknown }[] } | null;
  if (isResponsesBody(response)) return outputText(response).replace(/\s+/g, ' ').trim();
  const message = body?.choices?.[0]?.message;
  if (message) return contentText(message.content) || (typeof message.refusal === 'string' ? message.refusal : '');
  const vector = body?.data?.[0]?.embedding;
  if (Array.isArray(vector)) return `[${vector.length} numbers]${body!.data!.length > 1 ? ` × ${body!.data!.length}` : ''}`;
  return '';
}

function contentText(c: unknown): string {
  if (typeof c === 'string') return c.replace(/\s+/g, ' ').trim();
  if (Array.isArray(c)) return c.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join(' ').replace(/\s+/g, ' ').trim();
  return '';
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
