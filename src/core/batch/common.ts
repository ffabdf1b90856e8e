/**
 * What the three readers share: their options, the error item, custom_id bookkeeping, and the
 * step that turns a row's pieces into a validated request.
 */
import {
  applyChatDefaults,
  applyEmbeddingsDefaults,
  applyResponsesDefaults,
  validateChatBody,
  validateEmbeddingsBody,
  validateResponsesBody,
  type RequestDefaults,
} from '../request';
import type { ChatBody, EmbeddingsBody, EndpointKind, InputError, InputItem, Message, ResponsesBody } from '../types';

/** Options of {@link readBatch}. */
export interface ReaderOptions {
  /** Model, system message and parameters for rows that do not set them. @default {} */
  defaults?: RequestDefaults;
  /**
   * CSV only: the prompt of each row, with `{{column}}` replaced by that column's value, e.g.
   * `"Translate to French: {{text}}"`. Without it the CSV needs a `prompt` column.
   * @default undefined
   */
  template?: string;
  /** Stops reading: iteration throws the signal's reason. @default undefined */
  signal?: AbortSignal;
  /**
   * What a bare prompt (a .txt line, a CSV row, a JSONL string or `{"prompt"}` object) becomes: a
   * chat request with one user message, an embeddings request with the prompt as `input`, or a
   * Responses API request with the prompt as `input` (and the system message as `instructions`).
   * JSONL lines that say what they are (`messages`, a Batch API `url`) ignore this; with
   * `'responses'`, a JSONL `{"input"}` line is a Responses request rather than an embeddings one.
   * @default 'chat'
   */
  kind?: EndpointKind;
  /** Longest line accepted, in bytes; a longer one becomes an error item. @default 67108864 (64 MiB) */
  maxLineBytes?: number;
}

/** The code of every error item a reader yields. */
export const INVALID_INPUT = 'invalid_input';

/** An error item whose message reads `<file>:<line>: <what is wrong>`. */
export function invalidItem(file: string, line: number, message: string, custom_id = `line-${line}`): InputError {
  return { kind: 'invalid', custom_id, line, file, error: { code: INVALID_INPUT, message: `${file}:${line}: ${message}` } };
}

/**
 * Tracks the custom_ids of one file so that a repeat is caught. Explicit ids are kept in a map
 * (with their line, for the message); generated `line-<n>` ids cost one bit each, since the line
 * number already says everything about them.
 */
export class IdRegistry {
  private readonly explicit = new Map<string, number>();
  private generated = new Uint8Array(1024);

  /** Records an id; returns the line it was first seen on if it is a repeat, else undefined. */
  claim(id: string, line: number, isGenerated: boolean): number | undefined {
    const seen = this.explicit.get(id);
    if (seen !== undefined) return seen;
    // An explicit "line-7" clashes with the id generated for line 7, if line 7 had none of its own.
    const m = /^line-([1-9]\d*)$/.exec(id);
    if (m && this.hasGenerated(Number(m[1]))) return Number(m[1]);
    if (isGenerated) this.markGenerated(line);
    else this.explicit.set(id, line);
    return undefined;
  }

  private hasGenerated(line: number): boolean {
    const i = line >> 3;
    return i < this.generated.length && (this.generated[i] & (1 << (line & 7))) !== 0;
  }

  private markGenerated(line: number): void {
    const i = line >> 3;
    if (i >= this.generated.length) {
      const grown = new Uint8Array(Math.max(i + 1, this.generated.length * 2));
      grown.set(this.generated);
      this.generated = grown;
    }
    this.generated[i] |= 1 << (line & 7);
  }
}

/** Where a row came from, and what applies to it. */
export interface RowContext {
  file: string;
  line: number;
  defaults: RequestDefaults;
  ids: IdRegistry;
}

/**
 * Checks the custom_id of a finished item against the file's earlier ones. A repeat becomes an
 * error item with the generated id `line-<n>`, so that result records keep unique ids.
 */
export function checkId(item: InputItem, explicitId: boolean, ctx: RowContext): InputItem {
  const first = ctx.ids.claim(item.custom_id, ctx.line, !explicitId);
  if (first === undefined) return item;
  const fallback = `line-${ctx.line}`;
  if (fallback !== item.custom_id) ctx.ids.claim(fallback, ctx.line, true);
  return invalidItem(ctx.file, ctx.line, `duplicate custom_id '${item.custom_id}' (first on line ${first})`, fallback);
}

/** A chat body from a row: defaults applied, then validated; an error item if it is not valid. */
export function chatItem(body: Record<string, unknown>, custom_id: string, ctx: RowContext): InputItem {
  const full = applyChatDefaults(body, ctx.defaults);
  const problem = validateChatBody(full);
  if (problem) return invalidItem(ctx.file, ctx.line, problem, custom_id);
  return { kind: 'chat', custom_id, line: ctx.line, body: full as ChatBody };
}

/** An embeddings body from a row: default model applied, then validated. */
export function embeddingsItem(body: Record<string, unknown>, custom_id: string, ctx: RowContext): InputItem {
  const full = applyEmbeddingsDefaults(body, ctx.defaults);
  const problem = validateEmbeddingsBody(full);
  if (problem) return invalidItem(ctx.file, ctx.line, problem, custom_id);
  return { kind: 'embeddings', custom_id, line: ctx.line, body: full as EmbeddingsBody };
}

/** A Responses API body from a row: defaults applied, then validated. */
export function responsesItem(body: Record<string, unknown>, custom_id: string, ctx: RowContext): InputItem {
  const full = applyResponsesDefaults(body, ctx.defaults);
  const problem = validateResponsesBody(full);
  if (problem) return invalidItem(ctx.file, ctx.line, problem, custom_id);
  return { kind: 'responses', custom_id, line: ctx.line, body: full as ResponsesBody };
}

/** What a prompt-style row (txt line, CSV row, JSONL `{"prompt"}`) gives besides the prompt. */
export interface PromptRow {
  custom_id: string;
  /** The row's own system message, which overrides the default one. */
  system?: string;
  /** Body parameters from the row (`model`, `temperature`, …). */
  params?: Record<string, unknown>;
}

/** A request for one bare prompt, of the reader's kind. Empty prompts are errors, not requests. */
export function promptItem(prompt: string, row: PromptRow, kind: EndpointKind, ctx: RowContext): InputItem {
  if (prompt.trim() === '') return invalidItem(ctx.file, ctx.line, 'the prompt is empty', row.custom_id);
  if (kind === 'embeddings') return embeddingsItem({ ...row.params, input: prompt }, row.custom_id, ctx);
  if (kind === 'responses') {
    return responsesItem({ ...row.params, input: prompt, ...(row.system ? { instructions: row.system } : {}) }, row.custom_id, ctx);
  }
  const messages: Message[] = [{ role: 'user', content: prompt }];
  if (row.system) messages.unshift({ role: 'system', content: row.system });
  return chatItem({ ...row.params, messages }, row.custom_id, ctx);
}
