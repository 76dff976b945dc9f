// The vehicle form, shared by the dashboard's vehicles section and the wizard's step 1.
import { el } from './api.js';

export const vehicleName = (v) => `${v.year} ${v.make} ${v.model}`;

// Year, make and model inputs, ids prefixed so several forms can share a page.
export function vehicleFields(prefix, v = {}) {
  const latest = new Date().getFullYear() + 1;
  return el('div', { class: 'fields-3' },
    el('div', { class: 'field' }, el('label', { for: `${prefix}-year` }, 'Year'),
      el('input', { id: `${prefix}-year`, name: 'year', type: 'number', min: '1900', max: String(latest), inputmode: 'numeric',
        required: true, value: v.year ? String(v.year) : '' })),
    el('div', { class: 'field' }, el('label', { for: `${prefix}-make` }, 'Make'),
      el('input', { id: `${prefix}-make`, name: 'make', type: 'text', maxlength: '100', required: true, autocomplete: 'off',
        placeholder: 'Toyota', value: v.make || '' })),
    el('div', { class: 'field' }, el('label', { for: `${prefix}-model` }, 'Model'),
      el('input', { id: `${prefix}-model`, name: 'model', type: 'text', maxlength: '100', required: true, autocomplete: 'off',
        placeholder: 'Corolla', value: v.model || '' })));
}

// Reads year/make/model from a form; null (with the message shown) when something is missing.
export function readVehicle(form, error) {
  const year = Number(form.year.value);
  const make = form.make.value.trim();
  const model = form.model.value.trim();
  if (!Number.isInteger(year) || year < 1900 || year > new Date().getFullYear() + 1) {
    error.textContent = 'Enter the year as four digits, like 2019.';
    form.year.focus();
    return null;
  }
  if (!make) { error.textContent = 'Enter the make, like Toyota.'; form.make.focus(); return null; }
  if (!model) { error.textContent = 'Enter the model, like Corolla.'; form.model.focus(); return null; }
  return { year, make, model };
}
