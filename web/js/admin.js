// The operator's page: the seed's success metrics (GET /api/admin/metrics) as charts with the
// same numbers as tables beside them, the rollout of mechanic selection, and mechanic
// approval. Everything from the server is inserted as text. Chart.js comes from
// /vendor/chart.umd.js (a global), fetched only when the charts come near the screen (on a
// phone they are below the fold); without it the tables still carry every number.
import { api, el, renderTopbar, requireMe } from './api.js';

const me = await requireMe(['admin']);
renderTopbar(me);

const main = document.getElementById('main');
const live = el('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'true' });
const DAY = 86400000;
const charts = {};

// ---- formatting ----
const pct = (r) => (r === null || r === undefined ? '—' : `${(r * 100).toFixed(1)}%`);
const frac = (n, d) => (d ? `${n} of ${d}` : 'none yet');
// a rate with its counts, short enough for a table cell: "66.7% (2/3)", or — without any
const rateCell = (r, n, d) => (d ? `${pct(r)} (${n}/${d})` : '—');
function duration(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
const nps = (n) => (n.score === null ? '—' : `${n.score > 0 ? '+' : ''}${n.score.toFixed(1)}`);
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const announce = (text) => { live.textContent = ''; setTimeout(() => { live.textContent = text; }, 50); };

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ---- the window ----
const today = isoDay(Date.now());
const fromInput = el('input', { type: 'date', id: 'win-from', value: isoDay(Date.now() - 29 * DAY), required: true });
const toInput = el('input', { type: 'date', id: 'win-to', value: today, required: true });
const windowError = el('p', { class: 'error-text', id: 'win-error', role: 'alert' });
const windowForm = el('form', { class: 'window-form', 'aria-label': 'Metrics window', onsubmit: (e) => { e.preventDefault(); loadMetrics(); } },
  el('div', { class: 'field' }, el('label', { for: 'win-from' }, 'From (UTC day)'), fromInput),
  el('div', { class: 'field' }, el('label', { for: 'win-to' }, 'To (UTC day, included)'), toInput),
  el('button', { class: 'btn btn-primary', type: 'submit' }, 'Show'));

const metricsBody = el('div', { id: 'metrics', 'aria-busy': 'true' });

// The metrics' shape with nothing counted yet: drawn at once, so the page keeps its layout
// when the real numbers arrive (no shift under the reader's eyes).
function blankBlock() {
  return {
    sessions: { total: 0, broadcast: 0, priority_broadcast: 0 },
    share: { chosen_mechanic: null, first_available: null },
    priority_acceptance: { rate: null, accepted: 0, ended: 0 },
    fallback: { rate: null, fell_back: 0, left_priority: 0 },
    expiry: { rate: null, expired: 0, routed: 0 },
    time_to_start: { p50_seconds: null, p90_seconds: null, count: 0 },
    nps: { score: null, answers: 0 },
    escalation: { rate: null, escalated: 0, with_outcome: 0 },
  };
}
function blankMetrics() {
  return {
    from: `${fromInput.value}T00:00:00Z`, to: new Date(Date.parse(`${toInput.value}T00:00:00Z`) + DAY).toISOString(),
    overall: blankBlock(),
    by_routing_type: { broadcast: blankBlock(), priority_broadcast: blankBlock() },
    by_rollout_group: { selection: blankBlock(), control: blankBlock() },
    daily: [],
  };
}

// ---- the rollout ----
const rolloutRange = el('input', { type: 'range', id: 'rollout-range', min: '0', max: '100', step: '1', value: '0', 'aria-label': 'Mechanic selection percentage (slider)' });
const rolloutNumber = el('input', { type: 'number', id: 'rollout-percent', min: '0', max: '100', step: '1', value: '0', inputmode: 'numeric' });
const rolloutStatus = el('p', { class: 'subtext', id: 'rollout-status', 'aria-live': 'polite' });
rolloutRange.addEventListener('input', () => { rolloutNumber.value = rolloutRange.value; });
rolloutNumber.addEventListener('input', () => { rolloutRange.value = rolloutNumber.value; });
const rolloutForm = el('form', { class: 'rollout-form', onsubmit: (e) => { e.preventDefault(); saveRollout(); } },
  el('div', { class: 'field' },
    el('label', { for: 'rollout-percent' }, 'Mechanic selection shown to (% of customers)'),
    el('div', { class: 'rollout-row' }, rolloutRange, rolloutNumber,
      el('button', { class: 'btn btn-primary', type: 'submit' }, 'Save'))),
  rolloutStatus);

// ---- mechanics ----
const statusSelect = el('select', { id: 'mech-status', onchange: () => loadMechanics() },
  ['pending', 'approved', 'suspended'].map((s) => el('option', { value: s }, s[0].toUpperCase() + s.slice(1))));
const mechList = el('div', { id: 'mechanics', 'aria-live': 'polite' }, el('p', { class: 'muted' }, 'Loading the mechanics…'));

main.replaceChildren(
  el('h1', {}, 'Operator'),
  el('section', { class: 'card', 'aria-labelledby': 'metrics-h' },
    el('h2', { id: 'metrics-h' }, 'Success metrics'),
    el('p', { class: 'subtext' }, 'Sessions created in the window, from the sessions themselves. Rates without any session to count are shown as —.'),
    windowForm, windowError, metricsBody),
  el('div', { class: 'admin-grid' },
    el('section', { class: 'card', 'aria-labelledby': 'rollout-h' },
      el('h2', { id: 'rollout-h' }, 'Rollout'),
      el('p', { class: 'subtext' }, 'Customers outside the rollout get the plain standard / specialist choice and first-available routing. Each customer keeps their place as the percentage changes.'),
      rolloutForm),
    el('section', { class: 'card', 'aria-labelledby': 'mech-h' },
      el('h2', { id: 'mech-h' }, 'Mechanics'),
      el('div', { class: 'field' }, el('label', { for: 'mech-status' }, 'Show mechanics who are'), statusSelect),
      mechList)),
  live,
);

// ---- metrics ----
async function loadMetrics() {
  windowError.textContent = '';
  const from = fromInput.value, to = toInput.value;
  if (!from || !to) { windowError.textContent = 'Choose both days.'; return; }
  const toMs = Date.parse(`${to}T00:00:00Z`) + DAY; // the last day is included
  if (Date.parse(`${from}T00:00:00Z`) >= toMs) { windowError.textContent = '"From" must not be after "To".'; return; }
  const q = new URLSearchParams({ from: `${from}T00:00:00Z`, to: new Date(toMs).toISOString() });
  metricsBody.setAttribute('aria-busy', 'true');
  const { status, data } = await api('GET', `/api/admin/metrics?${q}`);
  metricsBody.setAttribute('aria-busy', 'false');
  if (status !== 200) {
    windowError.textContent = data?.message || `The metrics could not be loaded (${status}).`;
    return;
  }
  renderMetrics(data);
  announce(`Metrics for ${from} to ${to}: ${data.overall.sessions.total} sessions.`);
}

// The columns of every table: overall, each routing type, each rollout group.
const COLUMNS = [
  ['Overall', (m) => m.overall],
  ['First available', (m) => m.by_routing_type.broadcast],
  ['Chosen mechanic', (m) => m.by_routing_type.priority_broadcast],
  ['Selection group', (m) => m.by_rollout_group.selection],
  ['Control group', (m) => m.by_rollout_group.control],
];

// Rows: label, seed target, value of one block.
const ROWS = [
  ['Sessions', '', (b) => String(b.sessions.total)],
  ['Chose a mechanic', '15–25%', (b) => rateCell(b.share.chosen_mechanic, b.sessions.priority_broadcast, b.sessions.total)],
  ['First available', '75–85%', (b) => rateCell(b.share.first_available, b.sessions.broadcast, b.sessions.total)],
  ['Priority offers accepted', '80%+', (b) => rateCell(b.priority_acceptance.rate, b.priority_acceptance.accepted, b.priority_acceptance.ended)],
  ['Fell back to broadcast', '', (b) => rateCell(b.fallback.rate, b.fallback.fell_back, b.fallback.left_priority)],
  ['Expired unanswered', '', (b) => rateCell(b.expiry.rate, b.expiry.expired, b.expiry.routed)],
  ['Time to start, median', '< 3 min', (b) => duration(b.time_to_start.p50_seconds)],
  ['Time to start, 90th percentile', '', (b) => duration(b.time_to_start.p90_seconds)],
  ['Sessions started', '', (b) => String(b.time_to_start.count)],
  ['NPS', '+20', (b) => (b.nps.answers ? `${nps(b.nps)} (${b.nps.answers})` : '—')],
  ['NPS answers', '', (b) => String(b.nps.answers)],
  ['Escalated', '30%+', (b) => rateCell(b.escalation.rate, b.escalation.escalated, b.escalation.with_outcome)],
];

function tile(label, value, detail) {
  return el('div', { class: 'stat' }, el('dt', {}, label), el('dd', {}, el('span', { class: 'stat-value' }, value), detail ? el('span', { class: 'stat-detail' }, detail) : null));
}

// A table that scrolls sideways on narrow screens, reachable by keyboard.
function scroller(label, table) {
  return el('div', { class: 'table-scroll', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

function metricsTable(m) {
  return el('table', { class: 'data', id: 'metrics-table' },
    el('caption', { class: 'sr-only' }, 'Every metric by routing type and rollout group'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Metric'), el('th', { scope: 'col' }, 'Seed target'),
      COLUMNS.map(([name]) => el('th', { scope: 'col' }, name)))),
    el('tbody', {}, ROWS.map(([label, target, value]) => el('tr', {},
      el('th', { scope: 'row' }, label), el('td', { class: 'muted' }, target || '—'),
      COLUMNS.map(([, pick]) => el('td', {}, value(pick(m))))))));
}

function dailyTable(m) {
  return el('table', { class: 'data', id: 'daily-table' },
    el('caption', { class: 'sr-only' }, 'Sessions per day by routing type'),
    el('thead', {}, el('tr', {}, ['Day (UTC)', 'First available', 'Chosen mechanic', 'Total'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, m.daily.map((d) => el('tr', {}, el('th', { scope: 'row' }, d.date),
      el('td', {}, String(d.broadcast)), el('td', {}, String(d.priority_broadcast)), el('td', {}, String(d.total))))));
}

// A chart: a short visible caption; the canvas carries the numbers as its accessible name.
function chartBox(id, title, caption, summary, extra) {
  const canvas = el('canvas', { role: 'img', 'aria-label': summary }, summary);
  return el('figure', { class: 'chart', id },
    el('figcaption', {}, el('span', { class: 'chart-title' }, title), el('span', { class: 'subtext' }, caption)),
    el('div', { class: 'chart-canvas' }, canvas), extra || null);
}

function renderMetrics(m, { charts: draw = true } = {}) {
  const o = m.overall;
  const days = m.daily.length;
  const rateGroups = [
    ['Overall', o], ['Chosen mechanic', m.by_routing_type.priority_broadcast],
    ['Selection group', m.by_rollout_group.selection], ['Control group', m.by_rollout_group.control],
  ];
  const types = [['First available', m.by_routing_type.broadcast], ['Chosen mechanic', m.by_routing_type.priority_broadcast]];

  const dailySummary = `Sessions per day over ${days} days: ${m.daily.reduce((n, d) => n + d.broadcast, 0)} first available, ${m.daily.reduce((n, d) => n + d.priority_broadcast, 0)} with a chosen mechanic.`;
  const rateSummary = rateGroups.map(([n, b]) => `${n}: accepted ${pct(b.priority_acceptance.rate)}, fell back ${pct(b.fallback.rate)}`).join('; ');
  const startSummary = types.map(([n, b]) => `${n}: median ${duration(b.time_to_start.p50_seconds)}, 90th percentile ${duration(b.time_to_start.p90_seconds)}`).join('; ');

  metricsBody.replaceChildren(
    el('dl', { class: 'stats', id: 'summary' },
      tile('Sessions', String(o.sessions.total), `${m.from.slice(0, 10)} – ${isoDay(Date.parse(m.to) - 1)}`),
      tile('Chose a mechanic', pct(o.share.chosen_mechanic), 'target 15–25%'),
      tile('Priority offers accepted', pct(o.priority_acceptance.rate), frac(o.priority_acceptance.accepted, o.priority_acceptance.ended)),
      tile('Fell back', pct(o.fallback.rate), frac(o.fallback.fell_back, o.fallback.left_priority)),
      tile('Expired', pct(o.expiry.rate), frac(o.expiry.expired, o.expiry.routed)),
      tile('Time to start (median)', duration(o.time_to_start.p50_seconds), `90th percentile ${duration(o.time_to_start.p90_seconds)}`),
      tile('NPS', nps(o.nps), `${o.nps.answers} ${o.nps.answers === 1 ? 'answer' : 'answers'}`),
      tile('Escalated', pct(o.escalation.rate), frac(o.escalation.escalated, o.escalation.with_outcome))),
    el('div', { class: 'charts' },
      chartBox('chart-daily', 'Sessions per day', 'By routing type, per UTC day', dailySummary,
        el('details', {}, el('summary', {}, 'Sessions per day as a table'), scroller('Sessions per day', dailyTable(m)))),
      chartBox('chart-rates', 'Priority acceptance and fallback', 'Share of priority offers accepted, and of sessions that fell back to broadcast', rateSummary),
      chartBox('chart-start', 'Time to session start', 'From routing start to a mechanic accepting, by routing type', startSummary)),
    el('h3', { class: 'label' }, 'All numbers by routing type and rollout group'),
    scroller('Metrics by routing type and rollout group', metricsTable(m)),
  );
  if (draw) drawWhenSeen(m, rateGroups, types);
}

// ---- charts, drawn once they are (nearly) in view ----
let chartLib = null;
function loadChartLib() {
  chartLib ||= new Promise((ok) => {
    if (window.Chart) { ok(); return; }
    const script = el('script', { src: '/vendor/chart.umd.js' });
    script.addEventListener('load', () => ok());
    script.addEventListener('error', () => ok()); // the tables still say it all
    document.head.append(script);
  });
  return chartLib;
}
let toDraw = null;
const chartWatch = new IntersectionObserver((entries) => {
  if (!toDraw || !entries.some((e) => e.isIntersecting)) return;
  const args = toDraw;
  toDraw = null;
  chartWatch.disconnect();
  loadChartLib().then(() => {
    drawCharts(...args);
    metricsBody.dataset.charts = 'drawn';
  });
}, { rootMargin: '200px' });
function drawWhenSeen(...args) {
  toDraw = args;
  delete metricsBody.dataset.charts;
  chartWatch.disconnect();
  chartWatch.observe(metricsBody.querySelector('.charts'));
}

function drawCharts(m, rateGroups, types) {
  for (const c of Object.values(charts)) c.destroy();
  if (!window.Chart) return; // the tables carry every number
  const { Chart } = window;
  const text = css('--label') || '#94a3b8';
  const grid = css('--slate-700') || '#334155';
  const orange = css('--orange-500') || '#f97316';
  const slate = css('--slate-300') || '#cbd5e1';
  const red = css('--red-400') || '#f87171';
  Chart.defaults.color = text;
  Chart.defaults.borderColor = grid;
  Chart.defaults.font.family = css('--font') || 'system-ui';
  const base = {
    responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
  };
  const canvas = (id) => document.querySelector(`#${id} canvas`);

  charts.daily = new Chart(canvas('chart-daily'), {
    type: 'line',
    data: {
      labels: m.daily.map((d) => d.date.slice(5)),
      datasets: [
        { label: 'First available', data: m.daily.map((d) => d.broadcast), borderColor: slate, backgroundColor: slate, tension: 0.2, pointRadius: 2 },
        { label: 'Chosen mechanic', data: m.daily.map((d) => d.priority_broadcast), borderColor: orange, backgroundColor: orange, tension: 0.2, pointRadius: 2 },
      ],
    },
    options: { ...base, scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxRotation: 0, autoSkip: true } } } },
  });

  const asPct = (r) => (r === null ? null : Math.round(r * 1000) / 10);
  charts.rates = new Chart(canvas('chart-rates'), {
    type: 'bar',
    data: {
      labels: rateGroups.map(([n]) => n),
      datasets: [
        { label: 'Priority offers accepted', data: rateGroups.map(([, b]) => asPct(b.priority_acceptance.rate)), backgroundColor: orange },
        { label: 'Fell back to broadcast', data: rateGroups.map(([, b]) => asPct(b.fallback.rate)), backgroundColor: red },
      ],
    },
    options: { ...base, scales: { y: { beginAtZero: true, max: 100, ticks: { callback: (v) => `${v}%` } } } },
  });

  // seconds for short waits, minutes once any of them is two minutes or more
  const longest = Math.max(0, ...types.map(([, b]) => b.time_to_start.p90_seconds || 0));
  const unit = longest >= 120 ? 60 : 1;
  const inUnit = (s) => (s === null ? null : Math.round((s / unit) * 100) / 100);
  charts.start = new Chart(canvas('chart-start'), {
    type: 'bar',
    data: {
      labels: types.map(([n]) => n),
      datasets: [
        { label: 'Median (p50)', data: types.map(([, b]) => inUnit(b.time_to_start.p50_seconds)), backgroundColor: orange },
        { label: '90th percentile (p90)', data: types.map(([, b]) => inUnit(b.time_to_start.p90_seconds)), backgroundColor: slate },
      ],
    },
    options: { ...base, indexAxis: 'y', scales: { x: { beginAtZero: true, title: { display: true, text: unit === 60 ? 'minutes' : 'seconds' } } } },
  });
}

// ---- rollout ----
async function loadRollout() {
  const { status, data } = await api('GET', '/api/admin/rollout');
  if (status !== 200) { rolloutStatus.textContent = 'The rollout could not be loaded.'; return; }
  rolloutRange.value = rolloutNumber.value = String(data.mechanic_selection_percent);
  rolloutStatus.textContent = `Now: ${data.mechanic_selection_percent}% of customers can choose a mechanic.`;
}

async function saveRollout() {
  const n = Number(rolloutNumber.value);
  if (!Number.isInteger(n) || n < 0 || n > 100) {
    rolloutStatus.textContent = 'Enter a whole number from 0 to 100.';
    return;
  }
  const { status, data } = await api('PUT', '/api/admin/rollout', { mechanic_selection_percent: n });
  rolloutStatus.textContent = status === 200
    ? `Saved: ${data.mechanic_selection_percent}% of customers can choose a mechanic.`
    : data?.message || `Not saved (${status}).`;
}

// ---- mechanics ----
const SHOW_AT_MOST = 50;

async function loadMechanics() {
  const status = statusSelect.value;
  const { status: code, data } = await api('GET', `/api/admin/mechanics?status=${encodeURIComponent(status)}`);
  if (code !== 200) { mechList.replaceChildren(el('p', { class: 'error-text' }, 'The mechanics could not be loaded.')); return; }
  const list = data.mechanics;
  if (!list.length) { mechList.replaceChildren(el('p', { class: 'muted' }, `No ${status} mechanics.`)); return; }
  const rows = list.slice(0, SHOW_AT_MOST).map((m) => {
    const actions = [];
    if (m.status !== 'approved') actions.push(el('button', { class: 'btn btn-primary btn-small', type: 'button', 'aria-label': `Approve ${m.name}`, onclick: () => act(m, 'approve') }, 'Approve'));
    if (m.status !== 'suspended') actions.push(el('button', { class: 'btn btn-secondary btn-small', type: 'button', 'aria-label': `Suspend ${m.name}`, onclick: () => act(m, 'suspend') }, 'Suspend'));
    return el('li', { class: 'mech-row' },
      el('div', { class: 'mech-row-text' },
        el('span', { class: 'mech-name' }, m.name),
        el('span', { class: 'subtext' }, [m.city, (m.specializations || []).join(', ')].filter(Boolean).join(' · ')),
        el('span', { class: `status-tag is-${m.status}` }, m.status)),
      el('div', { class: 'mech-row-actions' }, actions));
  });
  mechList.replaceChildren(el('ul', { class: 'mech-rows', 'aria-label': `${status} mechanics` }, rows));
  if (list.length > SHOW_AT_MOST) mechList.append(el('p', { class: 'muted' }, `Showing ${SHOW_AT_MOST} of ${list.length}.`));
}

async function act(m, verb) {
  const { status, data } = await api('POST', `/api/admin/mechanics/${encodeURIComponent(m.id)}/${verb}`);
  if (status !== 200) { announce(data?.message || `Could not ${verb} ${m.name}.`); return; }
  announce(`${m.name} is now ${data.status}.`);
  await loadMechanics();
}

renderMetrics(blankMetrics(), { charts: false });
await Promise.all([loadMetrics(), loadRollout(), loadMechanics()]);
document.body.dataset.ready = 'true';
