import type { ChatCompletionChunk } from 'openai/resources/chat/completions';

interface ChoiceState {
  role: string;
  content: string | null;
  refusal: string | null;
  toolCalls: { id: string; type: string; function: { name: string; arguments: string } }[];
  logprobs: { content: unknown[] | null; refusal: unknown[] | null } | null;
  finish: string | null;
}

/**
 * Folds `chat.completion.chunk`s into the body a non-streamed call would have returned, so that
 * streamed and plain answers are cached and written alike. Chunks of several choices (`n` > 1)
 * may come in any order; text, refusals, tool-call arguments and log probabilities are appended
 * per choice (and per tool call `index`).
 */
export class StreamAssembler {
  private head: ChatCompletionChunk | undefined;
  private readonly choices = new Map<number, ChoiceState>();
  private usage: unknown = null;

  /** @param expectedChoices the request's `n`: every one of choices 0 … n−1 must finish. */
  constructor(private readonly expectedChoices = 1) {}

  /** Adds a chunk; returns the text it adds to choice 0 (what `onDelta` is told). */
  add(chunk: ChatCompletionChunk): string {
    this.head ??= chunk;
    if (chunk.usage) this.usage = chunk.usage;
    let text = '';
    for (const c of chunk.choices ?? []) {
      let s = this.choices.get(c.index);
      if (!s) {
        s = { role: 'assistant', content: null, refusal: null, toolCalls: [], logprobs: null, finish: null };
        this.choices.set(c.index, s);
      }
      const d = c.delta ?? {};
      if (d.role) s.role = d.role;
      if (typeof d.content === 'string') {
        s.content = (s.content ?? '') + d.content;
        if (c.index === 0) text += d.content;
      }
      if (typeof d.refusal === 'string') s.refusal = (s.refusal ?? '') + d.refusal;
      for (const t of d.tool_calls ?? []) {
        const call = (s.toolCalls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (t.id) call.id = t.id;
        if (t.type) call.type = t.type;
        if (t.function?.name) call.function.name += t.function.name;
        if (t.function?.arguments) call.function.arguments += t.function.arguments;
      }
      if (c.logprobs?.content) ((s.logprobs ??= { content: null, refusal: null }).content ??= []).push(...c.logprobs.content);
      if (c.logprobs?.refusal) ((s.logprobs ??= { content: null, refusal: null }).refusal ??= []).push(...c.logprobs.refusal);
      if (c.finish_reason) s.finish = c.finish_reason;
    }
    return text;
  }

  /**
   * True once each of the expected choices, and every other choice seen, has a finish_reason. A
   * stream that ends before (even cleanly, with `[DONE]`) was cut short somewhere upstream.
   */
  get finished(): boolean {
    for (let i = 0; i < this.expectedChoices; i++) if (!this.choices.has(i)) return false;
    return this.choices.size > 0 && [...this.choices.values()].every((s) => s.finish !== null);
  }

  result(): Record<string, unknown> {
    const h = this.head;
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, s]) => ({
        index,
        message: {
          role: s.role,
          content: s.content,
          refusal: s.refusal,
          ...(s.toolCalls.length ? { tool_calls: s.toolCalls.filter(Boolean) } : {}),
        },
        logprobs: s.logprobs,
        finish_reason: s.finish,
      }));
    return {
      id: h?.id,
      object: 'chat.completion',
      created: h?.created,
      model: h?.model,
      choices,
      usage: this.usage,
      ...(h?.system_fingerprint ? { system_fingerprint: h.system_fingerprint } : {}),
      ...(h?.service_tier ? { service_tier: h.service_tier } : {}),
    };
  }
}
