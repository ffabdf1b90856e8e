/**
 * The flags of `run` and `batch submit` that shape what is asked of the model, beyond the prompt:
 * `--api` (which endpoint bare prompts go to), `--reasoning-effort` and `--schema FILE`. In a file
 * of their own so that both commands parse and check them alike.
 */
import { loadSchemaFile } from '../core/schema';
import type { RequestDefaults } from '../core/request';
import type { EndpointKind } from '../core/types';
import { UsageError } from './args';

/** The `parseArgs` options of these flags. */
export const MODEL_FLAGS = {
  api: { type: 'string' },
  'reasoning-effort': { type: 'string' },
  schema: { type: 'string' },
} as const;

const KINDS: readonly EndpointKind[] = ['chat', 'responses', 'embeddings'];

/** `--api chat|responses|embeddings` (`--embeddings` is the older spelling of `--api embeddings`). */
export function endpointKindFlag(api: string | undefined, embeddings: boolean | undefined): EndpointKind {
  if (api === undefined) return embeddings ? 'embeddings' : 'chat';
  if (!(KINDS as readonly string[]).includes(api)) throw new UsageError(`--api takes chat, responses or embeddings, not "${api}"`);
  if (embeddings && api !== 'embeddings') throw new UsageError(`--embeddings and --api ${api} contradict each other; keep one`);
  return api as EndpointKind;
}

/**
 * The defaults from `--reasoning-effort` and `--schema FILE`. A schema file that cannot be read,
 * is not JSON or is not a JSON schema is a usage error naming the file, before any request.
 */
export function modelDefaults(values: { 'reasoning-effort'?: string; schema?: string }): Pick<RequestDefaults, 'reasoning_effort' | 'schema'> {
  const out: Pick<RequestDefaults, 'reasoning_effort' | 'schema'> = {};
  const effort = values['reasoning-effort'];
  if (effort !== undefined) {
    if (!/^[a-z]+$/.test(effort)) throw new UsageError(`--reasoning-effort takes a word such as low, medium or high, not "${effort}"`);
    out.reasoning_effort = effort;
  }
  if (values.schema !== undefined) {
    try {
      out.schema = loadSchemaFile(values.schema);
    } catch (e) {
      throw new UsageError(`--schema ${(e as Error).message}`);
    }
  }
  return out;
}
