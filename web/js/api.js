// Shared by every page: talking to the API, building DOM safely, the top bar, presence.
// Everything that comes from the server is inserted as text (textContent), never as HTML.

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)pitwall_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

const NO_ANSWER = Object.freeze({
  status: 0, data: { error: 'network', message: 'Could not reach pitwall. Check your connection and try again.' },
});

// fetch + JSON; unsafe methods carry the CSRF header. Returns { status, data }; status 0 when
// no whole answer came back.
export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    // no answer at all (offline, server restarting, page being left): the callers show the
    // message like any other failed request instead of an uncaught rejection
    return NO_ANSWER;
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // an answer that should have had a body but whose body did not arrive whole (the page is
    // being left, the connection dropped) is no answer at all; 204 and friends have none
    if (res.status !== 204 && res.status !== 304) return NO_ANSWER;
  }
  return { status: res.status, data };
}

// The logged-in person, or a trip to the login page.
export async function requireMe(roles) {
  const { status, data } = await api('GET', '/api/me');
  if (status === 401) {
    location.replace(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return new Promise(() => {});
  }
  if (status !== 200) {
    // the server did not answer as it should: say so where the page would be, with a way out
    const main = document.getElementById('main');
    if (main) {
      main.replaceChildren(el('h1', {}, 'Something went wrong'),
        el('p', { class: 'notice', role: 'alert' }, (data && data.message) || 'Could not load your account.'),
        el('button', { class: 'btn btn-primary', type: 'button', onclick: () => location.reload() }, 'Try again'));
    }
    return new Promise(() => {});
  }
  if (roles && !roles.includes(data.role)) {
    location.replace(homeOf(data.role));
    return new Promise(() => {});
  }
  return data;
}

export function homeOf(role) {
  return role === 'mechanic' ? '/mechanic' : role === 'admin' ? '/admin' : '/';
}

// el('p', { class: 'x', onclick: f }, 'text', child) — strings become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// Replaces node's children with parts, skipping null/false (replaceChildren would print "null").
export function show(node, ...parts) {
  node.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));
}

// The server's settings (priority window, request lifetime...): pages never hard-code them.
let configPromise = null;
export function serverConfig() {
  configPromise ||= api('GET', '/api/config').then(({ status, data }) => (status === 200 ? data : {
    priority_window_seconds: null, request_ttl_seconds: null, presence_timeout_seconds: null, broadcast_size: null,
  }));
  return configPromise;
}

// 600 -> "10 minutes", 90 -> "1 minute 30 seconds", 45 -> "45 seconds"
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (s < 60) return plural(s, 'second');
  if (s < 3600) return s % 60 ? `${plural(Math.floor(s / 60), 'minute')} ${plural(s % 60, 'second')}` : plural(s / 60, 'minute');
  const h = Math.floor(s / 3600), m = Math.round((s % 3600) / 60);
  return m ? `${plural(h, 'hour')} ${plural(m, 'minute')}` : plural(h, 'hour');
}

// "10-minute" for a whole number of minutes, else the plain duration
export function durationAdjective(seconds) {
  return seconds % 60 === 0 && seconds < 3600 ? `${seconds / 60}-minute` : duration(seconds);
}

// "m:ss" until the given time
export function countdown(untilIso) {
  const left = Math.max(0, Math.round((Date.parse(untilIso) - Date.now()) / 1000));
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
}

export function timeOfDay(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function dayAndTime(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

// "5 min ago", "3 h ago", "2 days ago"
export function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export const LIVE_STATES = ['awaiting_payment', 'priority', 'broadcast', 'accepted'];

export function money(cents) {
  return `$${(cents / 100).toFixed(2)}`;
}

// The bar on top of every page: brand, who is logged in, and the logout control.
export function renderTopbar(me) {
  const bar = document.getElementById('topbar');
  if (!bar) return;
  const logout = el('button', {
    class: 'btn btn-secondary', type: 'button',
    onclick: async () => { await api('POST', '/api/auth/logout'); location.href = '/login'; },
  }, 'Log out');
  bar.replaceChildren(
    el('a', { class: 'brand', href: homeOf(me.role) }, 'pit', el('span', {}, 'wall')),
    el('div', { class: 'who' }, el('span', {}, me.name), logout),
  );
}

export const PRESENCE_WORD = { online: 'Available now', offline: 'Offline', busy: 'Busy' };

// A presence dot with its word: colour is never the only signal.
export function presenceBadge(presence) {
  return el('span', { class: `presence is-${presence}` },
    el('span', { class: 'dot', 'aria-hidden': 'true' }), PRESENCE_WORD[presence] || presence);
}

export function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
}

// A live presence subscription for a set of mechanic ids. EventSource reconnects by itself
// and sends Last-Event-ID; when it gives up (the server answered an error, or the page
// replaced the list) we reopen with ?last_event_id so no change is lost either way.
export class PresenceStream {
  constructor({ onSnapshot, onPresence, onStatus }) {
    this.onSnapshot = onSnapshot; this.onPresence = onPresence; this.onStatus = onStatus || (() => {});
    this.ids = []; this.lastId = null; this.source = null; this.retryTimer = null;
  }

  follow(ids) {
    const same = ids.length === this.ids.length && ids.every((id, i) => id === this.ids[i]);
    if (same && this.source) return;
    this.ids = [...ids];
    this.lastId = null; // a new set of ids starts from a fresh snapshot
    this.open();
  }

  open() {
    this.close();
    if (this.ids.length === 0) return;
    const q = new URLSearchParams({ ids: this.ids.join(',') });
    if (this.lastId !== null) q.set('last_event_id', this.lastId);
    const src = new EventSource(`/api/presence/stream?${q}`);
    this.source = src;
    src.addEventListener('open', () => this.onStatus('live'));
    src.addEventListener('snapshot', (e) => {
      this.lastId = e.lastEventId;
      this.onSnapshot(JSON.parse(e.data).mechanics);
    });
    src.addEventListener('presence', (e) => {
      this.lastId = e.lastEventId;
      this.onPresence(JSON.parse(e.data));
    });
    src.addEventListener('error', () => {
      this.onStatus('reconnecting');
      if (src.readyState === EventSource.CLOSED) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.open(), 1000 + Math.random() * 2000);
      }
    });
  }

  close() {
    clearTimeout(this.retryTimer);
    if (this.source) this.source.close();
    this.source = null;
  }
}

// Small line icons (no icon font, no emoji: both depend on the reader's fonts).
const ICONS = {
  pin: ['M12 21s-6-5.3-6-10a6 6 0 1 1 12 0c0 4.7-6 10-6 10z', 'M12 11.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 2'],
  bolt: ['M13 2 4 14h7l-1 8 9-12h-7l1-8z'],
  star: ['M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1L3.2 9.5l6.1-.9L12 3z'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
};
export function icon(name, cls = 'icon') {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name]) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
