// Races over HTTP (SPEC §4.4 rule 4, §4.5): twenty mechanics accepting one broadcast at once,
// accept against cancel, two hundred concurrent bookings of one customer (one live request
// per customer: one 201, charged once), concurrent cancels (refunded exactly once) and
// concurrent free bookings (once per customer).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, isErrorShape } from './helpers.mjs';
import {
  VIDEO, vehicleByMake, book, bookOk, balanceOf, setPresence, presenceOf, mechanicStream,
  sessionStream, stepsOf, waitStep, about, waitAbout, settle, getSession, pool,
} from './booking_helpers.mjs';

describe('twenty mechanics accept one broadcast at once', () => {
  let srv, alex, honda;
  const mechs = []; // { c, id, stream }
  before(async () => {
    srv = await startServer({ args: ['--demo-mechanics', '40', '--broadcast-size', '20', '--request-ttl', '120'] });
    alex = await loggedIn(srv.url, 'alex@demo.test');
    honda = await vehicleByMake(alex, 'Honda');
    const clients = await pool(Array.from({ length: 40 }, (_, i) => i + 1), 8,
      (n) => loggedIn(srv.url, `mechanic${n}@gen.demo.test`));
    // those that may work (approved, can accept sessions); pending/suspended ones get 403
    for (const c of clients) {
      if (mechs.length === 20) break;
      const r = await c.post('/api/mechanic/presence', { status: 'online' });
      if (r.status === 200) mechs.push({ c, id: c.me.mechanic_id });
      else assert.equal(r.status, 403, r.text);
    }
    assert.equal(mechs.length, 20, 'twenty bookable generated mechanics');
    for (const m of mechs) m.stream = await mechanicStream(srv.url, m.c);
  });
  after(async () => {
    for (const m of mechs) m.stream?.close();
    if (srv) { await srv.stop(); srv.cleanup(); }
  });

  test('exactly one 200, nineteen 409 taken; the winner busy, the others withdrawn', async () => {
    const s = await bookOk(alex, honda.id); // standard: every mechanic matches
    const ss = await sessionStream(srv.url, alex, s.id, { 'Last-Event-ID': '0' });
    try {
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 20);
      for (const m of mechs) await waitAbout(m.stream, s.id, 'offer');
      const answers = await Promise.all(mechs.map((m) => m.c.post(`/api/sessions/${s.id}/accept`)));
      const ok = answers.map((r, i) => [r, mechs[i]]).filter(([r]) => r.status === 200);
      const lost = answers.filter((r) => r.status === 409);
      assert.equal(ok.length, 1, `statuses: ${answers.map((r) => r.status).join(',')}`);
      assert.equal(lost.length, 19);
      for (const r of lost) assert.ok(isErrorShape(r.json, 'taken'), r.text);
      const winner = ok[0][1];
      assert.equal(ok[0][0].json.assigned_mechanic.id, winner.id);
      const got = await getSession(alex, s.id);
      assert.equal(got.state, 'accepted');
      assert.equal(got.assigned_mechanic.id, winner.id);
      assert.equal(await presenceOf(srv.url, winner.id), 'busy');
      for (const m of mechs) {
        if (m === winner) continue;
        const w = await waitAbout(m.stream, s.id, 'offer_withdrawn');
        assert.equal(w.json.reason, 'accepted_by_other');
        assert.equal(await presenceOf(srv.url, m.id), 'online');
      }
      await settle();
      assert.equal(about(winner.stream, s.id, 'offer_withdrawn').length, 0);
      for (const m of mechs) assert.equal(about(m.stream, s.id, 'offer_withdrawn').length, m === winner ? 0 : 1, 'withdrawn once');
      assert.deepEqual(stepsOf(ss), ['broadcast', 'accepted']);
      assert.equal(ss.events.find((e) => e.json.step === 'accepted').json.mechanic_id, winner.id);
      assert.equal((await winner.c.post(`/api/sessions/${s.id}/end`)).status, 200);
      await waitStep(ss, 'ended');
      assert.equal(await presenceOf(srv.url, winner.id), 'online');
    } finally { ss.close(); }
  });

  test('accept against cancel: exactly one side wins, credits follow the winner', async () => {
    for (let round = 0; round < 3; round++) {
      const start = await balanceOf(alex);
      const s = await bookOk(alex, honda.id);
      for (const m of mechs.slice(0, 5)) await waitAbout(m.stream, s.id, 'offer');
      const [cancel, ...accepts] = await Promise.all([
        alex.post(`/api/sessions/${s.id}/cancel`),
        ...mechs.slice(0, 5).map((m) => m.c.post(`/api/sessions/${s.id}/accept`)),
      ]);
      const acceptedBy = accepts.filter((r) => r.status === 200);
      for (const r of accepts) assert.ok([200, 409].includes(r.status), r.text);
      assert.ok([200, 409].includes(cancel.status), cancel.text);
      assert.equal((cancel.status === 200 ? 1 : 0) + acceptedBy.length, 1, `cancel ${cancel.status}, accepts ${accepts.map((r) => r.status)}`);
      const got = await getSession(alex, s.id);
      if (cancel.status === 200) {
        assert.equal(got.state, 'cancelled');
        assert.equal(got.payment.status, 'refunded');
        assert.equal(await balanceOf(alex), start);
      } else {
        assert.equal(got.state, 'accepted');
        assert.equal(got.payment.status, 'paid');
        assert.equal(await balanceOf(alex), start - VIDEO);
        const w = mechs.find((m) => m.id === got.assigned_mechanic.id);
        assert.equal((await w.c.post(`/api/sessions/${s.id}/end`)).status, 200);
      }
      if ((await balanceOf(alex)) < VIDEO) break;
    }
  });
});

describe('concurrent credits', () => {
  let srv, alex, honda;
  before(async () => {
    srv = await startServer();
    alex = await loggedIn(srv.url, 'alex@demo.test');
    honda = await vehicleByMake(alex, 'Honda');
  });
  after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

  const sessionsOf = async (c) => (await c.get('/api/sessions')).json.sessions;

  test('200 concurrent credit bookings of one customer: exactly one 201, 199 get 409 session_in_progress, charged once', async () => {
    assert.equal(await balanceOf(alex), 10000);
    const answers = await Promise.all(Array.from({ length: 200 }, () => book(alex, honda.id)));
    const ok = answers.filter((r) => r.status === 201);
    const busy = answers.filter((r) => r.status === 409);
    assert.equal(ok.length, 1, `statuses: ${[...new Set(answers.map((r) => r.status))]}`);
    assert.equal(busy.length, 199);
    for (const r of busy) {
      assert.ok(isErrorShape(r.json, 'session_in_progress'), r.text);
      assert.equal(r.json.session_id, ok[0].json.id);
    }
    assert.equal(await balanceOf(alex), 10000 - VIDEO);
    const list = await sessionsOf(alex);
    assert.deepEqual(list.map((x) => x.id), [ok[0].json.id]);

    // cancelled by ten concurrent requests: refunded exactly once
    const sid = ok[0].json.id;
    const cancels = await Promise.all(Array.from({ length: 10 }, () => alex.post(`/api/sessions/${sid}/cancel`)));
    assert.equal(cancels.filter((r) => r.status === 200).length, 1, `${cancels.map((r) => r.status)}`);
    assert.equal(cancels.filter((r) => r.status === 409).length, 9);
    assert.equal(await balanceOf(alex), 10000);
    const s = await getSession(alex, sid);
    assert.equal(s.state, 'cancelled');
    assert.equal(s.payment.status, 'refunded');

    // again, now with a cancel and bookings racing each other: at most one gets through
    const again = await Promise.all(Array.from({ length: 50 }, () => book(alex, honda.id)));
    const ok2 = again.filter((r) => r.status === 201);
    assert.equal(ok2.length, 1);
    assert.equal(await balanceOf(alex), 10000 - VIDEO);
    const mixed = await Promise.all([
      alex.post(`/api/sessions/${ok2[0].json.id}/cancel`),
      ...Array.from({ length: 100 }, () => book(alex, honda.id)),
    ]);
    assert.equal(mixed[0].status, 200, mixed[0].text);
    for (const r of mixed.slice(1)) assert.ok([201, 409].includes(r.status), r.text);
    const booked = mixed.slice(1).filter((r) => r.status === 201);
    assert.ok(booked.length <= 1, `${booked.length} booked`);
    const open = (await sessionsOf(alex)).filter((x) => ['priority', 'broadcast', 'awaiting_payment', 'accepted', 'ended'].includes(x.state));
    assert.equal(open.length, booked.length);
    assert.equal(await balanceOf(alex), 10000 - booked.length * VIDEO);
    for (const x of await sessionsOf(alex)) {
      assert.equal(x.payment.status, ['cancelled', 'expired'].includes(x.state) ? 'refunded' : 'paid', `${x.id} ${x.state}`);
    }
    // clean: every remaining one cancelled, back to the start exactly
    await Promise.all(open.map((x) => alex.post(`/api/sessions/${x.id}/cancel`)));
    assert.equal(await balanceOf(alex), 10000);
  });

  test('concurrent free bookings: one per customer', async () => {
    const customers = await pool(Array.from({ length: 12 }, (_, i) => i), 4, async (i) => {
      const c = new Client(srv.url);
      const r = await c.post('/api/auth/register', { email: `free-race-${i}-${Date.now()}@example.test`, password: 'long-enough-pw', name: `Free ${i}`, city: 'Toronto' });
      assert.equal(r.status, 201, r.text);
      c.csrf = r.json.csrf_token;
      const v = await c.post('/api/vehicles', { year: 2016, make: 'Mazda', model: '3' });
      assert.equal(v.status, 201, v.text);
      c.vid = v.json.id;
      return c;
    });
    const answers = await Promise.all(customers.flatMap((c) => Array.from({ length: 6 }, () => book(c, c.vid, { plan: 'free', payment_method: 'free' }).then((r) => [c, r]))));
    for (const c of customers) {
      const mine = answers.filter(([x]) => x === c).map(([, r]) => r);
      assert.equal(mine.filter((r) => r.status === 201).length, 1, `${mine.map((r) => r.status)}`);
      assert.equal(mine.filter((r) => r.status === 409).length, 5);
      // the live one is found before the free session is looked at
      for (const r of mine.filter((x) => x.status === 409)) assert.ok(isErrorShape(r.json, 'session_in_progress'), r.text);
      assert.equal((await sessionsOf(c)).length, 1);
    }
  });
});
