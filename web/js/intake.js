// The intake page: the wizard's choices, the "Mechanic selected" banner for a chosen
// mechanic, and the intake form; then the waiver.
import {
  api, durationAdjective, el, icon, money, renderTopbar, requireMe, serverConfig, show,
} from './api.js';
import * as draft from './draft.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
const q = new URLSearchParams(location.search);
const preferredId = q.get('preferred_mechanic_id');
const isSpecialist = q.get('specialist') === 'true';

const [plansRes, vehiclesRes, config, mechRes] = await Promise.all([
  api('GET', '/api/plans'), api('GET', '/api/vehicles'), serverConfig(),
  preferredId ? api('GET', `/api/mechanics/${encodeURIComponent(preferredId)}`) : Promise.resolve(null),
]);
const plan = plansRes.data?.plans?.find((p) => p.slug === q.get('plan'));
const vehicle = vehiclesRes.data?.vehicles?.find((v) => v.id === q.get('vehicle_id'));

if (!plan || !vehicle) {
  show(main, el('h1', {}, 'Intake'),
    el('p', { class: 'notice', role: 'alert' }, 'This link is missing a plan or a vehicle.'),
    el('a', { class: 'btn btn-primary', href: '/wizard' }, 'Start again'));
} else {
  const mechanic = mechRes && mechRes.status === 200 ? mechRes.data : null;
  const name = mechanic ? mechanic.name : 'Your chosen mechanic';
  const windowSec = config.priority_window_seconds;
  const priority = windowSec ? `${durationAdjective(windowSec)} priority` : 'priority';
  // honest about the mechanic's state now: an offline mechanic only gets it if they come online
  const how = !mechanic || mechanic.presence === 'online'
    ? `${name} gets your request first, with ${priority} to accept it.`
    : mechanic.presence === 'busy'
      ? `${name} is in another session right now, so we will go straight to the next best match.`
      : `${name} is offline right now. They get your request first, with ${priority}, if they come online in time.`;
  const banner = preferredId ? el('section', { class: 'banner-selected', role: 'status', id: 'mechanic-selected' },
    icon('check', 'icon tick'),
    el('div', {},
      el('h2', {}, 'Mechanic selected'),
      el('p', {}, mechanic && mechanic.presence === 'busy' ? how
        : `${how} If they don't take it, we'll offer it to the next best matches.`))) : null;
  const price = isSpecialist ? plan.specialist_price_cents : plan.standard_price_cents;
  const symptoms = ['Warning light', 'Strange noise', 'Won\'t start', 'Leak', 'Vibration', 'Electrical issue'];
  const saved = draft.load().intake || {};
  const error = el('p', { class: 'error-text', role: 'alert', id: 'intake-error' });
  const submit = (e) => {
    e.preventDefault();
    const form = e.target;
    const concern = form.concern.value.trim();
    if ([...concern].length < 10) {
      error.textContent = 'Describe the problem in at least 10 characters.';
      form.concern.focus();
      return;
    }
    draft.save({ intake: {
      concern,
      symptoms: [...form.querySelectorAll('input[name=symptoms]:checked')].map((i) => i.value),
      urgency: form.urgency.value,
    } });
    location.href = draft.next('/waiver');
  };
  show(main,
    el('h1', {}, 'Tell us what is going on'),
    banner,
    el('section', { class: 'card summary-card', 'aria-label': 'Your choices' },
      el('p', { class: 'subtext' }, `${vehicle.year} ${vehicle.make} ${vehicle.model}`),
      el('p', { class: 'subtext' }, `${plan.name} · ${isSpecialist ? 'Brand Specialist' : 'Standard'} · ${price === 0 ? 'Free' : money(price)}`)),
    el('form', { class: 'card', id: 'intake', onsubmit: submit, novalidate: true },
      el('div', { class: 'field' },
        el('label', { for: 'concern' }, 'What is the problem?'),
        el('textarea', { id: 'concern', name: 'concern', minlength: '10', maxlength: '2000', required: true,
          'aria-describedby': 'intake-error' }, saved.concern || '')),
      el('fieldset', { class: 'checks' }, el('legend', { class: 'label' }, 'Symptoms'),
        symptoms.map((s) => el('label', { class: 'check-row' }, el('input', { type: 'checkbox', name: 'symptoms', value: s,
          checked: (saved.symptoms || []).includes(s) }), s))),
      el('div', { class: 'field' },
        el('label', { for: 'urgency' }, 'How urgent is it?'),
        el('select', { id: 'urgency', name: 'urgency' },
          ['low', 'medium', 'high'].map((u) => el('option', { value: u, selected: (saved.urgency || 'medium') === u },
            u[0].toUpperCase() + u.slice(1))))),
      error,
      el('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Continue to waiver')),
  );
}
