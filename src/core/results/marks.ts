/**
 * What the Results view shows about an answer besides its text: cut short by the token limit, and,
 * for a run that asked for a JSON schema, the answer's parsed top-level fields and whether it
 * matched. Read from the record alone (its `truncated`, `schema_valid` and `error` fields, and the
 * server's body), so old results files without those fields still show their truncation.
 *
 * Everything here is plain text for the page to set with `textContent`: model output is untrusted.
 */
import { answerText, isTruncated } from '../answer';
import { isPlainObject } from '../request';
import { SCHEMA_INVALID } from '../schema';
import type { ResultRecord } from '../types';

/** Longest value text shown for one field (the row detail's Response section has it whole). */
export const FIELD_CHARS = 200;
/** Most fields listed for one answer. */
export const MAX_FIELDS = 50;

/** The marks of one record. */
export interface AnswerMarks {
  /**
   * The token limit cut the answer short: the record's `truncated: true`, or (records written
   * before that field existed) chat `finish_reason: "length"` / Responses `status: "incomplete"`.
   */
  truncated: boolean;
  /** The record's `schema_valid`: null when its request asked for no JSON schema. */
  schemaValid: boolean | null;
  /** The validator's message of a schema-invalid answer, else null. */
  schemaMessage: string | null;
  /**
   * The answer's top-level JSON fields as `[key, value text]`, for a record with `schema_valid`
   * whose answer is a JSON object; null otherwise. A string value is shown as is, others as JSON.
   */
  fields: [string, string][] | null;
  /** The fields as one line of text (`key: value · key: value`), or why there are none; '' without a schema. */
  fieldsText: string;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) + '…' : s);

/** The text of one field's value: a string as is, anything else as compact JSON; clipped. */
export function fieldText(value: unknown): string {
  return clip(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)), FIELD_CHARS);
}

/**
 * The top-level fields of an answer text that is a JSON object, or a reason it has none.
 *
 * @example
 * parseFields('{"name":"Ada","age":36}') // { fields: [['name', 'Ada'], ['age', '36']] }
 * parseFields('not json') // { fields: null, reason: 'not JSON' }
 */
export function parseFields(text: string | undefined): { fields: [string, string][] | null; reason?: string } {
  if (typeof text !== 'string' || text === '') return { fields: null, reason: 'no answer text' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { fields: null, reason: 'not JSON' };
  }
  if (!isPlainObject(value)) return { fields: null, reason: `JSON ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}, not an object` };
  const entries = Object.entries(value);
  const fields = entries.slice(0, MAX_FIELDS).map(([k, v]): [string, string] => [clip(k, FIELD_CHARS), fieldText(v)]);
  if (entries.length > MAX_FIELDS) fields.push(['…', `${entries.length - MAX_FIELDS} more fields`]);
  return { fields };
}

/** The {@link AnswerMarks} of a record; `withFields: false` skips parsing the answer (indexing a big file). */
export function marksOf(record: ResultRecord, withFields = true): AnswerMarks {
  const body = record.response?.body;
  const ok = !!record.response && record.response.status_code < 400;
  const truncated = record.truncated === true || (ok && isTruncated(body));
  const schemaValid = typeof record.schema_valid === 'boolean' ? record.schema_valid : null;
  const schemaMessage = schemaValid === false ? (record.error?.code === SCHEMA_INVALID ? record.error.message : (record.error?.message ?? 'the answer does not match the JSON schema')) : null;
  if (schemaValid === null || !withFields) return { truncated, schemaValid, schemaMessage, fields: null, fieldsText: '' };
  const parsed = ok ? parseFields(answerText(body)) : { fields: null, reason: 'no answer' };
  const fieldsText = parsed.fields ? parsed.fields.map(([k, v]) => `${k}: ${v}`).join(' · ') : `(${parsed.reason})`;
  return { truncated, schemaValid, schemaMessage, fields: parsed.fields, fieldsText };
}
