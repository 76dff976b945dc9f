// The customer dashboard: the main action and the customer's vehicles.
import { api, el, money, renderTopbar, requireMe } from './api.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
const { data } = await api('GET', '/api/vehicles');
const vehicles = (data && data.vehicles) || [];

main.replaceChildren(
  el('h1', {}, `Hi ${me.name.split(' ')[0]}`),
  el('section', { class: 'card', 'aria-labelledby': 'start-h' },
    el('h2', { id: 'start-h' }, 'Talk to a mechanic on video'),
    el('p', { class: 'subtext' }, 'Pick your vehicle and a plan, then the mechanic you want, or the first available.'),
    el('button', { class: 'btn btn-primary', type: 'button', onclick: () => { location.href = '/wizard'; } },
      'Start a session')),
  el('section', { class: 'card', 'aria-labelledby': 'veh-h' },
    el('h2', { id: 'veh-h' }, 'Your vehicles'),
    vehicles.length
      ? el('ul', { class: 'vehicles' }, vehicles.map((v) => el('li', {}, `${v.year} ${v.make} ${v.model}`)))
      : el('p', { class: 'muted' }, 'No vehicles yet.')),
  el('section', { class: 'card', 'aria-labelledby': 'acct-h' },
    el('h2', { id: 'acct-h' }, 'Your account'),
    el('p', { class: 'subtext' }, `Credits: ${money(me.credit_balance_cents)}`),
    el('p', { class: 'subtext' }, me.free_session_used ? 'Free session: used' : 'Free session: available')),
);
