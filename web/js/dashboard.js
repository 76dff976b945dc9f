// The customer dashboard: the live request (back to its waiting room) or the main action,
// the customer's vehicles (add, edit, remove), past sessions, and the account (name, city).
import {
  LIVE_STATES, api, dayAndTime, el, money, renderTopbar, requireMe, show,
} from './api.js';
import { readVehicle, vehicleFields, vehicleName } from './vehicles.js';

let me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
const live = el('div', { class: 'sr-only', 'aria-live': 'polite', id: 'live' });
const announce = (text) => { live.textContent = ''; setTimeout(() => { live.textContent = text; }, 50); };

let vehicles = [];
let sessions = [];
let editing = null;    // id of the vehicle being edited
let removing = null;   // id of the vehicle whose removal waits for a confirmation
let adding = false;
const vehicleError = el('p', { class: 'error-text', role: 'alert', id: 'vehicle-error' });

const STATE_WORD = {
  awaiting_payment: 'Waiting for payment',
  priority: 'Waiting for your chosen mechanic',
  broadcast: 'Finding a mechanic',
  accepted: 'Your mechanic is ready',
  ended: 'Ended',
  cancelled: 'Cancelled',
  expired: 'Expired: nobody was free',
};
const OUTCOME_WORD = { resolved: 'Resolved', escalated: 'Referred to an in-person repair', unresolved: 'Not resolved' };
const waitingUrl = (s) => `/waiting?session=${encodeURIComponent(s.id)}`;

// ---- the live request, or the main action ----
function startCard() {
  const current = sessions.find((s) => LIVE_STATES.includes(s.state));
  if (current) {
    return el('section', { class: 'card', 'aria-labelledby': 'live-h', id: 'live-request' },
      el('h2', { id: 'live-h' }, 'Your request'),
      el('div', { class: 'item is-live' },
        el('div', { class: 'item-text' },
          el('span', { class: 'item-title' }, STATE_WORD[current.state]),
          el('span', { class: 'subtext' }, `${vehicleName(current.vehicle)} · ${current.plan.name}`
            + (current.assigned_mechanic ? ` · ${current.assigned_mechanic.name}` : '')),
          el('span', { class: 'hint' }, `Requested ${dayAndTime(current.created_at)}`))),
      el('div', { class: 'actions tight' },
        el('a', { class: 'btn btn-primary', href: waitingUrl(current) }, 'Return to the waiting room')),
      el('p', { class: 'hint' }, 'You can book another session once this one is over.'));
  }
  return el('section', { class: 'card', 'aria-labelledby': 'start-h' },
    el('h2', { id: 'start-h' }, 'Talk to a mechanic on video'),
    el('p', { class: 'subtext' }, vehicles.length
      ? 'Pick your vehicle and a plan, then the mechanic you want, or the first available.'
      : 'Add your vehicle below, or in the first step.'),
    el('button', { class: 'btn btn-primary', type: 'button', onclick: () => { location.href = '/wizard'; } },
      'Start a session'));
}

// ---- vehicles ----
function vehicleItem(v) {
  if (editing === v.id) {
    const form = el('form', { 'aria-label': `Edit ${vehicleName(v)}`, novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      vehicleError.textContent = '';
      const body = readVehicle(form, vehicleError);
      if (!body) return;
      const { status, data } = await api('PUT', `/api/vehicles/${encodeURIComponent(v.id)}`, body);
      if (status !== 200) { vehicleError.textContent = data?.message || 'Could not save the vehicle.'; return; }
      editing = null;
      announce(`Saved ${vehicleName(data)}.`);
      await reload();
      document.querySelector(`[data-vehicle="${CSS.escape(v.id)}"] .btn`)?.focus();
    } }, vehicleFields(`edit-${v.id}`, v),
    el('div', { class: 'actions tight end' },
      el('button', { class: 'btn btn-secondary btn-small', type: 'button', onclick: () => { editing = null; vehicleError.textContent = ''; render(); } }, 'Cancel'),
      el('button', { class: 'btn btn-primary btn-small', type: 'submit' }, 'Save')));
    return el('li', { class: 'item', 'data-vehicle': v.id }, form);
  }
  if (removing === v.id) {
    return el('li', { class: 'item', 'data-vehicle': v.id },
      el('span', { class: 'item-title' }, `Remove ${vehicleName(v)}?`),
      el('div', { class: 'item-actions' },
        el('button', { class: 'btn btn-secondary btn-small', type: 'button', onclick: () => { removing = null; render(); } }, 'Keep it'),
        el('button', { class: 'btn btn-primary btn-small', type: 'button', onclick: async () => {
          const { status, data } = await api('DELETE', `/api/vehicles/${encodeURIComponent(v.id)}`);
          removing = null;
          if (status !== 204) { vehicleError.textContent = data?.message || 'Could not remove the vehicle.'; render(); return; }
          announce(`Removed ${vehicleName(v)}.`);
          await reload();
          document.getElementById('add-vehicle-open')?.focus();
        } }, 'Yes, remove')));
  }
  return el('li', { class: 'item', 'data-vehicle': v.id },
    el('span', { class: 'item-title' }, vehicleName(v)),
    el('div', { class: 'item-actions' },
      el('button', { class: 'btn btn-secondary btn-small', type: 'button', 'aria-label': `Edit ${vehicleName(v)}`,
        onclick: () => { editing = v.id; removing = null; vehicleError.textContent = ''; render(); document.getElementById(`edit-${v.id}-year`)?.focus(); } }, 'Edit'),
      el('button', { class: 'btn btn-secondary btn-small', type: 'button', 'aria-label': `Remove ${vehicleName(v)}`,
        onclick: () => { removing = v.id; editing = null; vehicleError.textContent = ''; render(); } }, 'Remove')));
}

function addForm() {
  if (!adding && vehicles.length) {
    return el('button', { class: 'btn btn-secondary', type: 'button', id: 'add-vehicle-open',
      onclick: () => { adding = true; render(); document.getElementById('add-year')?.focus(); } }, 'Add a vehicle');
  }
  const form = el('form', { id: 'add-vehicle', 'aria-label': 'Add a vehicle', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    vehicleError.textContent = '';
    const body = readVehicle(form, vehicleError);
    if (!body) return;
    const { status, data } = await api('POST', '/api/vehicles', body);
    if (status !== 201) { vehicleError.textContent = data?.message || 'Could not add the vehicle.'; return; }
    adding = false;
    announce(`Added ${vehicleName(data)}.`);
    await reload();
    document.getElementById('add-vehicle-open')?.focus();
  } }, el('h3', { class: 'label' }, 'Add a vehicle'), vehicleFields('add'),
  el('div', { class: 'actions tight end' },
    vehicles.length ? el('button', { class: 'btn btn-secondary btn-small', type: 'button', onclick: () => { adding = false; vehicleError.textContent = ''; render(); } }, 'Cancel') : null,
    el('button', { class: 'btn btn-primary btn-small', type: 'submit' }, 'Add vehicle')));
  return form;
}

function vehiclesCard() {
  return el('section', { class: 'card', 'aria-labelledby': 'veh-h', id: 'vehicles' },
    el('h2', { id: 'veh-h' }, 'Your vehicles'),
    vehicles.length
      ? el('ul', { class: 'items' }, vehicles.map(vehicleItem))
      : el('p', { class: 'muted' }, 'No vehicles yet. Add the one that needs help.'),
    vehicleError, addForm());
}

// ---- past sessions ----
function pastCard() {
  const past = sessions.filter((s) => !LIVE_STATES.includes(s.state));
  return el('section', { class: 'card', 'aria-labelledby': 'past-h', id: 'past-sessions' },
    el('h2', { id: 'past-h' }, 'Past sessions'),
    past.length
      ? el('ul', { class: 'items' }, past.map((s) => {
        const tag = s.state === 'ended'
          ? el('span', { class: `state-tag ${s.outcome === 'resolved' ? 'is-good' : ''}` }, OUTCOME_WORD[s.outcome] || 'Ended')
          : el('span', { class: 'state-tag is-bad' }, STATE_WORD[s.state]);
        return el('li', { class: 'item' },
          el('div', { class: 'item-text' },
            el('span', { class: 'item-title' }, vehicleName(s.vehicle)),
            el('span', { class: 'subtext' }, [dayAndTime(s.created_at), s.plan.name,
              s.assigned_mechanic ? `with ${s.assigned_mechanic.name}` : null].filter(Boolean).join(' · ')),
            tag),
          el('a', { class: 'btn btn-secondary btn-small', href: waitingUrl(s),
            'aria-label': `Details of the session of ${dayAndTime(s.created_at)}` }, s.state === 'ended' && s.rating === null ? 'Rate' : 'Details'));
      }))
      : el('p', { class: 'muted' }, 'No sessions yet.'));
}

// ---- the account ----
function accountCard() {
  const error = el('p', { class: 'error-text', role: 'alert', id: 'account-error' });
  const saved = el('p', { class: 'hint', role: 'status', id: 'account-saved' });
  const form = el('form', { id: 'account', 'aria-label': 'Your name and city', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    saved.textContent = '';
    const name = form.name.value.trim(), city = form.city.value.trim();
    if (!name) { error.textContent = 'Enter your name.'; form.name.focus(); return; }
    if (!city) { error.textContent = 'Enter your city.'; form.city.focus(); return; }
    const { status, data } = await api('PUT', '/api/me', { name, city });
    if (status !== 200) { error.textContent = data?.message || 'Could not save.'; return; }
    me = data;
    renderTopbar(me);
    document.getElementById('hello').textContent = `Hi ${me.name.split(' ')[0]}`;
    saved.textContent = 'Saved.';
  } },
  el('div', { class: 'fields-2' },
    el('div', { class: 'field' }, el('label', { for: 'acct-name' }, 'Name'),
      el('input', { id: 'acct-name', name: 'name', type: 'text', maxlength: '100', autocomplete: 'name', required: true, value: me.name })),
    el('div', { class: 'field' }, el('label', { for: 'acct-city' }, 'City'),
      el('input', { id: 'acct-city', name: 'city', type: 'text', maxlength: '100', autocomplete: 'address-level2', required: true, value: me.city }))),
  error,
  el('div', { class: 'row-between' }, saved, el('button', { class: 'btn btn-secondary btn-small', type: 'submit' }, 'Save')));
  return el('section', { class: 'card', 'aria-labelledby': 'acct-h', id: 'account-card' },
    el('h2', { id: 'acct-h' }, 'Your account'),
    el('dl', { class: 'stats' },
      el('div', { class: 'stat' }, el('dt', {}, 'Credits'), el('dd', {}, el('span', { class: 'stat-value' }, money(me.credit_balance_cents)))),
      el('div', { class: 'stat' }, el('dt', {}, 'Free session'), el('dd', {}, el('span', { class: 'stat-value' }, me.free_session_used ? 'Used' : 'Available')))),
    form);
}

function render() {
  show(main,
    el('h1', { id: 'hello' }, `Hi ${me.name.split(' ')[0]}`),
    startCard(), vehiclesCard(), pastCard(), accountCard(), live);
}

async function reload() {
  const [v, s, m] = await Promise.all([api('GET', '/api/vehicles'), api('GET', '/api/sessions'), api('GET', '/api/me')]);
  vehicles = v.data?.vehicles || [];
  sessions = s.data?.sessions || [];
  if (m.status === 200) me = m.data;
  render();
}

await reload();
document.body.dataset.ready = 'true';
