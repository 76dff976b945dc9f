// The mechanic dashboard: the online switch and the mechanic's own status, live offers with
// their countdown (accept / decline), the session in progress with its End button and
// outcome, and recent sessions. The dashboard stream stays open while the page is, which
// keeps the mechanic "seen" and brings offers as they happen.
import { api, el, presenceBadge, renderTopbar, requireMe } from './api.js';

const me = await requireMe(['mechanic']);
renderTopbar(me);
const main = document.getElementById('main');
const live = el('div', { class: 'sr-only', 'aria-live': 'polite', id: 'live' });

let own = (await api('GET', '/api/mechanic/presence')).data;
const approved = own && own.status === 'approved' && own.can_accept_sessions;
const error = el('p', { class: 'error-text', role: 'alert' });
const statusLine = el('p', { class: 'status-big', id: 'own-status' });
const toggle = el('button', {
  class: 'switch', type: 'button', role: 'switch', id: 'online-switch',
  'aria-labelledby': 'switch-label', disabled: !approved, onclick: flip,
});

function describe() {
  const p = own.presence;
  toggle.setAttribute('aria-checked', String(p === 'online'));
  toggle.disabled = !approved || p === 'busy';
  statusLine.replaceChildren(presenceBadge(p), ' ',
    p === 'online' ? 'You are online: customers can pick you.'
      : p === 'busy' ? 'You are in a session.' : 'You are offline.');
}

async function flip() {
  error.textContent = '';
  const want = own.presence === 'online' ? 'offline' : 'online';
  toggle.disabled = true;
  const { status, data } = await api('POST', '/api/mechanic/presence', { status: want });
  if (status === 200) {
    own = { ...own, ...data };
    live.textContent = want === 'online' ? 'You are now online.' : 'You are now offline.';
  } else {
    error.textContent = (data && data.message) || 'Could not change your status.';
  }
  describe();
}

main.replaceChildren(...[
  el('h1', {}, 'Mechanic dashboard'),
  approved ? null : el('p', { class: 'notice', role: 'status' },
    own.status === 'pending' ? 'Your account is waiting for approval. You can go online once an operator approves it.'
      : 'Your account is suspended. Contact the operators.'),
  el('section', { class: 'card', 'aria-labelledby': 'switch-label' },
    el('div', { class: 'switch-row' },
      el('div', {},
        el('h2', { id: 'switch-label' }, 'Available for sessions'),
        statusLine),
      toggle),
    error),
  el('section', { class: 'card', 'aria-labelledby': 'current-h', id: 'current' }),
  el('section', { class: 'card', 'aria-labelledby': 'offers-h' },
    el('h2', { id: 'offers-h' }, 'Offers'),
    el('div', { id: 'offers' }, el('p', { class: 'muted' }, 'New session requests will appear here while you are online.'))),
  el('section', { class: 'card', 'aria-labelledby': 'recent-h' },
    el('h2', { id: 'recent-h' }, 'Recent sessions'), el('div', { id: 'recent' })),
  live,
].filter(Boolean));
describe();

// ---- offers, the current session, recent sessions ----
let offers = [];
let sessions = [];
let tick = null;

function left(iso) {
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

async function answer(sessionId, verb) {
  const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(sessionId)}/${verb}`);
  if (status !== 200) live.textContent = (data && data.message) || 'That did not work.';
  else live.textContent = verb === 'accept' ? 'You accepted the session.' : 'You declined the offer.';
  await refresh();
}

function renderOffers() {
  const box = document.getElementById('offers');
  clearInterval(tick);
  if (!offers.length) {
    box.replaceChildren(el('p', { class: 'muted' }, own.presence === 'online'
      ? 'No offers right now. New session requests appear here.' : 'Go online to receive offers.'));
    return;
  }
  const timers = [];
  box.replaceChildren(el('ul', { class: 'vehicles' }, offers.map((o) => {
    const t = el('span', { role: 'timer' }, left(o.expires_at));
    timers.push([t, o.expires_at]);
    return el('li', { class: 'offer', 'data-session': o.session_id },
      el('p', { class: 'label' }, o.kind === 'priority' ? 'Priority offer: you were chosen' : 'Open request'),
      el('p', {}, `${o.customer_first_name} · ${o.vehicle.year} ${o.vehicle.make} ${o.vehicle.model}`),
      el('p', { class: 'subtext' }, `${o.plan.name}${o.is_specialist ? ' · Brand Specialist' : ''} · “${o.concern}”`),
      el('p', { class: 'subtext' }, 'Time left: ', t),
      el('div', { class: 'actions', style: 'margin-top:0.5rem' },
        el('button', { class: 'btn btn-secondary', type: 'button', onclick: () => answer(o.session_id, 'decline') }, 'Decline'),
        el('button', { class: 'btn btn-primary', type: 'button', onclick: () => answer(o.session_id, 'accept') }, 'Accept')));
  })));
  tick = setInterval(() => timers.forEach(([t, iso]) => { t.textContent = left(iso); }), 1000);
}

function endForm(s) {
  const error = el('p', { class: 'error-text', role: 'alert' });
  const outcome = el('fieldset', { class: 'choices' }, el('legend', { class: 'label' }, 'Outcome'),
    [['resolved', 'Resolved'], ['escalated', 'Referred to an in-person repair or quote'], ['unresolved', 'Not resolved']]
      .map(([v, text]) => el('label', { class: 'choice' }, el('input', { type: 'radio', name: 'outcome', value: v }),
        el('span', { class: 'check', 'aria-hidden': 'true' }), el('span', { class: 'title' }, text))));
  const notes = el('textarea', { id: 'notes', name: 'notes', maxlength: '2000' });
  return el('form', { id: 'end-form', onsubmit: async (e) => {
    e.preventDefault();
    const picked = outcome.querySelector('input:checked');
    const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(s.id)}/end`,
      { outcome: picked ? picked.value : null, notes: notes.value.trim() || null });
    if (status === 200) { live.textContent = 'Session ended.'; await refresh(); } else { error.textContent = data?.message || 'Could not end.'; }
  } }, outcome, el('div', { class: 'field' }, el('label', { for: 'notes' }, 'Notes (optional)'), notes), error,
  el('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'End session'));
}

function renderSessions() {
  const current = sessions.find((s) => s.state === 'accepted');
  const box = document.getElementById('current');
  box.hidden = !current;
  if (current) {
    const intake = current.intake || {};
    box.replaceChildren(el('h2', { id: 'current-h' }, 'Session in progress'),
      el('p', {}, `${current.vehicle.year} ${current.vehicle.make} ${current.vehicle.model} · ${current.plan.name}`),
      el('p', { class: 'subtext' }, `“${intake.concern || ''}”`), endForm(current));
  }
  const recent = sessions.filter((s) => s.state === 'ended').slice(0, 10);
  document.getElementById('recent').replaceChildren(recent.length
    ? el('ul', { class: 'vehicles' }, recent.map((s) => el('li', {},
      `${new Date(s.ended_at).toLocaleString()} · ${s.vehicle.make} ${s.vehicle.model} · ${s.outcome || 'no outcome'}`)))
    : el('p', { class: 'muted' }, 'No sessions yet.'));
}

async function refresh() {
  const [o, s, p] = await Promise.all([api('GET', '/api/mechanic/offers'), api('GET', '/api/sessions'),
    api('GET', '/api/mechanic/presence')]);
  if (p.status === 200) { own = { ...own, ...p.data }; describe(); }
  offers = o.data?.offers || [];
  sessions = s.data?.sessions || [];
  renderOffers();
  renderSessions();
}
await refresh();

// Keeps this mechanic "seen" while the page is open, and brings offers as they happen.
const dashboard = new EventSource('/api/mechanic/stream');
dashboard.addEventListener('offer', (e) => {
  const o = JSON.parse(e.data);
  live.textContent = o.kind === 'priority' ? `New priority offer from ${o.customer_first_name}.` : `New request from ${o.customer_first_name}.`;
  refresh();
});
dashboard.addEventListener('offer_withdrawn', () => refresh());
dashboard.addEventListener('session_cancelled', () => { live.textContent = 'A customer cancelled their request.'; refresh(); });

// Reflects changes made elsewhere (another tab, a timeout) live.
if (approved) {
  const src = new EventSource(`/api/presence/stream?ids=${encodeURIComponent(own.id)}`);
  const apply = (p) => {
    if (p.id !== own.id || p.presence === own.presence) return;
    own = { ...own, presence: p.presence, last_seen_at: p.last_seen_at };
    describe();
    renderOffers();
    live.textContent = p.reason === 'timeout' ? 'You were set offline after a period without activity.' : '';
  };
  src.addEventListener('snapshot', (e) => JSON.parse(e.data).mechanics.forEach(apply));
  src.addEventListener('presence', (e) => apply(JSON.parse(e.data)));
}
