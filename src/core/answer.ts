/**
 * Reading an answer out of a server's body, whichever API it came from: the text, whether the token
 * limit cut it short. Shapes per OpenAI's API reference:
 * - Chat completions (https://platform.openai.com/docs/api-reference/chat/object): the text is
 *   `choices[0].message.content`; `finish_reason: "length"` means "the maximum number of tokens
 *   specified in the request was reached".
 * - Responses (https://platform.openai.com/docs/api-reference/responses/object): `output` is a list
 *   of items; the text is every `output_text` part of every `message` item, joined (what the SDKs'
 *   `output_text` convenience property holds, and what the raw JSON body lacks). `status:
 *   "incomplete"` with `incomplete_details.reason: "max_output_tokens"` is the token limit.
 */
import type { EndpointKind } from './types';

type Obj = Record<string, unknown>;

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** True for a Responses API body (`object: "response"`, or an `output` list and no `choices`). */
export function isResponsesBody(body: unknown): body is Obj {
  return isObj(body) && (body.object === 'response' || (Array.isArray(body.output) && !Array.isArray(body.choices)));
}

/**
 * The `output_text` of a Responses body: its own `output_text` when the server sent one, else
 * the `output_text` parts of its `message` output items, concatenated in order.
 *
 * @example
 * outputText({ object: 'response', output: [{ type: 'reasoning' }, { type: 'message', content: [{ type: 'output_text', text: 'Hi' }] }] }) // 'Hi'
 */
export function outputText(body: unknown): string {
  if (!isObj(body)) return '';
  if (typeof body.output_text === 'string') return body.output_text;
  let text = '';
  for (const item of Array.isArray(body.output) ? body.output : []) {
    if (!isObj(item) || !Array.isArray(item.content)) continue;
    for (const part of item.content) if (isObj(part) && part.type === 'output_text' && typeof part.text === 'string') text += part.text;
  }
  return text;
}

/**
 * The answer's text: Responses `output_text` (see {@link outputText}), chat choice 0's content,
 * or undefined when the body has no text (embeddings, a chat answer that only calls tools).
 */
export function answerText(body: unknown): string | undefined {
  if (isResponsesBody(body)) return outputText(body);
  if (!isObj(body) || !Array.isArray(body.choices)) return undefined;
  const message = (body.choices[0] as { message?: { content?: unknown } } | undefined)?.message;
  return typeof message?.content === 'string' ? message.content : undefined;
}

/** The refusal text of an answer (chat `message.refusal`, Responses `refusal` content part), if any. */
export function refusalText(body: unknown): string | undefined {
  if (isResponsesBody(body)) {
    for (const item of Array.isArray(body.output) ? body.output : []) {
      if (!isObj(item) || !Array.isArray(item.content)) continue;
      for (const part of item.content) if (isObj(part) && part.type === 'refusal' && typeof part.refusal === 'string') return part.refusal;
    }
    return undefined;
  }
  const choice = isObj(body) && Array.isArray(body.choices) ? (body.choices[0] as { message?: { refusal?: unknown } } | undefined) : undefined;
  return typeof choice?.message?.refusal === 'string' ? choice.message.refusal : undefined;
}

/**
 * True when the token limit cut the answer short: a chat choice with `finish_reason: "length"`,
 * or a Responses body with `status: "incomplete"` (whatever the reason: the answer is partial).
 */
export function isTruncated(body: unknown): boolean {
  if (!isObj(body)) return false;
  if (isResponsesBody(body)) return body.status === 'incomplete';
  const choices = (body as Obj).choices;
  return Array.isArray(choices) && choices.some((c) => isObj(c) && c.finish_reason === 'length');
}

/** The endpoint kind a body came from, judged by its shape (for cache entries of old runs). */
export function bodyKind(body: unknown): EndpointKind | undefined {
  if (isResponsesBody(body)) return 'responses';
  if (isObj(body) && Array.isArray(body.choices)) return 'chat';
  if (isObj(body) && Array.isArray(body.data)) return 'embeddings';
  return undefined;
}
