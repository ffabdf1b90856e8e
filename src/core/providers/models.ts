/**
 * The models a profile offers, for *FastLLM: Select Model…*: `GET {baseUrl}/models` on
 * OpenAI-compatible servers (OpenAI API reference, "List models": `{ "object": "list", "data":
 * [{ "id", "object": "model", "created", "owned_by" }] }`), and for Azure OpenAI the resource's
 * deployments.
 *
 * Azure: a deployment, not a model, is what requests name. The data-plane listing
 * `GET {endpoint}/openai/deployments?api-version=2023-03-15-preview` (with the `api-key` header,
 * answering `{ "data": [{ "id", "model", "status" }] }`) was the last API version to have it;
 * later versions moved it to the management plane (Cognitive Services account management,
 * "Deployments - List", which needs an Entra ID token, not the API key; see
 * https://learn.microsoft.com/en-us/rest/api/cognitiveservices/accountmanagement/deployments/list
 * and https://learn.microsoft.com/en-us/answers/questions/1371786/get-azure-openai-deployments-in-api).
 * So we try the data-plane listing, and when the resource refuses it the caller lets the user type
 * the deployment's name.
 */
import type { Profile } from '../profiles';
import { redactKey } from './openai';

/** The data-plane API version that still lists deployments (see the file comment). */
export const AZURE_DEPLOYMENTS_API_VERSION = '2023-03-15-preview';

export interface ListModelsOptions {
  /** The profile's key; empty for servers that need none. */
  apiKey: string;
  /** The profile's extra headers. */
  headers?: Record<string, string>;
  /** @default globalThis.fetch (in VS Code, the one patched for the user's proxy) */
  fetch?: typeof fetch;
  /** @default 15000 */
  timeoutMs?: number;
}

/** A listing that failed: `status` is the HTTP status, undefined when no answer came. */
export class ListModelsError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'ListModelsError';
  }
}

/** The URL a profile's models (or Azure deployments) are listed from. */
export function modelsUrl(profile: Profile): string {
  if (!profile.baseUrl) throw new ListModelsError(`profile "${profile.name}" (${profile.kind}) has no base URL to list models from`, undefined);
  if (profile.kind === 'azure') {
    const resource = profile.baseUrl.replace(/\/openai(\/deployments\/[^/]+)?\/?$/i, '');
    return `${resource}/openai/deployments?api-version=${AZURE_DEPLOYMENTS_API_VERSION}`;
  }
  return `${profile.baseUrl}/models`;
}

/**
 * The model ids (Azure: deployment ids) of a profile, sorted. Throws {@link ListModelsError} with
 * the server's message (the key redacted) when the listing fails.
 */
export async function listModels(profile: Profile, options: ListModelsOptions): Promise<string[]> {
  const url = modelsUrl(profile);
  const headers: Record<string, string> = { accept: 'application/json', ...(options.headers ?? {}) };
  if (options.apiKey) {
    if (profile.kind === 'azure') headers['api-key'] = options.apiKey;
    else headers.authorization = `Bearer ${options.apiKey}`;
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await doFetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 15_000) });
  } catch (e) {
    throw new ListModelsError(`could not reach ${url}: ${redactKey(String((e as Error).message), options.apiKey)}`, undefined);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      const body = JSON.parse(text) as { error?: { message?: string } };
      if (body.error?.message) message = body.error.message;
    } catch {
      /* the raw text */
    }
    throw new ListModelsError(`${url} answered HTTP ${res.status}: ${redactKey(message, options.apiKey)}`, res.status);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ListModelsError(`${url} did not answer JSON`, res.status);
  }
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw new ListModelsError(`${url} answered without a "data" list`, res.status);
  const ids = data.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string' && id !== '');
  return [...new Set(ids)].sort((a, b) => a.localeCompare(b));
}
