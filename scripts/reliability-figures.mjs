#!/usr/bin/env node
/**
 * The figures tables of docs/reliability.md, from what the reliability tests measured.
 *
 *   npm run test:reliability && npm run docs:reliability        renders the tables into the doc
 *   npm run docs:reliability:check                              (in `npm test`) fails when the doc's
 *                                                               deterministic columns differ
 *
 * The tests write out/reliability/<table>.json (test/reliability/figures.ts), one row per test,
 * recorded after the test's assertions passed. Each table sits in the doc between
 * `<!-- figures:<table> … -->` and `<!-- /figures:<table> -->`.
 *
 * Some columns vary from run to run (requests and faults depend on which request the scheduler
 * sends first); the others are fixed by the test (rows, failures, records lost, cache entries).
 * `--check` compares only the fixed ones, so a doc rendered from any passing run stays right until
 * a test or the code changes what it measures; then the check fails and says which row and column.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = join(ROOT, 'docs/reliability.md');
const FIGURES = join(ROOT, 'out/reliability');

const num = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n));
const withNote = (n, note, brackets = true) => (note ? `${num(n)} ${brackets ? `(${note})` : note}` : num(n));

/** Phrases for the "other figures" of the crash table. */
const CRASH_PHRASES = {
  killedAfterRecords: (r) => `killed after ${num(r.killedAfterRecords)} records`,
  sentBeforeKill: (r) => `${num(r.sentBeforeKill)} requests before the kill`,
  rerunRequests: (r) => `${num(r.rerunRequests)} in the rerun`,
  sentAgain: (r) => `${num(r.sentAgain)} rows sent again (at most the concurrency, ${num(r.sentAgainLimit)})`,
  cacheEntries: (r) => `${num(r.cacheEntries)} cache entries`,
};

/**
 * Each table: the row keys the tests record, in the doc's order; its columns, each a header, a
 * cell renderer, `text` for a left-aligned column, and (for the fixed columns) the figure compared
 * by `--check`.
 */
const TABLES = {
  faults: {
    keys: [
      'transient: HTTP 500',
      'transient: HTTP 502',
      'transient: HTTP 503',
      'transient: connection reset',
      'transient: a reply that is not valid JSON',
      'transient: a reply cut in the middle',
      'transient: a server that stalls past the timeout',
      'transient: headers then a stall past the timeout',
      '429 with retry-after-ms',
      '429 with retry-after',
      '429 without retry-after',
      '400 context_length_exceeded',
      '401 mid-run',
      'server away 1 s',
      'stream: cut',
      'stream: bad event',
      'stream: stall',
      'stream: no finish_reason',
    ],
    columns: [
      { head: 'Fault injected', cell: (r) => r.label, text: true },
      { head: 'Rows', cell: (r) => withNote(r.rows, r.rowsNote, false), fixed: 'rows' },
      { head: 'Requests', cell: (r) => num(r.requests) },
      { head: 'Faults injected', cell: (r) => withNote(r.faults, r.faultsNote) },
      { head: 'Failed', cell: (r) => withNote(r.failed, r.failedNote), fixed: 'failed' },
      { head: 'Records lost', cell: (r) => num(r.lost), fixed: 'lost' },
    ],
  },
  crash: {
    keys: ['SIGKILL mid-batch', 'two runs, one cache'],
    columns: [
      { head: 'Case', cell: (r) => r.label, text: true },
      { head: 'Rows', cell: (r) => num(r.rows), fixed: 'rows' },
      { head: 'Requests', cell: (r) => num(r.requests ?? r.sentBeforeKill + r.rerunRequests) },
      {
        head: 'Other figures',
        text: true,
        cell: (r) => Object.keys(CRASH_PHRASES).filter((k) => r[k] !== undefined).map((k) => CRASH_PHRASES[k](r)).join('; ') || '—',
      },
      { head: 'Records lost', cell: (r) => num(r.lost), fixed: 'lost' },
    ],
  },
  input: {
    keys: ['bad input'],
    columns: [
      { head: 'Input files', cell: (r) => num(r.files), fixed: 'files' },
      { head: 'Rows', cell: (r) => num(r.rows), fixed: 'rows' },
      { head: 'Bad rows, each reported with `<file>:<line>:`', cell: (r) => num(r.badRows), fixed: 'badRows' },
      { head: 'Good rows, answered', cell: (r) => num(r.goodRows), fixed: 'goodRows' },
      { head: 'Requests', cell: (r) => num(r.requests), fixed: 'requests' },
      { head: 'Records lost', cell: (r) => num(r.lost), fixed: 'lost' },
    ],
  },
};

function load(table) {
  const file = join(FIGURES, `${table}.json`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run test:reliability\` first`);
  const data = JSON.parse(readFileSync(file, 'utf8'));
  const missing = TABLES[table].keys.filter((k) => !data.rows[k]);
  if (missing.length) {
    throw new Error(`${file} has no figures for ${missing.map((k) => `'${k}'`).join(', ')}: run the whole of \`npm run test:reliability\` (a failed or filtered-out test records none)`);
  }
  return data;
}

const esc = (s) => String(s).replace(/\|/g, '\\|');

function render(table, data) {
  const { keys, columns } = TABLES[table];
  const align = columns.map((c) => (c.text ? '---' : '---:'));
  const lines = [`| ${columns.map((c) => c.head).join(' | ')} |`, `|${align.join('|')}|`];
  for (const k of keys) lines.push(`| ${columns.map((c) => esc(c.cell(data.rows[k]))).join(' | ')} |`);
  return [
    `<!-- figures:${table} (rendered by scripts/reliability-figures.mjs from the test run of ${data.at}, Node ${data.node}; do not edit by hand) -->`,
    ...lines,
    `<!-- /figures:${table} -->`,
  ].join('\n');
}

const section = (table) => new RegExp(`<!-- figures:${table}\\b[^>]*-->[\\s\\S]*?<!-- /figures:${table} -->`);

/** The cells of the doc's table rows, by their first cell. */
function docRows(text) {
  const out = new Map();
  for (const line of text.split('\n').filter((l) => l.startsWith('| ')).slice(1)) {
    const cells = line.slice(2, -2).split(/(?<!\\) \| /).map((c) => c.replace(/\\\|/g, '|'));
    out.set(cells[0], cells);
  }
  return out;
}

function main() {
  const checking = process.argv.includes('--check');
  let doc = readFileSync(DOC, 'utf8');
  const problems = [];
  for (const table of Object.keys(TABLES)) {
    const data = load(table);
    const match = section(table).exec(doc);
    if (!match) throw new Error(`${DOC} has no <!-- figures:${table} --> … <!-- /figures:${table} --> section`);
    if (!checking) {
      doc = doc.replace(section(table), render(table, data));
      continue;
    }
    const { keys, columns } = TABLES[table];
    const rows = docRows(match[0]);
    for (const k of keys) {
      const r = data.rows[k];
      const varies = new Set(String(r.varies ?? '').split(',').filter(Boolean));
      const fresh = columns.map((c) => String(c.cell(r)));
      const shown = rows.get(esc(fresh[0])) ?? rows.get(fresh[0]);
      if (!shown) {
        problems.push(`${table}: no row for '${fresh[0]}'`);
        continue;
      }
      columns.forEach((c, i) => {
        if (!c.fixed || varies.has(c.fixed)) return;
        const lead = (s) => /^[\d,]+/.exec(s ?? '')?.[0] ?? s;
        if (lead(shown[i]) !== lead(fresh[i])) problems.push(`${table}, '${fresh[0]}', ${c.head}: the doc says ${shown[i]}, the tests measured ${fresh[i]}`);
      });
    }
  }
  if (checking) {
    if (problems.length) {
      process.stderr.write(`docs/reliability.md disagrees with what the reliability tests measured:\n  ${problems.join('\n  ')}\nRun \`npm run docs:reliability\` after \`npm run test:reliability\`, and review the diff.\n`);
      process.exit(1);
    }
    process.stdout.write('docs/reliability.md: the fixed figures match the last test run\n');
    return;
  }
  writeFileSync(DOC, doc);
  process.stdout.write(`rendered ${Object.keys(TABLES).join(', ')} into docs/reliability.md\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
