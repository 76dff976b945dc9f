// Durability (SPEC §4.4 rule 6, §4.5): timers that come due while the server is down are
// acted on exactly once at start; bookings, accepts and cancels the client saw acknowledged
// survive `kill -9` at random moments, credits are deducted exactly once per acknowledged
// booking, and every session's offers stay consistent.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, loggedIn, sleep, getJson } from './helpers.mjs';
import {
  VIDEO, vehicleByMake, book, bookOk, balanceOf, setPresence, presenceOf, mechanicStream,
  sessionStream, stepsOf, waitStep, about, waitAbout, settle, getSession,
} from './booking_helpers.mjs';

const cleanups = [];
after(async () => { for (const f of cleanups.reverse()) await f(); });

// Runs a read-only SQL query on the (stopped) server's database with the sqlite3 shell;
// returns rows as arrays of strings, or null when the shell is not installed.
function sql(dir, query) {
  try {
    const out = execFileSync('sqlite3', ['-readonly', '-separator', '|', join(dir, 'pitwall.db'), query], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map((l) => l.split('|'));
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
}

// A server that can be killed and restarted on the same directory and port.
async function restartable(args) {
  const box = { srv: await startServer({ args }) };
  box.restart = async () => { box.srv = await startServer({ args, dir: box.srv.dir, port: box.srv.port }); return box.srv; };
  cleanups.push(async () => {
    await box.srv.kill();
    box.srv.cleanup();
  });
  return box;
}

describe('timers across kill -9', () => {
  test('a priority window that ends while the server is down: the broadcast happens once at start', async () => {
    const args = ['--priority-window', '3', '--request-ttl', '120', '--presence-timeout', '600'];
    const box = await restartable(args);
    const url = box.srv.url;
    const alex = await loggedIn(url, 'alex@demo.test');
    const john = await loggedIn(url, 'john.smith@demo.test');
    const maria = await loggedIn(url, 'maria.garcia@demo.test');
    const mike = await loggedIn(url, 'mike.chen@demo.test');
    for (const c of [john, maria, mike]) await setPresence(c, 'online');
    const honda = await vehicleByMake(alex, 'Honda');
    const s = await bookOk(alex, honda.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
    assert.equal(s.state, 'priority');
    await box.srv.kill();
    await sleep(4000); // past the 3 s window
    await box.restart();
    assert.equal(box.srv.url, url);

    const ss = await sessionStream(url, alex, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitStep(ss, 'broadcast');
      await sleep(2500); // a couple of ticks: nothing fires again
      assert.deepEqual(stepsOf(ss), ['priority_offered', 'priority_expired', 'broadcast']);
      assert.equal(ss.events.find((e) => e.json.step === 'broadcast').json.count, 3);
    } finally { ss.close(); }
    // a fresh stream's snapshot agrees
    const fresh = await sessionStream(url, alex, s.id);
    await fresh.waitFor(1);
    fresh.close();
    assert.equal(fresh.events[0].event, 'snapshot');
    assert.equal(fresh.events[0].json.state, 'broadcast');

    // offers were sent once: the mechanics' streams from the start, and their live offers
    for (const [c, kinds] of [[john, ['priority', 'broadcast']], [maria, ['broadcast']], [mike, ['broadcast']]]) {
      const st = await mechanicStream(url, c, { 'Last-Event-ID': '0' });
      try {
        await st.waitUntil(() => about(st, s.id, 'offer').length >= kinds.length, 5000, 'offers');
        await settle(500);
        assert.deepEqual(about(st, s.id, 'offer').map((e) => e.json.kind), kinds, c.me.email);
        if (c === john) {
          const w = about(st, s.id, 'offer_withdrawn');
          assert.equal(w.length, 1);
          assert.equal(w[0].json.reason, 'priority_ended');
        }
      } finally { st.close(); }
      const live = (await c.get('/api/mechanic/offers')).json.offers.filter((o) => o.session_id === s.id);
      assert.equal(live.length, 1, c.me.email);
      assert.equal(live[0].kind, 'broadcast');
    }
    assert.equal(await balanceOf(alex), 10000 - VIDEO, 'debited once');

    // a second (clean) restart fires nothing more
    await box.srv.stop();
    await box.restart();
    await sleep(1500);
    const again = await sessionStream(url, alex, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitStep(again, 'broadcast');
      await settle(300);
      assert.deepEqual(stepsOf(again), ['priority_offered', 'priority_expired', 'broadcast']);
    } finally { again.close(); }
    const acc = await maria.post(`/api/sessions/${s.id}/accept`);
    assert.equal(acc.status, 200, acc.text);
    await box.srv.stop();
    const rows = sql(box.srv.dir, `SELECT kind, coalesce(outcome,'live'), count(*) FROM offers WHERE session_id = '${s.id}' GROUP BY 1, 2 ORDER BY 1, 2`);
    if (rows) {
      assert.deepEqual(rows, [['broadcast', 'accepted', '1'], ['broadcast', 'withdrawn', '2'], ['priority', 'withdrawn', '1']]);
    }
    await box.restart();
  });

  test('a lifetime that ends while the server is down: expired and refunded once at start', async () => {
    const args = ['--request-ttl', '2', '--presence-timeout', '600'];
    const box = await restartable(args);
    const url = box.srv.url;
    const alex = await loggedIn(url, 'alex@demo.test');
    const maria = await loggedIn(url, 'maria.garcia@demo.test');
    await setPresence(maria, 'online');
    const honda = await vehicleByMake(alex, 'Honda');
    const s = await bookOk(alex, honda.id);
    assert.equal(await balanceOf(alex), 10000 - VIDEO);
    await box.srv.kill();
    await sleep(3000);
    await box.restart();
    const got = await getSession(alex, s.id);
    assert.equal(got.state, 'expired');
    assert.equal(got.payment.status, 'refunded');
    assert.equal(await balanceOf(alex), 10000);
    const ms = await mechanicStream(url, maria, { 'Last-Event-ID': '0' });
    try {
      await waitAbout(ms, s.id, 'offer_withdrawn');
      await settle(1500);
      assert.deepEqual(about(ms, s.id).map((e) => [e.event, e.json.reason ?? null]), [['offer', null], ['offer_withdrawn', 'expired']]);
    } finally { ms.close(); }
    await box.srv.kill();
    await box.restart();
    await sleep(1200);
    assert.equal(await balanceOf(alex), 10000, 'refunded once');
    const ss = await sessionStream(url, alex, s.id, { 'Last-Event-ID': '0' });
    try {
      await waitStep(ss, 'expired');
      await settle(300);
      assert.deepEqual(stepsOf(ss), ['broadcast', 'expired']);
    } finally { ss.close(); }
  });
});

describe('kill -9 across a whole request lifetime', () => {
  test('window and lifetime both past while down: expired (refunded) at start, never broadcast', async () => {
    const args = ['--priority-window', '1', '--request-ttl', '2', '--presence-timeout', '600'];
    const box = await restartable(args);
    const url = box.srv.url;
    const alex = await loggedIn(url, 'alex@demo.test');
    const john = await loggedIn(url, 'john.smith@demo.test');
    const maria = await loggedIn(url, 'maria.garcia@demo.test');
    for (const c of [john, maria]) await setPresence(c, 'online');
    const honda = await vehicleByMake(alex, 'Honda');
    const s = await bookOk(alex, honda.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
    assert.equal(s.state, 'priority');
    await box.srv.kill();
    await sleep(3000);
    await box.restart();
    const got = await getSession(alex, s.id);
    assert.equal(got.state, 'expired');
    assert.equal(await balanceOf(alex), 10000);
    const ss = await sessionStream(url, alex, s.id, { 'Last-Event-ID': '0' });
    const ms = await mechanicStream(url, maria, { 'Last-Event-ID': '0' });
    try {
      await waitStep(ss, 'expired');
      await settle(300);
      assert.deepEqual(stepsOf(ss), ['priority_offered', 'expired'], 'a dead request is not offered to anyone');
      assert.equal(about(ms, s.id).length, 0, 'maria was never offered it');
    } finally { ss.close(); ms.close(); }
  });
});

describe('kill -9 at random moments', () => {
  test('acknowledged bookings, accepts and cancels survive; credits exact; offers consistent', async (t) => {
    const args = ['--presence-timeout', '600', '--request-ttl', '600', '--priority-window', '600'];
    const box = await restartable(args);
    const url = box.srv.url;
    const alex = await loggedIn(url, 'alex@demo.test');
    const mech = {};
    for (const [k, email] of [['john', 'john.smith@demo.test'], ['maria', 'maria.garcia@demo.test'], ['mike', 'mike.chen@demo.test']]) {
      mech[k] = await loggedIn(url, email);
      await setPresence(mech[k], 'online');
    }
    const honda = await vehicleByMake(alex, 'Honda');
    const START = await balanceOf(alex);
    assert.equal(START, 10000);

    const refused = (e) => e?.cause?.code === 'ECONNREFUSED';
    async function up() {
      const deadline = Date.now() + 20000;
      for (;;) {
        try { if ((await fetch(`${url}/healthz`)).ok) return; } catch { /* down */ }
        if (Date.now() > deadline) throw new Error('server did not come back');
        await sleep(30);
      }
    }
    let kills = 0, background = false;
    // One write. With probability pKill the server is killed -9 a random 0-4 ms after the
    // request leaves (before, during or after the server handles it), then restarted. A
    // refused connection (nothing was sent) is sent again; any other failure is "in doubt"
    // and answers null.
    async function op(fn, pKill = 0.3) {
      for (let attempt = 0; attempt < 50; attempt++) {
        const killing = !background && attempt === 0 && Math.random() < pKill
          ? sleep(Math.random() * 4).then(async () => { await box.srv.kill(); kills++; })
          : null;
        let res;
        try { res = await fn(); } catch (e) { res = refused(e) ? 'refused' : null; }
        if (killing) { await killing; await box.restart(); }
        if (res !== 'refused') return res;
        await up();
      }
      throw new Error('server stayed down');
    }
    // Idempotent reads: retried until answered.
    async function read(fn) {
      for (let i = 0; i < 200; i++) {
        try { return await fn(); } catch { await up(); }
      }
      throw new Error('no answer');
    }

    const acked = []; // session ids answered 201
    const ackedCancel = new Set();
    const ackedAccept = new Map(); // id -> mechanic key
    const ackedEnd = new Set();
    const acceptTried = new Set();
    let inDoubtBookings = 0, rejected = 0;
    // Cancels sid; when the answer is lost, asks again (then 409 means the lost one did it).
    async function cancel(sid) {
      let c = await op(() => alex.post(`/api/sessions/${sid}/cancel`));
      if (c === null) c = await op(() => alex.post(`/api/sessions/${sid}/cancel`), 0);
      if (c.status === 200) ackedCancel.add(sid);
      else assert.equal(c.status, 409, c.text);
    }
    // Bookings in doubt that did happen hold credits: cancel them (not acknowledged ones).
    async function cancelStrays() {
      const list = await read(async () => (await alex.get('/api/sessions')).json.sessions);
      for (const x of list) {
        if (!acked.includes(x.id) && ['priority', 'broadcast'].includes(x.state)) {
          const c = await op(() => alex.post(`/api/sessions/${x.id}/cancel`), 0);
          assert.ok([200, 409].includes(c.status), c.text);
        }
      }
    }
    // One live request per customer: a session left live by an answer in doubt (an accept,
    // an end, a booking) is settled when the next booking names it, then booked again.
    async function settleLive(sid) {
      const x = await read(async () => (await alex.get(`/api/sessions/${sid}`)).json);
      if (x.state === 'accepted') {
        const k = Object.keys(mech).find((key) => mech[key].me.mechanic_id === x.assigned_mechanic?.id);
        const e = await op(() => mech[k].post(`/api/sessions/${sid}/end`), 0);
        assert.ok([200, 409].includes(e.status), e.text);
        if (e.status === 200) ackedEnd.add(sid);
      } else if (['priority', 'broadcast', 'awaiting_payment'].includes(x.state)) {
        await cancel(sid);
      }
    }
    async function bookOne() {
      for (let n = 0; n < 10; n++) {
        const r = await op(() => book(alex, honda.id));
        if (r === null || r.status !== 409 || r.json?.error !== 'session_in_progress') return r;
        await settleLive(r.json.session_id);
      }
      throw new Error('a live session stayed in the way');
    }
    const BOOKINGS = 45; // GET /api/sessions lists 50: all of them stay visible
    const ACCEPT_AT = new Set([8, 22, 36]); // each accepted session spends credits for good
    const deadline = Date.now() + 60000;
    for (let i = 0; i < BOOKINGS && Date.now() < deadline; i++) {
      const r = await bookOne();
      if (r === null) { inDoubtBookings++; await cancelStrays(); continue; }
      if (r.status === 402) { rejected++; continue; }
      assert.equal(r.status, 201, r.text);
      const sid = r.json.id;
      acked.push(sid);
      if (ACCEPT_AT.has(i)) {
        acceptTried.add(sid);
        for (const k of Object.keys(mech)) {
          const a = await op(() => mech[k].post(`/api/sessions/${sid}/accept`));
          if (a === null) break; // in doubt: leave it
          if (a.status === 200) {
            ackedAccept.set(sid, k);
            const e = await op(() => mech[k].post(`/api/sessions/${sid}/end`));
            if (e?.status === 200) ackedEnd.add(sid);
            break;
          }
          assert.ok([403, 409].includes(a.status), a.text); // not offered / busy / taken
        }
      } else {
        await cancel(sid);
      }
    }
    // a stretch of kills at random moments while bookings and cancels continue: the
    // acknowledged ones in between are checked like the others
    background = true;
    let done = false;
    const killer = (async () => {
      for (let n = 0; n < 4 && !done; n++) {
        await sleep(100 + Math.random() * 300);
        await box.srv.kill();
        kills++;
        await box.restart();
      }
    })();
    for (let i = 0; i < 40 && acked.length + inDoubtBookings + rejected < 49; i++) {
      const r = await bookOne();
      if (r === null) { inDoubtBookings++; await cancelStrays(); continue; }
      if (r.status === 402) { rejected++; continue; }
      assert.equal(r.status, 201, r.text);
      acked.push(r.json.id);
      await cancel(r.json.id);
      await sleep(20);
    }
    done = true;
    await killer;
    background = false;
    // once more, hard, then read everything back
    await box.srv.kill();
    await box.restart();
    assert.ok(kills >= 8, `only ${kills} kills`);

    const list = await read(async () => (await alex.get('/api/sessions')).json.sessions);
    const byId = new Map(list.map((x) => [x.id, x]));
    for (const sid of acked) assert.ok(byId.has(sid), `acknowledged booking ${sid} lost`);
    assert.ok(list.length - acked.length <= inDoubtBookings, `${list.length} sessions, ${acked.length} acknowledged, ${inDoubtBookings} in doubt`);
    for (const sid of ackedCancel) {
      assert.equal(byId.get(sid).state, 'cancelled', sid);
      assert.equal(byId.get(sid).payment.status, 'refunded', sid);
    }
    for (const [sid, k] of ackedAccept) {
      const x = byId.get(sid);
      assert.ok(['accepted', 'ended'].includes(x.state), `${sid}: ${x.state}`);
      assert.equal(x.assigned_mechanic?.id, mech[k].me.mechanic_id);
    }
    for (const sid of ackedEnd) assert.equal(byId.get(sid).state, 'ended');
    for (const x of list) {
      if (['accepted', 'ended'].includes(x.state)) assert.ok(acceptTried.has(x.id), `${x.id} accepted without an accept`);
      assert.equal(x.payment.status, ['cancelled', 'expired'].includes(x.state) ? 'refunded' : 'paid', `${x.id} ${x.state}`);
    }
    const charged = list.filter((x) => !['cancelled', 'expired'].includes(x.state)).length;
    const balance = await read(() => balanceOf(alex));
    assert.equal(balance, START - VIDEO * charged, `balance ${balance}, ${charged} charged`);
    // charged = acknowledged bookings not acknowledged cancelled, give or take the ones in doubt
    const ackedOpen = acked.filter((sid) => !ackedCancel.has(sid)).length;
    assert.ok(charged <= ackedOpen + inDoubtBookings, `${charged} charged, ${ackedOpen} acknowledged open, ${inDoubtBookings} in doubt`);
    for (const sid of acked) {
      if (!ackedCancel.has(sid) && byId.get(sid).state !== 'cancelled') assert.notEqual(byId.get(sid).payment.status, 'refunded', sid);
    }

    // presence: whoever holds an accepted session is busy, nobody else is
    for (const [k, c] of Object.entries(mech)) {
      const holds = list.some((x) => x.state === 'accepted' && x.assigned_mechanic?.id === c.me.mechanic_id);
      const p = await read(() => presenceOf(url, c.me.mechanic_id));
      if (holds) assert.equal(p, 'busy', k);
      else assert.notEqual(p, 'busy', k);
    }

    // the rows: each accepted/ended session has exactly one accepted offer (the assigned
    // mechanic's), no other session has one, closed sessions have no live offers, and each
    // session was broadcast once
    await box.srv.stop();
    const rows = sql(box.srv.dir, 'SELECT s.id, s.state, coalesce(s.assigned_mechanic_id, \'\'), ' +
      "(SELECT count(*) FROM offers o WHERE o.session_id = s.id AND o.outcome = 'accepted'), " +
      "(SELECT coalesce(max(o.mechanic_id), '') FROM offers o WHERE o.session_id = s.id AND o.outcome = 'accepted'), " +
      '(SELECT count(*) FROM offers o WHERE o.session_id = s.id AND o.outcome IS NULL), ' +
      "(SELECT count(*) FROM events e WHERE e.type = 'routing' AND e.channel = 'session:' || s.id AND json_extract(e.payload, '$.step') = 'broadcast'), " +
      "(SELECT count(*) FROM events e WHERE e.type = 'routing' AND e.channel = 'session:' || s.id AND json_extract(e.payload, '$.step') = 'accepted') " +
      'FROM sessions s');
    if (rows) {
      assert.equal(rows.length, list.length);
      for (const [sid, state, assigned, nAccepted, acceptedBy, nLive, nBroadcast, nAcceptedSteps] of rows) {
        const accepted = ['accepted', 'ended'].includes(state);
        assert.equal(Number(nAccepted), accepted ? 1 : 0, `${sid} ${state}: accepted offers`);
        if (accepted) assert.equal(acceptedBy, assigned, sid);
        assert.equal(Number(nAcceptedSteps), accepted ? 1 : 0, `${sid}: accepted steps`);
        if (!['priority', 'broadcast'].includes(state)) assert.equal(Number(nLive), 0, `${sid} ${state}: live offers`);
        assert.equal(Number(nBroadcast), 1, `${sid}: broadcast steps`);
      }
    }
    await box.restart();
    t.diagnostic(`kills ${kills}, acknowledged ${acked.length} (cancelled ${ackedCancel.size}, accepted ${ackedAccept.size}), in doubt ${inDoubtBookings}, 402 ${rejected}, sessions ${list.length}`);
  });
});
