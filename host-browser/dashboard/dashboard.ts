/**
 * The coordinator's dashboard page (served at `/dashboard/`, see docs/dashboard.md): reads `GET /api/status`
 * once, then follows the coordinator's WebSocket (`hello`, `round`, `accepted`, `rejected`, `row`,
 * `participants`, `done`; docs/coordinator.md) and re-renders on each message, at most once per frame.
 * When the socket closes (the coordinator restarted or went away) it reconnects with exponential back-off;
 * the `hello` of the new connection carries the whole status again, so nothing has to be replayed.
 *
 * Every URL is relative to the page, so the dashboard works under any prefix the coordinator is mounted at.
 * After every render `document.body.dataset.rows` holds the number of aggregated rounds the charts show
 * (tests wait on it), `dataset.state` the round state and `dataset.connection` the socket's state.
 * @module
 */
import uPlot from 'uplot';
import type { CoordinatorEvent, RoundInfo, Status, StatusParticipant, StatusRejection, StatusRow } from '../../runtime/fl/protocol.js';

export type { Status, StatusParticipant, StatusRejection, StatusRow };

/** What the coordinator sends on `/ws`. */
export type DashboardMessage = { type: 'hello'; status: Status } | CoordinatorEvent;

/** The coordinator keeps the last 200 rejections; so does the page. */
const REJECTIONS_KEPT = 200;
/** Rejections listed in the table, newest first. */
const REJECTIONS_SHOWN = 25;
const CHART_HEIGHT = 220;
/** Reconnect delays: 0.5 s doubling to 10 s, with up to 25% jitter so restarted coordinators are not stampeded. */
const BACKOFF_MS = { first: 500, max: 10_000 };

const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => {
  const el = document.querySelector<T>(sel);
  if (!el) throw new Error(`dashboard: ${sel} is missing from the page`);
  return el;
};

// ---------------------------------------------------------------------------------------------- state

let status: Status | undefined;
/** Set once a `hello` arrived: from then on the socket is newer than the first `GET /api/status`. */
let helloSeen = false;

/** Applies one WebSocket message to `status`. Messages before the first status are dropped (hello brings it). */
export function applyMessage(s: Status | undefined, msg: DashboardMessage): Status | undefined {
  if (msg.type === 'hello') return normalise(msg.status);
  if (!s) return s;
  switch (msg.type) {
    case 'round': {
      const { type: _type, ...round } = msg;
      s.round = round;
      break;
    }
    case 'accepted':
      s.counts.accepted++;
      if (s.round.round === msg.round && !s.round.submitted.includes(msg.id)) s.round.submitted.push(msg.id);
      break;
    case 'rejected': {
      const { type: _type, ...r } = msg;
      s.rejections.push(r);
      if (s.rejections.length > REJECTIONS_KEPT) s.rejections.splice(0, s.rejections.length - REJECTIONS_KEPT);
      s.counts.rejected++;
      s.counts.rejectedByCode[r.code] = (s.counts.rejectedByCode[r.code] ?? 0) + 1;
      break;
    }
    case 'row':
      upsertRow(s.rows, msg.row);
      break;
    case 'participants':
      s.participants = msg.participants;
      break;
    case 'done':
      for (const row of msg.rows) upsertRow(s.rows, row);
      s.round = { ...s.round, state: 'done', deadline: 0 };
      break;
  }
  return s;
}

function upsertRow(rows: StatusRow[], row: StatusRow): void {
  const i = rows.findIndex((r) => r.round === row.round);
  if (i >= 0) rows[i] = row;
  else {
    rows.push(row);
    rows.sort((a, b) => a.round - b.round);
  }
}

/** Fills what an older or partial status may lack, so rendering never has to check. */
function normalise(s: Status): Status {
  const rows = [...(s.rows ?? [])].sort((a, b) => a.round - b.round);
  const counts: Status['counts'] = Object.assign({ accepted: 0, rejected: 0, rejectedByCode: {} }, s.counts);
  return { ...s, rows, participants: s.participants ?? [], rejections: s.rejections ?? [], counts };
}

// -------------------------------------------------------------------------------------------- charts

interface ChartSpec {
  id: string;
  series: uPlot.Series[];
  scales?: uPlot.Scales;
  axes?: uPlot.Axis[];
  data: (rows: StatusRow[]) => (number | null)[][];
}

const COLORS = { accuracy: '#1f6feb', loss: '#d97706', node: '#0e7490', browser: '#7c3aed', rejected: '#b42318', flagged: '#f79009', epsilon: '#067647', latency: '#475467' };
const line = (label: string, stroke: string, scale: string, value: (u: uPlot, v: number | null) => string): uPlot.Series => ({
  label, stroke, scale, value, width: 2, points: { show: true, size: 5 },
});
const bars = (label: string, fill: string, scale: string, value: (u: uPlot, v: number | null) => string): uPlot.Series => ({
  label, stroke: fill, fill, width: 0, scale, value, points: { show: false }, paths: uPlot.paths.bars!({ size: [0.6, 48], align: 0 }),
});
const fixed = (digits: number) => (_: uPlot, v: number | null) => (v == null ? '–' : v.toFixed(digits));
const integer = fixed(0);

const CHARTS: ChartSpec[] = [
  {
    id: 'chart-accuracy',
    series: [line('accuracy', COLORS.accuracy, 'acc', fixed(3)), line('loss', COLORS.loss, 'loss', fixed(3))],
    scales: { acc: { range: [0, 1] } },
    axes: [{ scale: 'acc', label: 'accuracy' }, { scale: 'loss', side: 1, label: 'loss', grid: { show: false } }],
    data: (rows) => [rows.map((r) => r.accuracy), rows.map((r) => r.loss)],
  },
  {
    id: 'chart-hosts',
    series: [line('node', COLORS.node, 'n', integer), line('browser', COLORS.browser, 'n', integer)],
    scales: { n: { range: (_u, _min, max) => [0, Math.max(1, max) + 1] } },
    axes: [{ scale: 'n', label: 'participants' }],
    data: (rows) => [rows.map((r) => r.hosts?.node ?? 0), rows.map((r) => r.hosts?.browser ?? 0)],
  },
  {
    id: 'chart-rejected',
    series: [bars('rejected', COLORS.rejected, 'n', integer), line('flagged', COLORS.flagged, 'n', integer)],
    scales: { n: { range: (_u, _min, max) => [0, Math.max(1, max) + 1] } },
    axes: [{ scale: 'n', label: 'updates' }],
    data: (rows) => [rows.map((r) => r.rejected?.length ?? 0), rows.map((r) => r.flagged?.length ?? 0)],
  },
  {
    id: 'chart-epsilon',
    series: [line('ε', COLORS.epsilon, 'eps', fixed(3))],
    scales: { eps: { range: (_u, _min, max) => [0, Math.max(max, 0.1)] } },
    axes: [{ scale: 'eps', label: 'ε spent' }],
    data: (rows) => [rows.map((r) => r.epsilon ?? null)],
  },
  {
    id: 'chart-latency',
    series: [line('latency', COLORS.latency, 'ms', (_u, v) => (v == null ? '–' : `${v.toFixed(0)} ms`))],
    scales: { ms: { range: (_u, _min, max) => [0, Math.max(max, 1) * 1.1] } },
    axes: [{ scale: 'ms', label: 'ms', size: 60 }],
    data: (rows) => [rows.map((r) => r.latencyMs)],
  },
];

const plots = new Map<string, uPlot>();

function plotElement(id: string): HTMLElement {
  return $(`#${id} .plot`);
}

function renderCharts(rows: StatusRow[]): void {
  const x = rows.map((r) => r.round);
  for (const spec of CHARTS) {
    const data = [x, ...spec.data(rows)] as uPlot.AlignedData;
    const plot = plots.get(spec.id);
    if (plot) {
      plot.setData(data);
      continue;
    }
    const el = plotElement(spec.id);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: CHART_HEIGHT,
      // Half a round of room on each side, so the first and last bars are whole.
      scales: { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }, ...spec.scales },
      series: [{ label: 'round', value: (_u, v) => (v == null ? '–' : String(v)) }, ...spec.series],
      axes: [{ label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000], values: (_u, ticks) => ticks.map(String) }, ...(spec.axes ?? [])],
      cursor: { drag: { x: false, y: false } },
      // With the cursor off the chart the legend shows the latest round instead of dashes.
      hooks: { setCursor: [showLatest], setData: [showLatest] },
    };
    plots.set(spec.id, new uPlot(opts, data, el));
  }
  // ε: a task without differential privacy has only nulls; an empty chart would look like a fault.
  const noDp = rows.length > 0 && rows.every((r) => r.epsilon == null);
  const eps = $('#chart-epsilon');
  eps.querySelector<HTMLElement>('.plot')!.hidden = noDp;
  const note = eps.querySelector<HTMLElement>('.note')!;
  note.hidden = !noDp;
  note.textContent = noDp ? 'no differential privacy in this task' : '';
  eps.classList.toggle('no-dp', noDp);
}

function showLatest(u: uPlot): void {
  const n = u.data[0].length;
  if (u.cursor.idx == null && n > 0) u.setLegend({ idx: n - 1 });
}

function resizeCharts(): void {
  for (const [id, plot] of plots) {
    const el = plotElement(id);
    if (!el.hidden && el.clientWidth > 0) plot.setSize({ width: el.clientWidth, height: CHART_HEIGHT });
  }
}

// -------------------------------------------------------------------------------------- text, tables

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderSummary(s: Status): void {
  $('#task-name').textContent = s.task?.name ? `— ${s.task.name}` : '';
  const total = s.round.rounds ?? s.task?.rounds;
  const done = s.round.state === 'done';
  // A DP task may end before its last round: the rounds run are the rows.
  $('#round').textContent = done ? `${s.rows.length} / ${total}` : s.round.round > 0 ? `${s.round.round} / ${total}` : `– / ${total}`;
  $('#state').textContent = s.round.state === 'open' ? `open (${s.round.submitted.length} of ${s.round.selected.length} submitted)`
    : done && s.task?.dp && total !== undefined && s.rows.length < total ? 'done (privacy budget spent)' : s.round.state;
  $('#rule').textContent = s.task?.dp ? `dp-fedavg (q ${s.task.dp.q}, noise ${s.task.dp.noiseMultiplier})` : s.task?.rule ?? '–';
  const last = s.rows[s.rows.length - 1];
  $('#accuracy').textContent = last ? `${last.accuracy.toFixed(3)} (round ${last.round})` : '–';
  const byCode = Object.entries(s.counts.rejectedByCode).map(([code, n]) => `${code} ${n}`).join(', ');
  $('#counts').textContent = `${s.counts.accepted} accepted, ${s.counts.rejected} rejected${byCode ? ` (${byCode})` : ''}`;
  renderDeadline();
  document.body.dataset.state = s.round.state;
}

function renderDeadline(): void {
  const r = status?.round;
  const el = $('#deadline');
  if (!r || r.state !== 'open' || !r.deadline) {
    el.textContent = '–';
    return;
  }
  const left = Math.max(0, Math.round((r.deadline - Date.now()) / 1000));
  el.textContent = `in ${left} s (${new Date(r.deadline).toLocaleTimeString()})`;
}

function renderParticipants(s: Status): void {
  const open = s.round.state === 'open';
  const selected = new Set(open ? s.round.selected : []), submitted = new Set(open ? s.round.submitted : []);
  const rows = [...s.participants].sort((a, b) => a.id.localeCompare(b.id)).map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.id = p.id;
    const id = cell(p.id, 'id');
    if (p.flags > 0) {
      tr.classList.add('flagged');
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'flagged';
      id.append(badge);
    }
    if (!p.connected) tr.classList.add('offline');
    const here = submitted.has(p.id) ? 'submitted' : selected.has(p.id) ? 'selected' : '–';
    const tpm = cell(p.attested ? 'attested' : '–', p.attested ? 'attested' : undefined);
    if (p.ak) tpm.title = `attestation key ${p.ak}`;
    tr.append(id, cell(p.role === 'aggregator' ? `${p.host} (aggregator)` : p.host), cell(p.connected ? 'yes' : 'no'), cell(here), cell(p.reputation.toFixed(2)), cell(String(p.flags)), tpm);
    return tr;
  });
  $('#participants tbody').replaceChildren(...rows);
}

/** Fills a table body with `rows`, or one 'none yet' row. */
function fillTable(sel: string, rows: HTMLTableRowElement[]): void {
  if (!rows.length) {
    const tr = document.createElement('tr');
    const td = cell('none yet');
    td.colSpan = $(`${sel} thead tr`).childElementCount;
    tr.append(td);
    rows.push(tr);
  }
  $(`${sel} tbody`).replaceChildren(...rows);
}

/** Requests the coordinator refused (HTTP 4xx), newest first. */
function renderRejections(s: Status): void {
  fillTable('#rejections', s.rejections.slice(-REJECTIONS_SHOWN).reverse().map((r) => {
    const tr = document.createElement('tr');
    if (r.id) tr.dataset.id = r.id;
    tr.dataset.code = r.code;
    tr.append(cell(new Date(r.at).toLocaleTimeString()), cell(String(r.round)), cell(r.id ?? '–', 'id'), cell(String(r.status)), cell(r.code), cell(r.field ?? ''), cell(r.message, 'message'));
    return tr;
  }));
}

/** Accepted updates the robust rule left out of the aggregate (and selected participants that sent none), newest round first. */
function renderExcluded(s: Status): void {
  const rows: HTMLTableRowElement[] = [];
  for (let i = s.rows.length - 1; i >= 0 && rows.length < REJECTIONS_SHOWN; i--) {
    for (const x of s.rows[i]!.rejected ?? []) {
      const tr = document.createElement('tr');
      tr.dataset.id = x.id;
      tr.append(cell(String(s.rows[i]!.round)), cell(x.id, 'id'), cell(x.reason, 'message'));
      rows.push(tr);
    }
  }
  fillTable('#excluded', rows.slice(0, REJECTIONS_SHOWN));
}

// ------------------------------------------------------------------------------------------- render

let frame = 0;
/** Renders at most once per animation frame, however many messages arrive in it. */
function scheduleRender(): void {
  if (!frame) frame = requestAnimationFrame(render);
}

function render(): void {
  frame = 0;
  if (!status) return;
  renderSummary(status);
  renderCharts(status.rows);
  renderParticipants(status);
  renderExcluded(status);
  renderRejections(status);
  document.body.dataset.rows = String(status.rows.length);
}

function setConnection(state: 'connecting' | 'open' | 'closed', text: string): void {
  document.body.dataset.connection = state;
  $('#connection').textContent = text;
}

// ----------------------------------------------------------------------------------------- transport

let attempt = 0;

function connect(): void {
  const url = new URL('../ws', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  ws.addEventListener('message', (e) => {
    let msg: DashboardMessage;
    try {
      msg = JSON.parse(String(e.data)) as DashboardMessage;
    } catch {
      console.warn('dashboard: a WebSocket message that is not JSON', e.data);
      return;
    }
    if (msg.type === 'hello') {
      helloSeen = true;
      attempt = 0;
      setConnection('open', 'live');
    }
    status = applyMessage(status, msg);
    scheduleRender();
  });
  ws.addEventListener('close', () => {
    const delay = Math.min(BACKOFF_MS.max, BACKOFF_MS.first * 2 ** attempt++) * (1 + Math.random() / 4);
    setConnection('closed', `disconnected; retrying in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(connect, delay);
  });
}

async function loadStatus(): Promise<void> {
  try {
    const res = await fetch(new URL('../api/status', location.href), { cache: 'no-store' });
    if (!res.ok) throw new Error(`GET /api/status: ${res.status}`);
    const s = normalise((await res.json()) as Status);
    // A hello that arrived first is at least as new as this answer.
    if (!helloSeen) {
      status = s;
      scheduleRender();
    }
  } catch (e) {
    console.warn('dashboard: no status yet', e);
  }
}

function start(): void {
  setConnection('connecting', 'connecting…');
  void loadStatus();
  connect();
  setInterval(renderDeadline, 1000);
  addEventListener('resize', resizeCharts);
}

start();
