// The waiver: the customer accepts it before paying.
import { el, renderTopbar, requireMe } from './api.js';
import * as draft from './draft.js';

const me = await requireMe(['customer']);
renderTopbar(me);
const main = document.getElementById('main');
if (!draft.load().intake) location.replace(draft.next('/intake'));

const error = el('p', { class: 'error-text', role: 'alert', id: 'waiver-error' });
const box = el('input', { type: 'checkbox', id: 'accept', name: 'accept', checked: !!draft.load().waiver_accepted,
  'aria-describedby': 'waiver-error' });
main.replaceChildren(
  el('h1', {}, 'Before we connect you'),
  el('section', { class: 'card', 'aria-labelledby': 'waiver-h' },
    el('h2', { id: 'waiver-h' }, 'Remote diagnosis waiver'),
    el('p', { class: 'subtext' }, 'A video session is advice from a licensed mechanic who cannot touch or test your vehicle. '
      + 'Do not follow any step that is unsafe where you are; stop and call roadside assistance if the vehicle is not safe to drive. '
      + 'The mechanic may refer you to an in-person repair or a quote. The session may be recorded for quality.'),
    el('label', { class: 'check-row', for: 'accept' }, box, 'I have read and accept the waiver')),
  error,
  el('div', { class: 'actions' },
    el('a', { class: 'btn btn-secondary', href: draft.next('/intake') }, 'Back'),
    el('button', { class: 'btn btn-primary', type: 'button', onclick: () => {
      if (!box.checked) { error.textContent = 'Please accept the waiver to continue.'; box.focus(); return; }
      draft.save({ waiver_accepted: true });
      location.href = draft.next('/payment');
    } }, 'Continue to payment')),
);
