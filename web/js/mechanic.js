// The mechanic dashboard: the online switch and the mechanic's own status, live offers with
// their countdown (accept / decline), the session in progress with its End button and
// outcome, and recent sessions. The dashboard stream stays open while the page is, which
// keeps the mechanic "seen" and brings offers as they happen. A new offer also changes the
// tab's title and plays a short sound; an offer that goes away leaves a note saying why.
import { api, countdown, dayAndTime, el, presenceBadge, renderTopbar, requireMe } from './api.js';

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
// while busy the switch means nothing (ending the session brings them back): a tag instead
const busyTag = el('span', { class: 'busy-tag', id: 'busy-tag', hidden: true },
  el('span', { class: 'dot', 'aria-hidden': 'true' }), 'In a session');

function describe() {
  const p = own.presence;
  toggle.setAttribute('aria-checked', String(p === 'online'));
  toggle.disabled = !approved || p === 'busy';
  toggle.hidden = p === 'busy';
  busyTag.hidden = p !== 'busy';
  statusLine.replaceChildren(presenceBadge(p), ' ',
    p === 'online' ? 'You are online: customers can pick you.'
      : p === 'busy' ? 'You are in a session. You are back online when it ends.' : 'You are offline.');
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
      toggle, busyTag),
    error),
  el('section', { class: 'card', 'aria-labelledby': 'current-h', id: 'current', hidden: true }),
  el('section', { class: 'card', 'aria-labelledby': 'offers-h' },
    el('h2', { id: 'offers-h' }, 'Offers'),
    el('ul', { class: 'notes', id: 'offer-notes', 'aria-label': 'Offers that ended' }),
    el('div', { id: 'offers' })),
  el('section', { class: 'card', 'aria-labelledby': 'recent-h' },
    el('h2', { id: 'recent-h' }, 'Recent sessions'), el('div', { id: 'recent' }, el('p', { class: 'muted' }, 'Loading your sessions…'))),
  live,
].filter(Boolean));
describe();
renderOffersPlaceholder();

// ---- offers, the current session, recent sessions ----
let offers = [];
let sessions = [];
let tick = null;

const left = countdown;
const OUTCOME_WORD = { resolved: 'Resolved', escalated: 'Referred to an in-person repair', unresolved: 'Not resolved' };
const known = new Map(); // session id -> the offer as shown, to say which one went away
const baseTitle = document.title;

const answered = new Set(); // offers this mechanic answered: their end needs no note
async function answer(sessionId, verb) {
  answered.add(sessionId);
  const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(sessionId)}/${verb}`);
  if (status !== 200) live.textContent = (data && data.message) || 'That did not work.';
  else live.textContent = verb === 'accept' ? 'You accepted the session.' : 'You declined the offer.';
  await refresh();
}

// What the offers card says while it has none (also before the first load: no shift).
function renderOffersPlaceholder() {
  document.getElementById('offers').replaceChildren(el('p', { class: 'muted' }, own.presence === 'online'
    ? 'No offers right now. New session requests appear here.'
    : own.presence === 'busy' ? 'You are in a session. New offers appear here once it ends.'
      : 'Go online to receive offers.'));
}

function renderOffers() {
  const box = document.getElementById('offers');
  clearInterval(tick);
  for (const o of offers) known.set(o.session_id, o);
  document.title = offers.length ? `(${offers.length}) New offer · ${baseTitle}` : baseTitle;
  if (!offers.length) {
    renderOffersPlaceholder();
    return;
  }
  const timers = [];
  box.replaceChildren(el('ul', { class: 'items' }, offers.map((o) => {
    const t = el('span', { role: 'timer' }, left(o.expires_at));
    timers.push([t, o.expires_at]);
    return el('li', { class: `item offer${o.kind === 'priority' ? ' is-priority' : ''}`, 'data-session': o.session_id },
      el('p', { class: 'label' }, o.kind === 'priority' ? 'Priority offer: you were chosen' : 'Open request'),
      el('p', {}, `${o.customer_first_name} · ${o.vehicle.year} ${o.vehicle.make} ${o.vehicle.model}`),
      el('p', { class: 'subtext' }, `${o.plan.name}${o.is_specialist ? ' · Brand Specialist' : ''} · “${o.concern}”`),
      el('p', { class: 'subtext' }, 'Time left: ', t),
      el('div', { class: 'actions' },
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
    ? el('ul', { class: 'items' }, recent.map((s) => el('li', { class: 'item' },
      `${dayAndTime(s.ended_at)} · ${s.vehicle.year} ${s.vehicle.make} ${s.vehicle.model} · ${OUTCOME_WORD[s.outcome] || 'no outcome given'}`)))
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
  known.set(o.session_id, o);
  live.textContent = o.kind === 'priority' ? `New priority offer from ${o.customer_first_name}.` : `New request from ${o.customer_first_name}.`;
  chime();
  refresh();
});
const GONE = {
  accepted_by_other: (who) => `Another mechanic accepted ${who}.`,
  priority_ended: (who) => `Your priority on ${who} ended; it went to the other mechanics.`,
  expired: (who) => `${who[0].toUpperCase()}${who.slice(1)} expired.`,
  suspended: (who) => `${who[0].toUpperCase()}${who.slice(1)} was withdrawn: your account is suspended.`,
};
function requestOf(sessionId) {
  const o = known.get(sessionId);
  return o ? `${o.customer_first_name}'s request (${o.vehicle.year} ${o.vehicle.make} ${o.vehicle.model})` : 'a request';
}
dashboard.addEventListener('offer_withdrawn', (e) => {
  const w = JSON.parse(e.data);
  if (!answered.has(w.session_id)) note((GONE[w.reason] || GONE.expired)(requestOf(w.session_id)));
  refresh();
});
dashboard.addEventListener('session_cancelled', (e) => {
  const c = JSON.parse(e.data);
  const o = known.get(c.session_id);
  note(`${o ? o.customer_first_name : 'The customer'} cancelled ${o ? 'their request' : 'a request'}${o ? ` (${o.vehicle.year} ${o.vehicle.make} ${o.vehicle.model})` : ''}.`);
  refresh();
});

// A visible note that stays until dismissed (the offer it speaks of is gone from the list).
function note(text) {
  const list = document.getElementById('offer-notes');
  const item = el('li', { class: 'notice is-info' }, el('span', {}, text),
    el('button', { class: 'btn btn-link', type: 'button', 'aria-label': `Dismiss: ${text}`, onclick: () => item.remove() }, 'Dismiss'));
  list.prepend(item);
  while (list.children.length > 5) list.lastElementChild.remove();
  live.textContent = text;
}

// A short two-tone chime for a new offer. Browsers allow sound only after the person has
// interacted with the page, so the audio context is made on the first click or key.
let audio = null;
const unlock = () => {
  if (audio) return;
  try { audio = new AudioContext(); } catch { audio = null; }
};
addEventListener('pointerdown', unlock, { once: true });
addEventListener('keydown', unlock, { once: true });
function chime() {
  if (!audio || audio.state !== 'running') return;
  const t = audio.currentTime;
  for (const [i, f] of [[0, 880], [1, 1320]]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, t + i * 0.15);
    gain.gain.exponentialRampToValueAtTime(0.2, t + i * 0.15 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.15 + 0.14);
    osc.connect(gain).connect(audio.destination);
    osc.start(t + i * 0.15);
    osc.stop(t + i * 0.15 + 0.15);
  }
  document.body.dataset.chimed = String(Number(document.body.dataset.chimed || 0) + 1);
}

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
