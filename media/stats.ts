/**
 * The Token Stats page: a table of the current run and the session, and a throughput chart drawn
 * as inline SVG. It keeps the last view with `setState`, so a panel restored after a restart shows
 * it before the host answers `ready`.
 */
import { compact, formatCost, formatDuration } from '../src/core/progress';
import type { STATS_METRIC_KEYS, SessionTotals, StatsHostMessage, StatsPageMessage, StatsSnapshot, StatsView, ThroughputSample } from '../src/webview/protocol';
import { byId, h, percent, svg, vscodeApi } from './common';

const api = vscodeApi<StatsView>();
const post = (m: StatsPageMessage) => api.postMessage(m);

/** A figure: shown text and the raw number (in `data-value`, for tests), or null for "—". */
type Figure = [text: string, value: number] | null;

interface Metric {
  key: (typeof STATS_METRIC_KEYS)[number];
  label: string;
  run(s: StatsSnapshot): Figure;
  session(t: SessionTotals): Figure;
}

const n = (v: number): Figure => [v.toLocaleString('en-US'), v];
const tok = (v: number): Figure => [compact(v), v];
const rate = (v: number): Figure => [v < 10 ? v.toFixed(1) : compact(v), v];
const limit = (l: { used: number; limit: number | null; saturation: number | null }): Figure =>
  l.limit === null ? [`${compact(l.used)} (no limit)`, l.used] : [`${compact(l.used)} / ${compact(l.limit)} (${percent(l.saturation)})`, l.saturation ?? 0];

/** Every figure; ids are `stat-run-<key>` and `stat-session-<key>`. */
const METRICS: Metric[] = [
  { key: 'requests', label: 'Requests', run: (s) => [s.total !== null ? `${s.done} / ${s.total}` : String(s.done), s.done], session: (t) => n(t.requests) },
  { key: 'succeeded', label: 'Succeeded', run: (s) => n(s.succeeded), session: (t) => n(t.succeeded) },
  { key: 'failed', label: 'Failed', run: (s) => n(s.failed), session: (t) => n(t.failed) },
  { key: 'retries', label: 'Retries', run: (s) => n(s.retries), session: (t) => n(t.retries) },
  { key: 'apiCalls', label: 'API calls', run: (s) => n(s.apiCalls), session: (t) => n(t.apiCalls) },
  { key: 'cacheHits', label: 'Cache hits', run: (s) => n(s.cacheHits), session: (t) => n(t.cacheHits) },
  { key: 'dedupHits', label: 'De-duplicated', run: (s) => n(s.dedupHits), session: (t) => n(t.dedupHits) },
  { key: 'hitRatio', label: 'Cache hit ratio', run: (s) => [percent(s.hitRatio), s.hitRatio], session: (t) => [percent(t.hitRatio), t.hitRatio] },
  { key: 'promptTokens', label: 'Prompt tokens', run: (s) => tok(s.fresh.prompt), session: (t) => tok(t.fresh.prompt) },
  { key: 'completionTokens', label: 'Completion tokens', run: (s) => tok(s.fresh.completion), session: (t) => tok(t.fresh.completion) },
  { key: 'freshTokens', label: 'Fresh tokens', run: (s) => tok(s.fresh.total), session: (t) => tok(t.fresh.total) },
  { key: 'cachedTokens', label: 'Cached tokens', run: (s) => tok(s.cached.total), session: (t) => tok(t.cached.total) },
  {
    key: 'tokensPerSec',
    label: 'Fresh tokens/s',
    run: (s) => rate(s.freshTokensPerSec),
    session: (t) => rate(t.busyMs > 0 ? t.fresh.total / (t.busyMs / 1000) : 0),
  },
  { key: 'rowsPerSec', label: 'Rows/s', run: (s) => rate(s.requestsPerSec), session: (t) => rate(t.busyMs > 0 ? t.requests / (t.busyMs / 1000) : 0) },
  { key: 'rpm', label: 'Requests/min (limit)', run: (s) => limit(s.rpm), session: () => null },
  { key: 'tpm', label: 'Tokens/min (limit)', run: (s) => limit(s.tpm), session: () => null },
  { key: 'eta', label: 'ETA', run: (s) => (s.etaSeconds === null ? null : [formatDuration(s.etaSeconds), s.etaSeconds]), session: () => null },
  { key: 'elapsed', label: 'Elapsed', run: (s) => [formatDuration(s.elapsedMs / 1000), s.elapsedMs], session: (t) => [formatDuration(t.busyMs / 1000), t.busyMs] },
  { key: 'cost', label: 'Cost (estimated)', run: (s) => [formatCost(s.cost.spent), s.cost.spent], session: (t) => [formatCost(t.cost.spent), t.cost.spent] },
  { key: 'saved', label: 'Saved by the cache', run: (s) => [formatCost(s.cost.saved), s.cost.saved], session: (t) => [formatCost(t.cost.saved), t.cost.saved] },
];

const CHART_W = 600;
const CHART_H = 160;
const PAD = 4;

function build(): void {
  const root = byId('stats-root');
  const testid = (id: string) => ({ id, 'data-testid': id });
  const cancel = h('button', { ...testid('stats-cancel'), class: 'secondary', hidden: true }, 'Cancel run');
  cancel.addEventListener('click', () => post({ type: 'command', command: 'cancelRun' }));
  const cache = h('button', { id: 'stats-open-cache', class: 'secondary' }, 'Cache Browser');
  cache.addEventListener('click', () => post({ type: 'command', command: 'openCacheBrowser' }));
  const logs = h('button', { id: 'stats-open-log', class: 'secondary' }, 'Log');
  logs.addEventListener('click', () => post({ type: 'command', command: 'showLog' }));

  const body = h('tbody');
  for (const m of METRICS) {
    body.append(
      h(
        'tr',
        { 'data-metric': m.key },
        h('th', { scope: 'row' }, m.label),
        h('td', { ...testid(`stat-run-${m.key}`), class: 'num' }, '—'),
        h('td', { ...testid(`stat-session-${m.key}`), class: 'num' }, '—'),
      ),
    );
  }
  const chart = svg('svg', { id: 'stats-chart', 'data-testid': 'stats-chart', viewBox: `0 0 ${CHART_W} ${CHART_H}`, role: 'img', preserveAspectRatio: 'none' });
  chart.setAttribute('aria-label', 'Fresh tokens per second over time');

  root.append(
    h(
      'header',
      { class: 'toolbar' },
      h('h1', {}, 'Token Stats'),
      h('span', { ...testid('stats-label'), class: 'muted' }),
      h('span', { ...testid('stats-state'), class: 'badge' }),
      h('span', { class: 'spacer' }),
      cancel,
      cache,
      logs,
    ),
    h('progress', { ...testid('stats-progress'), max: 1, value: 0, hidden: true }),
    h('table', { class: 'metrics', ...testid('stats-table') }, h('thead', {}, h('tr', {}, h('th'), h('th', { class: 'num' }, 'Current run'), h('th', { class: 'num' }, 'Session'))), body),
    h(
      'section',
      { class: 'chart' },
      h('h2', {}, 'Throughput'),
      h(
        'div',
        { class: 'legend' },
        h('span', { class: 'swatch tokens' }),
        'fresh tokens/s',
        h('span', { ...testid('stats-chart-peak'), class: 'muted' }),
        h('span', { class: 'swatch rows' }),
        'rows/s',
        h('span', { ...testid('stats-chart-rows-peak'), class: 'muted' }),
      ),
      chart,
    ),
  );
}

function setFigure(id: string, figure: Figure): void {
  const el = byId(id);
  el.textContent = figure ? figure[0] : '—';
  if (figure) el.dataset.value = String(figure[1]);
  else delete el.dataset.value;
}

function render(view: StatsView): void {
  const s = view.current;
  byId('stats-label').textContent = view.label ?? 'No run yet';
  byId('stats-state').textContent = view.running ? 'running' : s ? 'finished' : 'idle';
  byId('stats-cancel').hidden = !view.running;
  const progress = byId<HTMLProgressElement>('stats-progress');
  progress.hidden = !(view.running && s && s.total);
  if (s && s.total) progress.value = s.done / s.total;
  for (const m of METRICS) {
    setFigure(`stat-run-${m.key}`, s ? m.run(s) : null);
    setFigure(`stat-session-${m.key}`, m.session(view.session));
  }
  drawChart(view.history);
}

function drawChart(history: ThroughputSample[]): void {
  const chart = byId('stats-chart') as unknown as SVGSVGElement;
  chart.replaceChildren();
  const grid = svg('g', { class: 'grid' });
  for (let i = 1; i < 4; i++) grid.append(svg('line', { x1: 0, x2: CHART_W, y1: (CHART_H / 4) * i, y2: (CHART_H / 4) * i }));
  chart.append(grid);
  const peakTokens = Math.max(0, ...history.map((p) => p.tokensPerSec));
  const peakRows = Math.max(0, ...history.map((p) => p.rowsPerSec));
  byId('stats-chart-peak').textContent = history.length ? `peak ${compact(peakTokens)}` : 'no data yet';
  byId('stats-chart-rows-peak').textContent = history.length ? `peak ${peakRows.toFixed(1)}` : '';
  if (history.length < 2) return;
  const t0 = history[0]!.t;
  const span = Math.max(1, history[history.length - 1]!.t - t0);
  const line = (value: (p: ThroughputSample) => number, peak: number) =>
    history
      .map((p) => {
        const x = ((p.t - t0) / span) * CHART_W;
        const y = CHART_H - PAD - (peak > 0 ? value(p) / peak : 0) * (CHART_H - 2 * PAD);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  const tokens = line((p) => p.tokensPerSec, peakTokens);
  chart.append(
    svg('polygon', { class: 'area tokens', points: `0,${CHART_H} ${tokens} ${CHART_W},${CHART_H}` }),
    svg('polyline', { class: 'line tokens', points: tokens }),
    svg('polyline', { class: 'line rows', points: line((p) => p.rowsPerSec, peakRows) }),
  );
}

build();
const saved = api.getState();
if (saved) render(saved);
window.addEventListener('message', (event: MessageEvent<StatsHostMessage>) => {
  const msg = event.data;
  if (msg?.type !== 'stats') return;
  api.setState(msg.view);
  render(msg.view);
});
post({ type: 'ready' });
