// The waiting room: the request's routing live (session stream), the priority countdown,
// "connect me with the first available mechanic", cancel, the accepted mechanic, and the
// one question after the session ends.
import { api, el, icon, initials, renderTopbar, requireMe } from './api.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
const id = new URLSearchParams(location.search).get('session');
const live = el('div', { class: 'sr-only', 'aria-live': 'polite', id: 'live' });
let session = null;
let timer = null;
let preferredName = null;

const STEP_TEXT = {
  priority_offered: (s) => `${s.mechanic_name} has been notified and has priority.`,
  priority_declined: (s) => `${s.mechanic_name} cannot take it; finding the next best match.`,
  priority_skipped: () => 'Looking for the first available mechanic.',
  priority_expired: () => 'Your mechanic did not answer in time; finding the next best match.',
  broadcast: (s) => `Offered to ${s.count} mechanic${s.count === 1 ? '' : 's'}.`,
  offer_added: (s) => `${s.mechanic_name} just came online and was offered your request.`,
  accepted: (s) => `${s.mechanic_name} accepted your request.`,
  cancelled: () => 'You cancelled the request.',
  expired: () => 'Nobody could take your request in time; any credits were refunded.',
  ended: () => 'Your session has ended.',
};
const log = el('ol', { class: 'vehicles', id: 'routing-log' });

function countdown(untilIso) {
  const left = Math.max(0, Math.round((Date.parse(untilIso) - Date.now()) / 1000));
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
}

async function act(path, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(id)}/${path}`);
  if (status === 200) { session = data; render(); } else { live.textContent = data?.message || 'That did not work.'; }
}

function ratingForm() {
  const error = el('p', { class: 'error-text', role: 'alert' });
  const scale = el('fieldset', { class: 'choices', style: 'grid-template-columns:repeat(11,minmax(0,1fr));gap:0.25rem' },
    el('legend', { class: 'label' }, 'How likely are you to recommend us? (0 = not at all, 10 = extremely)'),
    Array.from({ length: 11 }, (_, n) => el('label', { class: 'choice', style: 'padding:0.5rem;text-align:center' },
      el('input', { type: 'radio', name: 'score', value: String(n) }), String(n))));
  const comment = el('textarea', { id: 'comment', name: 'comment', maxlength: '2000' });
  return el('form', { class: 'card', id: 'rating', onsubmit: async (e) => {
    e.preventDefault();
    const picked = scale.querySelector('input:checked');
    if (!picked) { error.textContent = 'Pick a number from 0 to 10.'; return; }
    const { status, data } = await api('POST', `/api/sessions/${encodeURIComponent(id)}/rating`,
      { score: Number(picked.value), comment: comment.value.trim() || null });
    if (status === 200) { session = data; render(); } else { error.textContent = data?.message || 'Could not save.'; }
  } }, scale, el('div', { class: 'field' }, el('label', { for: 'comment' }, 'Anything to add? (optional)'), comment),
  error, el('button', { class: 'btn btn-primary', type: 'submit' }, 'Send'));
}

function render() {
  clearInterval(timer);
  const s = session;
  const parts = [el('h1', {}, s.state === 'accepted' ? 'Your mechanic is ready' : s.state === 'ended' ? 'Session ended'
    : ['cancelled', 'expired'].includes(s.state) ? 'Request closed' : 'Finding your mechanic')];
  const status = el('section', { class: 'card', 'aria-labelledby': 'status-h' }, el('h2', { id: 'status-h' }, 'Status'));
  if (s.state === 'awaiting_payment') {
    status.append(el('p', { class: 'subtext' }, 'Waiting for your card payment to be confirmed.'));
    if (s.checkout_url) status.append(el('a', { class: 'btn btn-primary', href: s.checkout_url }, 'Complete payment'));
  } else if (s.state === 'priority') {
    const clock = el('span', { class: 'status-big', id: 'countdown', role: 'timer' }, countdown(s.priority_ends_at));
    timer = setInterval(() => { clock.textContent = countdown(s.priority_ends_at); }, 1000);
    status.append(el('p', { class: 'subtext', id: 'priority-note' },
      `${preferredName || 'Your chosen mechanic'} has been notified and has priority for: `, clock),
      el('button', { class: 'btn btn-primary btn-block', type: 'button', onclick: () => act('skip-priority') },
        'Connect me with the first available mechanic'));
  } else if (s.state === 'broadcast') {
    status.append(el('p', { class: 'subtext' }, 'Your request is with the best matching mechanics online. The first to accept joins you.'));
  } else if (s.assigned_mechanic) {
    const m = s.assigned_mechanic;
    status.append(el('div', { class: 'mech', id: 'assigned' },
      el('span', { class: 'avatar', 'aria-hidden': 'true' }, el('span', { class: 'initials' }, initials(m.name))),
      el('span', { class: 'mech-body' }, el('span', { class: 'mech-name', style: 'display:block' }, m.name),
        el('span', { class: 'rating' }, icon('star', 'icon icon-fill'), m.rating.toFixed(1)))));
  } else {
    status.append(el('p', { class: 'subtext' }, s.state === 'expired' ? STEP_TEXT.expired() : STEP_TEXT.cancelled()));
  }
  parts.push(status);
  if (['awaiting_payment', 'priority', 'broadcast'].includes(s.state)) {
    parts.push(el('button', { class: 'btn btn-secondary btn-block', type: 'button',
      onclick: () => act('cancel', 'Cancel this request? Any credits are refunded.') }, 'Cancel request'));
  }
  if (s.state === 'ended' && s.rating === null) parts.push(ratingForm());
  if (s.state === 'ended' && s.rating !== null) parts.push(el('p', { class: 'notice' }, 'Thank you for your answer.'));
  parts.push(el('section', { class: 'card', 'aria-labelledby': 'log-h' }, el('h2', { id: 'log-h' }, 'What happened'), log), live);
  main.replaceChildren(...parts);
}

const first = await api('GET', `/api/sessions/${encodeURIComponent(id || '')}`);
if (first.status !== 200) {
  main.replaceChildren(el('h1', {}, 'Request not found'), el('a', { class: 'btn btn-primary', href: '/' }, 'Back to your dashboard'));
} else {
  session = first.data;
  if (session.preferred_mechanic_id) {
    const m = await api('GET', `/api/mechanics/${encodeURIComponent(session.preferred_mechanic_id)}`);
    if (m.status === 200) preferredName = m.data.name;
  }
  render();
  const src = new EventSource(`/api/sessions/${encodeURIComponent(id)}/stream`);
  src.addEventListener('snapshot', (e) => { session = JSON.parse(e.data); render(); });
  src.addEventListener('routing', async (e) => {
    const step = JSON.parse(e.data);
    const text = (STEP_TEXT[step.step] || (() => step.step))(step);
    log.append(el('li', {}, text));
    live.textContent = text;
    const fresh = await api('GET', `/api/sessions/${encodeURIComponent(id)}`);
    if (fresh.status === 200) { session = fresh.data; render(); live.textContent = text; }
  });
}
