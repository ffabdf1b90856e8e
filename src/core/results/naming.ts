/**
 * How results files are named, read backwards: from `prompts.results.jsonl` (or the results of one
 * model, `prompts.<model>.results.jsonl`) to the input file it came from.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const INPUT_EXTENSIONS = ['.csv', '.jsonl', '.txt', '.ndjson'];

/** A model name as a piece of a file name: `openai/gpt-4o` → `openai-gpt-4o`. */
export function fileSafeModel(model: string): string {
  return model.replace(/[^\w.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'model';
}

/** The results file of one model of a several-model run: `prompts.results.jsonl` → `prompts.<model>.results.jsonl`. */
export function modelResultsPath(out: string, model: string): string {
  const base = out.replace(/\.results\.jsonl$/i, '');
  const stem = base === out ? out.replace(/\.jsonl$/i, '') : base;
  return `${stem}.${fileSafeModel(model)}.results.jsonl`;
}

/**
 * The input files a results file may have come from, most likely first: `<dir>/<name>.<ext>` for
 * `<name>.results.jsonl` (and `<name>.partial.jsonl`), then without a `.<model>` piece.
 */
export function inputCandidates(results: string): string[] {
  const dir = dirname(results);
  const name = basename(results).replace(/\.(results\.jsonl|results\.partial\.jsonl|partial\.jsonl)$/i, '');
  const stems = [name];
  const dot = name.lastIndexOf('.');
  if (dot > 0) stems.push(name.slice(0, dot));
  // A model name may hold dots (gpt-4.1-mini, llama3.2): try every shorter stem.
  for (let i = name.indexOf('.'); i > 0 && i < dot; i = name.indexOf('.', i + 1)) stems.push(name.slice(0, i));
  return [...new Set(stems)].flatMap((s) => INPUT_EXTENSIONS.map((ext) => join(dir, s + ext)));
}

/** The first of {@link inputCandidates} that exists, or undefined. */
export function findInput(results: string): string | undefined {
  return inputCandidates(results).find((f) => existsSync(f));
}

/**
 * The results files of the same input beside `results`, itself included, sorted by name: the
 * `prompts.<model>.results.jsonl` files, and `prompts.results.jsonl` when it is the one opened.
 */
export function siblingResults(results: string, names: readonly string[], input: string | undefined): string[] {
  if (!input) return [results];
  const stem = basename(input).replace(/\.[^.]+$/, '');
  const plain = `${stem}.results.jsonl`.toLowerCase();
  // Opened on one model's file (a several-model run): its companions only, not the plain file of
  // an earlier single run. Opened on the plain file: every model's file beside it.
  const ofModel = basename(results).toLowerCase() !== plain;
  const own = (n: string) => (!ofModel && n.toLowerCase() === plain) || (n.startsWith(`${stem}.`) && n.toLowerCase() !== plain && /\.results\.jsonl$/i.test(n) && !/\.partial\./i.test(n));
  const dir = dirname(results);
  const files = names.filter(own).map((n) => join(dir, n));
  if (!files.includes(results)) files.push(results);
  return files.sort();
}
