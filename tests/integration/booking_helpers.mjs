// Helpers shared by the booking and routing tests (booking, routing, races, durability):
// a valid POST /api/sessions body, booking, the mechanic's and the session's streams,
// presence switches and balances. Built on helpers.mjs.
import assert from 'node:assert/strict';
import { openStream, eventually, getJson, sleep, Client } from './helpers.mjs';

export const VIDEO = 2999;
export const VIDEO_SPECIALIST = 3999;
export const CONCERN = 'The car makes a grinding noise when braking at low speed.';

// A valid booking body; overrides replace top-level keys (undefined deletes the key).
export function sessionBody(vehicleId, overrides = {}) {
  const body = {
    vehicle_id: vehicleId,
    plan: 'video',
    is_specialist: false,
    preferred_mechanic_id: null,
    routing_type: 'broadcast',
    intake: { concern: CONCERN, symptoms: ['grinding noise'], urgency: 'medium' },
    waiver_accepted: true,
    payment_method: 'credits',
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete body[k]; else body[k] = v;
  }
  return body;
}

export async function vehiclesOf(client) {
  const r = await client.get('/api/vehicles');
  assert.equal(r.status, 200, r.text);
  return r.json.vehicles;
}

export async function vehicleByMake(client, make) {
  const v = (await vehiclesOf(client)).find((x) => x.make === make);
  assert.ok(v, `a ${make} among ${client.me?.email}'s vehicles`);
  return v;
}

export async function book(client, vehicleId, overrides = {}) {
  return client.post('/api/sessions', sessionBody(vehicleId, overrides));
}

// Books and insists on 201; returns the session object.
export async function bookOk(client, vehicleId, overrides = {}) {
  const r = await book(client, vehicleId, overrides);
  assert.equal(r.status, 201, `booking: ${r.status} ${r.text}`);
  return r.json;
}

export async function balanceOf(client) {
  const r = await client.get('/api/me');
  assert.equal(r.status, 200, r.text);
  return r.json.credit_balance_cents;
}

export async function setPresence(client, status) {
  const r = await client.post('/api/mechanic/presence', { status });
  assert.equal(r.status, 200, `presence ${status} for ${client.me?.email}: ${r.status} ${r.text}`);
  return r.json;
}

// The presence of one mechanic as the directory shows it (busy ones included).
export async function presenceOf(base, mechanicId) {
  const r = await getJson(`${base}/api/mechanics/${mechanicId}`);
  if (r.status === 200 && r.json) return r.json.presence ?? r.json.mechanic?.presence;
  const all = await getJson(`${base}/api/mechanics/available?limit=50&include_busy=true`);
  return all.json.mechanics.find((m) => m.id === mechanicId)?.presence;
}

export function cookieHeaders(client) {
  return { Cookie: client.cookieHeader() };
}

// The mechanic's dashboard stream (offers, withdrawals, cancellations).
export async function mechanicStream(base, client, extraHeaders = {}) {
  const s = await openStream(base, '/api/mechanic/stream', { ...cookieHeaders(client), ...extraHeaders });
  assert.equal(s.status, 200, `mechanic stream: ${s.status} ${s.body}`);
  return s;
}

// The customer's stream of one session (snapshot, then routing steps).
export async function sessionStream(base, client, id, extraHeaders = {}) {
  const s = await openStream(base, `/api/sessions/${id}/stream`, { ...cookieHeaders(client), ...extraHeaders });
  assert.equal(s.status, 200, `session stream: ${s.status} ${s.body}`);
  return s;
}

// Routing steps of a session stream, in order.
export function stepsOf(stream) {
  return stream.events.filter((e) => e.event === 'routing').map((e) => e.json.step);
}

export async function waitStep(stream, step, timeoutMs = 5000, extra = () => true) {
  return stream.waitForEvent((e) => e.event === 'routing' && e.json.step === step && extra(e.json), timeoutMs);
}

// Events of a mechanic stream concerning one session.
export function about(stream, sessionId, type) {
  return stream.events.filter((e) => e.json?.session_id === sessionId && (!type || e.event === type));
}

export async function waitAbout(stream, sessionId, type, timeoutMs = 5000, extra = () => true) {
  return stream.waitForEvent((e) => e.event === type && e.json?.session_id === sessionId && extra(e.json), timeoutMs);
}

// Lets events that should NOT arrive have a chance to arrive.
export const settle = (ms = 300) => sleep(ms);

export async function getSession(client, id) {
  const r = await client.get(`/api/sessions/${id}`);
  assert.equal(r.status, 200, `GET session: ${r.status} ${r.text}`);
  return r.json;
}

export async function waitState(client, id, state, timeoutMs = 8000) {
  return eventually(async () => {
    const s = await getSession(client, id);
    return s.state === state ? s : null;
  }, timeoutMs, 100, `session ${id} to be ${state}`);
}

export const isoMs = (iso) => {
  assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/, `ISO 8601 UTC: ${iso}`);
  return Date.parse(iso);
};

// The keys every session object carries (SPEC §4.7).
export const SESSION_KEYS = ['id', 'state', 'customer_id', 'vehicle', 'plan', 'is_specialist',
  'price_cents', 'payment', 'preferred_mechanic_id', 'routing_type', 'metadata', 'intake',
  'assigned_mechanic', 'created_at', 'priority_ends_at', 'expires_at', 'accepted_at', 'ended_at',
  'checkout_url'];

export const OFFER_KEYS = ['session_id', 'kind', 'offered_at', 'expires_at', 'vehicle', 'plan',
  'is_specialist', 'concern', 'customer_first_name'];

// Runs fn over items with at most `limit` at once.
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

// A new customer (registered, logged in; no credits, the free session unused) with one
// vehicle: { client, vehicle }. One live request per customer, so a test that needs two
// sessions routing at once books them for two customers.
export async function newCustomer(base, tag = 'cust', car = { year: 2018, make: 'Honda', model: 'Civic' }) {
  const client = new Client(base);
  const email = `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.test`;
  const r = await client.post('/api/auth/register', { email, password: 'long-enough-pw', name: `Casey ${tag}`, city: 'Toronto' });
  assert.equal(r.status, 201, r.text);
  client.csrf = r.json.csrf_token;
  client.me = r.json.user;
  const v = await client.post('/api/vehicles', car);
  assert.equal(v.status, 201, v.text);
  return { client, vehicle: v.json };
}
