// Routing over HTTP with streams (SPEC §4.2, §4.4, §4.7): the mechanic stream's offer,
// offer_withdrawn (each reason) and session_cancelled; the session stream's snapshot and
// routing steps (priority_offered, priority_declined, priority_skipped, priority_expired,
// broadcast with count, offer_added, accepted, cancelled, expired, ended); the top-N
// broadcast without a city filter; specialists; late joiners; busy preferred mechanics.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, openStream, getJson } from './helpers.mjs';
import {
  VIDEO, OFFER_KEYS, SESSION_KEYS, vehicleByMake, bookOk, balanceOf, setPresence, presenceOf,
  mechanicStream, sessionStream, stepsOf, waitStep, about, waitAbout, settle, getSession, isoMs,
  waitState, book, newCustomer,
} from './booking_helpers.mjs';

const WINDOW_S = 3;
const BROADCAST = 3;
const MECHANICS = {
  john: 'john.smith@demo.test', // Tesla BMW Audi, 4.9, Toronto
  sarah: 'sarah.johnson@demo.test', // BMW Audi, 4.8 / 212
  liam: 'liam.obrien@demo.test', // Tesla, 4.8 / 201, Vancouver
  maria: 'maria.garcia@demo.test', // Honda, 4.8 / 189
  mike: 'mike.chen@demo.test', // 4.7 / 156, Mississauga
  david: 'david.kim@demo.test', // Tesla, 4.6 / 98
  emily: 'emily.davis@demo.test', // 4.5 / 74
};
const NAMES = { john: 'John Smith', sarah: 'Sarah Johnson', liam: 'Liam Obrien', maria: 'Maria Garcia', mike: 'Mike Chen', david: 'David Kim', emily: 'Emily Davis' };

let srv, alex;
const m = {}; // key -> Client
const ms = {}; // key -> mechanic stream
const id = (k) => m[k].me.mechanic_id;

before(async () => {
  srv = await startServer({ args: ['--priority-window', String(WINDOW_S), '--request-ttl', '60', '--broadcast-size', String(BROADCAST)] });
  alex = await loggedIn(srv.url, 'alex@demo.test');
  await Promise.all(Object.entries(MECHANICS).map(async ([k, email]) => { m[k] = await loggedIn(srv.url, email); }));
  for (const k of Object.keys(MECHANICS)) ms[k] = await mechanicStream(srv.url, m[k]);
});
after(async () => {
  for (const s of Object.values(ms)) s.close();
  if (srv) { await srv.stop(); srv.cleanup(); }
});

// Exactly these mechanics online, everyone else of MECHANICS offline.
async function onlineOnly(keys) {
  for (const k of Object.keys(MECHANICS)) {
    const want = keys.includes(k) ? 'online' : 'offline';
    const cur = await presenceOf(srv.url, id(k));
    assert.notEqual(cur, 'busy', `${k} is still busy from an earlier test`);
    if (cur !== want) await setPresence(m[k], want);
  }
}

// A fresh customer with one vehicle; books its free session (no credits needed).
async function freshCustomer(make = 'Honda') {
  const c = new Client(srv.url);
  const email = `rt-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.test`;
  const r = await c.post('/api/auth/register', { email, password: 'long-enough-pw', name: 'Robin Tester', city: 'Toronto' });
  assert.equal(r.status, 201, r.text);
  c.csrf = r.json.csrf_token;
  c.me = r.json.user;
  const v = await c.post('/api/vehicles', { year: 2019, make, model: make === 'Tesla' ? 'Model Y' : 'Accord' });
  assert.equal(v.status, 201, v.text);
  c.vehicle = v.json;
  return c;
}
const free = { plan: 'free', payment_method: 'free' };
const priorityFor = (k) => ({ routing_type: 'priority_broadcast', preferred_mechanic_id: id(k) });

// Which of MECHANICS received an `offer` for the session (optionally of one kind).
function offeredTo(sessionId, kind) {
  return Object.keys(MECHANICS).filter((k) => about(ms[k], sessionId, 'offer').some((e) => !kind || e.json.kind === kind));
}

describe('priority, skip, broadcast, accept, end', () => {
  test('only the preferred mechanic is offered during the window; skip broadcasts to the top 3 (no city filter) including them', async () => {
    await onlineOnly(['john', 'sarah', 'liam', 'maria', 'mike']);
    const c = await freshCustomer('Honda');
    const s = await bookOk(c, c.vehicle.id, { ...free, ...priorityFor('sarah') });
    assert.equal(s.state, 'priority');
    const ss = await sessionStream(srv.url, c, s.id);
    try {
      // the stream starts with retry, then the snapshot (the session object) with an id
      await ss.waitFor(1);
      assert.equal(ss.retry, 2000);
      assert.equal(ss.events[0].event, 'snapshot');
      assert.match(ss.events[0].id, /^\d+$/);
      for (const k of SESSION_KEYS) assert.ok(k in ss.events[0].json, `snapshot key ${k}`);
      assert.equal(ss.events[0].json.id, s.id);
      assert.equal(ss.events[0].json.state, 'priority');

      const offer = await waitAbout(ms.sarah, s.id, 'offer');
      assert.deepEqual(Object.keys(offer.json).sort(), [...OFFER_KEYS].sort());
      assert.equal(offer.json.kind, 'priority');
      assert.equal(offer.json.expires_at, s.priority_ends_at);
      assert.ok(isoMs(offer.json.offered_at) <= isoMs(offer.json.expires_at));
      assert.deepEqual(offer.json.vehicle, { id: c.vehicle.id, year: 2019, make: 'Honda', model: 'Accord' });
      assert.equal(offer.json.plan.slug, 'free');
      assert.equal(typeof offer.json.plan.name, 'string');
      assert.equal(offer.json.is_specialist, false);
      assert.equal(offer.json.concern, s.intake.concern);
      assert.equal(offer.json.customer_first_name, 'Robin');
      assert.match(offer.id, /^\d+$/);
      await settle();
      assert.deepEqual(offeredTo(s.id), ['sarah'], 'nobody else during the window');
      // the live offers list shows it
      const lo = await m.sarah.get('/api/mechanic/offers');
      assert.equal(lo.status, 200);
      assert.ok(lo.json.offers.some((o) => o.session_id === s.id && o.kind === 'priority'));
      // someone else cannot take it meanwhile
      const steal = await m.john.post(`/api/sessions/${s.id}/accept`);
      assert.equal(steal.status, 403, steal.text);
      assert.equal(steal.json.error, 'not_offered');

      const skip = await c.post(`/api/sessions/${s.id}/skip-priority`);
      assert.equal(skip.status, 200, skip.text);
      assert.equal(skip.json.state, 'broadcast');
      const bc = await waitStep(ss, 'broadcast');
      assert.deepEqual(stepsOf(ss), ['priority_skipped', 'broadcast'], 'a fresh stream: the snapshot, then only new steps');
      const sk = ss.events.find((e) => e.json.step === 'priority_skipped');
      assert.equal(sk.json.session_id, s.id);
      assert.equal(sk.json.mechanic_id, id('sarah'));
      assert.equal(sk.json.mechanic_name, NAMES.sarah);
      assert.ok(!('count' in sk.json));
      assert.equal(bc.json.count, BROADCAST);
      assert.ok(!('mechanic_id' in bc.json));
      isoMs(bc.json.at);
      // sarah: withdrawn (priority_ended), then a broadcast offer; top 3 = john, sarah, liam (Vancouver)
      const wd = await waitAbout(ms.sarah, s.id, 'offer_withdrawn');
      assert.equal(wd.json.reason, 'priority_ended');
      await waitAbout(ms.liam, s.id, 'offer');
      await waitAbout(ms.john, s.id, 'offer');
      await waitAbout(ms.sarah, s.id, 'offer', 5000, (o) => o.kind === 'broadcast');
      await settle();
      assert.deepEqual(offeredTo(s.id, 'broadcast').sort(), ['john', 'liam', 'sarah']);
      assert.equal(about(ms.maria, s.id).length, 0);
      assert.equal(about(ms.mike, s.id).length, 0);
      // a second skip: 409
      const again = await c.post(`/api/sessions/${s.id}/skip-priority`);
      assert.equal(again.status, 409, again.text);

      // liam accepts: the others' offers are withdrawn, liam is busy
      const acc = await m.liam.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 200, acc.text);
      assert.equal(acc.json.state, 'accepted');
      assert.equal(acc.json.assigned_mechanic.id, id('liam'));
      const st = await waitStep(ss, 'accepted');
      assert.equal(st.json.mechanic_id, id('liam'));
      assert.equal(st.json.mechanic_name, NAMES.liam);
      for (const k of ['john', 'sarah']) {
        const w = await waitAbout(ms[k], s.id, 'offer_withdrawn', 5000, (o) => o.reason === 'accepted_by_other');
        assert.equal(w.json.reason, 'accepted_by_other');
      }
      await settle();
      assert.equal(about(ms.liam, s.id, 'offer_withdrawn').length, 0);
      assert.equal(await presenceOf(srv.url, id('liam')), 'busy');
      const late = await m.john.post(`/api/sessions/${s.id}/accept`);
      assert.equal(late.status, 409, late.text);
      assert.equal(late.json.error, 'taken');
      assert.ok(!(await m.sarah.get('/api/mechanic/offers')).json.offers.some((o) => o.session_id === s.id));

      // end: step ended, liam back online (dashboard stream open)
      const end = await m.liam.post(`/api/sessions/${s.id}/end`, { outcome: 'resolved' });
      assert.equal(end.status, 200, end.text);
      const en = await waitStep(ss, 'ended');
      assert.equal(en.json.mechanic_id, id('liam'));
      assert.equal(await presenceOf(srv.url, id('liam')), 'online');
      assert.deepEqual(stepsOf(ss).slice(-4), ['priority_skipped', 'broadcast', 'accepted', 'ended']);
      // event ids increase
      const ids = ss.events.slice(1).map((e) => Number(e.id));
      assert.deepEqual([...ids].sort((a, b) => a - b), ids);
      assert.ok(ids[0] > Number(ss.events[0].id));
    } finally { ss.close(); }
  });

  test('the window times out: priority_expired, then the broadcast with the preferred mechanic in it', async () => {
    await onlineOnly(['john', 'maria']);
    const start = await balanceOf(alex);
    const honda = await vehicleByMake(alex, 'Honda');
    const s = await bookOk(alex, honda.id, priorityFor('john'));
    const ss = await sessionStream(srv.url, alex, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitStep(ss, 'priority_offered');
      assert.deepEqual(stepsOf(ss), ['priority_offered'], 'replay from 0 holds the whole history');
      const ex = await waitStep(ss, 'priority_expired', (WINDOW_S + 3) * 1000);
      assert.equal(ex.json.mechanic_id, id('john'));
      assert.ok(isoMs(ex.json.at) >= isoMs(s.priority_ends_at), `${ex.json.at} >= ${s.priority_ends_at}`);
      assert.ok(isoMs(ex.json.at) - isoMs(s.priority_ends_at) < 2500, `acted on within the tick: ${ex.json.at} vs ${s.priority_ends_at}`);
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 2);
      const wd = await waitAbout(ms.john, s.id, 'offer_withdrawn');
      assert.equal(wd.json.reason, 'priority_ended');
      await waitAbout(ms.john, s.id, 'offer', 5000, (o) => o.kind === 'broadcast');
      await waitAbout(ms.maria, s.id, 'offer', 5000, (o) => o.kind === 'broadcast');
      assert.equal((await getSession(alex, s.id)).state, 'broadcast');

      // cancel: holders get session_cancelled (not offer_withdrawn), credits refunded
      const n = { john: about(ms.john, s.id, 'offer_withdrawn').length, maria: about(ms.maria, s.id, 'offer_withdrawn').length };
      const cancel = await alex.post(`/api/sessions/${s.id}/cancel`);
      assert.equal(cancel.status, 200, cancel.text);
      assert.equal(cancel.json.state, 'cancelled');
      for (const k of ['john', 'maria']) await waitAbout(ms[k], s.id, 'session_cancelled');
      await waitStep(ss, 'cancelled');
      await settle();
      assert.equal(about(ms.john, s.id, 'offer_withdrawn').length, n.john);
      assert.equal(about(ms.maria, s.id, 'offer_withdrawn').length, n.maria);
      assert.deepEqual(stepsOf(ss), ['priority_offered', 'priority_expired', 'broadcast', 'cancelled']);
      assert.equal(await balanceOf(alex), start);
      const acc = await m.maria.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 409, acc.text);
      assert.equal(acc.json.error, 'taken');
    } finally { ss.close(); }
  });

  test('decline: priority_declined, broadcast without the preferred mechanic, who is not offered it again', async () => {
    await onlineOnly(['john', 'maria', 'mike']);
    const c = await freshCustomer('Honda');
    const s = await bookOk(c, c.vehicle.id, { ...free, ...priorityFor('john') });
    const ss = await sessionStream(srv.url, c, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitAbout(ms.john, s.id, 'offer');
      const d = await m.john.post(`/api/sessions/${s.id}/decline`);
      assert.equal(d.status, 200, d.text);
      assert.equal(d.json.state, 'broadcast');
      const dec = await waitStep(ss, 'priority_declined');
      assert.equal(dec.json.mechanic_id, id('john'));
      assert.equal(dec.json.mechanic_name, NAMES.john);
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 2);
      await waitAbout(ms.maria, s.id, 'offer');
      await waitAbout(ms.mike, s.id, 'offer');
      // back online later: still nothing
      await setPresence(m.john, 'offline');
      await setPresence(m.john, 'online');
      await settle();
      assert.deepEqual(about(ms.john, s.id).map((e) => e.event), ['offer'], 'john: his priority offer only');
      assert.deepEqual(stepsOf(ss), ['priority_offered', 'priority_declined', 'broadcast']);
      const acc = await m.john.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 409, acc.text);
      // a broadcast decline is no routing step; the offer is gone for that mechanic
      const md = await m.mike.post(`/api/sessions/${s.id}/decline`);
      assert.equal(md.status, 200, md.text);
      await settle();
      assert.deepEqual(stepsOf(ss), ['priority_offered', 'priority_declined', 'broadcast']);
      assert.equal((await m.mike.post(`/api/sessions/${s.id}/accept`)).status, 409);
      assert.equal((await c.post(`/api/sessions/${s.id}/cancel`)).status, 200);
      await waitAbout(ms.maria, s.id, 'session_cancelled');
      await settle();
      assert.equal(about(ms.mike, s.id, 'session_cancelled').length, 0, 'mike declined: holds no live offer');
    } finally { ss.close(); }
  });
});

describe('broadcast details', () => {
  test('a late joiner gets the offer: step offer_added names them', async () => {
    await onlineOnly(['maria']);
    const c = await freshCustomer('Honda');
    const s = await bookOk(c, c.vehicle.id, free);
    const ss = await sessionStream(srv.url, c, s.id, { 'Last-Event-ID': '0' });
    try {
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 1);
      await setPresence(m.david, 'online');
      const add = await waitStep(ss, 'offer_added');
      assert.equal(add.json.mechanic_id, id('david'));
      assert.equal(add.json.mechanic_name, NAMES.david);
      assert.ok(!('count' in add.json));
      const o = await waitAbout(ms.david, s.id, 'offer');
      assert.equal(o.json.kind, 'broadcast');
      assert.equal(o.json.expires_at, s.expires_at);
      // the joiner can win
      const acc = await m.david.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 200, acc.text);
      const w = await waitAbout(ms.maria, s.id, 'offer_withdrawn');
      assert.equal(w.json.reason, 'accepted_by_other');
      // nobody joins an accepted session
      await setPresence(m.emily, 'online');
      await settle();
      assert.equal(about(ms.emily, s.id).length, 0);
      assert.equal((await m.david.post(`/api/sessions/${s.id}/end`)).status, 200);
      await waitStep(ss, 'ended');
      assert.deepEqual(stepsOf(ss), ['broadcast', 'offer_added', 'accepted', 'ended']);
    } finally { ss.close(); }
  });

  test('specialist sessions go only to brand specialists of the make, any city', async () => {
    await onlineOnly(['john', 'sarah', 'liam', 'maria', 'david', 'mike']);
    const c = await freshCustomer('Tesla');
    const s = await bookOk(c, c.vehicle.id, { ...free, is_specialist: true });
    const ss = await sessionStream(srv.url, c, s.id, { 'Last-Event-ID': '0' });
    try {
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 3);
      for (const k of ['john', 'liam', 'david']) await waitAbout(ms[k], s.id, 'offer');
      await settle();
      assert.deepEqual(offeredTo(s.id).sort(), ['david', 'john', 'liam']);
      // a non-specialist coming online does not join; the directory agrees on who matches
      await setPresence(m.emily, 'online');
      await settle();
      assert.equal(about(ms.emily, s.id).length, 0);
      const dir = await getJson(`${srv.url}/api/mechanics/available?is_specialist=true&vehicle_make=tesla&limit=50`);
      const onlineTesla = dir.json.mechanics.filter((x) => x.presence === 'online').map((x) => x.id).sort();
      assert.deepEqual(onlineTesla, ['john', 'liam', 'david'].map(id).sort());
      assert.equal((await c.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    } finally { ss.close(); }
  });

  test('standard broadcast: the top 3 online in directory order, busy and offline ones left out', async () => {
    await onlineOnly(['sarah', 'liam', 'maria', 'mike', 'emily']);
    const c = await freshCustomer('Honda');
    const s = await bookOk(c, c.vehicle.id, free);
    for (const k of ['sarah', 'liam', 'maria']) await waitAbout(ms[k], s.id, 'offer');
    await settle();
    assert.deepEqual(offeredTo(s.id).sort(), ['liam', 'maria', 'sarah']);
    // the directory's top 3 online (no city filter) are the same people
    const dir = await getJson(`${srv.url}/api/mechanics/available?limit=3`);
    assert.deepEqual(dir.json.mechanics.map((x) => x.id).sort(), ['sarah', 'liam', 'maria'].map(id).sort());
    assert.equal((await c.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    for (const k of ['sarah', 'liam', 'maria']) await waitAbout(ms[k], s.id, 'session_cancelled');
  });

  test('a preferred mechanic who is busy at booking: straight to the broadcast', async () => {
    await onlineOnly(['john', 'maria']);
    const c1 = await freshCustomer('Honda');
    const first = await bookOk(c1, c1.vehicle.id, { ...free, ...priorityFor('john') });
    assert.equal((await m.john.post(`/api/sessions/${first.id}/accept`)).status, 200);
    assert.equal(await presenceOf(srv.url, id('john')), 'busy');
    const c2 = await freshCustomer('Honda');
    const s = await bookOk(c2, c2.vehicle.id, { ...free, ...priorityFor('john') });
    assert.equal(s.state, 'broadcast');
    const ss = await sessionStream(srv.url, c2, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitStep(ss, 'broadcast');
      assert.deepEqual(stepsOf(ss), ['priority_expired', 'broadcast']);
      assert.equal(ss.events.find((e) => e.json.step === 'broadcast').json.count, 1);
      await waitAbout(ms.maria, s.id, 'offer');
      await settle();
      assert.equal(about(ms.john, s.id).length, 0, 'busy: no offer');
      // john ends his session: back online, he joins the running broadcast
      assert.equal((await m.john.post(`/api/sessions/${first.id}/end`)).status, 200);
      const add = await waitStep(ss, 'offer_added');
      assert.equal(add.json.mechanic_id, id('john'));
      await waitAbout(ms.john, s.id, 'offer', 5000, (o) => o.kind === 'broadcast');
      assert.equal((await c2.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    } finally { ss.close(); }
  });

  test('a preferred mechanic who becomes busy ends the window (priority_expired)', async () => {
    await onlineOnly(['john', 'maria']);
    const c1 = await freshCustomer('Honda');
    const other = await bookOk(c1, c1.vehicle.id, free); // broadcast: john holds an offer
    await waitAbout(ms.john, other.id, 'offer');
    const c2 = await freshCustomer('Honda');
    const s = await bookOk(c2, c2.vehicle.id, { ...free, ...priorityFor('john') });
    assert.equal(s.state, 'priority');
    const ss = await sessionStream(srv.url, c2, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitStep(ss, 'priority_offered');
      assert.equal((await m.john.post(`/api/sessions/${other.id}/accept`)).status, 200);
      const ex = await waitStep(ss, 'priority_expired', 2000);
      assert.equal(ex.json.mechanic_id, id('john'));
      assert.ok(isoMs(ex.json.at) < isoMs(s.priority_ends_at), 'before the window would have ended');
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 1);
      const wd = await waitAbout(ms.john, s.id, 'offer_withdrawn');
      assert.equal(wd.json.reason, 'priority_ended');
      await waitAbout(ms.maria, s.id, 'offer');
      assert.equal((await getSession(c2, s.id)).state, 'broadcast');
      assert.equal((await m.john.post(`/api/sessions/${other.id}/end`)).status, 200);
      await waitStep(ss, 'offer_added');
      assert.equal((await c2.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    } finally { ss.close(); }
  });

  test('a mechanic cannot accept while busy (409 busy) and gets no new offers', async () => {
    await onlineOnly(['maria', 'mike']);
    const c1 = await freshCustomer('Honda');
    const c2 = await freshCustomer('Honda');
    const a = await bookOk(c1, c1.vehicle.id, free);
    const b = await bookOk(c2, c2.vehicle.id, free);
    await waitAbout(ms.maria, b.id, 'offer');
    assert.equal((await m.maria.post(`/api/sessions/${a.id}/accept`)).status, 200);
    const r = await m.maria.post(`/api/sessions/${b.id}/accept`);
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error, 'busy');
    assert.equal((await getSession(c2, b.id)).state, 'broadcast');
    const c3 = await freshCustomer('Honda');
    const x = await bookOk(c3, c3.vehicle.id, free);
    await waitAbout(ms.mike, x.id, 'offer');
    await settle();
    assert.equal(about(ms.maria, x.id).length, 0);
    assert.equal((await m.maria.post(`/api/sessions/${a.id}/end`)).status, 200);
    for (const [c, sid] of [[c2, b.id], [c3, x.id]]) assert.equal((await c.post(`/api/sessions/${sid}/cancel`)).status, 200);
  });
});

describe('session stream', () => {
  test('snapshot id is the latest sequence; Last-Event-ID replays exactly the missed steps', async () => {
    await onlineOnly(['maria']);
    const c = await freshCustomer('Honda');
    const s = await bookOk(c, c.vehicle.id, free);
    const first = await sessionStream(srv.url, c, s.id);
    await first.waitFor(1);
    first.close();
    const snapId = first.events[0].id;
    assert.equal(first.events[0].event, 'snapshot');
    // the snapshot's id is the latest sequence number: a presence stream's snapshot opened
    // right after (nothing happened in between) carries the same
    const pres = await openStream(srv.url, `/api/presence/stream?ids=${id('maria')}`);
    await pres.waitFor(1);
    pres.close();
    assert.equal(pres.events[0].event, 'snapshot');
    assert.equal(pres.events[0].id, snapId);
    // missed while disconnected: a late joiner and the accept
    await setPresence(m.mike, 'online');
    await waitAbout(ms.mike, s.id, 'offer');
    assert.equal((await m.mike.post(`/api/sessions/${s.id}/accept`)).status, 200);
    const again = await sessionStream(srv.url, c, s.id, { 'Last-Event-ID': snapId });
    try {
      await again.waitFor(2);
      await settle();
      assert.deepEqual(again.events.map((e) => e.event), ['routing', 'routing']);
      assert.deepEqual(stepsOf(again), ['offer_added', 'accepted']);
      assert.ok(again.events.every((e) => Number(e.id) > Number(snapId)));
      assert.equal((await m.mike.post(`/api/sessions/${s.id}/end`)).status, 200);
      await waitStep(again, 'ended');
    } finally { again.close(); }
  });
});

describe('expiry', () => {
  test('in priority and in broadcast: step expired, offer_withdrawn (expired), credits refunded', async () => {
    const x = await startServer({ args: ['--priority-window', '60', '--request-ttl', '3'] });
    const streams = [];
    try {
      const cust = await loggedIn(x.url, 'alex@demo.test');
      const john = await loggedIn(x.url, 'john.smith@demo.test');
      const maria = await loggedIn(x.url, 'maria.garcia@demo.test');
      const js = await mechanicStream(x.url, john); streams.push(js);
      const mas = await mechanicStream(x.url, maria); streams.push(mas);
      await setPresence(maria, 'online');
      await setPresence(john, 'online');
      const honda = await vehicleByMake(cust, 'Honda');
      const start = await balanceOf(cust);
      const p = await bookOk(cust, honda.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
      // one live request per customer: the broadcast one is another customer's (free)
      const other = await newCustomer(x.url, 'expiry');
      const b = await bookOk(other.client, other.vehicle.id, { plan: 'free', payment_method: 'free' });
      assert.equal(p.state, 'priority');
      assert.equal(b.state, 'broadcast');
      assert.equal(await balanceOf(cust), start - VIDEO);
      const sp = await sessionStream(x.url, cust, p.id); streams.push(sp);
      const sb = await sessionStream(x.url, other.client, b.id); streams.push(sb);
      const ep = await waitStep(sp, 'expired', 6000);
      const eb = await waitStep(sb, 'expired', 6000);
      assert.ok(isoMs(ep.json.at) >= isoMs(p.expires_at));
      assert.ok(isoMs(eb.json.at) >= isoMs(b.expires_at));
      assert.ok(!('mechanic_id' in ep.json));
      const wj = await waitAbout(js, p.id, 'offer_withdrawn');
      assert.equal(wj.json.reason, 'expired');
      for (const st of [js, mas]) {
        const w = await waitAbout(st, b.id, 'offer_withdrawn');
        assert.equal(w.json.reason, 'expired');
      }
      assert.deepEqual(stepsOf(sp), ['expired'], 'no broadcast on the way out');
      for (const [who, sid] of [[cust, p.id], [other.client, b.id]]) {
        const got = await getSession(who, sid);
        assert.equal(got.state, 'expired');
        assert.equal(got.payment.status, 'refunded');
      }
      assert.equal(await balanceOf(cust), start);
      assert.equal((await other.client.get('/api/me')).json.free_session_used, false, 'the free session given back');
      const late = await maria.post(`/api/sessions/${b.id}/accept`);
      assert.equal(late.status, 409, late.text);
      assert.equal(late.json.error, 'taken');
      assert.equal((await other.client.post(`/api/sessions/${b.id}/cancel`)).status, 409);
      assert.equal(await balanceOf(cust), start);
    } finally {
      for (const s of streams) s.close();
      await x.stop();
      x.cleanup();
    }
  });
});
