/**
 * Turns one JSONL line into a request. Accepted shapes, tried in this order:
 *
 * - an OpenAI Batch API input line: `{"custom_id", "method": "POST", "url", "body"}`;
 * - a chat body, with or without `model`: `{"messages": [...], ...params}`;
 * - a prompt with parameters: `{"prompt": "...", "system"?: "...", ...params}`;
 * - a Responses API body: `{"input": ..., "instructions"?: ..., ...params}` when it looks like one
 *   (see {@link isResponsesLine}), or any `{"input"}` line when the reader's kind is `responses`;
 * - an embeddings body: `{"input": ..., ...params}`;
 * - a bare JSON string: a prompt.
 *
 * `custom_id` may appear at the top level of any object shape; it is never sent as a parameter.
 */
import { isPlainObject, typeName } from '../request';
import { ENDPOINT_URLS, type EndpointKind, type InputItem } from '../types';
import { chatItem, checkId, embeddingsItem, invalidItem, promptItem, responsesItem, type RowContext } from './common';

/** Turns the text of one non-blank line into an item. Never throws. */
export function jsonlItem(text: string, kind: EndpointKind, ctx: RowContext): InputItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return checkId(invalidItem(ctx.file, ctx.line, `invalid JSON: ${(err as Error).message}`), false, ctx);
  }
  if (typeof value === 'string') {
    return checkId(promptItem(value, { custom_id: `line-${ctx.line}` }, kind, ctx), false, ctx);
  }
  if (!isPlainObject(value)) {
    const msg = `expected a JSON object or a prompt string, got ${typeName(value)}`;
    return checkId(invalidItem(ctx.file, ctx.line, msg), false, ctx);
  }
  const id = value.custom_id;
  if (id !== undefined && !((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id)))) {
    const msg = `"custom_id" must be a non-empty string, got ${typeName(id)}`;
    return checkId(invalidItem(ctx.file, ctx.line, msg), false, ctx);
  }
  const explicit = id !== undefined;
  const custom_id = explicit ? String(id) : `line-${ctx.line}`;
  return checkId(objectItem(value, custom_id, kind, ctx), explicit, ctx);
}

function objectItem(obj: Record<string, unknown>, custom_id: string, kind: EndpointKind, ctx: RowContext): InputItem {
  const fail = (message: string) => invalidItem(ctx.file, ctx.line, message, custom_id);
  if (obj.body !== undefined || obj.url !== undefined || obj.method !== undefined) {
    return batchApiItem(obj, custom_id, ctx);
  }
  const { custom_id: _id, ...rest } = obj;
  if (rest.messages !== undefined) {
    if (rest.prompt !== undefined) return fail('the line has both "prompt" and "messages"; keep one');
    return chatItem(rest, custom_id, ctx);
  }
  if (rest.prompt !== undefined) {
    const { prompt, system, ...params } = rest;
    if (typeof prompt !== 'string') return fail(`"prompt" must be a string, got ${typeName(prompt)}`);
    if (system !== undefined && typeof system !== 'string') return fail(`"system" must be a string, got ${typeName(system)}`);
    return promptItem(prompt, { custom_id, system, params }, kind, ctx);
  }
  if (rest.input !== undefined) {
    return kind === 'responses' || isResponsesLine(rest) ? responsesItem(rest, custom_id, ctx) : embeddingsItem(rest, custom_id, ctx);
  }
  const keys = Object.keys(obj).slice(0, 8).join(', ') || 'none';
  return fail(
    `expected "prompt", "messages", "input", or an OpenAI Batch API line with "url" and "body"; the keys are: ${keys}`,
  );
}

/**
 * Parameters that only the Responses API has
 * (https://platform.openai.com/docs/api-reference/responses/create): a line with `input` and one
 * of these is a Responses request, not an embeddings one.
 */
const RESPONSES_ONLY = ['instructions', 'max_output_tokens', 'previous_response_id', 'reasoning', 'text', 'conversation', 'store', 'include'];

/**
 * True for an `{"input"}` line in Responses form: it has a Responses-only parameter (see
 * {@link RESPONSES_ONLY}), or its input is a list of items (`{"role", "content"}` objects), which
 * embeddings never take. Otherwise `{"input"}` stays an embeddings request, as before.
 */
export function isResponsesLine(obj: Record<string, unknown>): boolean {
  if (RESPONSES_ONLY.some((k) => obj[k] !== undefined)) return true;
  return Array.isArray(obj.input) && obj.input.length > 0 && obj.input.every((x) => isPlainObject(x));
}

/** The endpoint kind of each accepted Batch API `url`, with or without the `/v1` prefix. */
const URL_KINDS = new Map<string, EndpointKind>(
  (Object.entries(ENDPOINT_URLS) as [EndpointKind, string][]).flatMap(([k, url]) => [
    [url, k],
    [url.replace(/^\/v1/, ''), k],
  ]),
);

function batchApiItem(obj: Record<string, unknown>, custom_id: string, ctx: RowContext): InputItem {
  const fail = (message: string) => invalidItem(ctx.file, ctx.line, message, custom_id);
  const { method, url, body } = obj;
  if (method !== undefined && (typeof method !== 'string' || method.toUpperCase() !== 'POST')) {
    return fail(`"method" must be "POST", got ${typeof method === 'string' ? `"${method}"` : typeName(method)}`);
  }
  if (!isPlainObject(body)) return fail(`"body" must be a JSON object (the request body), got ${typeName(body)}`);
  let kind: EndpointKind;
  if (url === undefined) {
    // Lenient: a line without "url" says what it is by its body.
    kind = body.messages !== undefined || body.input === undefined ? 'chat' : isResponsesLine(body) ? 'responses' : 'embeddings';
  } else {
    const found = typeof url === 'string' ? URL_KINDS.get(url.replace(/\/+$/, '')) : undefined;
    if (!found) {
      const shown = typeof url === 'string' ? `"${url}"` : typeName(url);
      return fail(`unsupported "url" ${shown}; use ${Object.values(ENDPOINT_URLS).join(' or ')}`);
    }
    kind = found;
  }
  if (kind === 'responses') return responsesItem(body, custom_id, ctx);
  return kind === 'chat' ? chatItem(body, custom_id, ctx) : embeddingsItem(body, custom_id, ctx);
}
