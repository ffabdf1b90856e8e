/**
 * The fake server's chat answers, plain (`chat.completion`) and streamed (`chat.completion.chunk`
 * events), built from one description of the answer so that both say the same thing.
 *
 * The shapes follow OpenAI's API reference:
 * - The chat completion object and the chunk object
 *   (https://platform.openai.com/docs/api-reference/chat/object,
 *   https://platform.openai.com/docs/api-reference/chat/streaming): every chunk carries the same
 *   `id`, `created` and `model`; `choices` holds the deltas, "more than one element if `n` is
 *   greater than 1", each with its `index`; `finish_reason` is null until a choice's last chunk;
 *   with `stream_options.include_usage` every chunk has `usage: null` except one more chunk before
 *   `data: [DONE]` whose `choices` is empty and whose `usage` covers the whole request.
 * - Tool calls, streamed (https://platform.openai.com/docs/guides/function-calling#streaming):
 *   the first delta of a call has its `index`, `id`, `type` and `function.name` with empty
 *   `arguments`; later deltas carry only the `index` and a piece of `function.arguments`; the
 *   choice ends with `finish_reason: 'tool_calls'`; `content` is null.
 * - Refusals (https://platform.openai.com/docs/guides/structured-outputs#refusals): the message
 *   has `refusal` text and `content: null`; streamed, the pieces arrive in `delta.refusal`.
 * - Log probabilities (`logprobs: true`, `top_logprobs`): `choices[].logprobs` is
 *   `{ content: [{ token, logprob, bytes, top_logprobs }], refusal }`; streamed, each chunk holds
 *   the entries of the tokens it adds.
 *
 * What the fake answers is a pure function of the request: choice 0 says `echo: <prompt>`, choice
 * i > 0 says `echo <i>: <prompt>` (so that a client that mixes choices up gets caught), each cut
 * at `max_tokens`; with `tools` (and `tool_choice` not `none`) every choice calls the first one or
 * two function tools with `{"echo": "<prompt>"}` as arguments.
 */
import { contentText, estimateTokens, usageOf, type ChatPlan } from './fakeReplies';
import { chatUsage } from './fakeModern';

/** One choice of an answer. */
export interface ChoiceShape {
  content: string | null;
  refusal: string | null;
  toolCalls: { id: string; name: string; arguments: string }[];
  finish: 'stop' | 'length' | 'tool_calls';
}

/** How a streamed answer ends instead of normally (see FakeAction `noFinishReason` in fakeServer.ts). */
export interface StreamEnding {
  /** Choices whose finish chunk is left out; the stream still ends with the usage chunk and `[DONE]`. */
  withoutFinish?: readonly number[];
}

/** The pieces a text is streamed in (and counted as tokens for logprobs): words with their spaces. */
export function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
  return contentText([...messages].reverse().find((m) => m?.role === 'user')?.content);
}

function functionTools(body: Record<string, unknown>): string[] {
  if (!Array.isArray(body.tools) || body.tool_choice === 'none') return [];
  const names = (body.tools as { type?: string; function?: { name?: unknown } }[])
    .filter((t) => t?.type === 'function' && typeof t.function?.name === 'string')
    .map((t) => t.function!.name as string);
  const forced = (body.tool_choice as { function?: { name?: string } } | undefined)?.function?.name;
  if (forced) return names.filter((n) => n === forced);
  return names.slice(0, body.parallel_tool_calls === false ? 1 : 2);
}

/** The choices of the answer to `body` (see the file comment); `refusal` makes every choice a refusal. */
export function answerShape(body: Record<string, unknown>, p: ChatPlan, index: number, refusal?: string): ChoiceShape[] {
  const n = Math.max(1, Number(body.n) || 1);
  const prompt = lastUserText(body);
  const tools = functionTools(body);
  const cap = Number(body.max_completion_tokens ?? body.max_tokens);
  return Array.from({ length: n }, (_, i): ChoiceShape => {
    if (refusal !== undefined) return { content: null, refusal, toolCalls: [], finish: 'stop' };
    if (tools.length > 0) {
      const toolCalls = tools.map((name, k) => ({ id: `call_fake${index}_${i}_${k}`, name, arguments: JSON.stringify({ echo: prompt }) }));
      return { content: null, refusal: null, toolCalls, finish: 'tool_calls' };
    }
    if (i === 0) return { content: p.answer, refusal: null, toolCalls: [], finish: p.finish };
    let text = `echo ${i}: ${prompt}`;
    let finish: ChoiceShape['finish'] = 'stop';
    if (Number.isFinite(cap) && cap > 0 && estimateTokens(text) > cap) {
      text = text.slice(0, cap * 4);
      finish = 'length';
    }
    return { content: text, refusal: null, toolCalls: [], finish };
  });
}

function completionTokens(c: ChoiceShape): number {
  const text = c.content ?? c.refusal ?? c.toolCalls.map((t) => t.name + t.arguments).join('');
  return estimateTokens(text);
}

/** The usage of an answer: the prompt's tokens, and every choice's. */
export function usageOfAnswer(p: ChatPlan, choices: readonly ChoiceShape[]) {
  const completion = choices.reduce((sum, c) => sum + completionTokens(c), 0);
  return p.extras ? chatUsage(p.promptTokens, completion, p.extras) : usageOf(p.promptTokens, completion);
}

/** A logprobs entry for one streamed piece: a fixed, made-up log probability per position. */
function tokenLogprob(piece: string, position: number, top: number) {
  const entry = { token: piece, logprob: -Number((0.01 * (position + 1)).toFixed(2)), bytes: [...Buffer.from(piece, 'utf8')] };
  return { ...entry, top_logprobs: top > 0 ? [entry] : [] };
}

function wantsLogprobs(body: Record<string, unknown>): { on: boolean; top: number } {
  return { on: body.logprobs === true, top: Math.max(0, Number(body.top_logprobs) || 0) };
}

function choiceLogprobs(body: Record<string, unknown>, c: ChoiceShape) {
  const lp = wantsLogprobs(body);
  if (!lp.on || c.toolCalls.length > 0) return null;
  const entries = (text: string | null) => (text === null ? null : pieces(text).map((t, k) => tokenLogprob(t, k, lp.top)));
  return { content: entries(c.content), refusal: entries(c.refusal) };
}

/** A `chat.completion`. */
export function chatCompletion(body: Record<string, unknown>, p: ChatPlan, index: number, refusal?: string): string {
  const shape = answerShape(body, p, index, refusal);
  const choices = shape.map((c, i) => ({
    index: i,
    message: {
      role: 'assistant',
      content: c.content,
      refusal: c.refusal,
      ...(c.toolCalls.length ? { tool_calls: c.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })) } : {}),
    },
    logprobs: choiceLogprobs(body, c),
    finish_reason: c.finish,
  }));
  return JSON.stringify({
    id: `chatcmpl-fake${index}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: String(body.model ?? 'gpt-4o-mini'),
    choices,
    usage: usageOfAnswer(p, shape),
    system_fingerprint: 'fp_fake',
  });
}

/** The SSE events of a streamed answer, and how many come before the first `finish_reason`. */
export interface ChatStream {
  events: string[];
  /** Events before the first one that carries a finish_reason: the answer's body, which faults cut into. */
  beforeFinish: number;
}

/** Arguments are streamed in pieces of this many characters. */
const ARGUMENT_PIECE = 8;

/**
 * The events of a streamed answer: per choice a first delta (`role`, and the first tool call's
 * header), one delta per word (content or refusal) or per argument piece, then a finish chunk;
 * with n > 1 the choices' chunks take turns. Then the usage chunk (when asked for) and `[DONE]`.
 */
export function chatEvents(body: Record<string, unknown>, p: ChatPlan, index: number, refusal?: string, ending: StreamEnding = {}): ChatStream {
  const withUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const lp = wantsLogprobs(body);
  const shape = answerShape(body, p, index, refusal);
  const head = {
    id: `chatcmpl-fake${index}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: String(body.model ?? 'gpt-4o-mini'),
    system_fingerprint: 'fp_fake',
  };
  const event = (choices: unknown[], usage: unknown = null) =>
    `data: ${JSON.stringify({ ...head, choices, ...(withUsage ? { usage } : {}) })}\n\n`;
  const chunk = (i: number, delta: Record<string, unknown>, logprobs: unknown = null, finish: string | null = null) =>
    event([{ index: i, delta, logprobs, finish_reason: finish }]);

  const bodies = shape.map((c, i) => {
    const out: string[] = [];
    if (c.toolCalls.length > 0) {
      c.toolCalls.forEach((t, k) => {
        const header = { index: k, id: t.id, type: 'function', function: { name: t.name, arguments: '' } };
        out.push(chunk(i, k === 0 ? { role: 'assistant', content: null, tool_calls: [header], refusal: null } : { tool_calls: [header] }));
        for (let at = 0; at < t.arguments.length; at += ARGUMENT_PIECE) {
          out.push(chunk(i, { tool_calls: [{ index: k, function: { arguments: t.arguments.slice(at, at + ARGUMENT_PIECE) } }] }));
        }
      });
      return out;
    }
    const field = c.refusal !== null ? 'refusal' : 'content';
    out.push(chunk(i, field === 'refusal' ? { role: 'assistant', content: null, refusal: '' } : { role: 'assistant', content: '', refusal: null }));
    pieces((c.refusal ?? c.content)!).forEach((piece, k) => {
      const logprobs = lp.on ? { content: field === 'content' ? [tokenLogprob(piece, k, lp.top)] : null, refusal: field === 'refusal' ? [tokenLogprob(piece, k, lp.top)] : null } : null;
      out.push(chunk(i, { [field]: piece }, logprobs));
    });
    return out;
  });
  const events: string[] = [];
  for (let k = 0; bodies.some((b) => k < b.length); k++) for (const b of bodies) if (k < b.length) events.push(b[k]!);
  const beforeFinish = events.length;
  const dropped = new Set(ending.withoutFinish ?? []);
  shape.forEach((c, i) => {
    if (!dropped.has(i)) events.push(chunk(i, {}, null, c.finish));
  });
  if (withUsage) events.push(event([], usageOfAnswer(p, shape)));
  events.push('data: [DONE]\n\n');
  return { events, beforeFinish };
}
