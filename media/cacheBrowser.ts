/**
 * The Cache Browser page. Prompts and model output are untrusted: every piece of entry data is
 * set with `textContent` (through `h()`), never parsed as HTML, so an answer holding
 * `<img src=x onerror=…>` shows as those characters and runs nothing (the CSP would block it too).
 */
import { compact } from '../src/core/progress';
import type { CacheEntryView, CacheHostMessage, CachePageMessage, CachePageState, CachePageView, CacheRow } from '../src/webview/protocol';
import { byId, bytes, dateTime, h, redrawKeepingFocus, vscodeApi } from './common';

const api = vscodeApi<CachePageState>();
const post = (m: CachePageMessage) => api.postMessage(m);

let state: CachePageState = api.getState() ?? { filter: '', offset: 0, limit: 50 };
let shownKey: string | undefined;

const search = byId<HTMLInputElement>('cache-search');
const rowsEl = byId('cache-rows');
const prev = byId<HTMLButtonElement>('cache-prev');
const next = byId<HTMLButtonElement>('cache-next');
const deleteFiltered = byId<HTMLButtonElement>('cache-delete-filtered');
const clearAll = byId<HTMLButtonElement>('cache-clear-all');
const errorEl = byId('cache-error');
const detail = byId('cache-detail');
const split = byId('cache-split');
const undoBar = byId('cache-undo');
/** Keys of the rows listed now: the detail shows only an entry among them. */
let listed = new Set<string>();
/** Set when the user opened an entry from the keyboard: the detail then takes the focus. */
let focusDetail = false;
let undoTimer: ReturnType<typeof setTimeout> | undefined;
const UNDO_MS = 15_000;

search.value = state.filter;

function list(offset: number): void {
  state = { ...state, offset: Math.max(0, offset) };
  api.setState(state);
  post({ type: 'list', offset: state.offset, limit: state.limit, filter: state.filter });
}

let debounce: ReturnType<typeof setTimeout> | undefined;
search.addEventListener('input', () => {
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    state = { ...state, filter: search.value };
    list(0);
  }, 250);
});
search.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    clearTimeout(debounce);
    state = { ...state, filter: search.value };
    list(0);
  }
});
prev.addEventListener('click', () => list(state.offset - state.limit));
next.addEventListener('click', () => list(state.offset + state.limit));
deleteFiltered.addEventListener('click', () => {
  if (state.filter.trim()) post({ type: 'deleteFiltered', filter: state.filter });
});
clearAll.addEventListener('click', () => post({ type: 'clearAll' }));
byId('cache-detail-delete').addEventListener('click', () => {
  if (shownKey) post({ type: 'delete', key: shownKey });
});
byId('cache-detail-close').addEventListener('click', () => hideDetail());
detail.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') hideDetail();
});
byId('cache-undo-button').addEventListener('click', () => {
  hideUndo();
  post({ type: 'undoDelete' });
});

function hideDetail(): void {
  const key = shownKey;
  shownKey = undefined;
  detail.hidden = true;
  split.classList.remove('with-detail');
  rowsEl.querySelectorAll('tr.selected').forEach((tr) => tr.classList.remove('selected'));
  // Back to the row the detail was for, so that the keyboard does not get lost.
  if (key && detail.contains(document.activeElement)) rowsEl.querySelector<HTMLElement>(`tr[data-key="${CSS.escape(key)}"]`)?.focus();
}

function hideUndo(): void {
  clearTimeout(undoTimer);
  undoBar.hidden = true;
}

function renderRow(row: CacheRow): HTMLTableRowElement {
  const del = h('button', { class: 'icon', 'data-testid': 'cache-row-delete', 'data-key': row.key, title: 'Delete this entry', 'aria-label': 'Delete this entry' }, '✕');
  del.addEventListener('click', (e) => {
    e.stopPropagation();
    post({ type: 'delete', key: row.key });
  });
  const tr = h(
    'tr',
    { 'data-testid': 'cache-row', 'data-key': row.key, tabindex: 0, class: row.key === shownKey ? 'selected' : undefined },
    h('td', { class: 'time' }, dateTime(row.created)),
    h('td', { 'data-testid': 'cache-row-model' }, row.model),
    h('td', { class: 'preview', 'data-testid': 'cache-row-preview', title: row.preview }, row.preview),
    h('td', { class: 'preview', 'data-testid': 'cache-row-answer', title: row.answer }, row.answer),
    h('td', { class: 'num col-tokens', 'data-testid': 'cache-row-tokens' }, compact(row.tokens)),
    h('td', { class: 'num col-size' }, bytes(row.size)),
    h('td', { class: 'time col-expires' }, dateTime(row.expires)),
    h('td', { class: 'col-delete' }, del),
  );
  const show = (keyboard: boolean) => {
    focusDetail = keyboard;
    post({ type: 'show', key: row.key });
  };
  tr.addEventListener('click', () => show(false));
  tr.addEventListener('keydown', (e) => {
    // Only on the row itself: Enter on its Delete button is the button's (it was taken here, so
    // the keyboard could not delete).
    if (e.target === tr && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      show(true);
    }
  });
  return tr;
}

function renderPage(p: CachePageView): void {
  state = { filter: p.filter, offset: p.offset, limit: p.limit };
  api.setState(state);
  if (document.activeElement !== search) search.value = p.filter;
  // A run that ends refreshes the list, and a delete removes the row that had the keyboard.
  redrawKeepingFocus(rowsEl, 'tr[data-key]', 'data-key', () => {
    rowsEl.replaceChildren(...p.rows.map(renderRow));
    if (p.rows.length === 0) {
      rowsEl.append(h('tr', { class: 'empty' }, h('td', { colspan: 8 }, p.filter ? 'No entry matches the search.' : 'The cache is empty.')));
    }
  });
  listed = new Set(p.rows.map((r) => r.key));
  // The detail belongs to a row of the list: one the search (or paging) no longer shows goes.
  if (shownKey && !listed.has(shownKey)) hideDetail();
  const first = p.total === 0 ? 0 : p.offset + 1;
  const last = p.offset + p.rows.length;
  byId('cache-count').textContent = p.filter
    ? `${first}–${last} of ${p.total.toLocaleString('en-US')} matching`
    : `${first}–${last} of ${p.total.toLocaleString('en-US')}`;
  byId('cache-count').dataset.total = String(p.total);
  byId('cache-total').textContent = `${p.totalAll.toLocaleString('en-US')} entries${p.enabled ? '' : ' (caching is off)'}`;
  byId('cache-total').dataset.value = String(p.totalAll);
  byId('cache-file-size').textContent = bytes(p.fileSize);
  byId('cache-location').textContent = p.location;
  prev.disabled = p.offset === 0;
  next.disabled = p.offset + p.limit >= p.total;
  deleteFiltered.disabled = !p.filter.trim() || p.total === 0;
  clearAll.disabled = p.totalAll === 0;
}

function renderEntry(key: string, entry: CacheEntryView | null): void {
  if (!entry || !listed.has(key)) {
    if (key === shownKey) hideDetail();
    return;
  }
  shownKey = key;
  detail.hidden = false;
  split.classList.add('with-detail');
  const title = byId('cache-detail-title');
  title.textContent = entry.prompt || '(no prompt text)';
  title.title = entry.prompt;
  const meta: [string, string][] = [
    ['Model', entry.meta.model || '—'],
    ['Key', entry.key],
    ['Endpoint', `${entry.meta.kind} · ${entry.meta.baseURL}`],
    ['Created', dateTime(entry.meta.created)],
    ['Expires', dateTime(entry.meta.expires)],
    ['Tokens', `${entry.usage.prompt} prompt + ${entry.usage.completion} completion = ${entry.usage.total}`],
    ['Request id', entry.meta.requestId ?? '—'],
  ];
  byId('cache-detail-meta').replaceChildren(...meta.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  byId('cache-detail-request').textContent = entry.request;
  byId('cache-detail-response').textContent = entry.response;
  const hashRows = [
    ...entry.hash.parts.map((p) => h('tr', {}, h('th', { scope: 'row' }, p.name), h('td', {}, h('code', {}, p.value)))),
    h('tr', {}, h('th', { scope: 'row' }, 'canonical text'), h('td', {}, h('code', {}, entry.hash.canonical))),
    h('tr', {}, h('th', { scope: 'row' }, 'sha256 → key'), h('td', {}, h('code', {}, entry.hash.key), entry.hash.matches ? ' ✓ matches' : ' ✗ differs from the stored key (written by another version)')),
  ];
  byId('cache-detail-hash').replaceChildren(...hashRows);
  rowsEl.querySelectorAll('tr[data-key]').forEach((tr) => tr.classList.toggle('selected', tr.getAttribute('data-key') === key));
  // Beside the list on a wide panel; below it on a narrow one, so bring it into view.
  detail.scrollTop = 0;
  detail.scrollIntoView({ block: 'nearest' });
  if (focusDetail) title.focus();
  focusDetail = false;
}

function renderDeleted(prompt: string): void {
  byId('cache-undo-text').textContent = `Deleted “${prompt || 'an entry'}”.`;
  undoBar.hidden = false;
  clearTimeout(undoTimer);
  undoTimer = setTimeout(hideUndo, UNDO_MS);
}

window.addEventListener('message', (event: MessageEvent<CacheHostMessage>) => {
  const msg = event.data;
  switch (msg?.type) {
    case 'page':
      errorEl.hidden = true;
      renderPage(msg.page);
      break;
    case 'entry':
      renderEntry(msg.key, msg.entry);
      break;
    case 'error':
      errorEl.textContent = msg.message;
      errorEl.hidden = false;
      break;
    case 'busy':
      document.body.classList.toggle('busy', msg.busy);
      break;
    case 'deleted':
      renderDeleted(msg.prompt);
      break;
  }
});

post({ type: 'ready' });
