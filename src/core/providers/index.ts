/**
 * Builds the provider for a configured endpoint. Every endpoint we support speaks the OpenAI
 * protocol (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, OpenRouter, Groq, …), so today this
 * always returns an {@link OpenAIProvider}; the factory is where another protocol would plug in.
 */
import { OpenAIProvider, type OpenAIProviderOptions } from './openai';
import type { Provider } from './provider';

export * from './provider';
export { DEFAULT_BASE_URL, OpenAIProvider, normalizeBaseURL, redactKey, type OpenAIProviderOptions } from './openai';

/**
 * The Azure OpenAI data-plane API version used when a base URL is recognised as Azure's and no
 * `azure.apiVersion` is given (the latest GA version when this was written).
 */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

export type ProviderConfig = OpenAIProviderOptions;

/**
 * True for classic Azure OpenAI URLs (`https://RES.openai.azure.com/openai/...`, or a
 * `*.cognitiveservices.azure.com` resource), which need `api-key` and `api-version`. Azure's
 * `/openai/v1` URLs are excluded: they accept the plain OpenAI protocol.
 */
export function isAzureBaseURL(baseURL: string | undefined): boolean {
  if (!baseURL) return false;
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return false;
  }
  const azureHost = /\.(openai\.azure\.com|cognitiveservices\.azure\.com)$/i.test(url.hostname);
  return azureHost && !/\/openai\/v1\/?$/i.test(url.pathname);
}

/**
 * Picks the provider for `config`. An Azure base URL without an `azure` option gets
 * {@link DEFAULT_AZURE_API_VERSION}.
 *
 * @example
 * createProvider({ apiKey, baseURL: 'http://localhost:11434/v1' });
 * createProvider({
 *   apiKey,
 *   baseURL: 'https://res.openai.azure.com/openai/deployments/gpt4o',
 *   azure: { apiVersion: '2024-10-21' },
 * });
 */
export function createProvider(config: ProviderConfig): Provider {
  const azure =
    config.azure ?? (isAzureBaseURL(config.baseURL) ? { apiVersion: DEFAULT_AZURE_API_VERSION } : undefined);
  return new OpenAIProvider({ ...config, azure });
}
