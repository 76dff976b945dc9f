// The waiting room: the request's routing live (session stream), told as it is — the chosen
// mechanic online with the request, or offline and getting it only if they come online in
// time, broadcast to N, or nobody online yet — with the countdowns, "connect me with the first
// available mechanic", cancel, the mechanic who accepted, and the one question at the end.
// The log is rebuilt from the session's `steps`, so a reload tells the whole story again.
import {
  PresenceStream, api, countdown, dayAndTime, el, icon, initials, renderTopbar, requireMe, show, timeOfDay,
} from './api.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
const id = new URLSearchParams(location.search).get('session') || '';
const live = el('div', { class: 'sr-only', 'aria-live': 'polite', id: 'live' });
const announce = (text) => { live.textContent = ''; setTimeout(() => { live.textContent = text; }, 50); };
let session = null;
let preferred = null; // { id, name, presence } of the chosen mechanic
let ticker = null;

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const prefName = (step) => step?.mechanic_name || preferred?.name || 'Your chosen mechanic';
const channelWords = { push: 'a notification on their phone or computer', email: 'email' };

// One line of the log for each routing step, in the customer's words.
const STEP_TEXT = {
  priority_offered: (s) => `Offered to ${prefName(s)} first, with priority until ${timeOfDay(session.priority_ends_at)}.`,
  mechanic_notified: (s) => `${prefName(s)} was told by ${(s.channels || []).map((c) => channelWords[c] || c).join(' and ')}.`,
  priority_declined: (s) => `${prefName(s)} can't take it; offering it to the next best matches.`,
  priority_skipped: () => 'You asked for the first available mechanic.',
  priority_expired: (s) => `${prefName(s)} didn't accept in time; offering it to the next best matches.`,
  broadcast: (s) => (s.count > 0 ? `Offered to ${plural(s.count, 'mechanic')} who ${s.count === 1 ? 'is' : 'are'} online.`
    : 'No matching mechanic was online; waiting for the first one to come online.'),
  offer_added: (s) => `${s.mechanic_name} came online and was offered your request.`,
  accepted: (s) => `${s.mechanic_name} accepted your request.`,
  cancelled: () => 'You cancelled the request.',
  expired: () => 'Nobody could take your request in time; any credits were refunded.',
  ended: () => 'Your session has ended.',
};
const stepText = (s) => (STEP_TEXT[s.step] || (() => s.step))(s);

// How many mechanics hold the broadcast now: the broadcast's count, plus later joiners.
function offeredCount() {
  let n = 0;
  for (const s of session.steps || []) {
    if (s.step === 'broadcast') n = s.count || 0;
    else if (s.step === 'offer_added') n += 1;
  }
  return n;
}
const notified = () => (session.steps || []).find((s) => s.step === 'mechanic_notified');

async function act(path) {
  const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(id)}/${path}`);
  if (status === 200) { session = data; render(); } else { announce(data?.message || 'That did not work.'); }
}

function ratingForm() {
  const error = el('p', { class: 'error-text', role: 'alert' });
  const scale = el('fieldset', { class: 'scale' },
    el('legend', { class: 'label' }, 'How likely are you to recommend us to a friend?'),
    Array.from({ length: 11 }, (_, n) => el('label', { class: 'choice' },
      el('input', { type: 'radio', name: 'score', value: String(n) }), String(n))));
  const comment = el('textarea', { id: 'comment', name: 'comment', maxlength: '2000' });
  return el('form', { class: 'card', id: 'rating', 'aria-label': 'Rate your session', onsubmit: async (e) => {
    e.preventDefault();
    const picked = scale.querySelector('input:checked');
    if (!picked) { error.textContent = 'Pick a number from 0 to 10.'; return; }
    const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(id)}/rating`,
      { score: Number(picked.value), comment: comment.value.trim() || null });
    if (status === 200) { session = data; render(); announce('Thank you for your answer.'); } else { error.textContent = data?.message || 'Could not save.'; }
  } }, scale,
  el('p', { class: 'scale-ends', 'aria-hidden': 'true' }, el('span', {}, '0 = not at all'), el('span', {}, '10 = extremely likely')),
  el('div', { class: 'field' }, el('label', { for: 'comment' }, 'Anything to add? (optional)'), comment),
  error, el('button', { class: 'btn btn-primary', type: 'submit' }, 'Send'));
}

// A countdown that ticks in place (render() is not re-run every second).
function clock(untilIso, cls = 'countdown') {
  const node = el('span', { class: cls, role: 'timer', 'data-until': untilIso }, countdown(untilIso));
  return node;
}
function tick() {
  for (const t of document.querySelectorAll('[data-until]')) t.textContent = countdown(t.dataset.until);
}

function statusCard() {
  const s = session;
  const lines = el('div', { class: 'status-lines', id: 'status-text' });
  const card = el('section', { class: 'card', 'aria-labelledby': 'status-h' }, el('h2', { id: 'status-h' }, 'Status'), lines);
  const say = (...parts) => lines.append(el('p', { class: 'subtext' }, ...parts));
  if (s.state === 'awaiting_payment') {
    say('Waiting for your card payment to be confirmed. Routing starts as soon as it is.');
    if (s.checkout_url) card.append(el('a', { class: 'btn btn-primary', href: s.checkout_url }, 'Complete payment'));
  } else if (s.state === 'priority') {
    const name = preferred?.name || 'Your chosen mechanic';
    const told = notified();
    if (!preferred || preferred.presence === 'online') {
      lines.dataset.case = 'priority-online';
      say(`${name} is online and has your request.`);
    } else {
      lines.dataset.case = 'priority-offline';
      say(`${name} is offline right now. If they come online before the countdown ends, they get your request first.`);
      if (told) say(`We told them by ${(told.channels || []).map((c) => channelWords[c] || c).join(' and ')}.`);
    }
    lines.append(el('p', { class: 'subtext' }, 'Priority ends in ', clock(s.priority_ends_at)));
    say('After that, we offer it to the next best matches who are online.');
    card.append(el('button', { class: 'btn btn-primary btn-block', type: 'button', onclick: () => act('skip-priority') },
      'Connect me with the first available mechanic'));
  } else if (s.state === 'broadcast') {
    const n = offeredCount();
    if (n > 0) {
      lines.dataset.case = 'broadcast';
      say(`Your request was offered to ${plural(n, 'mechanic')} who ${n === 1 ? 'is' : 'are'} online now. The first to accept joins you.`);
    } else {
      lines.dataset.case = 'nobody-online';
      say('No matching mechanic is online right now. Your request goes to the first one who comes online.');
    }
    say(`It stays open until ${timeOfDay(s.expires_at)} (`, clock(s.expires_at, 'countdown-small'), ' left); if nobody takes it by then, any credits are refunded.');
  } else if (s.assigned_mechanic) {
    const m = s.assigned_mechanic;
    card.append(el('div', { class: 'mech', id: 'assigned' },
      el('span', { class: 'avatar', 'aria-hidden': 'true' }, m.profile_photo_url
        ? el('img', { src: m.profile_photo_url, alt: '' }) : el('span', { class: 'initials' }, initials(m.name))),
      el('span', { class: 'mech-body' }, el('span', { class: 'mech-name block' }, m.name),
        el('span', { class: 'rating' }, icon('star', 'icon icon-fill'), m.rating.toFixed(1),
          el('span', { class: 'sr-only' }, ' stars')))));
    say(s.state === 'accepted' ? `${m.name} accepted at ${timeOfDay(s.accepted_at)} and is getting ready to talk to you.`
      : `Your session with ${m.name} ended at ${timeOfDay(s.ended_at)}.`);
  } else {
    say(s.state === 'expired' ? STEP_TEXT.expired() : STEP_TEXT.cancelled());
  }
  return card;
}

function render() {
  const s = session;
  const title = s.state === 'accepted' ? 'Your mechanic is ready' : s.state === 'ended' ? 'Session ended'
    : ['cancelled', 'expired'].includes(s.state) ? 'Request closed' : 'Finding your mechanic';
  const closed = ['ended', 'cancelled', 'expired'].includes(s.state);
  const steps = s.steps || [];
  show(main,
    el('h1', {}, title),
    el('p', { class: 'subtext' }, `${s.vehicle.year} ${s.vehicle.make} ${s.vehicle.model} · ${s.plan.name} · requested ${dayAndTime(s.created_at)}`),
    statusCard(),
    ['awaiting_payment', 'priority', 'broadcast'].includes(s.state) ? cancelControl() : null,
    s.state === 'ended' && s.rating === null ? ratingForm() : null,
    s.state === 'ended' && s.rating !== null ? el('p', { class: 'notice is-good' }, 'Thank you for your answer.') : null,
    closed ? el('div', { class: 'actions' },
      el('a', { class: 'btn btn-secondary', href: '/' }, 'Back to your dashboard'),
      el('a', { class: 'btn btn-primary', href: '/wizard' }, 'Book another session')) : null,
    el('section', { class: 'card', 'aria-labelledby': 'log-h' }, el('h2', { id: 'log-h' }, 'What happened'),
      steps.length
        ? el('ol', { class: 'log', id: 'routing-log' }, steps.map((st) => el('li', {},
          el('time', { datetime: st.at }, timeOfDay(st.at)), el('span', {}, stepText(st)))))
        : el('p', { class: 'muted', id: 'routing-log' }, 'Nothing yet.')),
    live);
  clearInterval(ticker);
  if (document.querySelector('[data-until]')) ticker = setInterval(tick, 1000);
  followPreferred();
}

// Cancelling asks once more, on the page (no browser dialog).
let confirming = false;
function cancelControl() {
  if (!confirming) {
    return el('button', { class: 'btn btn-secondary btn-block', type: 'button', id: 'cancel',
      onclick: () => { confirming = true; render(); document.getElementById('cancel-yes')?.focus(); } }, 'Cancel request');
  }
  return el('div', { class: 'notice is-warn', role: 'group', 'aria-label': 'Cancel the request?' },
    el('p', {}, 'Cancel this request? Any credits are refunded.'),
    el('div', { class: 'actions' },
      el('button', { class: 'btn btn-secondary', type: 'button', onclick: () => { confirming = false; render(); } }, 'Keep waiting'),
      el('button', { class: 'btn btn-primary', type: 'button', id: 'cancel-yes', onclick: () => { confirming = false; act('cancel'); } }, 'Yes, cancel')));
}

// The chosen mechanic's presence, live, while their priority window runs.
const presence = new PresenceStream({
  onSnapshot(list) { list.forEach(applyPresence); },
  onPresence: applyPresence,
});
function applyPresence(p) {
  if (!preferred || p.id !== preferred.id || p.presence === preferred.presence) return;
  preferred.presence = p.presence;
  if (session.state !== 'priority') return;
  render();
  announce(p.presence === 'online' ? `${preferred.name} is online now and has your request.` : `${preferred.name} went offline.`);
}
function followPreferred() {
  if (preferred && session.state === 'priority') presence.follow([preferred.id]);
  else presence.close();
}

async function refresh() {
  const fresh = await api('GET', `/api/sessions/${encodeURIComponent(id)}`);
  if (fresh.status === 200) { session = fresh.data; render(); }
}

const first = await api('GET', `/api/sessions/${encodeURIComponent(id)}`);
if (first.status !== 200) {
  show(main, el('h1', {}, 'Request not found'),
    el('p', { class: 'subtext' }, 'This link does not lead to one of your requests.'),
    el('a', { class: 'btn btn-primary', href: '/' }, 'Back to your dashboard'));
} else {
  session = first.data;
  if (session.preferred_mechanic_id) {
    const m = await api('GET', `/api/mechanics/${encodeURIComponent(session.preferred_mechanic_id)}`);
    if (m.status === 200) preferred = { id: m.data.id, name: m.data.name, presence: m.data.presence };
  }
  render();
  const src = new EventSource(`/api/sessions/${encodeURIComponent(id)}/stream`);
  src.addEventListener('snapshot', (e) => { session = JSON.parse(e.data); render(); });
  src.addEventListener('routing', async (e) => {
    const step = JSON.parse(e.data);
    await refresh(); // the session object carries the new step and the new state
    announce(stepText(step));
  });
}
document.body.dataset.ready = 'true';
