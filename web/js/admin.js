// The operator's page. Metrics, rollout and approvals arrive with the operator issue.
import { el, renderTopbar, requireMe } from './api.js';

const me = await requireMe(['admin']);
renderTopbar(me);
document.getElementById('main').replaceChildren(
  el('h1', {}, 'Operator'),
  el('p', { class: 'notice' }, 'Success metrics, rollout control and mechanic approval are coming to this page.'),
);
