/**
 * The Token Stats page: a table of the current run and the session; the cost so far against the
 * run's estimate; fresh tokens/s and rows/s, each on a chart and axis of its own, over one time
 * axis with the retries and 429s marked; the latency distribution; and a table per model. All
 * drawn as inline SVG and HTML by this script: no chart library, nothing loaded from elsewhere.
 * It keeps the last view with `setState`, so a panel restored after a restart shows it before
 * the host answers `ready`.
 */
import { compact, formatCost, formatDuration } from '../src/core/progress';
import { costAgainstEstimate, niceCeil } from '../src/core/statsSeries';
import type { LatencyBin, ModelStats, RunEnding, RunEstimate, STATS_METRIC_KEYS, SessionTotals, StatsHostMessage, StatsPageMessage, StatsSnapshot, StatsView, ThroughputSample } from '../src/webview/protocol';
import { byId, h, percent, svg, vscodeApi } from './common';

const api = vscodeApi<StatsView>();
const post = (m: StatsPageMessage) => api.postMessage(m);

/** A figure: shown text and the raw number (in `data-value`, for tests), or null for "—". */
type Figure = [text: string, value: number] | null;

interface Metric {
  key: (typeof STATS_METRIC_KEYS)[number];
  label: string;
  /** `ending`: how the run ended, once it has (its failed and unfinished rows, from the results). */
  run(s: StatsSnapshot, ending: RunEnding | null): Figure;
  session(t: SessionTotals): Figure;
}

const n = (v: number): Figure => [v.toLocaleString('en-US'), v];
const tok = (v: number): Figure => [compact(v), v];
const rate = (v: number): Figure => [v < 10 ? v.toFixed(1) : compact(v), v];
const ms = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
/** The rate per minute (over the time elapsed, before a minute has), and the limit's use of its window. */
const limit = (l: { used: number; limit: number | null; saturation: number | null; perMinute?: number }): Figure => {
  const perMinute = l.perMinute ?? l.used;
  return l.limit === null
    ? [`${compact(perMinute)} (no limit)`, perMinute]
    : [`${compact(perMinute)} / ${compact(l.limit)} (${percent(l.saturation)})`, l.saturation ?? 0];
};

/** Every figure; ids are `stat-run-<key>` and `stat-session-<key>`. */
const METRICS: Metric[] = [
  { key: 'requests', label: 'Requests', run: (s) => [s.total !== null ? `${s.done} / ${s.total}` : String(s.done), s.done], session: (t) => n(t.requests) },
  { key: 'succeeded', label: 'Succeeded', run: (s) => n(s.succeeded), session: (t) => n(t.succeeded) },
  { key: 'failed', label: 'Failed', run: (s, e) => n(e ? e.failed : s.failed), session: (t) => n(t.failed) },
  { key: 'unfinished', label: 'Cancelled / not run', run: (_s, e) => n(e?.unfinished ?? 0), session: (t) => n(t.unfinished ?? 0) },
  { key: 'retries', label: 'Retries', run: (s) => n(s.retries), session: (t) => n(t.retries) },
  { key: 'apiCalls', label: 'API calls', run: (s) => n(s.apiCalls), session: (t) => n(t.apiCalls) },
  { key: 'cacheHits', label: 'FastLLM cache hits', run: (s) => n(s.cacheHits), session: (t) => n(t.cacheHits) },
  // The provider's own prompt cache (OpenAI, Azure: usage.prompt_tokens_details.cached_tokens), beside ours.
  { key: 'providerCacheHits', label: 'Provider cache hits', run: (s) => n(s.providerCache?.hits ?? 0), session: (t) => n(t.providerCacheHits ?? 0) },
  { key: 'dedupHits', label: 'De-duplicated', run: (s) => n(s.dedupHits), session: (t) => n(t.dedupHits) },
  { key: 'hitRatio', label: 'Cache hit ratio', run: (s) => [percent(s.hitRatio), s.hitRatio], session: (t) => [percent(t.hitRatio), t.hitRatio] },
  { key: 'promptTokens', label: 'Prompt tokens', run: (s) => tok(s.fresh.prompt), session: (t) => tok(t.fresh.prompt) },
  { key: 'providerCachedTokens', label: '… of which provider-cached', run: (s) => tok(s.providerCache?.tokens ?? 0), session: (t) => tok(t.providerCachedTokens ?? 0) },
  { key: 'completionTokens', label: 'Completion tokens', run: (s) => tok(s.fresh.completion), session: (t) => tok(t.fresh.completion) },
  { key: 'reasoningTokens', label: '… of which reasoning', run: (s) => tok(s.reasoningTokens ?? 0), session: (t) => tok(t.reasoningTokens ?? 0) },
  { key: 'freshTokens', label: 'Fresh tokens', run: (s) => tok(s.fresh.total), session: (t) => tok(t.fresh.total) },
  { key: 'cachedTokens', label: 'Cached tokens', run: (s) => tok(s.cached.total), session: (t) => tok(t.cached.total) },
  {
    key: 'tokensPerSec',
    label: 'Fresh tokens/s',
    run: (s) => rate(s.freshTokensPerSec),
    session: (t) => rate(t.busyMs > 0 ? t.fresh.total / (t.busyMs / 1000) : 0),
  },
  { key: 'rowsPerSec', label: 'Rows/s', run: (s) => rate(s.requestsPerSec), session: (t) => rate(t.busyMs > 0 ? t.requests / (t.busyMs / 1000) : 0) },
  {
    key: 'latency',
    label: 'Latency p50 / p95 / p99',
    run: (s) => (s.latency ? [`${ms(s.latency.p50)} / ${ms(s.latency.p95)} / ${ms(s.latency.p99)}`, s.latency.p50] : null),
    session: () => null,
  },
  { key: 'rpm', label: 'Requests/min (limit)', run: (s) => limit(s.rpm), session: () => null },
  { key: 'tpm', label: 'Tokens/min (limit)', run: (s) => limit(s.tpm), session: () => null },
  { key: 'eta', label: 'ETA', run: (s) => (s.etaSeconds === null ? null : [formatDuration(s.etaSeconds), s.etaSeconds]), session: () => null },
  { key: 'elapsed', label: 'Elapsed', run: (s) => [formatDuration(s.elapsedMs / 1000), s.elapsedMs], session: (t) => [formatDuration(t.busyMs / 1000), t.busyMs] },
  { key: 'cost', label: 'Cost (estimated)', run: (s) => [formatCost(s.cost.spent), s.cost.spent], session: (t) => [formatCost(t.cost.spent), t.cost.spent] },
  { key: 'saved', label: 'Saved by the cache', run: (s) => [formatCost(s.cost.saved), s.cost.saved], session: (t) => [formatCost(t.cost.saved), t.cost.saved] },
];

const CHART_W = 600;
const CHART_H = 90;
const PAD = 4;
const MARKS_H = 14;
const HIST_H = 56;

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
  const chart = (id: string, label: string) => {
    const el = svg('svg', { id, 'data-testid': id, viewBox: `0 0 ${CHART_W} ${CHART_H}`, role: 'img', preserveAspectRatio: 'none' });
    el.setAttribute('aria-label', label);
    return el;
  };
  /** A chart with its own y axis: the round maximum at the top, 0 at the bottom. */
  const plot = (axisId: string, chartEl: SVGSVGElement) =>
    h('div', { class: 'plot' }, h('div', { class: 'y-axis' }, h('span', { ...testid(axisId) }, '—'), h('span', {}, '0')), chartEl);
  const marks = svg('svg', { id: 'stats-marks', 'data-testid': 'stats-marks', viewBox: `0 0 ${CHART_W} ${MARKS_H}`, role: 'img', preserveAspectRatio: 'none' });
  marks.setAttribute('aria-label', 'Retries and rate-limit 429s over time');
  const histogram = svg('svg', { id: 'stats-latency-histogram', 'data-testid': 'stats-latency-histogram', viewBox: `0 0 ${CHART_W} ${HIST_H}`, role: 'img', preserveAspectRatio: 'none' });
  histogram.setAttribute('aria-label', 'How many rows took how long');
  const latency = (q: string) => h('span', { class: 'figure' }, h('span', { class: 'muted' }, q), ' ', h('strong', { ...testid(`stats-latency-${q}`) }, '—'));
  const modelHead = h(
    'tr',
    {},
    ...['Model', 'Rows', 'Failed', 'From cache', 'Tokens in', 'Tokens out', 'Cost'].map((t, i) => h('th', { class: i ? 'num' : undefined, scope: 'col' }, t)),
  );

  const left = h('div', { class: 'column' });
  const right = h('div', { class: 'column' });
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
    h('div', { class: 'columns' }, left, right),
  );
  left.append(
    h('table', { class: 'metrics', ...testid('stats-table') }, h('thead', {}, h('tr', {}, h('th'), h('th', { class: 'num' }, 'Current run'), h('th', { class: 'num' }, 'Session'))), body),
  );
  right.append(
    h(
      'section',
      { class: 'cost', ...testid('stats-cost') },
      h('h2', {}, 'Cost'),
      h(
        'p',
        {},
        'So far ',
        h('strong', { ...testid('stats-cost-spent') }, '—'),
        h('span', { ...testid('stats-cost-of') }, ''),
        h('strong', { ...testid('stats-cost-estimate') }, ''),
        h('span', { ...testid('stats-cost-fraction'), class: 'muted' }, ''),
      ),
      h('meter', { ...testid('stats-cost-meter'), min: 0, max: 1, value: 0, hidden: true }),
    ),
    h(
      'section',
      { class: 'chart' },
      h('h2', {}, 'Throughput'),
      h('div', { class: 'legend' }, h('span', { class: 'swatch tokens' }), 'fresh tokens/s', h('span', { ...testid('stats-chart-peak'), class: 'muted' })),
      plot('stats-axis-tokens', chart('stats-chart', 'Fresh tokens per second over time')),
      h('div', { class: 'legend' }, h('span', { class: 'swatch rows' }), 'rows/s', h('span', { ...testid('stats-chart-rows-peak'), class: 'muted' })),
      plot('stats-axis-rows', chart('stats-chart-rows', 'Rows per second over time')),
      h(
        'div',
        { class: 'legend' },
        h('span', { class: 'swatch throttled' }),
        '429 (rate limited)',
        h('span', { ...testid('stats-marks-429'), class: 'muted' }),
        h('span', { class: 'swatch retry' }),
        'other retries',
        h('span', { ...testid('stats-marks-retries'), class: 'muted' }),
      ),
      h('div', { class: 'plot' }, h('div', { class: 'y-axis' }), marks),
      h('div', { class: 'plot' }, h('div', { class: 'y-axis' }), h('div', { class: 'x-axis muted' }, h('span', { ...testid('stats-time-start') }), h('span', { ...testid('stats-time-end') }))),
    ),
    h(
      'section',
      { class: 'chart' },
      h('h2', {}, 'Latency'),
      h('div', { class: 'legend' }, latency('p50'), latency('p95'), latency('p99'), h('span', { ...testid('stats-latency-count'), class: 'muted' })),
      h('div', { class: 'plot' }, h('div', { class: 'y-axis' }), histogram),
      h('div', { class: 'plot' }, h('div', { class: 'y-axis' }), h('div', { class: 'x-axis muted' }, h('span', { ...testid('stats-latency-min') }), h('span', { ...testid('stats-latency-max') }))),
    ),
    h(
      'section',
      { class: 'models' },
      h('h2', {}, 'Per model'),
      h('table', { class: 'metrics', ...testid('stats-models') }, h('thead', {}, modelHead), h('tbody', { ...testid('stats-models-body') })),
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
  // `ending` is absent from a view kept by an older version: such a run is shown as finished.
  const ending = view.ending ?? null;
  byId('stats-state').textContent = view.running ? 'running' : s ? (ending?.state ?? 'finished') : 'idle';
  byId('stats-cancel').hidden = !view.running;
  const progress = byId<HTMLProgressElement>('stats-progress');
  progress.hidden = !(view.running && s && s.total);
  if (s && s.total) progress.value = s.done / s.total;
  for (const m of METRICS) {
    setFigure(`stat-run-${m.key}`, s ? m.run(s, view.running ? null : ending) : null);
    setFigure(`stat-session-${m.key}`, m.session(view.session));
  }
  drawCost(s, view.estimate ?? null);
  drawThroughput(view.history);
  drawLatency(s);
  drawModels(view.models ?? s?.models ?? []);
}

/** Sets an element's text and its raw number (`data-value`, for tests); null clears both. */
function setValue(id: string, text: string, value: number | null): void {
  const el = byId(id);
  el.textContent = text;
  if (value === null) delete el.dataset.value;
  else el.dataset.value = String(value);
}

function drawCost(s: StatsSnapshot | null, estimate: RunEstimate | null): void {
  const c = costAgainstEstimate(s?.cost.spent ?? 0, estimate);
  setValue('stats-cost-spent', s ? formatCost(c.spent) : '—', s ? c.spent : null);
  byId('stats-cost-of').textContent = c.estimate !== null ? ' of estimated ' : s ? ' (no estimate was made before this run)' : '';
  setValue('stats-cost-estimate', c.estimate !== null ? formatCost(c.estimate) : '', c.estimate);
  byId('stats-cost-fraction').textContent =
    c.estimate === null ? '' : `${c.fraction !== null ? ` (${percent(c.fraction)})` : ''}${c.partial ? ' · some rows are on models without a price' : ''}`;
  const meter = byId<HTMLMeterElement>('stats-cost-meter');
  meter.hidden = c.fraction === null;
  if (c.fraction !== null) {
    meter.max = Math.max(1, c.fraction);
    meter.high = 1;
    meter.value = c.fraction;
  }
}

const clock = (t: number): string => new Date(t).toLocaleTimeString('en-GB', { hour12: false });

/** An empty chart with three grid lines. */
function clearChart(id: string, height: number): SVGSVGElement {
  const chart = byId(id) as unknown as SVGSVGElement;
  chart.replaceChildren();
  const grid = svg('g', { class: 'grid' });
  for (let i = 1; i < 4; i++) grid.append(svg('line', { x1: 0, x2: CHART_W, y1: (height / 4) * i, y2: (height / 4) * i }));
  chart.append(grid);
  return chart;
}

/**
 * Fresh tokens/s and rows/s, each on its own chart whose axis runs from 0 to a round number at or
 * above its peak, and below them a strip with a mark for each interval that had 429s (or other
 * retries), at the same time as the charts. The history is bounded (the host keeps 300 points).
 */
function drawThroughput(history: ThroughputSample[]): void {
  const tokensChart = clearChart('stats-chart', CHART_H);
  const rowsChart = clearChart('stats-chart-rows', CHART_H);
  const marks = byId('stats-marks') as unknown as SVGSVGElement;
  marks.replaceChildren();
  let peakTokens = 0;
  let peakRows = 0;
  let throttled = 0;
  let retries = 0;
  for (const p of history) {
    peakTokens = Math.max(peakTokens, p.tokensPerSec);
    peakRows = Math.max(peakRows, p.rowsPerSec);
    throttled += p.throttled ?? 0;
    retries += Math.max(0, (p.retries ?? 0) - (p.throttled ?? 0));
  }
  const topTokens = niceCeil(peakTokens);
  const topRows = niceCeil(peakRows);
  setValue('stats-axis-tokens', history.length ? compact(topTokens) : '—', history.length ? topTokens : null);
  setValue('stats-axis-rows', history.length ? (topRows < 10 ? String(topRows) : compact(topRows)) : '—', history.length ? topRows : null);
  setValue('stats-chart-peak', history.length ? `peak ${compact(peakTokens)}` : 'no data yet', history.length ? peakTokens : null);
  setValue('stats-chart-rows-peak', history.length ? `peak ${peakRows.toFixed(1)}` : '', history.length ? peakRows : null);
  setValue('stats-marks-429', history.length ? throttled.toLocaleString('en-US') : '', throttled);
  setValue('stats-marks-retries', history.length ? retries.toLocaleString('en-US') : '', retries);
  byId('stats-time-start').textContent = history.length ? clock(history[0]!.t) : '';
  byId('stats-time-end').textContent = history.length ? clock(history[history.length - 1]!.t) : '';
  if (history.length === 0) return;
  const t0 = history[0]!.t;
  const span = Math.max(1, history[history.length - 1]!.t - t0);
  const xOf = (p: ThroughputSample) => (history.length < 2 ? CHART_W / 2 : ((p.t - t0) / span) * CHART_W);
  const line = (value: (p: ThroughputSample) => number, top: number) =>
    history.map((p) => `${xOf(p).toFixed(1)},${(CHART_H - PAD - (value(p) / top) * (CHART_H - 2 * PAD)).toFixed(1)}`).join(' ');
  if (history.length >= 2) {
    const tokens = line((p) => p.tokensPerSec, topTokens);
    tokensChart.append(svg('polygon', { class: 'area tokens', points: `0,${CHART_H} ${tokens} ${CHART_W},${CHART_H}` }), svg('polyline', { class: 'line tokens', points: tokens }));
    rowsChart.append(svg('polyline', { class: 'line rows', points: line((p) => p.rowsPerSec, topRows) }));
  }
  for (const p of history) {
    const n429 = p.throttled ?? 0;
    const nRetry = Math.max(0, (p.retries ?? 0) - n429);
    if (n429 + nRetry === 0) continue;
    const x = xOf(p).toFixed(1);
    const kind = n429 > 0 ? 'throttled' : 'retry';
    const mark = svg('line', { class: `mark ${kind}`, 'data-testid': n429 > 0 ? 'stats-mark-429' : 'stats-mark-retry', 'data-count': n429 > 0 ? n429 : nRetry, 'data-retries': nRetry, 'data-t': p.t, x1: x, x2: x, y1: 0, y2: MARKS_H });
    const title = svg('title');
    title.textContent = `${clock(p.t)}: ${n429 ? `${n429} × 429` : ''}${n429 && nRetry ? ', ' : ''}${nRetry ? `${nRetry} other ${nRetry === 1 ? 'retry' : 'retries'}` : ''}`;
    mark.append(title);
    marks.append(mark);
    // A faint guide through both charts, so that a dip in throughput lines up with its 429s.
    for (const chart of [tokensChart, rowsChart]) chart.append(svg('line', { class: `guide ${kind}`, x1: x, x2: x, y1: 0, y2: CHART_H }));
  }
}

/** p50 / p95 / p99 and a histogram of the fresh answers' latencies (bars over the range they occupy). */
function drawLatency(s: StatsSnapshot | null): void {
  const l = s?.latency ?? null;
  for (const q of ['p50', 'p95', 'p99'] as const) setValue(`stats-latency-${q}`, l ? ms(l[q]) : '—', l ? l[q] : null);
  const bins: LatencyBin[] = s?.latencyHistogram ?? [];
  const chart = clearChart('stats-latency-histogram', HIST_H);
  const count = bins.reduce((a, b) => a + b.count, 0);
  setValue('stats-latency-count', count ? `of ${count.toLocaleString('en-US')} answers from the server` : 'no answers from the server yet', count);
  byId('stats-latency-min').textContent = bins.length ? `< ${ms(bins[0]!.upToMs)}` : '';
  byId('stats-latency-max').textContent = bins.length > 1 ? `< ${ms(bins[bins.length - 1]!.upToMs)}` : '';
  const most = Math.max(0, ...bins.map((b) => b.count));
  const w = CHART_W / Math.max(1, bins.length);
  bins.forEach((b, i) => {
    const hgt = most ? (b.count / most) * (HIST_H - PAD) : 0;
    const bar = svg('rect', { class: 'bar', 'data-testid': 'stats-latency-bar', 'data-count': b.count, 'data-up-to': b.upToMs, x: (i * w + 1).toFixed(1), width: Math.max(1, w - 2).toFixed(1), y: (HIST_H - hgt).toFixed(1), height: hgt.toFixed(1) });
    const title = svg('title');
    title.textContent = `${b.count.toLocaleString('en-US')} under ${ms(b.upToMs)}`;
    bar.append(title);
    chart.append(bar);
  });
}

/** One row per model, the model's name as text (it comes from the input file). */
function drawModels(models: ModelStats[]): void {
  const body = byId('stats-models-body');
  const cell = (col: string, text: string, value: number) => h('td', { class: 'num', 'data-col': col, 'data-value': value }, text);
  body.replaceChildren(
    ...models.map((m) =>
      h(
        'tr',
        { 'data-testid': 'stats-model-row', 'data-model': m.model },
        h('th', { scope: 'row', 'data-col': 'model' }, m.model),
        cell('rows', m.rows.toLocaleString('en-US'), m.rows),
        cell('failed', m.failed.toLocaleString('en-US'), m.failed),
        cell('reused', m.reused.toLocaleString('en-US'), m.reused),
        cell('promptTokens', compact(m.promptTokens), m.promptTokens),
        cell('completionTokens', compact(m.completionTokens), m.completionTokens),
        cell('cost', formatCost(m.cost), m.cost),
      ),
    ),
  );
  if (models.length === 0) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No rows yet')));
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
