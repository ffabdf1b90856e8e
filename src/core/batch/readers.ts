/**
 * Entry points for batch input: `readBatch` streams the items of a .txt, .jsonl/.ndjson or .csv
 * file; `countRows` counts its rows quickly for a progress ETA.
 *
 * Invariants: one item per row, in file order; a bad row yields an error item (`<file>:<line>: …`)
 * and reading goes on; a problem with the whole file (unknown type, binary, CSV header) throws on
 * the first `next()`, before any item. Memory stays bounded by the longest line, whatever the file
 * size, apart from the custom_ids kept to catch duplicates.
 */
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import type { EndpointKind, InputItem } from '../types';
import { checkId, IdRegistry, invalidItem, promptItem, type ReaderOptions, type RowContext } from './common';
import { csvItems } from './csv';
import { jsonlItem } from './jsonl';
import { readLines, type TextLine } from './lines';

export type { ReaderOptions } from './common';

/** The input formats, by file extension. */
export type InputFormat = 'txt' | 'jsonl' | 'csv';

const FORMATS: Record<string, InputFormat> = { '.txt': 'txt', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' };

/** The format of an input file by its extension (case-insensitive); throws for any other type. */
export function inputFormat(path: string): InputFormat {
  const ext = extname(path).toLowerCase();
  const format = FORMATS[ext];
  if (format) return format;
  const hint = ext === '.json' ? ' (for a list of requests use .jsonl: one JSON value per line)' : '';
  throw new Error(`${path}: unsupported file type '${ext || '(none)'}'${hint}; supported: ${Object.keys(FORMATS).join(', ')}`);
}

/**
 * Streams the requests of an input file, each with its source line. See the module comment for the
 * error rules; an empty file (or only blank lines, or a CSV header only) yields nothing.
 *
 * @example
 * for await (const item of readBatch('prompts.jsonl', { defaults: { model: 'gpt-4o-mini' } })) {
 *   if (item.kind === 'invalid') report(item.error.message);
 *   else queue.add(item);
 * }
 */
export async function* readBatch(path: string, options: ReaderOptions = {}): AsyncGenerator<InputItem> {
  const format = inputFormat(path);
  const lines = readLines(path, { signal: options.signal, maxLineBytes: options.maxLineBytes });
  if (format === 'csv') {
    yield* csvItems(lines, path, options);
    return;
  }
  const kind: EndpointKind = options.kind ?? 'chat';
  const ids = new IdRegistry();
  for await (const line of lines) {
    if (line.text.trim() === '' && !line.error) continue;
    const ctx: RowContext = { file: path, line: line.line, defaults: options.defaults ?? {}, ids };
    yield format === 'txt' ? txtItem(line, kind, ctx) : lineItem(line, kind, ctx);
  }
}

function txtItem(line: TextLine, kind: EndpointKind, ctx: RowContext): InputItem {
  // No duplicate check: every id here is `line-<n>`, unique by construction.
  if (line.error) return invalidItem(ctx.file, line.line, line.error);
  return promptItem(line.text, { custom_id: `line-${line.line}` }, kind, ctx);
}

function lineItem(line: TextLine, kind: EndpointKind, ctx: RowContext): InputItem {
  if (line.error) return checkId(invalidItem(ctx.file, line.line, line.error), false, ctx);
  return jsonlItem(line.text, kind, ctx);
}

/**
 * Counts the rows `readBatch` would yield an item for: non-blank lines, or for CSV the non-blank
 * records after the header (quoted line breaks understood). It reads bytes without decoding or
 * parsing, so it is much faster than `readBatch`; it is meant for a progress ETA, not validation.
 */
export async function countRows(path: string, options: { signal?: AbortSignal } = {}): Promise<number> {
  const csv = inputFormat(path) === 'csv';
  const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
  let count = 0;
  let content = false; // the current row has a non-blank byte
  let inQuotes = false;
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      let i = 0;
      if (first) {
        first = false;
        if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
      }
      for (; i < chunk.length; i++) {
        const b = chunk[i];
        if (b === 10 && !inQuotes) {
          if (content) count++;
          content = false;
        } else if (b === 34 && csv) {
          inQuotes = !inQuotes;
          content = true;
        } else if (!content && b !== 32 && b !== 9 && b !== 13 && b !== 10) {
          content = true;
        }
      }
    }
  } finally {
    stream.destroy();
  }
  if (content) count++;
  return csv ? Math.max(0, count - 1) : count;
}
