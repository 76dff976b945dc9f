// Lighthouse 12.2.3 over every page of pitwall, in Debian's Chromium (never a downloaded
// browser). Shared by the test (tests/lighthouse/lighthouse.test.mjs: accessibility and
// best practices must be 100) and the benchmark (bench/lighthouse.sh: performance with
// Lighthouse's default mobile throttling).
//
// One pitwall (--demo, a temporary SQLite) and one Chromium for all pages; each page is
// audited in a fresh tab of that browser (puppeteer-core, which lighthouse ships, attached
// over the remote-debugging port chrome-launcher opened). Logins go through the API
// (POST /api/auth/login); its two cookies (pitwall_session, pitwall_csrf) are put into the
// browser before the role's pages, so the pages' own JS sees them as after a real login.
// The booking draft that /waiver and /payment expect in sessionStorage (web/js/draft.js) is
// put there before the page's scripts run.
//
// As a program: node tests/lighthouse/lighthouse.mjs [--performance] [--json FILE]
//   prints every page's scores and failing audits (and, with --performance, FCP/LCP/TBT/CLS).
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import puppeteer from 'puppeteer-core';
import { startServer, loggedIn } from '../integration/helpers.mjs';

// this machine's network is closed: keep Chromium from reaching out (as tests/e2e/browser.mjs)
export const CHROME_FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--disable-quic'];
export const CHROME_PATH = process.env.CHROME_PATH || process.env.CHROMIUM || '/usr/bin/chromium';

// Audits that are not pass/fail for a score (their displayMode), left out of "failing".
const UNSCORED = new Set(['notApplicable', 'informative', 'manual', 'error']);

// The pages, in the order audited; `role` is whose login the page needs (null: none).
export function pageList({ vehicleId, sessionId }) {
  const choice = `plan=video&specialist=false&vehicle_id=${encodeURIComponent(vehicleId)}&routing_type=broadcast`;
  const intake = { concern: 'The car makes a grinding noise when braking at low speed.', symptoms: ['grinding noise'], urgency: 'medium' };
  return [
    { name: 'login', path: '/login', role: null },
    { name: 'register', path: '/register', role: null, optional: true },
    { name: 'dashboard', path: '/', role: 'alex@demo.test' },
    { name: 'wizard', path: '/wizard', role: 'alex@demo.test' },
    { name: 'intake', path: `/intake?${choice}`, role: 'alex@demo.test' },
    { name: 'waiver', path: `/waiver?${choice}`, role: 'alex@demo.test', draft: { intake } },
    { name: 'payment', path: `/payment?${choice}`, role: 'alex@demo.test', draft: { intake, waiver_accepted: true } },
    { name: 'waiting', path: `/waiting?session=${encodeURIComponent(sessionId)}`, role: 'alex@demo.test' },
    { name: 'mechanic', path: '/mechanic', role: 'john.smith@demo.test' },
    { name: 'admin', path: '/admin', role: 'admin@demo.test' },
  ];
}

// Starts pitwall and Chromium, logs in, makes the session /waiting shows. Returns a context
// for auditPage() and its close().
export async function setUp({ log = () => {} } = {}) {
  const srv = await startServer();
  let chrome, browser;
  try {
    const clients = new Map();
    for (const email of ['alex@demo.test', 'john.smith@demo.test', 'admin@demo.test']) clients.set(email, await loggedIn(srv.url, email));
    const alex = clients.get('alex@demo.test');
    const vehicles = (await alex.get('/api/vehicles')).json.vehicles;
    const vehicleId = vehicles[0].id;
    const booked = await alex.post('/api/sessions', {
      vehicle_id: vehicleId, plan: 'video', is_specialist: false, preferred_mechanic_id: null, routing_type: 'broadcast',
      intake: { concern: 'The car makes a grinding noise when braking at low speed.', symptoms: ['grinding noise'], urgency: 'medium' },
      waiver_accepted: true, payment_method: 'credits',
    });
    if (booked.status !== 201) throw new Error(`booking for /waiting: ${booked.status} ${booked.text}`);
    const sessionId = booked.json.id;

    chrome = await chromeLauncher.launch({ chromePath: CHROME_PATH, chromeFlags: CHROME_FLAGS, logLevel: 'silent' });
    log(`pitwall ${srv.url} (pid ${srv.proc.pid}), chromium pid ${chrome.pid} on port ${chrome.port}`);
    browser = await puppeteer.connect({ browserURL: `http://127.0.0.1:${chrome.port}`, defaultViewport: null });
    return {
      srv, chrome, browser, clients, vehicleId, sessionId,
      pages: pageList({ vehicleId, sessionId }),
      async close() {
        await browser.disconnect().catch(() => {});
        await chrome.kill();
        await srv.stop();
        srv.cleanup();
      },
    };
  } catch (e) {
    if (browser) await browser.disconnect().catch(() => {});
    if (chrome) await chrome.kill();
    await srv.stop().catch(() => {});
    srv.cleanup();
    throw e;
  }
}

// Lighthouse's settings: its defaults (mobile, throttling simulated: the page loads at full
// speed and the throttled timings are computed from the trace, with 1 s network and CPU
// quiet windows). Observed throttling ('provided', 'devtools') would force 5.25 s windows,
// ~15 s a page, for nothing the accessibility and best-practices audits look at.
export function lighthouseFlags({ performance = false } = {}) {
  const common = { logLevel: 'error', output: 'json', disableFullPageScreenshot: true, maxWaitForLoad: 30000 };
  return performance
    ? { ...common, onlyCategories: ['performance'] }
    : { ...common, onlyCategories: ['accessibility', 'best-practices'] };
}

// Audits one page; returns { name, path, status, scores, failing, metrics, finalUrl } or
// { skipped } when an optional page is not there.
export async function auditPage(ctx, page, { performance = false } = {}) {
  const url = ctx.srv.url + page.path;
  if (page.optional) {
    const r = await fetch(url, { redirect: 'manual' });
    if (r.status === 404) return { name: page.name, path: page.path, skipped: `${page.path} answers 404 (not in this tree yet)` };
  }
  const tab = await ctx.browser.newPage();
  try {
    const cdp = await tab.createCDPSession();
    await cdp.send('Network.clearBrowserCookies');
    if (page.role) {
      const c = ctx.clients.get(page.role);
      await cdp.send('Network.setCookies', {
        cookies: [...c.cookies].map(([name, value]) => ({ name, value, url: ctx.srv.url, httpOnly: name === 'pitwall_session', sameSite: 'Lax' })),
      });
    }
    if (page.draft) {
      await tab.evaluateOnNewDocument((d) => { sessionStorage.setItem('pitwall.draft', d); }, JSON.stringify(page.draft));
    }
    await cdp.detach();
    const run = await lighthouse(url, lighthouseFlags({ performance }), undefined, tab);
    if (!run) throw new Error(`lighthouse gave no result for ${url}`);
    return summarise(page, run.lhr);
  } finally {
    await tab.close().catch(() => {});
  }
}

function summarise(page, lhr) {
  const scores = {};
  const failing = [];
  for (const [id, cat] of Object.entries(lhr.categories)) {
    scores[id] = cat.score === null ? null : Math.round(cat.score * 100);
    for (const ref of cat.auditRefs) {
      const a = lhr.audits[ref.id];
      if (!a || UNSCORED.has(a.scoreDisplayMode) || a.score === null || a.score >= 1) continue;
      if (id === 'performance' && ref.weight === 0 && a.score >= 0.9) continue;
      failing.push({ category: id, id: a.id, title: a.title, score: a.score, displayValue: a.displayValue, details: detailItems(a) });
    }
  }
  const m = (id) => lhr.audits[id]?.numericValue;
  const metrics = {
    fcp: m('first-contentful-paint'), lcp: m('largest-contentful-paint'), tbt: m('total-blocking-time'),
    cls: m('cumulative-layout-shift'), si: m('speed-index'),
  };
  const shifts = (lhr.audits['layout-shifts']?.details?.items || []).map((it) => ({
    score: it.score, node: it.node?.selector || it.node?.snippet, snippet: it.node?.snippet,
    causes: (it.subItems?.items || []).map((s) => s.extra?.value || s.cause).filter(Boolean),
  }));
  const errors = lhr.runtimeError ? `${lhr.runtimeError.code}: ${lhr.runtimeError.message}` : null;
  return { name: page.name, path: page.path, finalUrl: lhr.finalDisplayedUrl, scores, failing, metrics, shifts, runtimeError: errors, warnings: lhr.runWarnings };
}

// The offending nodes or lines of an audit, compact: selector + snippet + explanation, or
// the item's text fields.
function detailItems(a) {
  const items = a.details?.items || [];
  return items.slice(0, 12).map((it) => {
    if (it.node) return { selector: it.node.selector, snippet: it.node.snippet, explanation: it.node.explanation?.split('\n').slice(0, 3).join(' / ') };
    const out = {};
    for (const [k, v] of Object.entries(it)) {
      if (v === null || v === undefined || k === 'subItems') continue;
      if (typeof v === 'object') { if (v.type === 'source-location') out[k] = `${v.url}:${v.line}:${v.column}`; else if (v.type === 'node') out[k] = v.selector; else if (v.value !== undefined) out[k] = v.value; continue; }
      out[k] = typeof v === 'string' && v.length > 300 ? `${v.slice(0, 300)}…` : v;
    }
    return out;
  });
}

export function formatFailing(r) {
  const lines = [];
  for (const f of r.failing) {
    lines.push(`  [${f.category}] ${f.id} — ${f.title} (score ${f.score}${f.displayValue ? `, ${f.displayValue}` : ''})`);
    for (const d of f.details) lines.push(`      ${JSON.stringify(d)}`);
  }
  return lines.join('\n');
}

export async function auditAll({ performance = false, only, log = console.error } = {}) {
  const ctx = await setUp({ log });
  const results = [];
  try {
    for (const page of ctx.pages) {
      if (only && !only.includes(page.name)) continue;
      const t0 = Date.now();
      const r = await auditPage(ctx, page, { performance });
      r.ms = Date.now() - t0;
      log(r.skipped ? `${page.name}: skipped — ${r.skipped}` : `${page.name}: ${JSON.stringify(r.scores)} in ${r.ms} ms`);
      results.push(r);
    }
  } finally {
    await ctx.close();
  }
  return results;
}

// ---- as a program ----
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const performance = args.includes('--performance');
  const jsonAt = args.indexOf('--json');
  const onlyAt = args.indexOf('--only');
  const results = await auditAll({ performance, only: onlyAt >= 0 ? args[onlyAt + 1].split(',') : undefined });
  for (const r of results) {
    if (r.skipped) { console.log(`\n== ${r.name} (${r.path}): SKIPPED: ${r.skipped}`); continue; }
    console.log(`\n== ${r.name} (${r.path} → ${r.finalUrl}): ${Object.entries(r.scores).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (performance) {
      const { fcp, lcp, tbt, cls, si } = r.metrics;
      console.log(`   FCP ${fcp?.toFixed(0)} ms, LCP ${lcp?.toFixed(0)} ms, TBT ${tbt?.toFixed(0)} ms, CLS ${cls?.toFixed(3)}, SI ${si?.toFixed(0)} ms`);
      for (const s of r.shifts) console.log(`   layout shift ${s.score?.toFixed(3)}: ${s.node} ${s.snippet || ''}${s.causes.length ? ` (causes: ${s.causes.join(', ')})` : ''}`);
    }
    if (r.runtimeError) console.log(`   runtime error: ${r.runtimeError}`);
    if (r.failing.length) console.log(formatFailing(r));
  }
  if (jsonAt >= 0) writeFileSync(args[jsonAt + 1], JSON.stringify(results, null, 2));
}

