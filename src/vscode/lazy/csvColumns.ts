import { csvRecords } from '../../core/batch/csv';
import { readLines } from '../../core/batch/lines';

/** The header of a CSV file and what its first rows hold, to offer a prompt template. */
export interface CsvColumns {
  /** Column names, trimmed, in order. */
  names: string[];
  /** True when there is a `prompt` column (then no template is needed). */
  hasPrompt: boolean;
  /** The column that looks most like text to send: see {@link mostTextLike}. Undefined for a header only. */
  textColumn: string | undefined;
}

const SAMPLE_ROWS = 20;
/** Columns the readers give a meaning of their own: never the text of a prompt. */
const SPECIAL = new Set(['custom_id', 'id', 'model', 'system']);

/** Reads the header and up to 20 rows of a CSV file (never the whole file). Throws when it cannot be read. */
export async function csvColumns(file: string): Promise<CsvColumns> {
  let names: string[] | undefined;
  const rows: string[][] = [];
  for await (const record of csvRecords(readLines(file))) {
    if (!names) {
      names = record.fields.map((f) => f.trim());
      continue;
    }
    if (!record.error) rows.push(record.fields);
    if (rows.length >= SAMPLE_ROWS) break;
  }
  names ??= [];
  return { names, hasPrompt: names.some((n) => n.toLowerCase() === 'prompt'), textColumn: mostTextLike(names, rows) };
}

/**
 * The column most like prose: the longest values on average, counting only values with a letter
 * and a space (numbers, dates and ids score nothing), `custom_id`/`model`/`system` left out. With no
 * rows to look at, the first ordinary column.
 */
export function mostTextLike(names: readonly string[], rows: readonly string[][]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  names.forEach((name, i) => {
    if (!name || SPECIAL.has(name.toLowerCase())) return;
    let score = 0;
    for (const row of rows) {
      const v = (row[i] ?? '').trim();
      if (/\p{L}/u.test(v) && /\s/.test(v)) score += v.length;
      else if (/\p{L}/u.test(v)) score += 1;
    }
    if (score > bestScore) {
      best = name;
      bestScore = score;
    }
  });
  return best;
}
