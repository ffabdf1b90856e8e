/**
 * `fastllm compare A.results.jsonl B.results.jsonl [--out DIFF.jsonl] [--json] [--tolerance X]`
 *
 * Prints the summary (counts, tokens and cost per side) and, with `--out`, writes every differing
 * row as one JSON line `{custom_id, kind, line, line_a, line_b, answer_a, answer_b}`.
 * Exit status: 0 identical, 1 some rows differ, 2 usage error or a file that cannot be read.
 */
import { createWriteStream, existsSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { compareResults, type CompareSummary, type DiffRow, type SideTotals } from '../core/compare';
import type { PriceTable } from '../core/pricing';
import { compact, formatCost } from '../core/progress';

export const COMPARE_USAGE = `  fastllm compare A.results.jsonl B.results.jsonl [--out DIFF.jsonl] [--json] [--tolerance X] [--prices FILE]`;

const HELP = `Usage:
${COMPARE_USAGE}

Joins the rows of two results files by custom_id (by line for rows without one) and compares their
answers: the text of choices[].message.content, embedding vectors within --tolerance (default 1e-6),
or the error of a failed row.

  --out FILE        write every differing row as JSON lines (custom_id, kind, line, answer_a, answer_b)
  --json            print the summary as JSON on stdout
  --tolerance X     largest difference between embedding components that counts as equal
  --prices FILE     JSON price table {"model": {"input": $/1M, "output": $/1M}} for the cost totals

Exit status: 0 the answers are identical, 1 some rows differ, 2 usage error or unreadable file.`;

/** Rows named on stderr when there is no --out. */
const SHOWN_ROWS = 10;

const KIND_LABEL: Record<DiffRow['kind'], string> = { differ: 'differs', failed: 'failed', onlyA: 'only in A', onlyB: 'only in B' };

/** The summary as text, one line per side and one of counts. */
export function compareSummaryText(s: CompareSummary): string {
  const side = (name: string, t: SideTotals) =>
    `${name}: ${t.path}: ${t.rows} rows (${t.succeeded} ok, ${t.failed} failed, ${t.cached} cached)` +
    `${t.models.length ? `, ${t.models.join(', ')}` : ''}, ${compact(t.totalTokens)} tokens (${compact(t.promptTokens)} in, ${compact(t.completionTokens)} out), ${formatCost(t.cost)}`;
  return [
    side('A', s.a),
    side('B', s.b),
    `same ${s.same}, differ ${s.differ}, only in A ${s.onlyA}, only in B ${s.onlyB}, failed on either side ${s.failed}: ` +
      (s.identical ? 'identical' : `${s.differing} row${s.differing === 1 ? '' : 's'} differ`),
  ].join('\n');
}

/** One line of the --out file. */
export function diffLine(row: DiffRow): string {
  return JSON.stringify({ custom_id: row.custom_id, kind: row.kind, line: row.lineA ?? row.lineB, line_a: row.lineA, line_b: row.lineB, answer_a: row.a, answer_b: row.b }) + '\n';
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
  if (positionals.length !== 2) return fail('takes two results files: fastllm compare A.results.jsonl B.results.jsonl');
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
  if (values.out) {
    out = createWriteStream(values.out);
    try {
      await once(out, 'open');
    } catch (e) {
      return fail(`--out ${values.out}: ${(e as Error).message}`);
    }
  }
  const writeRow = async (row: DiffRow) => {
    if (out && !out.write(diffLine(row))) await once(out, 'drain');
  };
  let summary: CompareSummary;
  try {
    summary = await compareResults(positionals[0]!, positionals[1]!, { tolerance, prices, onRow: writeRow, maxRows: SHOWN_ROWS });
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

  if (values.json) {
    const { rows: _rows, truncated: _t, ...rest } = summary;
    process.stdout.write(`${JSON.stringify({ ...rest, out: values.out ?? null })}\n`);
  } else {
    process.stdout.write(`${compareSummaryText(summary)}\n`);
    if (values.out) process.stdout.write(`${summary.differing} differing row${summary.differing === 1 ? '' : 's'} written to ${values.out}\n`);
    else {
      for (const r of summary.rows) process.stdout.write(`  ${r.custom_id} (line ${r.lineA ?? r.lineB}, ${KIND_LABEL[r.kind]}): ${preview(r.a)} → ${preview(r.b)}\n`);
      if (summary.truncated) process.stdout.write(`  … and ${summary.differing - summary.rows.length} more (write them all with --out FILE)\n`);
    }
  }
  return summary.identical ? 0 : 1;
}
