/**
 * Structured outputs: the JSON schema a request asks for, and whether an answer follows it.
 *
 * A request asks for a schema with chat `response_format: {type: "json_schema", json_schema:
 * {name, schema, strict}}` (https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format)
 * or Responses `text.format: {type: "json_schema", name, schema, strict}`
 * (https://platform.openai.com/docs/api-reference/responses/create#responses-create-text). Each
 * answer's text is parsed as JSON and validated with Ajv (https://ajv.js.org), compiled once per
 * distinct schema. `--schema FILE` / `fastllm.schemaFile` only fill in those fields for rows that
 * set no format of their own (see RequestDefaults.schema), so one rule covers both.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { answerText, isTruncated, refusalText } from './answer';
import { isPlainObject, type JsonSchemaFormat } from './request';
import type { LLMRequest } from './types';

/** What checking an answer against its schema found. */
export type SchemaCheck = { valid: true } | { valid: false; message: string };

/** Lenient on keywords Ajv does not know (OpenAI's schemas may carry any), strict on the data. */
const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });

/** Compiled validators by schema text: rows share the default schema, and equal per-row ones. */
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 256;

/** By object: rows that got the default schema share one object, so most rows skip the stringify. */
const byObject = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const known = byObject.get(schema);
  if (known) return known;
  const text = JSON.stringify(schema);
  let v = compiled.get(text);
  if (!v) {
    v = ajv.compile(schema);
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(text, v);
  }
  byObject.set(schema, v);
  return v;
}

/** The JSON schema a request asks its answer to follow, or undefined (no `json_schema` format). */
export function requestSchema(request: LLMRequest): Record<string, unknown> | undefined {
  const body = request.body as Record<string, unknown>;
  if (request.kind === 'chat') {
    const rf = body.response_format;
    if (!isPlainObject(rf) || rf.type !== 'json_schema' || !isPlainObject(rf.json_schema)) return undefined;
    const schema = rf.json_schema.schema;
    return isPlainObject(schema) ? schema : undefined;
  }
  if (request.kind === 'responses') {
    const format = isPlainObject(body.text) ? body.text.format : undefined;
    if (!isPlainObject(format) || format.type !== 'json_schema') return undefined;
    return isPlainObject(format.schema) ? format.schema : undefined;
  }
  return undefined;
}

/**
 * Checks an answer against the schema its request asked for; undefined when it asked for none.
 * A refusal, an answer that is not JSON, and one that does not match all fail, each with a message
 * that says which (Ajv's first error, with the path into the answer: `/age must be integer`).
 */
export function checkAnswer(request: LLMRequest, body: unknown): SchemaCheck | undefined {
  const schema = requestSchema(request);
  if (!schema) return undefined;
  let validate: ValidateFunction;
  try {
    validate = validatorFor(schema);
  } catch (e) {
    return { valid: false, message: `the request's JSON schema is not valid: ${(e as Error).message}` };
  }
  const refusal = refusalText(body);
  const text = answerText(body);
  if (typeof text !== 'string' || text === '') {
    return { valid: false, message: refusal ? `the model refused: ${refusal}` : 'the answer has no text to check against the JSON schema' };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { valid: false, message: `the answer is not JSON (${(e as Error).message})` };
  }
  if (validate(data)) return { valid: true };
  const first = validate.errors?.[0];
  const where = first?.instancePath ? `${first.instancePath} ` : '';
  const detail = first ? `${where}${first.message ?? 'is invalid'}${first.params && 'additionalProperty' in first.params ? ` ('${String(first.params.additionalProperty)}')` : ''}` : 'does not match';
  return { valid: false, message: `the answer does not match the JSON schema: ${detail}` };
}

/**
 * Reads a schema file for `--schema` / `fastllm.schemaFile`: either a bare JSON Schema, or OpenAI's
 * `json_schema` object `{name, schema, strict?, description?}`. A bare schema is named after the
 * file (`invoice.schema.json` → `invoice_schema`) and sent with `strict: true`. Throws an Error
 * whose message starts with the file's path when it cannot be read, is not JSON, or is not a
 * schema Ajv can compile: checked before any request goes out.
 */
export function loadSchemaFile(path: string): JsonSchemaFormat {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read the schema file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: the schema file is not JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(value)) throw new Error(`${path}: a JSON schema must be a JSON object`);
  const wrapped = isPlainObject(value.schema) && (typeof value.name === 'string' || value.strict !== undefined);
  const schema = wrapped ? (value.schema as Record<string, unknown>) : value;
  const name = wrapped && typeof value.name === 'string' ? value.name : schemaName(path);
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name)) throw new Error(`${path}: "name" must be 1 to 64 letters, digits, _ or -, got "${name}"`);
  try {
    ajv.compile(schema);
  } catch (e) {
    throw new Error(`${path}: not a valid JSON schema: ${(e as Error).message}`);
  }
  const strict = wrapped && typeof value.strict === 'boolean' ? value.strict : true;
  const description = wrapped && typeof value.description === 'string' ? value.description : undefined;
  return { name, schema, strict, ...(description ? { description } : {}) };
}

/** A format name from a file name: `invoice.schema.json` → `invoice_schema`. */
function schemaName(path: string): string {
  const stem = basename(path).replace(/\.json$/i, '').replace(/[^a-zA-Z0-9_-]+/g, '_').slice(0, 64);
  return stem || 'schema';
}

/** The error code of a record whose answer did not match the JSON schema its request asked for. */
export const SCHEMA_INVALID = 'schema_invalid';

/** What a record says about its answer, besides the body: see {@link answerMarks}. */
export interface AnswerMarks {
  /** For TokenStats (`freshSuccess` / `reusedSuccess`). */
  flags: { truncated: boolean; schemaInvalid: boolean };
  /** The record's `truncated` and `schema_valid` fields, present only when they say something. */
  fields: { truncated?: true; schema_valid?: boolean };
  /** The record's error: `schema_invalid` with the validator's message, or null. */
  error: { code: string; message: string } | null;
}

/**
 * The marks of a successful answer, the same for live runs and Batch API results: cut short by the
 * token limit, and (when the request asked for a JSON schema) whether it matched. An answer that
 * did not match makes the row fail (exit status, Rerun Failed Rows), with the server's body kept.
 */
export function answerMarks(request: LLMRequest, body: unknown): AnswerMarks {
  const truncated = isTruncated(body);
  const check = checkAnswer(request, body);
  return {
    flags: { truncated, schemaInvalid: check?.valid === false },
    fields: { ...(truncated ? { truncated: true as const } : {}), ...(check ? { schema_valid: check.valid } : {}) },
    error: check?.valid === false ? { code: SCHEMA_INVALID, message: check.message } : null,
  };
}
