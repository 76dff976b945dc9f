// Payment: free (once), credits, or card through Stripe Checkout; then the waiting room.
import { api, el, money, renderTopbar, requireMe } from './api.js';
import * as draft from './draft.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
const d = draft.load();
if (!d.intake || !d.waiver_accepted) location.replace(draft.next(d.intake ? '/waiver' : '/intake'));
const c = draft.choices();

const [plansRes, configRes] = await Promise.all([api('GET', '/api/plans'), api('GET', '/api/payments/config')]);
const plan = plansRes.data?.plans?.find((p) => p.slug === c.plan);
const price = plan ? (c.specialist ? plan.specialist_price_cents : plan.standard_price_cents) : 0;
const cardEnabled = configRes.status === 200 && configRes.data.card_enabled;
const cardReason = cardEnabled ? '' : (configRes.data?.card_disabled_reason || 'Card payments are not available.');

const options = price === 0
  ? [{ id: 'free', title: 'Free session', detail: me.free_session_used ? 'Already used' : 'Your one free session',
      disabled: me.free_session_used }]
  : [{ id: 'credits', title: `Credits (${money(me.credit_balance_cents)} available)`,
      detail: me.credit_balance_cents >= price ? `${money(price)} will be taken from your credits` : 'Not enough credits',
      disabled: me.credit_balance_cents < price },
    { id: 'card', title: 'Card', detail: cardEnabled ? 'Pay securely with Stripe' : cardReason, disabled: !cardEnabled }];
let chosen = options.find((o) => !o.disabled)?.id || null;

const error = el('p', { class: 'error-text', role: 'alert' });
const pay = el('button', { class: 'btn btn-primary', type: 'button', disabled: !chosen, onclick: submit },
  price === 0 ? 'Find my mechanic' : 'Pay and find my mechanic');

async function submit() {
  error.textContent = '';
  pay.disabled = true;
  const { status, data } = await api('POST', '/api/sessions', {
    vehicle_id: c.vehicle_id, plan: c.plan, is_specialist: c.specialist,
    preferred_mechanic_id: c.preferred_mechanic_id, routing_type: c.routing_type,
    intake: d.intake, waiver_accepted: true, payment_method: chosen,
  });
  if (status === 201) {
    draft.clear();
    location.href = data.checkout_url || `/waiting?session=${encodeURIComponent(data.id)}`;
    return;
  }
  pay.disabled = false;
  if (status === 409 && data?.error === 'session_in_progress') {
    // another request of theirs is still open: nothing was charged, send them back to it
    draft.clear();
    error.replaceChildren(`${data.message} `, data.session_id
      ? el('a', { href: `/waiting?session=${encodeURIComponent(data.session_id)}` }, 'Return to the waiting room') : '');
    pay.disabled = true;
    return;
  }
  error.textContent = (data && data.message) || 'Could not book the session.';
}

main.replaceChildren(
  el('h1', {}, 'Payment'),
  el('section', { class: 'card summary-card', 'aria-label': 'Summary' },
    el('p', { class: 'subtext' }, plan ? `${plan.name} · ${c.specialist ? 'Brand Specialist' : 'Standard'}` : 'Unknown plan'),
    el('p', { class: 'status-big' }, price === 0 ? 'Free' : money(price))),
  el('fieldset', { class: 'choices' }, el('legend', { class: 'label' }, 'Pay with'),
    options.map((o) => el('label', { class: 'choice' },
      el('input', { type: 'radio', name: 'payment', value: o.id, checked: o.id === chosen, disabled: o.disabled,
        onchange: () => { chosen = o.id; pay.disabled = false; } }),
      el('span', { class: 'check', 'aria-hidden': 'true' }),
      el('span', { class: 'title' }, o.title),
      el('span', { class: 'price' }, o.detail)))),
  error,
  el('div', { class: 'actions' }, el('a', { class: 'btn btn-secondary', href: draft.next('/waiver') }, 'Back'), pay),
);
