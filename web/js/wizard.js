// The session wizard: 1 vehicle, 2 plan, 3 mechanic type + mechanic selection with live
// presence. Step 3 keeps the list in order as presence changes arrive on the stream.
import {
  LIVE_STATES, PresenceStream, ago, api, duration, el, icon, initials, money, presenceBadge, renderTopbar,
  requireMe, serverConfig, show,
} from './api.js';
import { readVehicle, vehicleFields, vehicleName } from './vehicles.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');

const [vehiclesRes, plansRes, sessionsRes, config] = await Promise.all([api('GET', '/api/vehicles'),
  api('GET', '/api/plans'), api('GET', '/api/sessions'), serverConfig()]);
const vehicles = vehiclesRes.data?.vehicles || [];
const plans = plansRes.data?.plans || [];
// one live request per customer: the wizard sends them back to it instead of booking again
const current = (sessionsRes.data?.sessions || []).find((s) => LIVE_STATES.includes(s.state));

const state = {
  step: 1,
  vehicleId: vehicles[0]?.id || null,
  planSlug: plans.find((p) => p.slug === 'video')?.slug || plans[0]?.slug || null,
  isSpecialist: false,
  selected: 'any',      // 'any' = First Available, else a mechanic id
  showAll: false,
  mechanics: [],        // as the directory returned them, kept in directory order
  total: 0,
  online: 0,
  loading: false,
  error: '',
  watchBusy: new Set(), // mechanics that left the list busy: we still listen for their return
  selectedNote: null,   // what happened to the selected mechanic since it was picked
  adding: vehicles.length === 0, // step 1's "Add a vehicle" form is open
};
const city = me.city || 'Toronto';
const selectionEnabled = me.mechanic_selection !== false;

const live = el('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'true', id: 'live' });
const view = el('div');
main.replaceChildren(view, live);

const vehicle = () => vehicles.find((v) => v.id === state.vehicleId);
const plan = () => plans.find((p) => p.slug === state.planSlug);
const announce = (text) => { live.textContent = ''; setTimeout(() => { live.textContent = text; }, 50); };

// The directory's order: online first, then rating, completed sessions, id.
function rank(a, b) {
  const ao = a.presence === 'online' ? 1 : 0, bo = b.presence === 'online' ? 1 : 0;
  if (ao !== bo) return bo - ao;
  if (a.rating !== b.rating) return b.rating - a.rating;
  if (a.completed_sessions !== b.completed_sessions) return b.completed_sessions - a.completed_sessions;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function header(title) {
  return [
    el('div', { class: 'progress' },
      el('span', { class: 'label' }, `Step ${state.step} of 3`),
      el('span', { class: 'label' }, ['Vehicle', 'Plan', 'Mechanic'][state.step - 1])),
    el('progress', { class: 'bar', max: '3', value: String(state.step), 'aria-label': `Step ${state.step} of 3` }),
    el('h1', { id: 'step-title', tabindex: '-1' }, title),
  ];
}

function choice(name, value, checked, onChange, ...content) {
  return el('label', { class: 'choice' },
    el('input', { type: 'radio', name, value, checked, onchange: onChange }),
    el('span', { class: 'check', 'aria-hidden': 'true' }),
    ...content);
}

function actions(back, next) {
  return el('div', { class: 'actions' }, back, next);
}

function backButton(onclick) {
  return el('button', { class: 'btn btn-secondary', type: 'button', onclick }, 'Back');
}

function go(step) {
  state.step = step;
  if (step === 3 && selectionEnabled) state.loading = true;
  render();
  document.getElementById('step-title')?.focus();
  if (step === 3 && selectionEnabled) loadMechanics(); // the vehicle may have changed
}

// ---- step 1 ----
function addVehicle() {
  if (!state.adding) {
    return el('button', { class: 'btn btn-secondary btn-block', type: 'button', id: 'add-vehicle-open',
      onclick: () => { state.adding = true; render(); document.getElementById('add-year')?.focus(); } }, 'Add a vehicle');
  }
  const error = el('p', { class: 'error-text', role: 'alert', id: 'vehicle-error' });
  const form = el('form', { class: 'card', id: 'add-vehicle', 'aria-labelledby': 'add-h', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    const body = readVehicle(form, error);
    if (!body) return;
    const { status, data } = await api('POST', '/api/vehicles', body);
    if (status !== 201) { error.textContent = data?.message || 'Could not add the vehicle.'; return; }
    vehicles.push(data);
    state.vehicleId = data.id;
    state.adding = false;
    render();
    announce(`Added ${vehicleName(data)}; it is selected.`);
    document.querySelector(`input[name="vehicle"][value="${CSS.escape(data.id)}"]`)?.focus();
  } },
  el('h2', { id: 'add-h' }, vehicles.length ? 'Add a vehicle' : 'Add your vehicle'),
  vehicleFields('add'), error,
  el('div', { class: 'actions tight end' },
    vehicles.length ? el('button', { class: 'btn btn-secondary btn-small', type: 'button',
      onclick: () => { state.adding = false; render(); document.getElementById('add-vehicle-open')?.focus(); } }, 'Cancel') : null,
    el('button', { class: 'btn btn-primary btn-small', type: 'submit' }, 'Add vehicle')));
  return form;
}

function stepVehicle() {
  const list = vehicles.length
    ? el('fieldset', { class: 'choices' }, el('legend', { class: 'label' }, 'Your vehicles'),
      vehicles.map((v) => choice('vehicle', v.id, v.id === state.vehicleId,
        () => { state.vehicleId = v.id; }, el('span', { class: 'title' }, vehicleName(v)))))
    : el('p', { class: 'notice' }, 'You have no vehicle yet: add it here and it is selected.');
  return [
    ...header('Which vehicle needs help?'),
    list,
    addVehicle(),
    actions(backButton(() => { location.href = '/'; }),
      el('button', { class: 'btn btn-primary', type: 'button', disabled: !state.vehicleId,
        onclick: () => go(2) }, 'Next')),
  ];
}

// ---- step 2 ----
function stepPlan() {
  return [
    ...header('Choose a plan'),
    el('fieldset', { class: 'choices' }, el('legend', { class: 'label' }, 'Plans'),
      plans.map((p) => choice('plan', p.slug, p.slug === state.planSlug, () => { state.planSlug = p.slug; },
        el('span', { class: 'title' }, p.name),
        el('span', { class: 'price' }, ' ', p.standard_price_cents === 0 ? 'Free' : `from ${money(p.standard_price_cents)}`)))),
    actions(backButton(() => go(1)),
      el('button', { class: 'btn btn-primary', type: 'button', disabled: !state.planSlug, onclick: () => go(3) }, 'Next')),
  ];
}

// ---- step 3 ----
function mechanicCard(m) {
  const photo = m.profile_photo_url
    ? el('img', { src: m.profile_photo_url, alt: '' })
    : el('span', { class: 'initials' }, initials(m.name));
  return choice('mechanic', m.id, state.selected === m.id, () => { state.selected = m.id; clearNote(); },
    el('span', { class: 'mech' },
      el('span', { class: 'avatar', 'aria-hidden': 'true' }, photo,
        el('span', { class: `badge is-${m.presence}` })),
      el('span', { class: 'mech-body' },
        el('span', { class: 'mech-head' },
          el('span', { class: 'mech-name' }, m.name),
          el('span', { class: 'rating' }, icon('star', 'icon icon-fill'), m.rating.toFixed(1),
            el('span', { class: 'sr-only' }, ' stars')),
          el('span', { class: 'sessions' }, `(${m.completed_sessions} sessions)`)),
        el('span', { class: 'specs block' }, m.specializations.join(' • ')),
        el('span', { class: 'meta' },
          el('span', {}, icon('pin'), m.city),
          // a join estimate only means something for a mechanic who is online now
          m.presence === 'online'
            ? el('span', {}, icon('clock'), `Usually joins in ${m.avgResponseTime} min`)
            : m.last_seen_at ? el('span', {}, icon('clock'), `Last online ${ago(m.last_seen_at)}`) : null),
        presenceBadge(m.presence))));
}

function mechanicList() {
  const shown = state.showAll ? state.mechanics : state.mechanics.slice(0, 3);
  // the selected mechanic stays in view when a change moves them below the top 3
  const picked = state.mechanics.find((m) => m.id === state.selected);
  if (picked && !shown.includes(picked)) shown.push(picked);
  const group = el('fieldset', { class: 'choices', id: 'mechanic-group' },
    el('legend', { class: 'label' }, 'Select mechanic'),
    el('label', { class: 'choice first-available' },
      el('input', { type: 'radio', name: 'mechanic', value: 'any', checked: state.selected === 'any',
        onchange: () => { state.selected = 'any'; clearNote(); } }),
      el('span', { class: 'check', 'aria-hidden': 'true' }),
      el('span', { class: 'title' }, icon('bolt', 'icon icon-lg bolt'), 'First Available'),
      el('span', { class: 'price' }, 'Fastest connection • Recommended')),
    shown.map(mechanicCard));
  const parts = [];
  if (state.selectedNote) {
    parts.push(el('div', { class: 'notice is-warn', id: 'selected-note' }, el('p', {}, state.selectedNote)));
  }
  parts.push(group);
  if (state.error) parts.push(el('p', { class: 'error-text', role: 'alert' }, state.error));
  if (!state.showAll && state.total > 3) {
    parts.push(el('button', { class: 'btn btn-link btn-block', type: 'button', id: 'view-all',
      onclick: () => { state.showAll = true; renderStep3List(); document.querySelector('#mechanic-group input[value="any"]')?.focus(); } },
    `View all (${state.total} available)`));
  } else if (state.showAll && state.total > state.mechanics.length) {
    parts.push(el('p', { class: 'muted' }, `Showing the top ${state.mechanics.length} of ${state.total}.`));
  }
  parts.push(el('p', { class: 'summary', id: 'online-summary' },
    icon('bolt', 'icon bolt'),
    `${state.online} mechanic${state.online === 1 ? '' : 's'} available now in ${city}`));
  return parts;
}

function stepMechanic() {
  const p = plan();
  const type = el('fieldset', { class: 'choices type-grid' },
    el('legend', { class: 'label' }, 'Mechanic type'),
    choice('type', 'standard', !state.isSpecialist, () => setSpecialist(false),
      el('span', { class: 'title' }, 'Standard'),
      el('span', { class: 'price' }, money(p.standard_price_cents))),
    choice('type', 'specialist', state.isSpecialist, () => setSpecialist(true),
      el('span', { class: 'title' }, 'Brand Specialist'),
      el('span', { class: 'price' }, `${money(p.specialist_price_cents)}${vehicle() ? ` · ${vehicle().make}` : ''}`)));
  const section = selectionEnabled
    ? el('section', { class: 'card', 'aria-labelledby': 'sel-h', 'aria-busy': state.loading ? 'true' : 'false' },
      el('h2', { id: 'sel-h', class: 'sr-only' }, 'Select mechanic'),
      el('div', { id: 'mechanic-list' }, ...(state.loading && !state.mechanics.length
        ? [el('p', { class: 'muted' }, 'Finding mechanics…')] : mechanicList())))
    : el('p', { class: 'notice' }, 'We will connect you with the first available mechanic.');
  return [
    ...header('Choose your mechanic'),
    el('section', { class: 'card', 'aria-label': 'Mechanic type' }, type),
    section,
    actions(backButton(() => { stream.close(); go(2); }),
      el('button', { class: 'btn btn-primary', type: 'button', onclick: launch }, 'Launch session')),
  ];
}

function clearNote() {
  if (!state.selectedNote) return;
  state.selectedNote = null;
  document.getElementById('selected-note')?.remove();
}

function renderStep3List() {
  const holder = document.getElementById('mechanic-list');
  if (!holder) return;
  const focused = document.activeElement;
  const focusValue = focused && focused.name === 'mechanic' ? focused.value : null;
  const focusViewAll = focused && focused.id === 'view-all';
  holder.replaceChildren(...mechanicList());
  if (focusValue) {
    const again = holder.querySelector(`input[name="mechanic"][value="${CSS.escape(focusValue)}"]`);
    (again || holder.querySelector('input[value="any"]'))?.focus();
  } else if (focusViewAll) {
    (document.getElementById('view-all') || holder.querySelector('input[value="any"]'))?.focus();
  }
}

function render() {
  if (current) {
    show(view, el('h1', {}, 'You have a request in progress'),
      el('div', { class: 'notice is-info' },
        el('p', {}, `Your ${current.plan.name} request for the ${vehicleName(current.vehicle)} is still open. `
          + 'You can book another session once it is over.'),
        el('div', { class: 'actions' },
          el('a', { class: 'btn btn-secondary', href: '/' }, 'Dashboard'),
          el('a', { class: 'btn btn-primary', href: `/waiting?session=${encodeURIComponent(current.id)}` },
            'Return to the waiting room'))));
    return;
  }
  const parts = state.step === 1 ? stepVehicle() : state.step === 2 ? stepPlan() : stepMechanic();
  show(view, ...parts);
}

function setSpecialist(on) {
  if (state.isSpecialist === on) return;
  state.isSpecialist = on;
  state.selected = 'any';
  state.showAll = false;
  loadMechanics();
}

// ---- data ----
let loadSeq = 0;
async function loadMechanics() {
  const seq = ++loadSeq;
  state.loading = true;
  const q = new URLSearchParams({ city, limit: '50' });
  if (state.isSpecialist) {
    q.set('is_specialist', 'true');
    if (vehicle()) q.set('vehicle_make', vehicle().make);
  }
  const { status, data } = await api('GET', `/api/mechanics/available?${q}`);
  if (seq !== loadSeq) return; // a newer load (the toggle moved) wins
  state.loading = false;
  if (status !== 200) {
    state.error = (data && data.message) || 'Could not load mechanics.';
    renderStep3List();
    return;
  }
  state.error = '';
  state.mechanics = data.mechanics;
  state.total = data.total;
  state.online = data.online;
  if (state.selected !== 'any' && !state.mechanics.some((m) => m.id === state.selected)) {
    state.selected = 'any';
    state.selectedNote = 'The mechanic you selected is no longer available, so First Available is selected.';
  }
  if (state.step === 3) {
    if (document.getElementById('mechanic-list')) renderStep3List(); else render();
  }
  stream.follow([...state.mechanics.map((m) => m.id), ...state.watchBusy].slice(0, 100));
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { if (state.step === 3) loadMechanics(); }, 800);
}

function applyPresence(p) {
  const m = state.mechanics.find((x) => x.id === p.id);
  if (!m) {
    if (state.watchBusy.has(p.id) && p.presence !== 'busy') { state.watchBusy.delete(p.id); refreshSoon(); }
    return false;
  }
  if (p.reason === 'suspended') { // an operator took them off: they leave the list for good
    state.mechanics = state.mechanics.filter((x) => x.id !== p.id);
    state.total -= 1;
    if (m.presence === 'online') state.online -= 1;
    if (state.selected === p.id) {
      state.selected = 'any';
      state.selectedNote = `${m.name} is no longer available, so First Available is selected.`;
    }
    announce(`${m.name} is no longer available.`);
    return true;
  }
  if (m.presence === p.presence) return false;
  const before = m.presence;
  m.presence = p.presence;
  m.is_available = p.is_available;
  if (p.last_seen_at) m.last_seen_at = p.last_seen_at;
  if (before === 'online') state.online -= 1;
  if (p.presence === 'online') state.online += 1;
  if (p.presence === 'busy') { // busy mechanics are hidden from selection
    state.mechanics = state.mechanics.filter((x) => x.id !== p.id);
    state.total -= 1;
    state.watchBusy.add(p.id);
    if (state.selected === p.id) {
      state.selected = 'any';
      state.selectedNote = `${m.name} just started another session, so First Available is selected.`;
      announce(state.selectedNote);
    } else {
      announce(`${m.name} is now busy.`);
    }
  } else if (state.selected === p.id && p.presence === 'offline') {
    const windowSec = config.priority_window_seconds;
    state.selectedNote = `${m.name} just went offline. You can keep them: they get your request first if they `
      + `come back online${windowSec ? ` within ${duration(windowSec)}` : ''}. Or pick someone who is available now.`;
    announce(state.selectedNote);
  } else {
    if (state.selected === p.id) state.selectedNote = null; // back online: nothing to warn about
    announce(p.presence === 'online' ? `${m.name} is available now.` : `${m.name} is offline.`);
  }
  state.mechanics.sort(rank);
  return true;
}

const stream = new PresenceStream({
  onSnapshot(list) {
    document.body.dataset.presence = 'live';
    let changed = false;
    for (const p of list) changed = applyPresence(p) || changed;
    if (changed) renderStep3List();
  },
  onPresence(p) {
    if (applyPresence(p)) {
      renderStep3List();
      refreshSoon(); // exact counts and "usually joins" figures from the server
    }
  },
});
setInterval(() => { if (state.step === 3 && !document.hidden) loadMechanics(); }, 30000);

function launch() {
  const q = new URLSearchParams({
    plan: state.planSlug,
    specialist: String(state.isSpecialist),
    vehicle_id: state.vehicleId,
  });
  if (selectionEnabled && state.selected !== 'any') {
    q.set('preferred_mechanic_id', state.selected);
    q.set('routing_type', 'priority_broadcast');
  }
  stream.close();
  location.href = `/intake?${q}`;
}

render();
