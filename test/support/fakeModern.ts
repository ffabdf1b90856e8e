/**
 * The fake server's answers for today's API features, each shaped as OpenAI's API reference
 * documents it:
 *
 * - The Responses API, `POST /v1/responses` (https://platform.openai.com/docs/api-reference/responses/create):
 *   a `response` object (https://platform.openai.com/docs/api-reference/responses/object) with
 *   `output: [{type: "message", role: "assistant", content: [{type: "output_text", text,
 *   annotations: []}]}]` and `usage: {input_tokens, input_tokens_details: {cached_tokens},
 *   output_tokens, output_tokens_details: {reasoning_tokens}, total_tokens}`. The raw JSON has no
 *   `output_text` (that is an SDK convenience). A `max_output_tokens` too small gives `status:
 *   "incomplete"`, `incomplete_details: {reason: "max_output_tokens"}`.
 * - Its streaming (https://platform.openai.com/docs/api-reference/responses-streaming): SSE events
 *   with `event: <type>` lines and a `sequence_number`: `response.created`,
 *   `response.in_progress`, `response.output_item.added`, `response.content_part.added`, one
 *   `response.output_text.delta` per piece, `response.output_text.done`,
 *   `response.content_part.done`, `response.output_item.done`, then `response.completed` (or
 *   `response.incomplete`) carrying the whole response. No `[DONE]` line.
 * - Reasoning models (https://platform.openai.com/docs/guides/reasoning): reasoning tokens are
 *   part of the output (`completion_tokens_details.reasoning_tokens`, Responses
 *   `output_tokens_details.reasoning_tokens`), and `max_tokens` is refused with 400 "Unsupported
 *   parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'
 *   instead." (type `invalid_request_error`, param `max_tokens`, code `unsupported_parameter`).
 * - Prompt caching (https://platform.openai.com/docs/guides/prompt-caching): cached prompt tokens
 *   in `usage.prompt_tokens_details.cached_tokens` (Responses: `input_tokens_details.cached_tokens`).
 * - Structured outputs (https://platform.openai.com/docs/guides/structured-outputs): with
 *   `response_format: {type: "json_schema", json_schema: {schema}}` (Responses: `text.format:
 *   {type: "json_schema", schema}`) the answer text is JSON following the schema.
 */
import { contentText, estimateTokens } from './fakeReplies';

/** The pieces an answer is streamed in: words with their spaces. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** True for model names the fake treats as reasoning models: the o-series and the gpt-5 family. */
export function isReasoningModel(model: unknown): boolean {
  return typeof model === 'string' && /^(o\d+(?:$|-)|gpt-5)/.test(model.slice(model.lastIndexOf('/') + 1));
}

/** OpenAI's 400 to `max_tokens` sent to a reasoning model (see the file comment). */
export function maxTokensUnsupportedBody(): unknown {
  return {
    error: {
      message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      type: 'invalid_request_error',
      param: 'max_tokens',
      code: 'unsupported_parameter',
    },
  };
}

/** The JSON schema a chat or Responses body asks for, if any. */
export function requestedSchema(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const rf = body.response_format as { type?: string; json_schema?: { schema?: Record<string, unknown> } } | undefined;
  if (rf?.type === 'json_schema' && rf.json_schema?.schema) return rf.json_schema.schema;
  const format = (body.text as { format?: { type?: string; schema?: Record<string, unknown> } } | undefined)?.format;
  if (format?.type === 'json_schema' && format.schema) return format.schema;
  return undefined;
}

/**
 * A value that follows `schema` (objects: every property; strings: the prompt; numbers: its
 * length; enums: the first value), so that a test knows the answer: `{"name": "<prompt>", …}`.
 */
export function valueFor(schema: Record<string, unknown>, prompt: string): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
      return Object.fromEntries(Object.entries(props).map(([k, s]) => [k, valueFor(s, prompt)]));
    }
    case 'array':
      return schema.items ? [valueFor(schema.items as Record<string, unknown>, prompt)] : [];
    case 'integer':
      return prompt.length;
    case 'number':
      return prompt.length / 2;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return prompt;
  }
}

/** Extra usage the server reports, set by the behavior knobs of fakeServer.ts. */
export interface UsageExtras {
  /** Reasoning tokens, added to the output tokens. */
  reasoningTokens?: number;
  /** Prompt tokens served from the prompt cache (at most the prompt's). */
  cachedTokens?: number;
}

/** A chat `usage` with `prompt_tokens_details` and `completion_tokens_details`, as OpenAI sends. */
export function chatUsage(prompt: number, completion: number, extras: UsageExtras = {}) {
  const reasoning = extras.reasoningTokens ?? 0;
  const cached = Math.min(extras.cachedTokens ?? 0, prompt);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion + reasoning,
    total_tokens: prompt + completion + reasoning,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** What the fake answers to a Responses body. */
export interface ResponsesPlan {
  text: string;
  /** `completed`, or `incomplete` when `max_output_tokens` cut the text. */
  status: 'completed' | 'incomplete';
  inputTokens: number;
  outputTokens: number;
  /** What the rate limiter charges: input plus `max_output_tokens` (or the answer). */
  charge: number;
}

/** The text of the last user input item, or the input itself when it is a string. */
function lastUserInput(input: unknown): string {
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) return '';
  const items = input as { role?: string; content?: unknown }[];
  const last = [...items].reverse().find((m) => m?.role === 'user');
  if (!last) return '';
  if (Array.isArray(last.content)) return (last.content as { text?: unknown }[]).map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return contentText(last.content);
}

/** The plan of a Responses answer: `echo: <last user input>`, or schema-shaped JSON; cut at `max_output_tokens`. */
export function planResponses(body: Record<string, unknown>, override?: (body: Record<string, unknown>) => string | undefined): ResponsesPlan {
  const prompt = lastUserInput(body.input);
  const schema = requestedSchema(body);
  let text = override?.(body) ?? (schema ? JSON.stringify(valueFor(schema, prompt)) : `echo: ${prompt}`);
  const cap = Number(body.max_output_tokens);
  let status: ResponsesPlan['status'] = 'completed';
  if (Number.isFinite(cap) && cap > 0 && estimateTokens(text) > cap) {
    text = text.slice(0, cap * 4);
    status = 'incomplete';
  }
  const instructions = typeof body.instructions === 'string' ? body.instructions : '';
  const inputText = typeof body.input === 'string' ? body.input : JSON.stringify(body.input ?? '');
  const inputTokens = estimateTokens(instructions + inputText) + 3;
  const outputTokens = estimateTokens(text);
  return { text, status, inputTokens, outputTokens, charge: inputTokens + (Number.isFinite(cap) && cap > 0 ? cap : outputTokens) };
}

/** The `response` object for a plan. */
export function responseObject(body: Record<string, unknown>, p: ResponsesPlan, index: number, extras: UsageExtras = {}, status: string = p.status): Record<string, unknown> {
  const reasoning = extras.reasoningTokens ?? 0;
  const cached = Math.min(extras.cachedTokens ?? 0, p.inputTokens);
  const done = status !== 'in_progress';
  const output = done
    ? [
        ...(reasoning > 0 ? [{ id: `rs_fake${index}`, type: 'reasoning', summary: [] }] : []),
        {
          id: `msg_fake${index}`,
          type: 'message',
          status: status === 'incomplete' ? 'incomplete' : 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: p.text, annotations: [] }],
        },
      ]
    : [];
  return {
    id: `resp_fake${index}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: String(body.model ?? 'gpt-4o-mini'),
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    reasoning: { effort: (body.reasoning as { effort?: string } | undefined)?.effort ?? null, summary: null },
    store: true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done
      ? {
          input_tokens: p.inputTokens,
          input_tokens_details: { cached_tokens: cached },
          output_tokens: p.outputTokens + reasoning,
          output_tokens_details: { reasoning_tokens: reasoning },
          total_tokens: p.inputTokens + p.outputTokens + reasoning,
        }
      : null,
    metadata: {},
  };
}

/** The SSE events of a streamed Responses answer, and how many come before the final one. */
export function responseEvents(body: Record<string, unknown>, p: ResponsesPlan, index: number, extras: UsageExtras = {}): { events: string[]; beforeFinish: number } {
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const itemId = `msg_fake${index}`;
  const part = { type: 'output_text', text: '', annotations: [] };
  const events = [
    ev('response.created', { response: responseObject(body, p, index, extras, 'in_progress') }),
    ev('response.in_progress', { response: responseObject(body, p, index, extras, 'in_progress') }),
    ev('response.output_item.added', { output_index: 0, item: { id: itemId, type: 'message', status: 'in_progress', role: 'assistant', content: [] } }),
    ev('response.content_part.added', { item_id: itemId, output_index: 0, content_index: 0, part }),
    ...pieces(p.text).map((delta) => ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta, logprobs: [] })),
    ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text: p.text, logprobs: [] }),
    ev('response.content_part.done', { item_id: itemId, output_index: 0, content_index: 0, part: { ...part, text: p.text } }),
  ];
  const final = responseObject(body, p, index, extras);
  events.push(ev('response.output_item.done', { output_index: 0, item: (final.output as unknown[]).at(-1) }));
  const beforeFinish = events.length;
  events.push(ev(p.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final }));
  return { events, beforeFinish };
}
