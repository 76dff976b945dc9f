// Every page and state a person meets, for all three roles, under the real CSP: sign-up,
// vehicles, the wizard (both mechanic types, View all, the selected mechanic going offline or
// busy), intake, waiver, each payment option, the waiting room in each of its cases (and after
// a reload), the session, the rating; the mechanic dashboard offline / online / offer / in
// session / offer gone; the admin page. Any console error, CSP violation or failed request
// fails the test (browser.mjs). Each state is photographed at 390, 768 and 1280 px
// (tests/e2e/screenshots/walk-*.png) and checked for text that overflows, overlaps the radio
// circle or is glued to its neighbour.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, loggedIn, Client } from '../integration/helpers.mjs';
import { launch, login, seriousViolations, SHOTS } from './browser.mjs';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); srv?.cleanup(); });

const WIDTHS = [390, 768, 1280];

// What looks broken without reading the words: sideways scrolling, text under a choice's
// radio circle, a choice's title and its price or detail on one line (glued), an element
// sticking out of its card.
async function layoutProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const r = (e) => e.getBoundingClientRect();
    // where the text itself is drawn (a block's box may be wider than its words)
    const ink = (e) => { const range = document.createRange(); range.selectNodeContents(e); return [...range.getClientRects()]; };
    const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    const visible = (e) => { const b = r(e); return b.width > 0 && b.height > 0; };
    if (document.documentElement.scrollWidth > innerWidth + 1) out.push(`page scrolls sideways (${document.documentElement.scrollWidth} > ${innerWidth})`);
    for (const choice of document.querySelectorAll('.choice')) {
      const check = choice.querySelector('.check');
      const texts = [...choice.querySelectorAll('.title, .price, .mech-name, .rating, .sessions, .specs, .meta > span, .presence')].filter(visible);
      if (check && visible(check)) {
        for (const t of texts) if (ink(t).some((box) => meets(r(check), box))) out.push(`"${t.textContent.trim().slice(0, 40)}" runs under the radio circle`);
      }
      const title = choice.querySelector(':scope > .title');
      const price = choice.querySelector(':scope > .price');
      if (title && price && visible(title) && visible(price) && r(price).top < r(title).bottom - 1) {
        out.push(`"${title.textContent.trim()}" and "${price.textContent.trim()}" share a line`);
      }
    }
    for (const card of document.querySelectorAll('.card, .choice, .item, .notice')) {
      const box = r(card);
      for (const child of card.querySelectorAll('*')) {
        if (!visible(child) || getComputedStyle(child).position === 'absolute' || child.closest('.table-scroll, .sr-only')) continue;
        const c = r(child);
        if (c.right > box.right + 1 || c.left < box.left - 1) {
          out.push(`${child.tagName.toLowerCase()}.${child.className} "${child.textContent.trim().slice(0, 30)}" sticks out of its ${card.className.split(' ')[0]}`);
          break;
        }
      }
    }
    return [...new Set(out)];
  });
}

// Screenshots of the current state at each width, with the layout checks at each.
async function shoot(page, name) {
  const size = page.viewportSize();
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
    assert.deepEqual(await layoutProblems(page), [], `${name} at ${width} px`);
    await page.screenshot({ path: join(SHOTS, `walk-${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(size);
}

async function person(width = 1280) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await ctx.newPage();
  return { ctx, page };
}

async function pick(page, name) {
  await page.locator('label', { has: page.getByRole('radio', { name }) }).click();
  assert.equal(await page.getByRole('radio', { name }).isChecked(), true);
}

async function goOnline(page, email) {
  await login(page, srv.url, email);
  const sw = page.getByRole('switch', { name: 'Available for sessions' });
  await sw.waitFor();
  if (await sw.getAttribute('aria-checked') !== 'true') await sw.click();
  await page.locator('#own-status', { hasText: 'You are online' }).waitFor();
}

async function goOffline(page) {
  await page.getByRole('switch', { name: 'Available for sessions' }).click();
  await page.locator('#own-status', { hasText: 'You are offline' }).waitFor();
}

// intake -> waiver -> payment, paying with `method` (the payment page's radio label)
async function intakeToPayment(page, concern = 'The battery light is on and the car hesitates when cold.') {
  await page.locator('#concern').fill(concern);
  await page.getByRole('button', { name: 'Continue to waiver' }).click();
  await page.getByLabel('I have read and accept the waiver').check();
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await page.getByRole('radio').first().waitFor();
}

test('a newcomer signs up, adds a vehicle, books First Available with nobody online, meets John, rates', async () => {
  const { ctx, page } = await person(390);
  await page.goto(`${srv.url}/`);
  await page.waitForURL(/\/login/);
  await shoot(page, 'login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.waitForURL(/\/register$/);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').getByText('Enter your name.').waitFor();
  await page.getByLabel('Your name').fill('Nadia Rahman');
  await page.getByLabel('Email').fill('nadia@example.test');
  await page.getByLabel('Password').fill('short');
  await page.getByLabel('City').fill('Toronto');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').getByText('at least 8 characters').waitFor();
  await shoot(page, 'register');
  await page.getByLabel('Password').fill('a-long-enough-password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL((u) => u.pathname === '/');
  await page.getByRole('heading', { name: 'Hi Nadia' }).waitFor();
  await page.getByText('No vehicles yet.').waitFor();
  await page.getByText('No sessions yet.').waitFor();
  await shoot(page, 'dashboard-new');

  // step 1 opens "Add your vehicle" by itself; a wrong year is refused, then it is added and selected
  await page.getByRole('button', { name: 'Start a session' }).click();
  await page.getByRole('heading', { name: 'Add your vehicle' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Next' }).isDisabled(), true);
  assert.equal(await page.locator('progress.bar').getAttribute('value'), '1');
  const bar = await page.locator('progress.bar').evaluate((p) => p.position);
  assert.ok(Math.abs(bar - 1 / 3) < 0.01, `the progress bar shows step 1 of 3 (${bar})`);
  await shoot(page, 'wizard-step1-empty');
  await page.getByLabel('Year').fill('19');
  await page.getByLabel('Make').fill('Toyota');
  await page.getByLabel('Model').fill('Corolla');
  await page.getByRole('button', { name: 'Add vehicle' }).click();
  await page.getByRole('alert').getByText('four digits').waitFor();
  await page.getByLabel('Year').fill('2019');
  await page.getByRole('button', { name: 'Add vehicle' }).click();
  await page.getByRole('radio', { name: '2019 Toyota Corolla' }).waitFor();
  assert.equal(await page.getByRole('radio', { name: '2019 Toyota Corolla' }).isChecked(), true);
  await shoot(page, 'wizard-step1');
  await page.getByRole('button', { name: 'Next' }).click();
  assert.ok(Math.abs(await page.locator('progress.bar').evaluate((p) => p.position) - 2 / 3) < 0.01);
  await pick(page, /^Free/);
  await shoot(page, 'wizard-step2');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('#mechanic-group .mech-name').first().waitFor();
  await page.getByText('0 mechanics available now in Toronto').waitFor();
  // nobody is online: no join estimates are promised
  assert.doesNotMatch(await page.locator('#mechanic-group').innerText(), /Usually joins/);
  await shoot(page, 'wizard-step3-nobody-online');
  await page.getByRole('button', { name: 'Launch session' }).click();

  // intake without a chosen mechanic: no banner, and no stray "null"
  await page.getByRole('heading', { name: 'Tell us what is going on' }).waitFor();
  assert.equal(await page.locator('#mechanic-selected').count(), 0);
  assert.doesNotMatch(await page.locator('main').innerText(), /\bnull\b|undefined/);
  await shoot(page, 'intake-first-available');
  await intakeToPayment(page);
  await shoot(page, 'waiver-done');
  assert.equal(await page.getByRole('radio', { name: /^Free session/ }).isChecked(), true);
  await shoot(page, 'payment-free');
  await page.getByRole('button', { name: 'Find my mechanic' }).click();

  // the waiting room: nobody online, so it waits for the first who comes online
  await page.waitForURL(/\/waiting\?session=/);
  const sessionId = new URL(page.url()).searchParams.get('session');
  await page.locator('#status-text[data-case="nobody-online"]').waitFor();
  await page.getByText('No matching mechanic is online right now.').waitFor();
  await page.locator('#routing-log').getByText('No matching mechanic was online').waitFor();
  await shoot(page, 'waiting-nobody-online');

  // while it is open: the dashboard leads back to it, the wizard does not book a second one,
  // and the vehicle in use cannot be removed
  await page.goto(`${srv.url}/`);
  await page.locator('#live-request').getByText('Finding a mechanic').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Start a session' }).count(), 0);
  await shoot(page, 'dashboard-live-request');
  await page.getByRole('button', { name: 'Remove 2019 Toyota Corolla' }).click();
  ctx.allow(/\/api\/vehicles\/[^/]+$/, 409);
  await page.getByRole('button', { name: 'Yes, remove' }).click();
  await page.locator('#vehicle-error').getByText(/in use|session/i).waitFor();
  await page.goto(`${srv.url}/wizard`);
  await page.getByRole('heading', { name: 'You have a request in progress' }).waitFor();
  await shoot(page, 'wizard-request-in-progress');
  await page.getByRole('link', { name: 'Return to the waiting room' }).click();
  await page.waitForURL(new RegExp(`/waiting\\?session=${sessionId}`));

  // John comes online and gets it (offer_added); his dashboard shows the offer
  const john = await person(1280);
  await goOnline(john.page, 'john.smith@demo.test');
  await page.locator('#status-text[data-case="broadcast"]').waitFor();
  await page.locator('#routing-log').getByText('John Smith came online and was offered your request.').waitFor();
  const offer = john.page.locator('li.offer', { hasText: 'Open request' });
  await offer.waitFor();
  assert.match(await john.page.title(), /^\(1\) New offer/);
  await shoot(john.page, 'mechanic-offer');
  await offer.getByRole('button', { name: 'Accept' }).click();
  await john.page.locator('#busy-tag').waitFor();
  await john.page.locator('#own-status', { hasText: 'You are in a session' }).waitFor();
  assert.equal(await john.page.getByRole('switch', { name: 'Available for sessions' }).isVisible(), false);
  assert.doesNotMatch(await john.page.locator('#offers').innerText(), /Go online/);
  await shoot(john.page, 'mechanic-in-session');

  await page.getByRole('heading', { name: 'Your mechanic is ready' }).waitFor();
  assert.match(await page.locator('#assigned').innerText(), /John Smith/);
  await shoot(page, 'waiting-accepted');

  // a reload tells the whole story again from the session's steps
  await page.reload();
  await page.getByRole('heading', { name: 'Your mechanic is ready' }).waitFor();
  const log = await page.locator('#routing-log li').allInnerTexts();
  assert.equal(log.length, 3, log.join('\n'));
  assert.match(log[0], /No matching mechanic was online/);
  assert.match(log[1], /John Smith came online/);
  assert.match(log[2], /John Smith accepted/);

  // John ends it; the customer is asked the one question, on an 11-box scale
  await john.page.getByRole('radio', { name: 'Resolved', exact: true }).check();
  await john.page.getByRole('button', { name: 'End session' }).click();
  await john.page.locator('#own-status', { hasText: 'You are online' }).waitFor();
  await page.getByRole('heading', { name: 'Session ended' }).waitFor();
  const boxes = await page.locator('#rating .scale .choice').evaluateAll((ls) => ls.map((l) => l.getBoundingClientRect().top));
  assert.equal(boxes.length, 11);
  assert.ok(boxes.every((t) => Math.abs(t - boxes[0]) < 1), 'the 0-10 boxes sit in one row');
  await shoot(page, 'rating');
  await page.locator('label', { has: page.getByRole('radio', { name: '9', exact: true }) }).click();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('p.notice', { hasText: 'Thank you for your answer.' }).waitFor();
  await shoot(page, 'rated');
  await page.getByRole('link', { name: 'Back to your dashboard' }).click();
  await page.locator('#past-sessions').getByText('with John Smith').waitFor();
  await page.getByRole('button', { name: 'Start a session' }).waitFor();

  // the account and the vehicles, now that nothing is in use
  await page.getByRole('textbox', { name: 'City', exact: true }).fill('Mississauga');
  await page.locator('#account').getByRole('button', { name: 'Save' }).click();
  await page.locator('#account-saved').getByText('Saved.').waitFor();
  await page.getByRole('button', { name: 'Edit 2019 Toyota Corolla' }).click();
  await page.locator('[data-vehicle] input[name="model"]').fill('Corolla Cross');
  await page.getByRole('button', { name: 'Save' }).first().click();
  await page.getByText('2019 Toyota Corolla Cross').first().waitFor();
  await shoot(page, 'dashboard-after');
  await page.getByRole('button', { name: 'Remove 2019 Toyota Corolla Cross' }).click();
  await page.getByRole('button', { name: 'Yes, remove' }).click();
  await page.getByText('No vehicles yet.').waitFor();
  // the past session still names its vehicle
  await page.locator('#past-sessions').getByText('2019 Toyota Corolla Cross').waitFor();
  const me = await page.evaluate(() => fetch('/api/me').then((r) => r.json()));
  assert.equal(me.city, 'Mississauga');
  assert.deepEqual(await seriousViolations(page), []);
  await goOffline(john.page);
  await john.ctx.close();
  await ctx.close();
});

test('Alex looks at the specialists, picks John (online); John goes offline by hand, Sarah and Mike get it, Sarah wins', async () => {
  const alex = await person(1280);
  const john = await person(1280);
  const sarah = await person(390);
  const mike = await person(1280);
  await goOnline(john.page, 'john.smith@demo.test');
  await shoot(john.page, 'mechanic-online');

  const { page } = alex;
  await login(page, srv.url, 'alex@demo.test');
  await page.getByRole('button', { name: 'Start a session' }).click();
  await pick(page, '2020 Tesla Model 3');
  await page.getByRole('button', { name: 'Next' }).click();
  await pick(page, /^Standard Video/);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('body[data-presence="live"]').waitFor();
  await page.getByText('1 mechanic available now in Toronto').waitFor();
  const johnCard = await page.getByRole('radio', { name: /^John Smith/ }).evaluate((i) => i.closest('label').innerText);
  assert.match(johnCard, /Usually joins in \d+ min/);
  assert.match(johnCard, /Available now/);
  await page.getByRole('button', { name: /^View all \(\d+ available\)$/ }).click();
  await shoot(page, 'wizard-step3-view-all');
  await pick(page, /^Brand Specialist/);
  await page.getByRole('radio', { name: /^John Smith/ }).waitFor();
  assert.match(await page.locator('#mechanic-group').innerText(), /John Smith/);
  await shoot(page, 'wizard-step3-specialist');
  // Sarah and Mike are no Tesla specialists: the standard plan lets them take part in the broadcast
  await pick(page, /^Standard/);
  await pick(page, /^John Smith/);
  await page.getByRole('button', { name: 'Launch session' }).click();

  const banner = page.locator('#mechanic-selected');
  await banner.getByText('John Smith gets your request first, with 10-minute priority').waitFor();
  await shoot(page, 'intake-john-online');
  await intakeToPayment(page);
  // credits available, card not configured: shown, dimmed, with the reason
  assert.equal(await page.getByRole('radio', { name: /^Credits/ }).isChecked(), true);
  assert.equal(await page.getByRole('radio', { name: /^Card/ }).isDisabled(), true);
  const dim = await page.locator('label.choice', { has: page.getByRole('radio', { name: /^Card/ }) }).evaluate((l) => Number(getComputedStyle(l).opacity));
  assert.ok(dim < 0.8, `the disabled card option is dimmed (opacity ${dim})`);
  await shoot(page, 'payment-credits');
  await page.getByRole('button', { name: 'Pay and find my mechanic' }).click();
  await page.waitForURL(/\/waiting\?session=/);
  await page.locator('#status-text[data-case="priority-online"]').waitFor();
  await page.getByText('John Smith is online and has your request.').waitFor();
  await page.getByRole('timer').first().waitFor();
  await shoot(page, 'waiting-priority-online');

  const offer = john.page.locator('li.offer', { hasText: 'Priority offer' });
  await offer.waitFor();
  // Sarah and Mike come online while John holds the priority: they get nothing yet
  await goOnline(sarah.page, 'sarah.johnson@demo.test');
  await goOnline(mike.page, 'mike.chen@demo.test');
  // John switches off by hand: his window ends like a decline, the others get it
  await goOffline(john.page);
  await john.page.locator('#offer-notes').getByText(/priority on Alex's request .* ended/).waitFor();
  await shoot(john.page, 'mechanic-offer-gone');
  await page.locator('#routing-log').getByText("John Smith can't take it").waitFor();
  await page.locator('#status-text[data-case="broadcast"]').waitFor();
  await page.getByText(/offered to 2 mechanics who are online now/).waitFor();
  await shoot(page, 'waiting-broadcast');

  await sarah.page.locator('li.offer', { hasText: 'Open request' }).getByRole('button', { name: 'Accept' }).click();
  await mike.page.locator('#offer-notes').getByText("Another mechanic accepted Alex's request (2020 Tesla Model 3).").waitFor();
  await shoot(mike.page, 'mechanic-taken-by-other');
  await page.getByRole('heading', { name: 'Your mechanic is ready' }).waitFor();
  assert.match(await page.locator('#assigned').innerText(), /Sarah Johnson/);
  await sarah.page.getByRole('button', { name: 'End session' }).click();
  await page.getByRole('heading', { name: 'Session ended' }).waitFor();
  for (const p of [alex, john, sarah, mike]) await p.ctx.close();
});

test('Maria is offline when chosen; she comes back during the window; Alex cancels on the page', async () => {
  const alex = await person(390);
  const { page } = alex;
  await login(page, srv.url, 'alex@demo.test');
  await page.getByRole('button', { name: 'Start a session' }).click();
  await pick(page, '2017 Honda Civic');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await pick(page, /^Maria Garcia/);
  await page.getByRole('button', { name: 'Launch session' }).click();
  await page.locator('#mechanic-selected').getByText('Maria Garcia is offline right now.').waitFor();
  await shoot(page, 'intake-maria-offline');
  await intakeToPayment(page);
  await page.getByRole('button', { name: 'Pay and find my mechanic' }).click();
  await page.waitForURL(/\/waiting\?session=/);
  await page.locator('#status-text[data-case="priority-offline"]').waitFor();
  await page.getByText('If they come online before the countdown ends, they get your request first.').waitFor();
  await shoot(page, 'waiting-priority-offline');
  await page.reload();
  await page.locator('#status-text[data-case="priority-offline"]').waitFor();
  await page.locator('#routing-log').getByText(/Offered to Maria Garcia first, with priority until/).waitFor();

  const maria = await person(1280);
  await goOnline(maria.page, 'maria.garcia@demo.test');
  await page.locator('#status-text[data-case="priority-online"]').waitFor();
  await maria.page.locator('li.offer', { hasText: 'Priority offer' }).waitFor();

  // cancel asks on the page, not in a browser dialog
  await page.getByRole('button', { name: 'Cancel request' }).click();
  await shoot(page, 'waiting-cancel-confirm');
  await page.getByRole('button', { name: 'Yes, cancel' }).click();
  await page.getByRole('heading', { name: 'Request closed' }).waitFor();
  await page.getByRole('link', { name: 'Book another session' }).waitFor();
  await shoot(page, 'waiting-cancelled');
  await maria.page.locator('#offer-notes').getByText('Alex cancelled their request (2017 Honda Civic).').waitFor();
  await goOffline(maria.page);
  await maria.ctx.close();
  await alex.ctx.close();
});

test('step 3 tells the customer when the selected mechanic goes offline or busy', async () => {
  const alex = await person(1280);
  const { page } = alex;
  const david = await loggedIn(srv.url, 'david.kim@demo.test');
  const emily = await loggedIn(srv.url, 'emily.davis@demo.test');
  assert.equal((await david.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  assert.equal((await emily.post('/api/mechanic/presence', { status: 'online' })).status, 200);

  await login(page, srv.url, 'alex@demo.test');
  await page.goto(`${srv.url}/wizard`);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('body[data-presence="live"]').waitFor();
  await pick(page, /^David Kim/);
  assert.equal((await david.post('/api/mechanic/presence', { status: 'offline' })).status, 200);
  await page.locator('#selected-note').getByText('David Kim just went offline.').waitFor();
  await page.locator('#selected-note').getByText(/within 10 minutes/).waitFor();
  assert.equal(await page.getByRole('radio', { name: /^David Kim/ }).isChecked(), true, 'the choice stays theirs to change');
  await shoot(page, 'wizard-step3-selected-offline');

  // Emily becomes busy with another customer's request
  await pick(page, /^Emily Davis/);
  assert.equal(await page.locator('#selected-note').count(), 0, 'a new pick clears the note');
  const other = new Client(srv.url);
  const reg = await other.post('/api/auth/register', { email: 'walk-other@example.test', password: 'another-password', name: 'Omar', city: 'Toronto' });
  assert.equal(reg.status, 201);
  other.csrf = reg.json.csrf_token;
  const v = await other.post('/api/vehicles', { year: 2018, make: 'Ford', model: 'Focus' });
  const booked = await other.post('/api/sessions', {
    vehicle_id: v.json.id, plan: 'free', is_specialist: false, preferred_mechanic_id: null, routing_type: 'broadcast',
    intake: { concern: 'Brakes squeal when stopping', symptoms: [], urgency: 'low' }, waiver_accepted: true, payment_method: 'free',
  });
  assert.equal(booked.status, 201, booked.text);
  assert.equal((await emily.post(`/api/sessions/${booked.json.id}/accept`)).status, 200);
  await page.locator('#selected-note').getByText('Emily Davis just started another session, so First Available is selected.').waitFor();
  assert.equal(await page.getByRole('radio', { name: /^First Available/ }).isChecked(), true);
  await shoot(page, 'wizard-step3-selected-busy');
  assert.equal((await emily.post(`/api/sessions/${booked.json.id}/end`, {})).status, 200);
  await emily.post('/api/mechanic/presence', { status: 'offline' });
  await alex.ctx.close();
});

test('the mechanic dashboard offline, pending, and the admin page without layout shift', async () => {
  const mech = await person(1280);
  await login(mech.page, srv.url, 'aisha.khan@demo.test');
  await mech.page.locator('#own-status', { hasText: 'You are offline' }).waitFor();
  await mech.page.getByText('Go online to receive offers.').waitFor();
  await shoot(mech.page, 'mechanic-offline');
  await login(mech.page, srv.url, 'priya.patel@demo.test');
  await mech.page.getByText('waiting for approval').waitFor();
  await shoot(mech.page, 'mechanic-pending');
  await mech.ctx.close();

  const admin = await person(1280);
  await admin.page.addInitScript(() => {
    window.__cls = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
    }).observe({ type: 'layout-shift', buffered: true });
  });
  await login(admin.page, srv.url, 'admin@demo.test');
  await admin.page.locator('body[data-ready="true"]').waitFor();
  await admin.page.waitForTimeout(500);
  const cls = await admin.page.evaluate(() => window.__cls);
  assert.ok(cls < 0.1, `the admin page shifts by ${cls.toFixed(3)} while it loads (goal < 0.1)`);
  await shoot(admin.page, 'admin');
  await admin.ctx.close();
});

test('the pages take the priority window from the server, not from a constant', async () => {
  const short = await startServer({ args: ['--priority-window', '300'] });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await login(page, short.url, 'alex@demo.test');
    const alex = await loggedIn(short.url, 'alex@demo.test');
    const vehicle = (await alex.get('/api/vehicles')).json.vehicles[0];
    const john = (await alex.get('/api/mechanics/available?city=Toronto')).json.mechanics.find((m) => m.name === 'John Smith');
    await page.goto(`${short.url}/intake?plan=video&specialist=false&vehicle_id=${vehicle.id}`
      + `&preferred_mechanic_id=${john.id}&routing_type=priority_broadcast`);
    await page.locator('#mechanic-selected').getByText('with 5-minute priority').waitFor();
    await ctx.close();
  } finally {
    await short.stop();
    short.cleanup();
  }
});
