// The login page: on success, back to where the person was going, or their home.
import { api, homeOf } from './api.js';

const form = document.getElementById('login');
const error = document.getElementById('error');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.textContent = '';
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    error.textContent = 'Enter your email and password.';
    return;
  }
  const button = form.querySelector('button');
  button.disabled = true;
  const { status, data } = await api('POST', '/api/auth/login', { email, password });
  button.disabled = false;
  if (status === 200) {
    const next = new URLSearchParams(location.search).get('next');
    location.href = next && next.startsWith('/') && !next.startsWith('//') ? next : homeOf(data.user.role);
  } else {
    error.textContent = (data && data.message) || 'Could not log in.';
  }
});
