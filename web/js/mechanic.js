// The mechanic dashboard: the online switch and the mechanic's own status, live. The
// dashboard stream stays open while the page is, which keeps the mechanic "seen".
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
  el('section', { class: 'card', 'aria-labelledby': 'offers-h' },
    el('h2', { id: 'offers-h' }, 'Offers'),
    el('p', { class: 'muted' }, 'New session requests will appear here while you are online.')),
  live,
].filter(Boolean));
describe();

// Keeps this mechanic "seen" while the page is open.
new EventSource('/api/mechanic/stream');

// Reflects changes made elsewhere (another tab, a timeout) live.
if (approved) {
  const src = new EventSource(`/api/presence/stream?ids=${encodeURIComponent(own.id)}`);
  const apply = (p) => {
    if (p.id !== own.id || p.presence === own.presence) return;
    own = { ...own, presence: p.presence, last_seen_at: p.last_seen_at };
    describe();
    live.textContent = p.reason === 'timeout' ? 'You were set offline after a period without activity.' : '';
  };
  src.addEventListener('snapshot', (e) => JSON.parse(e.data).mechanics.forEach(apply));
  src.addEventListener('presence', (e) => apply(JSON.parse(e.data)));
}
