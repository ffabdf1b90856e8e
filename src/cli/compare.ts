/**
 * `fastllm compare A.results.jsonl B.results.jsonl [C.results.jsonl …] [--out DIFF.jsonl] [--json] [--tolerance X]`
 *
 * Prints the summary (counts, tokens and cost per side) and, with `--out`, writes every differing
 * row as one JSON line `{custom_id, kind, line, line_a, line_b, answer_a, answer_b}`. With more
 * than two files the first is the baseline: each other file is compared with it, and each --out
 * line also names that file (`file_b`).
 * Exit status: 0 identical, 1 some rows differ, 2 usage error or a file that cannot be read.
 */
import { createWriteStream, existsSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { sameFile } from '../core/batch/paths';
import { compareResults, type CompareSummary, type DiffRow, type SideTotals } from '../core/compare';
import type { PriceTable } from '../core/pricing';
import { compact, formatCost } from '../core/progress';

export const COMPARE_USAGE = `  fastllm compare A.results.jsonl B.results.jsonl [C.results.jsonl …] [--out DIFF.jsonl] [--json] [--tolerance X] [--prices FILE]`;

const HELP = `Usage:
${COMPARE_USAGE}

Joins the rows of two results files by custom_id (by line for rows without one) and compares their
answers: the text of choices[].message.content, embedding vectors within --tolerance (default 1e-6),
or the error of a failed row. Given more than two files (one per model, say), compares each of the
others with the first.

  --out FILE        write every differing row as JSON lines (custom_id, kind, line, answer_a, answer_b;
                    with more than two files also file_b, the file compared with the first)
  --json            print the summary as JSON on stdout
  --tolerance X     largest difference between embedding components that counts as equal
  --prices FILE     JSON price table {"model": {"input": $/1M, "output": $/1M}} for the cost totals

Exit status: 0 the answers are identical, 1 some rows differ, 2 usage error or unreadable file.`;

/** Rows named on stderr when there is no --out. */
const SHOWN_ROWS = 10;

const KIND_LABEL: Record<DiffRow['kind'], string> = { differ: 'differs', failed: 'failed', onlyA: 'only in A', onlyB: 'only in B' };

/** The summary as text, one line per side and one of counts. */
export function compareSummaryText(s: CompareSummary): string {
  return [sideText('A', s.a), sideText('B', s.b), countsText(s)].join('\n');
}

function sideText(name: string, t: SideTotals): string {
  return (
    `${name}: ${t.path}: ${t.rows} rows (${t.succeeded} ok, ${t.failed} failed, ${t.cached} cached)` +
    `${t.models.length ? `, ${t.models.join(', ')}` : ''}, ${compact(t.totalTokens)} tokens (${compact(t.promptTokens)} in, ${compact(t.completionTokens)} out), ${formatCost(t.cost)}`
  );
}

function countsText(s: CompareSummary): string {
  return (
    `same ${s.same}, differ ${s.differ}, only in A ${s.onlyA}, only in B ${s.onlyB}, failed on either side ${s.failed}: ` +
    (s.identical ? 'identical' : `${s.differing} row${s.differing === 1 ? '' : 's'} differ`)
  );
}

/**
 * The summary of several files compared with the first: one line per file (the first is the
 * baseline), then one line of counts for each other file against it.
 */
export function compareManyText(summaries: CompareSummary[]): string {
  const letter = (i: number) => (i < 26 ? String.fromCharCode(65 + i) : `#${i + 1}`);
  const lines = [sideText(letter(0), summaries[0]!.a) + ' (baseline)'];
  summaries.forEach((s, i) => lines.push(sideText(letter(i + 1), s.b)));
  summaries.forEach((s, i) => lines.push(`A vs ${letter(i + 1)}: ${countsText(s)}`));
  return lines.join('\n');
}

/** One line of the --out file; `fileB` names the file compared with the first when there are more than two. */
export function diffLine(row: DiffRow, fileB?: string): string {
  const line = { custom_id: row.custom_id, kind: row.kind, line: row.lineA ?? row.lineB, line_a: row.lineA, line_b: row.lineB, answer_a: row.a, answer_b: row.b };
  return JSON.stringify(fileB === undefined ? line : { ...line, file_b: fileB }) + '\n';
}

function preview(text: string | null): string {
  if (text === null) return '—';
  const one = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(one.length > 60 ? `${one.slice(0, 57)}...` : one);
}

/** Runs `fastllm compare`; returns the exit status. Usage errors are printed here. */
export async function cmdCompare(argv: string[]): Promise<number> {
  const fail = (message: string) => {
    process.stderr.write(`fastllm compare: ${message}\n`);
    return 2;
  };
  let values: { out?: string; json?: boolean; tolerance?: string; prices?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { out: { type: 'string' }, json: { type: 'boolean' }, tolerance: { type: 'string' }, prices: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (positionals.length < 2) return fail('takes two or more results files: fastllm compare A.results.jsonl B.results.jsonl [C.results.jsonl …]');
  for (const f of positionals) if (!existsSync(f) || !statSync(f).isFile()) return fail(`${f}: no such file`);
  let tolerance: number | undefined;
  if (values.tolerance !== undefined) {
    tolerance = Number(values.tolerance);
    if (!Number.isFinite(tolerance) || tolerance < 0) return fail(`--tolerance takes a number ≥ 0, not "${values.tolerance}"`);
  }
  let prices: PriceTable | undefined;
  if (values.prices) {
    try {
      prices = JSON.parse(readFileSync(values.prices, 'utf8')) as PriceTable;
    } catch (e) {
      return fail(`--prices ${values.prices}: ${(e as Error).message}`);
    }
  }

  let out: WriteStream | undefined;
  for (const f of positionals) {
    // Opening --out truncates it: it must not be one of the files being compared.
    if (values.out && (await sameFile(values.out, f))) return fail(`--out ${values.out} is ${f}, one of the files to compare; choose another file`);
  }
  if (values.out) {
    out = createWriteStream(values.out);
    try {
      await once(out, 'open');
    } catch (e) {
      return fail(`--out ${values.out}: ${(e as Error).message}`);
    }
  }
  const many = positionals.length > 2;
  const summaries: CompareSummary[] = [];
  try {
    // The first file is the baseline; each other is compared with it in turn (streamed each time).
    for (const other of positionals.slice(1)) {
      const writeRow = async (row: DiffRow) => {
        if (out && !out.write(diffLine(row, many ? other : undefined))) await once(out, 'drain');
      };
      summaries.push(await compareResults(positionals[0]!, other, { tolerance, prices, onRow: writeRow, maxRows: SHOWN_ROWS }));
    }
  } catch (e) {
    out?.destroy();
    // `<file>:<line>: …` from the reader, or the file system's message (which names the path).
    return fail((e as Error).message);
  } finally {
    if (out && !out.destroyed) {
      out.end();
      await finished(out);
    }
  }

  const differing = summaries.reduce((n, s) => n + s.differing, 0);
  if (values.json) {
    const strip = ({ rows: _rows, truncated: _t, ...rest }: CompareSummary) => rest;
    const json = many ? { baseline: positionals[0], comparisons: summaries.map(strip), differing, identical: differing === 0 } : strip(summaries[0]!);
    process.stdout.write(`${JSON.stringify({ ...json, out: values.out ?? null })}\n`);
  } else {
    process.stdout.write(`${many ? compareManyText(summaries) : compareSummaryText(summaries[0]!)}\n`);
    if (values.out) process.stdout.write(`${differing} differing row${differing === 1 ? '' : 's'} written to ${values.out}\n`);
    else {
      for (const summary of summaries) {
        if (many && summary.differing > 0) process.stdout.write(`${summary.b.path}:\n`);
        for (const r of summary.rows) process.stdout.write(`  ${r.custom_id} (line ${r.lineA ?? r.lineB}, ${KIND_LABEL[r.kind]}): ${preview(r.a)} → ${preview(r.b)}\n`);
        if (summary.truncated) process.stdout.write(`  … and ${summary.differing - summary.rows.length} more (write them all with --out FILE)\n`);
      }
    }
  }
  return differing === 0 ? 0 : 1;
}
