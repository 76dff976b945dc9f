// Sign-up for customers: on success the new account is logged in and lands on its dashboard.
import { api } from './api.js';

const form = document.getElementById('register');
const error = document.getElementById('error');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.textContent = '';
  const name = form.name.value.trim();
  const email = form.email.value.trim();
  const password = form.password.value;
  const city = form.city.value.trim();
  const missing = [[name, form.name, 'Enter your name.'], [email, form.email, 'Enter your email.'],
    [password, form.password, 'Choose a password.'], [city, form.city, 'Enter your city.']]
    .find(([value]) => !value);
  if (missing) {
    error.textContent = missing[2];
    missing[1].focus();
    return;
  }
  if (password.length < 8) {
    error.textContent = 'The password needs at least 8 characters.';
    form.password.focus();
    return;
  }
  const button = form.querySelector('button');
  button.disabled = true;
  const { status, data } = await api('POST', '/api/auth/register', { name, email, password, city });
  button.disabled = false;
  if (status === 201) {
    location.href = '/';
  } else if (status === 409) {
    error.textContent = 'An account with this email exists already. Log in instead?';
  } else {
    error.textContent = (data && data.message) || 'Could not create the account.';
  }
});
