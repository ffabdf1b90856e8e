/**
 * Builds the provider for a configured endpoint. Every endpoint we support speaks the OpenAI
 * protocol (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, OpenRouter, Groq, …), so today this
 * always returns an {@link OpenAIProvider}; the factory is where another protocol would plug in.
 */
import { OpenAIProvider, type OpenAIProviderOptions } from './openai';
import type { Provider } from './provider';
import { DEFAULT_AZURE_API_VERSION, isAzureBaseURL } from './azure';

export * from './provider';
export { DEFAULT_AZURE_API_VERSION, isAzureBaseURL } from './azure';
export { DEFAULT_BASE_URL, OpenAIProvider, normalizeBaseURL, redactKey, type OpenAIProviderOptions } from './openai';

export type ProviderConfig = OpenAIProviderOptions;

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
