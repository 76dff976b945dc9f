// The session wizard: 1 vehicle, 2 plan, 3 mechanic type + mechanic selection with live
// presence. Step 3 keeps the list in order as presence changes arrive on the stream.
import {
  PresenceStream, api, el, icon, initials, money, presenceBadge, renderTopbar, requireMe,
} from './api.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');

const [vehiclesRes, plansRes] = await Promise.all([api('GET', '/api/vehicles'), api('GET', '/api/plans')]);
const vehicles = vehiclesRes.data?.vehicles || [];
const plans = plansRes.data?.plans || [];

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
    el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '1', 'aria-valuemax': '3',
      'aria-valuenow': String(state.step), 'aria-label': 'Wizard progress' },
      el('div', { style: `width:${(state.step / 3) * 100}%` })),
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
function stepVehicle() {
  const list = vehicles.length
    ? el('fieldset', { class: 'choices' }, el('legend', { class: 'label' }, 'Your vehicles'),
      vehicles.map((v) => choice('vehicle', v.id, v.id === state.vehicleId,
        () => { state.vehicleId = v.id; }, el('span', { class: 'title' }, `${v.year} ${v.make} ${v.model}`))))
    : el('p', { class: 'notice' }, 'You have no vehicle yet.');
  return [
    ...header('Which vehicle needs help?'),
    list,
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
  return choice('mechanic', m.id, state.selected === m.id, () => { state.selected = m.id; },
    el('span', { class: 'mech' },
      el('span', { class: 'avatar', 'aria-hidden': 'true' }, photo,
        el('span', { class: `badge is-${m.presence}` })),
      el('span', { class: 'mech-body' },
        el('span', { class: 'mech-head' },
          el('span', { class: 'mech-name' }, m.name),
          el('span', { class: 'rating' }, icon('star', 'icon icon-fill'), m.rating.toFixed(1),
            el('span', { class: 'sr-only' }, ' stars')),
          el('span', { class: 'sessions' }, `(${m.completed_sessions} sessions)`)),
        el('span', { class: 'specs', style: 'display:block' }, m.specializations.join(' • ')),
        el('span', { class: 'meta' },
          el('span', {}, icon('pin'), m.city),
          el('span', {}, icon('clock'), `Usually joins in ${m.avgResponseTime} min`)),
        presenceBadge(m.presence))));
}

function mechanicList() {
  const shown = state.showAll ? state.mechanics : state.mechanics.slice(0, 3);
  const group = el('fieldset', { class: 'choices', id: 'mechanic-group' },
    el('legend', { class: 'label' }, 'Select mechanic'),
    el('label', { class: 'choice first-available' },
      el('input', { type: 'radio', name: 'mechanic', value: 'any', checked: state.selected === 'any',
        onchange: () => { state.selected = 'any'; } }),
      el('span', { class: 'check', 'aria-hidden': 'true' }),
      el('span', { class: 'title' }, icon('bolt', 'icon icon-lg bolt'), 'First Available'),
      el('span', { class: 'price', style: 'display:block' }, 'Fastest connection • Recommended')),
    shown.map(mechanicCard));
  const parts = [group];
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
      el('span', { class: 'title', style: 'display:block' }, 'Standard'),
      el('span', { class: 'price' }, money(p.standard_price_cents))),
    choice('type', 'specialist', state.isSpecialist, () => setSpecialist(true),
      el('span', { class: 'title', style: 'display:block' }, 'Brand Specialist'),
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
  const parts = state.step === 1 ? stepVehicle() : state.step === 2 ? stepPlan() : stepMechanic();
  view.replaceChildren(...parts);
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
  if (state.selected !== 'any' && !state.mechanics.some((m) => m.id === state.selected)) state.selected = 'any';
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
    if (state.selected === p.id) state.selected = 'any';
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
      announce(`${m.name} just started another session. First Available is selected.`);
    } else {
      announce(`${m.name} is now busy.`);
    }
  } else {
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
