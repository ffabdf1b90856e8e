import * as vscode from 'vscode';
import type { Profile } from '../core/profiles';
import type { ChatModelBridge, LmMessage } from '../core/providers/languageModel';

/** Shown by VS Code in its consent dialog (`LanguageModelChatRequestOptions.justification`). */
const JUSTIFICATION = 'FastLLM sends the prompts of the batch or selection you started to this model.';

/**
 * The language models a `vscode-lm` profile may use: `vscode.lm.selectChatModels` with the
 * profile's vendor, narrowed to its model (matched by id, else by family) when it names one.
 */
export async function selectChatModels(profile: Profile): Promise<vscode.LanguageModelChat[]> {
  const all = await vscode.lm.selectChatModels(profile.vendor ? { vendor: profile.vendor } : undefined);
  if (!profile.model) return all;
  const byId = all.filter((m) => m.id === profile.model);
  return byId.length ? byId : all.filter((m) => m.family === profile.model);
}

/** `vendor/id`, and the name when it says more. */
export function describeChatModel(m: vscode.LanguageModelChat): string {
  return `${m.vendor}/${m.id}`;
}

/**
 * A {@link ChatModelBridge} over one `vscode.LanguageModelChat`: the core's LanguageModelProvider
 * talks to it without importing `vscode`. Aborting the signal cancels the request's token.
 */
export function chatModelBridge(model: vscode.LanguageModelChat): ChatModelBridge {
  const tokenFor = (signal: AbortSignal) => {
    const source = new vscode.CancellationTokenSource();
    if (signal.aborted) source.cancel();
    else signal.addEventListener('abort', () => source.cancel(), { once: true });
    return source;
  };
  return {
    id: model.id,
    vendor: model.vendor,
    family: model.family,
    async sendRequest(messages: LmMessage[], signal: AbortSignal) {
      const source = tokenFor(signal);
      const chat = messages.map((m) =>
        m.role === 'assistant' ? vscode.LanguageModelChatMessage.Assistant(m.content) : vscode.LanguageModelChatMessage.User(m.content),
      );
      const response = await model.sendRequest(chat, { justification: JUSTIFICATION }, source.token);
      return (async function* () {
        try {
          yield* response.text;
        } finally {
          source.dispose();
        }
      })();
    },
    async countTokens(text: string, signal: AbortSignal) {
      const source = tokenFor(signal);
      try {
        return await model.countTokens(text, source.token);
      } finally {
        source.dispose();
      }
    },
  };
}

/**
 * Asks for the user's consent once, before a run's rows go out: VS Code shows its consent dialog on
 * an extension's first `sendRequest` to a model ("Calling this function for the first time … will
 * show a consent dialog", `LanguageModelChat.sendRequest`). When
 * `languageModelAccessInformation.canSendRequest` already says yes, nothing is sent; otherwise one
 * tiny request ("Reply with OK.") is, so that the dialog comes up once instead of the run's
 * concurrent rows all waiting on it. Its rejection (NoPermissions when the user declines) is
 * mapped and stops the run like any row's would.
 */
export function consentOnce(access: vscode.LanguageModelAccessInformation, model: vscode.LanguageModelChat): (signal: AbortSignal) => Promise<void> {
  return async (signal) => {
    if (access.canSendRequest(model) === true) return;
    const bridge = chatModelBridge(model);
    const text = await bridge.sendRequest([{ role: 'user', content: 'Reply with OK.' }], signal);
    for await (const piece of text) void piece;
  };
}
