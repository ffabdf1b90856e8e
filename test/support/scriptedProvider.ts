import { ProviderError, type Provider, type ProviderResponse, type SendOptions } from '../../src/core/providers/provider';
import type { LLMRequest } from '../../src/core/types';

/** What the scripted provider does with one call; undefined = answer normally. */
export type Script = (call: { index: number; request: LLMRequest; prompt: string }) =>
  | { latencyMs?: number; fail?: { status?: number; code: string; message?: string; headers?: Record<string, string> } }
  | undefined;

function lastPrompt(request: LLMRequest): string {
  if (request.kind === 'embeddings') return JSON.stringify(request.body.input);
  if (request.kind === 'responses') return typeof request.body.input === 'string' ? request.body.input : JSON.stringify(request.body.input);
  const m = request.body.messages[request.body.messages.length - 1];
  return typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content);
}

/**
 * An in-process Provider for engine tests: answers `echo: <prompt>` after a scripted latency, or
 * fails as scripted. Records every call and the peak number of calls in flight.
 */
export class ScriptedProvider implements Provider {
  readonly name = 'scripted';
  readonly scope = { baseURL: 'http://scripted.test/v1' };
  /**
   * Every call: when it began and, once it settled, when it ended. `seq` and `endSeq` come from
   * one counter, so they order the calls' beginnings and ends as they happened, which the
   * wall-clock times cannot on a busy machine (two events a few ms apart may be in either order).
   */
  calls: { at: number; prompt: string; seq: number; endedAt?: number; endSeq?: number }[] = [];
  private events = 0;
  inFlight = 0;
  maxInFlight = 0;

  constructor(public script: Script = () => ({ latencyMs: 1 })) {}

  async send(request: LLMRequest, options: SendOptions): Promise<ProviderResponse> {
    const prompt = lastPrompt(request);
    const index = this.calls.length;
    const call: ScriptedProvider['calls'][number] = { at: Date.now(), prompt, seq: this.events++ };
    this.calls.push(call);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const plan = this.script({ index, request, prompt }) ?? {};
      await new Promise<void>((resolve, reject) => {
        if (options.signal.aborted) return reject(new ProviderError('aborted', undefined, 'aborted'));
        const t = setTimeout(resolve, plan.latencyMs ?? 0);
        options.signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new ProviderError('aborted', undefined, 'aborted'));
        }, { once: true });
      });
      if (plan.fail) {
        const f = plan.fail;
        throw new ProviderError(f.message ?? `failed with ${f.status ?? f.code}`, f.status, f.code, f.headers ?? {});
      }
      const completion = `echo: ${prompt}`;
      const prompt_tokens = Math.max(1, Math.ceil(prompt.length / 4));
      const completion_tokens = Math.max(1, Math.ceil(completion.length / 4));
      return {
        status: 200,
        requestId: `req_${index}`,
        headers: {},
        body: {
          id: `chatcmpl-${index}`,
          object: 'chat.completion',
          model: request.body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: completion }, finish_reason: 'stop' }],
          usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
        },
      };
    } finally {
      this.inFlight--;
      call.endedAt = Date.now();
      call.endSeq = this.events++;
    }
  }
}
