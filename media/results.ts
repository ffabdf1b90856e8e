/**
 * The Results view page: a virtual grid over the rows of a results file, a page at a time from
 * the host (only the rows in view and a margin are in the DOM), filter, search and sort controls,
 * per-model totals, and a detail pane for the selected row. Prompts and answers are untrusted text:
 * they only ever go in through `h()` children (text nodes) or `textContent`.
 *
 * Keyboard: the grid is one tab stop (`aria-activedescendant` names the selected row); arrows,
 * Page Up/Down, Home/End move the selection; Space marks a row for *Rerun Marked*; Enter moves focus
 * to the detail pane. Actions keep the focus where it was.
 */
import { compact, formatCost } from '../src/core/progress';
import { RESULTS_IDS, type ResultsHostMessage, type ResultsMeta, type ResultsPageMessage, type RowDetail, type RowFilter, type RowView, type SortKey } from '../src/webview/resultsProtocol';
import { byId, h, vscodeApi, whenFocused } from './common';

interface State {
  selected: number;
  scrollTop: number;
}

const api = vscodeApi<State>();
const post = (m: ResultsPageMessage) => api.postMessage(m);
const testid = (id: string) => ({ id, 'data-testid': id });

const ROW_H = 44;
const BLOCK = 100;
const MARGIN = 20;

let meta: ResultsMeta | undefined;
let generation = -1;
const rows = new Map<number, RowView>();
const requested = new Set<number>();
let selected = api.getState()?.selected ?? 0;
/**
 * The row the user chose. `selected` is it, within the rows shown: a rewrite of the file (a rerun)
 * may show fewer rows for a moment, and the choice must not be lost to that.
 */
let wanted = selected;
const marked = new Set<number>();
let detailFor = -1;
/**
 * The control of the detail pane that has the keyboard (its data-testid), kept while the pane is
 * drawn anew: a rerun rewrites the file, and for a moment the view may show its partial file, without
 * the row (the pane says "No rows yet.", or another row's detail). When the row's detail comes back,
 * so does the focus. Cleared when the user puts the focus, or clicks, outside the pane.
 */
let paneFocus: string | undefined;

const FILTERS: { value: RowFilter; label: string }[] = [
  { value: 'all', label: 'All rows' },
  { value: 'failed', label: 'Failed' },
  { value: 'cached', label: 'From the cache' },
  { value: 'changed', label: 'Changed since the last run' },
];
const SORTS: { value: SortKey; label: string }[] = [
  { value: 'line', label: 'Input order' },
  { value: 'latency', label: 'Latency' },
  { value: 'tokens', label: 'Tokens' },
  { value: 'cost', label: 'Cost' },
];

interface Column {
  key: string;
  label: string;
  width: string;
  sort?: SortKey;
  cell(r: RowView): HTMLElement;
}

const num = (n: number) => n.toLocaleString('en-US');
const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

function cell(key: string, text: string, extra: Record<string, string> = {}): HTMLElement {
  const el = h('div', { role: 'gridcell', class: `cell ${key}`, 'data-col': key, ...extra }, text);
  el.title = text.length > 80 ? text.slice(0, 2000) : '';
  return el;
}

function columns(m: ResultsMeta): Column[] {
  const many = m.models.length > 1;
  const cols: Column[] = [
    { key: 'line', label: 'Line', width: '4.5em', cell: (r) => cell('line', String(r.line), { class: 'cell line num' }) },
    { key: 'id', label: 'custom_id', width: '8em', cell: (r) => cell('id', r.custom_id) },
    { key: 'prompt', label: 'Prompt', width: 'minmax(10em, 1fr)', cell: (r) => cell('prompt', r.prompt) },
    {
      key: 'answer',
      label: many ? `Answer: ${m.models[0]!.label}` : 'Answer',
      width: 'minmax(12em, 1.4fr)',
      cell: (r) => {
        const el = cell('answer', r.answer);
        if (!r.ok) el.classList.add('failed');
        if (r.differs) el.classList.add('differs');
        if (r.changed) el.append(h('span', { class: 'tag' }, 'changed'));
        if (r.truncated) el.prepend(h('span', { class: 'tag truncated', 'data-testid': 'results-truncated', title: 'Cut short by the token limit (finish_reason "length", or Responses status "incomplete")' }, 'truncated'));
        return el;
      },
    },
  ];
  if (m.hasSchema) {
    // The answer's top-level JSON fields (a run with a JSON schema); an invalid answer says why.
    cols.push({
      key: 'fields',
      label: 'Fields',
      width: 'minmax(10em, 1fr)',
      cell: (r) => {
        const el = cell('fields', r.fields);
        if (r.schemaValid === false) {
          el.classList.add('failed');
          el.prepend(h('span', { class: 'tag invalid', 'data-testid': 'results-schema-invalid', title: r.schemaMessage ?? '' }, 'schema invalid'));
          if (r.schemaMessage) el.title = r.schemaMessage;
        }
        return el;
      },
    });
  }
  m.models.slice(1).forEach((model, i) => {
    cols.push({
      key: `answer-${i + 1}`,
      label: `Answer: ${model.label}`,
      width: 'minmax(12em, 1.4fr)',
      cell: (r) => {
        const other = r.others[i] ?? null;
        const el = cell(`answer-${i + 1}`, other ? other.answer : 'no record', { 'data-testid': 'results-model-answer' });
        if (!other) el.classList.add('absent');
        else if (!other.ok) el.classList.add('failed');
        if (other && other.answer !== r.answer) {
          el.classList.add('differs');
          el.prepend(h('span', { class: 'tag' }, 'differs'));
        }
        return el;
      },
    });
  });
  cols.push(
    {
      key: 'status',
      label: 'Status',
      width: '7em',
      cell: (r) => cell('status', r.status, { class: `cell status ${r.ok ? 'ok' : 'bad'}` }),
    },
    { key: 'cached', label: 'Cached', width: '5.5em', cell: (r) => cell('cached', r.cached ? 'yes' : '') },
    { key: 'attempts', label: 'Tries', width: '3.5em', cell: (r) => cell('attempts', String(r.attempts), { class: 'cell attempts num' }) },
    { key: 'latency', label: 'Latency', width: '5.5em', sort: 'latency', cell: (r) => cell('latency', ms(r.latency_ms), { class: 'cell latency num' }) },
    { key: 'tokens', label: 'Tokens in/out', width: '7.5em', sort: 'tokens', cell: (r) => cell('tokens', `${compact(r.promptTokens)} / ${compact(r.completionTokens)}`, { class: 'cell tokens num' }) },
    { key: 'cost', label: 'Cost', width: '6em', sort: 'cost', cell: (r) => cell('cost', r.cost ? formatCost(r.cost) : '—', { class: 'cell cost num' }) },
  );
  return cols;
}

let cols: Column[] = [];

function build(): void {
  const filter = h('select', { ...testid(RESULTS_IDS.filter), 'aria-label': 'Show' });
  for (const f of FILTERS) filter.append(h('option', { value: f.value }, f.label));
  const sort = h('select', { ...testid(RESULTS_IDS.sort), 'aria-label': 'Sort by' });
  for (const s of SORTS) sort.append(h('option', { value: s.value }, s.label));
  const desc = h('input', { type: 'checkbox', id: 'results-desc', 'data-testid': 'results-desc' });
  const search = h('input', { type: 'search', ...testid(RESULTS_IDS.search), placeholder: 'Search prompts, answers, ids, errors', 'aria-label': 'Search' });
  const root = byId(RESULTS_IDS.root);
  root.append(
    h(
      'header',
      { class: 'toolbar' },
      h('h1', { ...testid(RESULTS_IDS.title) }, 'Results'),
      h('span', { ...testid(RESULTS_IDS.status), class: 'badge' }),
      h('span', { class: 'spacer' }),
      h('label', {}, 'Show ', filter),
      search,
      h('label', {}, 'Sort ', sort),
      h('label', { class: 'check' }, desc, ' largest first'),
    ),
    h(
      'div',
      { class: 'toolbar actions' },
      h('button', { id: 'results-rerun-marked', 'data-testid': 'results-rerun-marked', class: 'secondary', title: 'Run the marked rows (Space marks a row) or, with none marked, every row shown, again' }, 'Rerun Shown Rows'),
      h('button', { id: 'results-export', 'data-testid': 'results-export', class: 'secondary', title: 'Write the rows shown to a new CSV file: input columns, answer, error, tokens' }, 'Export CSV'),
      h('button', { id: 'results-write-answers', 'data-testid': 'results-write-answers', class: 'secondary', hidden: true, title: 'Write a copy of the CSV input with the answers as a new column' }, 'Write Answers as a Column'),
      h('span', { ...testid(RESULTS_IDS.notice), class: 'muted', role: 'status', 'aria-live': 'polite' }),
    ),
    h('div', { ...testid(RESULTS_IDS.totals), class: 'totals' }),
    h(
      'div',
      { ...testid(RESULTS_IDS.grid), class: 'grid', role: 'grid', 'aria-label': 'Results', 'aria-multiselectable': 'true', tabindex: 0 },
      h('div', { class: 'head', role: 'rowgroup' }, h('div', { id: 'results-head', class: 'row header', role: 'row', 'aria-rowindex': 1 })),
      h('div', { id: 'results-scroll', class: 'scroll', role: 'rowgroup' }, h('div', { id: 'results-spacer', class: 'spacer-rows' })),
    ),
    h('section', { ...testid(RESULTS_IDS.detail), class: 'detail', role: 'region', 'aria-label': 'Row detail', tabindex: -1 }, h('p', { class: 'muted' }, 'Select a row to see its request and response.')),
  );
  const sendQuery = () => post({ type: 'query', filter: filter.value as RowFilter, search: search.value, sort: sort.value as SortKey, desc: desc.checked });
  filter.addEventListener('change', sendQuery);
  sort.addEventListener('change', sendQuery);
  desc.addEventListener('change', sendQuery);
  let timer: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(sendQuery, 250);
  });
  byId('results-rerun-marked').addEventListener('click', () => post({ type: 'action', action: 'rerunRows', positions: [...marked].sort((a, b) => a - b) }));
  byId('results-export').addEventListener('click', () => post({ type: 'action', action: 'exportCsv', positions: [] }));
  byId('results-write-answers').addEventListener('click', () => post({ type: 'action', action: 'writeAnswers', positions: [] }));
  const grid = byId(RESULTS_IDS.grid);
  grid.addEventListener('keydown', onKey);
  const pane = byId(RESULTS_IDS.detail);
  document.addEventListener('focusin', (e) => {
    const target = e.target as HTMLElement;
    if (target !== pane) paneFocus = pane.contains(target) ? target.dataset.testid : undefined;
  });
  document.addEventListener('pointerdown', (e) => {
    if (!pane.contains(e.target as Node)) paneFocus = undefined;
  });
  const scroll = byId('results-scroll');
  scroll.addEventListener('scroll', () => {
    render();
    api.setState({ selected, scrollTop: scroll.scrollTop });
  });
  scroll.addEventListener('click', (e) => {
    const row = (e.target as HTMLElement).closest<HTMLElement>('[data-position]');
    if (!row) return;
    select(Number(row.dataset.position), false);
    grid.focus();
  });
}

function onKey(e: KeyboardEvent): void {
  if (!meta) return;
  const scroll = byId('results-scroll');
  const pageRows = Math.max(1, Math.floor(scroll.clientHeight / ROW_H) - 1);
  const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: pageRows, PageUp: -pageRows, Home: -Infinity, End: Infinity };
  if (e.key in moves) {
    e.preventDefault();
    select(Math.max(0, Math.min(meta.count - 1, selected + moves[e.key]!)), true);
  } else if (e.key === ' ') {
    e.preventDefault();
    if (marked.has(selected)) marked.delete(selected);
    else marked.add(selected);
    render();
  } else if (e.key === 'Enter') {
    e.preventDefault();
    byId(RESULTS_IDS.detail).focus();
  }
}

function select(position: number, reveal: boolean): void {
  if (!meta || meta.count === 0) return;
  selected = position;
  wanted = position;
  const scroll = byId('results-scroll');
  if (reveal) {
    const top = position * ROW_H;
    if (top < scroll.scrollTop) scroll.scrollTop = top;
    else if (top + ROW_H > scroll.scrollTop + scroll.clientHeight) scroll.scrollTop = top + ROW_H - scroll.clientHeight;
  }
  render();
  askDetail();
  api.setState({ selected, scrollTop: scroll.scrollTop });
}

function askDetail(): void {
  if (!meta || selected >= meta.count) return;
  detailFor = selected;
  post({ type: 'detail', position: selected });
}

/** Draws the rows in view (and a margin) from the rows received; asks for the blocks missing. */
function render(): void {
  if (!meta) return;
  const scroll = byId('results-scroll');
  const spacer = byId('results-spacer');
  const first = Math.max(0, Math.floor(scroll.scrollTop / ROW_H) - MARGIN);
  const last = Math.min(meta.count - 1, Math.ceil((scroll.scrollTop + scroll.clientHeight) / ROW_H) + MARGIN);
  for (let b = Math.floor(first / BLOCK) * BLOCK; b <= last; b += BLOCK) {
    if (!requested.has(b)) {
      requested.add(b);
      post({ type: 'page', start: b, count: BLOCK });
    }
  }
  const template = cols.map((c) => c.width).join(' ');
  const children: HTMLElement[] = [];
  for (let p = first; p <= last; p++) {
    const r = rows.get(p);
    const attrs = {
      id: `results-row-${p}`,
      role: 'row',
      class: `row${p === selected ? ' selected' : ''}${marked.has(p) ? ' marked' : ''}`,
      'aria-rowindex': p + 2,
      'aria-selected': p === selected || marked.has(p) ? 'true' : 'false',
      'data-position': p,
      'data-testid': 'results-row',
      style: '',
    };
    const row = r ? h('div', attrs, ...cols.map((c) => c.cell(r))) : h('div', { ...attrs, 'data-testid': 'results-row-loading' }, h('div', { role: 'gridcell', class: 'cell muted' }, 'Loading…'));
    row.style.top = `${p * ROW_H}px`;
    row.style.gridTemplateColumns = template;
    if (r && !r.ok) row.dataset.failed = 'true';
    children.push(row);
  }
  spacer.replaceChildren(...children);
  const grid = byId(RESULTS_IDS.grid);
  if (meta.count > 0 && selected < meta.count) grid.setAttribute('aria-activedescendant', `results-row-${selected}`);
  else grid.removeAttribute('aria-activedescendant');
}

function onMeta(m: ResultsMeta, gen: number): void {
  const changedColumns = !meta || meta.hasSchema !== m.hasSchema || meta.models.length !== m.models.length || meta.models.some((x, i) => x.label !== m.models[i]!.label);
  meta = m;
  generation = gen;
  rows.clear();
  requested.clear();
  for (const p of [...marked]) if (p >= m.count) marked.delete(p);
  if (changedColumns) {
    cols = columns(m);
    const head = byId('results-head');
    head.style.gridTemplateColumns = cols.map((c) => c.width).join(' ');
    head.replaceChildren(
      ...cols.map((c) => {
        const sorted = c.sort && m.query.sort === c.sort;
        return h('div', { role: 'columnheader', class: `cell ${c.key}`, 'aria-sort': sorted ? (m.query.desc ? 'descending' : 'ascending') : c.sort ? 'none' : undefined }, c.label);
      }),
    );
  }
  byId(RESULTS_IDS.title).textContent = m.title;
  const status = byId(RESULTS_IDS.status);
  status.textContent = m.partial ? 'run in progress or stopped: showing its partial results' : m.indexing ? 'reading the file…' : '';
  const grid = byId(RESULTS_IDS.grid);
  grid.setAttribute('aria-rowcount', String(m.count + 1));
  grid.setAttribute('aria-colcount', String(cols.length));
  grid.dataset.count = String(m.count);
  (byId<HTMLSelectElement>(RESULTS_IDS.filter)).value = m.query.filter;
  (byId<HTMLSelectElement>(RESULTS_IDS.sort)).value = m.query.sort;
  (byId<HTMLInputElement>('results-desc')).checked = m.query.desc;
  const search = byId<HTMLInputElement>(RESULTS_IDS.search);
  if (document.activeElement !== search) search.value = m.query.search;
  const changedOption = byId<HTMLSelectElement>(RESULTS_IDS.filter).querySelector<HTMLOptionElement>('option[value="changed"]');
  if (changedOption) changedOption.disabled = !m.hasBaseline && m.query.filter !== 'changed';
  byId('results-write-answers').hidden = !m.csvInput;
  renderTotals(m);
  byId('results-spacer').style.height = `${m.count * ROW_H}px`;
  selected = Math.min(wanted, Math.max(0, m.count - 1));
  render();
  if (m.count === 0) {
    replaceDetail(h('p', { class: 'muted' }, m.rows === 0 ? 'No rows yet.' : 'No row matches.'));
    detailFor = -1;
  } else askDetail();
}

function renderTotals(m: ResultsMeta): void {
  const head = h('tr', {}, ...['Model', 'Rows', 'Failed', 'Cached', 'Tokens in', 'Tokens out', 'Cost', 'Latency p50', 'p95', 'p99'].map((t) => h('th', { scope: 'col' }, t)));
  const body = m.models.map((model) =>
    h(
      'tr',
      { 'data-testid': 'results-model-totals' },
      h('th', { scope: 'row' }, model.label),
      h('td', { class: 'num' }, num(model.totals.rows)),
      h('td', { class: 'num', 'data-testid': 'results-failed-count' }, num(model.totals.failed)),
      h('td', { class: 'num' }, num(model.totals.cached)),
      h('td', { class: 'num' }, compact(model.totals.promptTokens)),
      h('td', { class: 'num' }, compact(model.totals.completionTokens)),
      h('td', { class: 'num' }, model.totals.cost ? formatCost(model.totals.cost) : '—'),
      h('td', { class: 'num' }, model.totals.p50 === null ? '—' : ms(model.totals.p50)),
      h('td', { class: 'num' }, model.totals.p95 === null ? '—' : ms(model.totals.p95)),
      h('td', { class: 'num' }, model.totals.p99 === null ? '—' : ms(model.totals.p99)),
    ),
  );
  const first = m.models[0]?.totals;
  const marks = [
    first?.truncated ? `${num(first.truncated)} truncated by the token limit` : '',
    first?.schemaRows ? `${num(first.schemaRows - first.schemaInvalid)} of ${num(first.schemaRows)} match the JSON schema` : '',
  ].filter(Boolean);
  const shown = h(
    'p',
    { class: 'muted', 'data-testid': 'results-shown' },
    `${num(m.count)} of ${num(m.rows)} rows shown${m.input ? ` · prompts from ${m.input.split(/[\\/]/).pop()}` : ' · input file not found: prompts not shown'}${marks.map((x) => ` · ${x}`).join('')}`,
  );
  byId(RESULTS_IDS.totals).replaceChildren(h('table', { class: 'model-totals' }, h('thead', {}, head), h('tbody', {}, ...body)), shown);
}

function section(title: string, text: string, id: string): HTMLElement {
  return h('div', { class: 'part' }, h('h3', {}, title), h('pre', { 'data-testid': id }, text));
}

/**
 * Draws the detail pane anew. The focus goes back to the control that had it (see {@link paneFocus}):
 * at once while the page has the keyboard, else when it gets it back (a view redrawn behind the
 * palette or another editor must not take the focus to itself).
 */
function replaceDetail(...children: HTMLElement[]): void {
  const pane = byId(RESULTS_IDS.detail);
  pane.replaceChildren(...children);
  if (!paneFocus) return;
  whenFocused(pane, () => {
    if (paneFocus) (pane.querySelector<HTMLElement>(`[data-testid="${paneFocus}"]`) ?? pane).focus();
  });
}

function renderDetail(d: RowDetail): void {
  if (d.position !== detailFor) return;
  const facts = [
    d.ok ? 'ok' : `error ${d.error?.code ?? ''}`,
    d.truncated ? 'truncated: cut short by the token limit' : '',
    d.schemaValid === true ? 'matches the JSON schema' : d.schemaValid === false ? 'does not match the JSON schema' : '',
    d.cached ? 'from the cache' : `${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`,
    ms(d.latency_ms),
    `${num(d.promptTokens)} in / ${num(d.completionTokens)} out`,
    d.cost ? formatCost(d.cost) : '',
    d.model ?? '',
  ].filter(Boolean);
  const action = (label: string, act: 'rerun' | 'copy' | 'openInput', title: string) => {
    const b = h('button', { class: 'secondary', 'data-testid': `results-detail-${act}`, title }, label);
    b.addEventListener('click', () => post({ type: 'action', action: act, positions: [d.position] }));
    return b;
  };
  replaceDetail(
    h('h2', { 'data-testid': 'results-detail-title' }, `Line ${d.line} · ${d.custom_id}`),
    h('p', { class: 'muted', 'data-testid': 'results-detail-facts' }, facts.join(' · ')),
    h(
      'div',
      { class: 'toolbar' },
      action('Rerun This Row', 'rerun', 'Ask the server again (not the cache) and replace this row in the results file'),
      action('Copy Answer', 'copy', 'Copy the whole answer to the clipboard'),
      action('Go to Input Line', 'openInput', 'Open the input file at this row'),
    ),
    section('Prompt', d.prompt, 'results-detail-prompt'),
    section(d.ok ? 'Answer' : 'Answer (failed)', d.answer, 'results-detail-answer'),
    ...d.others.map((o) => section(`Answer: ${o.label}`, o.answer ?? 'no record', 'results-detail-other')),
    ...(d.schemaValid !== null ? [section('Fields', d.fields ? d.fields.map(([k, v]) => `${k}: ${v}`).join('\n') : d.fieldsText, 'results-detail-fields')] : []),
    ...(d.error ? [section('Error', `${d.error.code}: ${d.error.message}`, 'results-detail-error')] : []),
    ...(d.serverMessage ? [section('Server message', d.serverMessage, 'results-detail-server')] : []),
    section('Request', d.request, 'results-detail-request'),
    section('Response', d.response, 'results-detail-response'),
  );
}

build();
window.addEventListener('message', (event: MessageEvent<ResultsHostMessage>) => {
  const msg = event.data;
  if (msg?.type === 'meta') onMeta(msg.meta, msg.generation);
  else if (msg?.type === 'page') {
    if (msg.generation !== generation) return;
    msg.rows.forEach((r) => rows.set(r.position, r));
    render();
  } else if (msg?.type === 'detail') renderDetail(msg.detail);
  else if (msg?.type === 'notice') byId(RESULTS_IDS.notice).textContent = msg.text;
});
const saved = api.getState();
if (saved) byId('results-scroll').scrollTop = saved.scrollTop;
post({ type: 'ready' });
