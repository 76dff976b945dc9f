// A local stand-in for Stripe's API, for the integration tests (no npm packages, loopback
// only): POST /v1/checkout/sessions checks the Bearer key and the form fields pitwall sends,
// records every request, and answers like Stripe does. A switch makes it fail (500), hang,
// answer garbage, or answer without a url. signStripe()/sendWebhook() make and deliver
// webhooks signed exactly as Stripe signs them (HMAC-SHA256 over "t.body").
import http from 'node:http';
import crypto from 'node:crypto';

const REQUIRED = [
  'mode',
  'client_reference_id',
  'line_items[0][price_data][currency]',
  'line_items[0][price_data][unit_amount]',
  'line_items[0][price_data][product_data][name]',
  'line_items[0][quantity]',
  'success_url',
  'cancel_url',
];

function stripeError(res, status, message, type = 'invalid_request_error') {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: { type, message } }));
}

// Starts the stand-in; returns { url, port, requests, sessions, mode, close() }.
// mode: 'ok' | 'fail' (500) | 'hang' (never answers) | 'garbage' (200, not JSON) | 'no_url'
export async function startStripeStandin({ key = 'sk_test_x' } = {}) {
  const standin = {
    key,
    mode: 'ok',
    requests: [],           // every /v1/checkout/sessions request: { headers, form, raw, status }
    sessions: new Map(),    // cs id -> the checkout session object answered
    port: 0,
    url: '',
    webhookTarget: null,    // { base, secret }: where "Pay" on the hosted page delivers the event
  };
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      // The hosted payment page, for browser tests: "Pay" completes the checkout, delivers
      // the signed checkout.session.completed to standin.webhookTarget ({ base, secret }) and
      // sends the browser to the session's success_url, as Stripe does.
      const pay = req.url.match(/^\/checkout\/([A-Za-z0-9_]+)\/pay$/);
      if (req.method === 'POST' && pay) {
        const session = standin.sessions.get(pay[1]);
        if (!session) { res.writeHead(404); res.end(); return; }
        const target = standin.webhookTarget;
        const deliver = target ? sendWebhook(target.base, checkoutCompleted(session), { secret: target.secret })
          : Promise.resolve();
        deliver.then(() => {
          res.writeHead(303, { Location: session.success_url });
          res.end();
        });
        return;
      }
      if (req.method === 'GET' && req.url.startsWith('/checkout/')) {
        const id = req.url.slice('/checkout/'.length).replace(/[^A-Za-z0-9_]/g, '');
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><html lang="en"><title>Stripe Checkout (stand-in)</title><main>
          <h1>Pay (test stand-in)</h1><form method="post" action="/checkout/${id}/pay">
          <button type="submit">Pay</button></form></main></html>`);
        return;
      }
      if (req.method !== 'POST' || req.url !== '/v1/checkout/sessions') {
        stripeError(res, 404, `Unrecognized request URL (${req.method}: ${req.url})`);
        return;
      }
      const form = Object.fromEntries(new URLSearchParams(raw));
      const entry = { headers: req.headers, form, raw, status: 0 };
      standin.requests.push(entry);
      const answer = (status, body, type = 'application/json') => {
        entry.status = status;
        res.writeHead(status, { 'Content-Type': type });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (standin.mode === 'hang') return; // never answers; close() ends the socket
      if (standin.mode === 'fail') {
        answer(500, { error: { type: 'api_error', message: 'Something went wrong on Stripe (stand-in).' } });
        return;
      }
      if (req.headers.authorization !== `Bearer ${standin.key}`) {
        entry.status = 401;
        stripeError(res, 401, 'Invalid API Key provided', 'invalid_request_error');
        return;
      }
      if (!/application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
        entry.status = 400;
        stripeError(res, 400, 'Expected a form-encoded body');
        return;
      }
      for (const f of REQUIRED) {
        if (!form[f]) {
          entry.status = 400;
          stripeError(res, 400, `Missing required param: ${f}.`);
          return;
        }
      }
      const amount = Number(form['line_items[0][price_data][unit_amount]']);
      if (form.mode !== 'payment' || !Number.isInteger(amount) || amount <= 0 ||
          form['line_items[0][quantity]'] !== '1') {
        entry.status = 400;
        stripeError(res, 400, 'Invalid mode, amount or quantity.');
        return;
      }
      if (standin.mode === 'garbage') { answer(200, 'this is not JSON {', 'text/plain'); return; }
      const id = `cs_test_${crypto.randomBytes(12).toString('hex')}`;
      const session = {
        id,
        object: 'checkout.session',
        url: `http://127.0.0.1:${standin.port}/checkout/${id}`,
        mode: 'payment',
        status: 'open',
        payment_status: 'unpaid',
        client_reference_id: form.client_reference_id,
        amount_total: amount,
        currency: form['line_items[0][price_data][currency]'],
        success_url: form.success_url,
        cancel_url: form.cancel_url,
        metadata: { pitwall_session_id: form['metadata[pitwall_session_id]'] },
      };
      if (standin.mode === 'no_url') delete session.url;
      standin.sessions.set(id, session);
      answer(200, session);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((ok, fail) => {
    server.on('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  standin.port = server.address().port;
  standin.url = `http://127.0.0.1:${standin.port}`;
  // The requests made for one pitwall session.
  standin.requestsFor = (sessionId) => standin.requests.filter((r) => r.form.client_reference_id === sessionId);
  standin.close = () => new Promise((ok) => {
    for (const s of sockets) s.destroy();
    server.close(() => ok());
  });
  return standin;
}

// The Stripe-Signature header for body (a string) at unix time t.
export function signStripe(body, secret, t = Math.floor(Date.now() / 1000)) {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}

// An event as Stripe sends it, about a checkout session object.
export function stripeEvent(type, object, id = `evt_test_${crypto.randomBytes(10).toString('hex')}`) {
  return {
    id,
    object: 'event',
    api_version: '2024-06-20',
    created: Math.floor(Date.now() / 1000),
    type,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object },
  };
}

// checkout.session.completed for a checkout the stand-in created (or any object given).
export function checkoutCompleted(session, id) {
  return stripeEvent('checkout.session.completed',
    { ...session, status: 'complete', payment_status: 'paid' }, id);
}

// POSTs an event (object or raw string) to pitwall's webhook, signed with secret unless a
// header is given (header: null sends none). Returns { status, json, text }.
export async function sendWebhook(base, event, { secret = 'whsec_x', t, header, body } = {}) {
  const text = body ?? (typeof event === 'string' ? event : JSON.stringify(event));
  const headers = { 'Content-Type': 'application/json', 'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' };
  const sig = header === undefined ? signStripe(text, secret, t) : header;
  if (sig !== null) headers['Stripe-Signature'] = sig;
  const res = await fetch(`${base}/api/webhooks/stripe`, { method: 'POST', headers, body: text });
  const out = await res.text();
  let json = null;
  try { json = JSON.parse(out); } catch { /* not JSON */ }
  return { status: res.status, json, text: out };
}
