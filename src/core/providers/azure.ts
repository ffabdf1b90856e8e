/**
 * Recognising classic Azure OpenAI endpoints. Light on purpose (no SDK): the Batch API client,
 * which the extension loads before the engine bundle, needs it too.
 */

/**
 * The Azure OpenAI data-plane API version used when a base URL is recognised as Azure's and no
 * `azure.apiVersion` is given (the latest GA version when this was written).
 */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

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
