/**
 * VS Code's Language Model API (`vscode.lm`) as a {@link Provider}, without importing `vscode`: the
 * extension hands in a {@link ChatModelBridge} over one `LanguageModelChat` (src/vscode/lmModel.ts),
 * and unit tests hand in a stub. The RequestManager paces, retries and caches these calls like any
 * other: this class only makes one attempt and turns the LM API's errors into ProviderErrors.
 *
 * How `LanguageModelError` codes map (VS Code API, `LanguageModelChat.sendRequest`: "user consent
 * not given, see NoPermissions; model does not exist anymore, see NotFound; quota limits exceeded,
 * see Blocked; other issues … check LanguageModelError.cause"):
 * - `NoPermissions`: the user did not allow FastLLM to use the model. Stops the run: every other
 *   row would fail the same way.
 * - `NotFound`: the model is gone (its extension was disabled, the user signed out). Stops the run.
 * - `Blocked`: quota limits exceeded. Treated as a rate limit (429): retried with back-off while the
 *   run waits, and the run stops once `rateLimit.giveUpSeconds` pass without a success.
 * - anything else: that row's error (code `lm_error`, the cause's message), not retried.
 */
import type { LLMRequest, Message } from '../types';
import { ProviderError, type EndpointScope, type Provider, type ProviderResponse, type SendOptions } from './provider';

/** One message as the LM API takes it: it has only user and assistant roles (no system role). */
export interface LmMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** What the provider needs of one chat model; the extension implements it over `vscode.LanguageModelChat`. */
export interface ChatModelBridge {
  /** `LanguageModelChat.id`. */
  readonly id: string;
  /** `LanguageModelChat.vendor` (`copilot`). */
  readonly vendor: string;
  /** `LanguageModelChat.family`. */
  readonly family: string;
  /** Sends the messages; resolves with the response's text fragments. Rejects with the LM API's error. */
  sendRequest(messages: LmMessage[], signal: AbortSignal): Promise<AsyncIterable<string>>;
  /** `LanguageModelChat.countTokens` for one text. */
  countTokens(text: string, signal: AbortSignal): Promise<number>;
}

/** A `ProviderError` that stops the whole run (the LM API said no for every row alike). */
export class RunStoppingProviderError extends ProviderError {
  constructor(
    message: string,
    /** The run's stop code, e.g. `lm_no_permissions`. */
    readonly stopCode: string,
  ) {
    super(message, undefined, stopCode);
    this.name = 'RunStoppingProviderError';
  }
}

/**
 * The ProviderError for an error thrown by the LM API. Reads `code` the way VS Code's docs say to
 * (`err.code === LanguageModelError.NotFound.name`), so any object with a `code` works: a real
 * `vscode.LanguageModelError` or a stub.
 */
export function mapLanguageModelError(err: unknown, model: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (err ?? {}) as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' && e.message ? e.message : String(err);
  const cause = e.cause instanceof Error && e.cause.message && e.cause.message !== message ? ` (${e.cause.message})` : '';
  switch (code) {
    case 'NoPermissions':
      return new RunStoppingProviderError(
        `VS Code's Language Model API: FastLLM may not use ${model} (NoPermissions: ${message}). ` +
          'Allow it when VS Code asks, or under Accounts › Manage Language Model Access, then run again.',
        'lm_no_permissions',
      );
    case 'NotFound':
      return new RunStoppingProviderError(
        `VS Code's Language Model API: the model ${model} does not exist any more (NotFound: ${message}). ` +
          'Pick another with FastLLM: Select Model…, then run again.',
        'lm_model_not_found',
      );
    case 'Blocked':
      // "quota limits exceeded": wait and retry like a 429 without a retry-after.
      return new ProviderError(`VS Code's Language Model API: blocked from using ${model} (Blocked: ${message})`, 429, 'lm_blocked');
    default:
      if (e.name === 'Canceled' || e.name === 'AbortError') return new ProviderError('The request was cancelled.', undefined, 'aborted');
      return new ProviderError(`VS Code's Language Model API: ${message}${cause}`, undefined, 'lm_error');
  }
}

/** A chat body's messages as LM API messages: text parts joined, system messages sent as user messages. */
export function toLmMessages(messages: Message[]): LmMessage[] {
  return messages.map((m, i) => {
    const content = textOf(m.content);
    if (content === undefined) {
      throw new ProviderError(`message ${i + 1} has content that is not text; VS Code's Language Model API takes text here`, 400, 'unsupported_content');
    }
    // The LM API has no system role (VS Code's Language Model API guide): the system prompt goes
    // first as a user message, which is what the guide suggests.
    return { role: m.role === 'assistant' ? 'assistant' : 'user', content };
  });
}

function textOf(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (!Array.isArray(content)) return undefined;
  let out = '';
  for (const part of content) {
    const p = part as { type?: unknown; text?: unknown };
    if (p?.type !== 'text' || typeof p.text !== 'string') return undefined;
    out += p.text;
  }
  return out;
}

/** Options for {@link LanguageModelProvider}. */
export interface LanguageModelProviderOptions {
  model: ChatModelBridge;
  /**
   * Called once before the first request of the provider, with the first request's abort signal:
   * the extension asks for consent here (see src/vscode/lmModel.ts). A rejection stops like a
   * failed request (mapped with {@link mapLanguageModelError}).
   */
  beforeFirstRequest?: (signal: AbortSignal) => Promise<void>;
}

/** Chat requests through one VS Code language model. Embeddings are not offered by the LM API. */
export class LanguageModelProvider implements Provider {
  readonly name = 'vscode-lm';
  /** Distinct per vendor and model, so that cached answers of Copilot's models are never mixed with an HTTP server's. */
  readonly scope: EndpointScope;
  private ready: Promise<void> | undefined;

  constructor(private readonly options: LanguageModelProviderOptions) {
    const m = options.model;
    this.scope = { baseURL: `vscode-lm://${encodeURIComponent(m.vendor)}/${encodeURIComponent(m.id)}` };
  }

  async send(request: LLMRequest, options: SendOptions): Promise<ProviderResponse> {
    return this.call(request, options, undefined);
  }

  async stream(request: LLMRequest & { kind: 'chat' }, onDelta: (text: string) => void, options: SendOptions): Promise<ProviderResponse> {
    return this.call(request, options, onDelta);
  }

  private async call(request: LLMRequest, options: SendOptions, onDelta: ((text: string) => void) | undefined): Promise<ProviderResponse> {
    const model = this.options.model;
    if (request.kind !== 'chat') {
      throw new ProviderError(`VS Code's Language Model API has no ${request.kind} endpoint: use a profile with an HTTP server for these rows`, 400, 'unsupported_endpoint');
    }
    const messages = toLmMessages(request.body.messages);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, options.timeoutMs);
    const signal = controller.signal;
    try {
      if (this.options.beforeFirstRequest) {
        this.ready ??= this.options.beforeFirstRequest(signal);
        // A consent that failed is asked again by the next request (the user may allow it then).
        await this.ready.catch((e: unknown) => {
          this.ready = undefined;
          throw e;
        });
      }
      const fragments = await model.sendRequest(messages, signal);
      let text = '';
      for await (const piece of fragments) {
        if (signal.aborted) break;
        text += piece;
        onDelta?.(piece);
      }
      if (signal.aborted) throw abortError(timedOut, options.timeoutMs);
      let prompt = 0;
      for (const m of messages) prompt += await model.countTokens(m.content, signal);
      const completion = text ? await model.countTokens(text, signal) : 0;
      const body = {
        id: `lm-${Date.now().toString(36)}-${request.line}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: model.id,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      };
      return { status: 200, requestId: null, body, headers: {} };
    } catch (e) {
      if (signal.aborted && !(e instanceof RunStoppingProviderError)) throw abortError(timedOut, options.timeoutMs);
      throw mapLanguageModelError(e, `${model.vendor}/${model.id}`);
    } finally {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
    }
  }
}

function abortError(timedOut: boolean, timeoutMs: number): ProviderError {
  return timedOut ? new ProviderError(`No answer within ${timeoutMs} ms.`, undefined, 'timeout') : new ProviderError('The request was cancelled.', undefined, 'aborted');
}
