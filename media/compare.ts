/**
 * The Compare page: the counts of two results files, token and cost totals per side, and the rows
 * whose answers differ; clicking a row (or Enter on it) asks the host to open its diff. Answers
 * are untrusted text: they only ever go in through `h()` children (text nodes) or `textContent`.
 */
import { compact, formatCost } from '../src/core/progress';
import { COMPARE_IDS, type CompareHostMessage, type ComparePageMessage, type CompareView, type DiffKind, type SideTotals } from '../src/webview/compareProtocol';
import { byId, h, redrawKeepingFocus, vscodeApi } from './common';

const api = vscodeApi<CompareView>();
const post = (m: ComparePageMessage) => api.postMessage(m);
const testid = (id: string) => ({ id, 'data-testid': id });

const COUNTS: { key: 'same' | 'differ' | 'onlyA' | 'onlyB' | 'failed'; label: string }[] = [
  { key: 'same', label: 'Same' },
  { key: 'differ', label: 'Differ' },
  { key: 'onlyA', label: 'Only in A' },
  { key: 'onlyB', label: 'Only in B' },
  { key: 'failed', label: 'Failed on either side' },
];

const SIDE_ROWS: { key: string; label: string; value(t: SideTotals): [string, number] | string }[] = [
  { key: 'rows', label: 'Rows', value: (t) => [t.rows.toLocaleString('en-US'), t.rows] },
  { key: 'succeeded', label: 'Succeeded', value: (t) => [t.succeeded.toLocaleString('en-US'), t.succeeded] },
  { key: 'failed', label: 'Failed', value: (t) => [t.failed.toLocaleString('en-US'), t.failed] },
  { key: 'cached', label: 'From the cache', value: (t) => [t.cached.toLocaleString('en-US'), t.cached] },
  { key: 'promptTokens', label: 'Prompt tokens', value: (t) => [compact(t.promptTokens), t.promptTokens] },
  { key: 'completionTokens', label: 'Completion tokens', value: (t) => [compact(t.completionTokens), t.completionTokens] },
  { key: 'totalTokens', label: 'Total tokens', value: (t) => [compact(t.totalTokens), t.totalTokens] },
  { key: 'cost', label: 'Cost (estimated, list price)', value: (t) => [formatCost(t.cost), t.cost] },
  { key: 'models', label: 'Models', value: (t) => t.models.join(', ') || '—' },
];

const KIND_LABEL: Record<DiffKind, string> = { differ: 'differs', failed: 'failed', onlyA: 'only in A', onlyB: 'only in B' };

function build(): void {
  const root = byId(COMPARE_IDS.root);
  const counts = h('section', { ...testid(COMPARE_IDS.counts), class: 'counts' });
  for (const c of COUNTS) {
    counts.append(h('div', { class: 'count' }, h('span', { ...testid(`compare-count-${c.key}`), class: 'value' }, '—'), h('span', { class: 'label' }, c.label)));
  }
  const sideBody = h('tbody');
  for (const r of SIDE_ROWS) {
    sideBody.append(
      h('tr', {}, h('th', { scope: 'row' }, r.label), h('td', { ...testid(`compare-a-${r.key}`), class: 'num' }, '—'), h('td', { ...testid(`compare-b-${r.key}`), class: 'num' }, '—')),
    );
  }
  root.append(
    h('header', { class: 'toolbar' }, h('h1', {}, 'Compare'), h('span', { ...testid(COMPARE_IDS.title), class: 'muted' }, 'Waiting for the comparison…'), h('span', { class: 'spacer' }), h('span', { ...testid(COMPARE_IDS.status), class: 'badge' })),
    // More than two files: which one is compared with A (one button per file).
    h('nav', { ...testid(COMPARE_IDS.group), class: 'group', 'aria-label': 'Compare A with', hidden: true }),
    counts,
    h(
      'table',
      { ...testid(COMPARE_IDS.sides), class: 'sides' },
      h('thead', {}, h('tr', {}, h('th'), h('th', { id: 'compare-head-a', class: 'num' }, 'A'), h('th', { id: 'compare-head-b', class: 'num' }, 'B'))),
      sideBody,
    ),
    h('h2', {}, 'Rows that differ'),
    h('p', { class: 'muted' }, 'Click a row to open both answers in the diff editor.'),
    h(
      'div',
      { class: 'list' },
      h(
        'table',
        { class: 'diffs' },
        h('thead', {}, h('tr', {}, h('th', {}, 'custom_id'), h('th', {}, 'Status'), h('th', { class: 'num' }, 'Line'), h('th', { id: 'compare-col-a' }, 'A'), h('th', { id: 'compare-col-b' }, 'B'))),
        h('tbody', testid(COMPARE_IDS.rows)),
      ),
    ),
    h('p', { ...testid(COMPARE_IDS.more), class: 'muted', hidden: true }),
  );
}

function answerCell(text: string | null, side: 'a' | 'b'): HTMLTableCellElement {
  if (text === null) return h('td', { class: 'absent', 'data-testid': `compare-row-${side}` }, 'not in this file');
  // One line in the list; the diff editor shows the whole answer.
  const cell = h('td', { 'data-testid': `compare-row-${side}` }, text.replace(/\s+/g, ' '));
  cell.title = text;
  return cell;
}

/** The buttons that switch B among the files compared with A (shown for more than two files). */
function renderGroup(view: CompareView): void {
  const nav = byId(COMPARE_IDS.group);
  const group = view.group ?? [];
  nav.hidden = group.length < 2;
  // Switching B draws the buttons anew: the keyboard stays on the one pressed.
  redrawKeepingFocus(nav, 'button[data-index]', 'data-index', () => nav.replaceChildren(
    ...(group.length < 2
      ? []
      : [
          h('span', { class: 'muted' }, `A: ${view.nameA} compared with`),
          ...group.map((g, index) => {
            const current = g.file === view.fileB;
            const button = h('button', { 'data-testid': 'compare-with', 'data-index': index, 'aria-pressed': String(current), class: current ? 'current' : '' }, g.name);
            button.addEventListener('click', () => {
              if (!current) post({ type: 'compareWith', index });
            });
            return button;
          }),
        ]),
  ));
}

function render(view: CompareView): void {
  renderGroup(view);
  byId(COMPARE_IDS.title).textContent = `A: ${view.nameA}  ↔  B: ${view.nameB}`;
  const status = byId(COMPARE_IDS.status);
  status.textContent = view.identical ? 'identical' : `${view.differing.toLocaleString('en-US')} row${view.differing === 1 ? '' : 's'} differ`;
  status.dataset.value = String(view.differing);
  for (const c of COUNTS) {
    const el = byId(`compare-count-${c.key}`);
    el.textContent = view[c.key].toLocaleString('en-US');
    el.dataset.value = String(view[c.key]);
  }
  byId('compare-head-a').textContent = `A: ${view.nameA}`;
  byId('compare-head-b').textContent = `B: ${view.nameB}`;
  byId('compare-col-a').textContent = `A: ${view.nameA}`;
  byId('compare-col-b').textContent = `B: ${view.nameB}`;
  for (const r of SIDE_ROWS) {
    for (const [side, totals] of [['a', view.a], ['b', view.b]] as const) {
      const el = byId(`compare-${side}-${r.key}`);
      const v = r.value(totals);
      el.textContent = typeof v === 'string' ? v : v[0];
      if (typeof v !== 'string') el.dataset.value = String(v[1]);
    }
  }
  const body = byId(COMPARE_IDS.rows);
  redrawKeepingFocus(body, 'tr[data-id]', 'data-id', () => body.replaceChildren(
    ...view.rows.map((row, index) => {
      const tr = h(
        'tr',
        { 'data-testid': 'compare-row', 'data-index': index, 'data-id': row.custom_id, 'data-kind': row.kind, tabindex: 0, title: 'Open the diff' },
        h('td', { 'data-testid': 'compare-row-id' }, row.custom_id),
        h('td', {}, h('span', { class: `kind ${row.kind}` }, KIND_LABEL[row.kind])),
        h('td', { class: 'num' }, String(row.lineA ?? row.lineB ?? '')),
        answerCell(row.previewA, 'a'),
        answerCell(row.previewB, 'b'),
      );
      const open = () => post({ type: 'openDiff', index });
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          open();
        }
      });
      return tr;
    }),
  ));
  if (!view.rows.length) body.append(h('tr', { class: 'empty' }, h('td', { colspan: 5 }, view.identical ? 'No differences: every row has the same answer in both files.' : 'No rows listed.')));
  const more = byId(COMPARE_IDS.more);
  more.hidden = !view.truncated;
  more.textContent = view.truncated ? `Showing the first ${view.rows.length.toLocaleString('en-US')} of ${view.differing.toLocaleString('en-US')} differing rows. For all of them: fastllm compare A B --out DIFF.jsonl` : '';
}

build();
const saved = api.getState();
if (saved) render(saved);
window.addEventListener('message', (event: MessageEvent<CompareHostMessage>) => {
  const msg = event.data;
  if (msg?.type === 'view') {
    api.setState(msg.view);
    render(msg.view);
  } else if (msg?.type === 'busy') {
    byId(COMPARE_IDS.root).classList.toggle('busy', msg.busy);
  }
});
post({ type: 'ready' });
