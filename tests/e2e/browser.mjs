// Debian's Chromium driven by playwright-core: never a downloaded browser.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(import.meta.url);
export const SHOTS = resolve('tests/e2e/screenshots');
mkdirSync(SHOTS, { recursive: true });

// Every context of every browser test is watched (see guard below): its close() fails the
// test when one of its pages had a console error, a CSP violation or a failed request. The
// real CSP always applies: bypassCSP is refused, since it hid broken pages before.
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // this machine has no network beyond loopback: keep Chromium from reaching out
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options = {}) => {
    if (options.bypassCSP) throw new Error('browser tests run under the real Content-Security-Policy');
    const ctx = await newContext(options);
    const allowed = [];
    const guards = [];
    await ctx.addInitScript(reportCspViolations);
    ctx.on('page', (page) => guards.push(guard(page, `page ${guards.length + 1}`, allowed)));
    const close = ctx.close.bind(ctx);
    ctx.allow = (re, status) => allowed.push([re, status]);
    ctx.problems = () => guards.flatMap((g) => g.problems);
    ctx.close = async () => {
      const problems = ctx.problems();
      await close();
      if (problems.length) throw new Error(`${problems.length} problem(s) on the pages:\n  ${problems.join('\n  ')}`);
    };
    return ctx;
  };
  return browser;
}

// In the page: CSP refusals become console errors with where they came from.
function reportCspViolations() {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
  });
}

// Logs in through the real login page.
export async function login(page, base, email, password = 'pitwall-demo') {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Runs axe-core in the page; returns the serious and critical violations.
export async function seriousViolations(page) {
  // evaluated through the DevTools protocol, which the page's CSP does not govern (an inline
  // <script> tag would be refused, rightly)
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

// Watches a page for what a person would call broken: console errors (Chromium reports CSP
// refusals there too), uncaught exceptions and failed requests (network errors and HTTP
// answers >= 400). `allowed` lists [urlRegExp, status] pairs a test provokes on purpose
// (a wrong password's 401), through ctx.allow().
export function guard(page, label, allowed = []) {
  const problems = [];
  // [re] alone allows any failure of those URLs (a stream cut by a restart), [re, status] that answer
  const isAllowed = (url, status) => allowed.some(([re, st]) => re.test(url) && (st === undefined || st === status));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium logs every answer >= 400 as "Failed to load resource"; the responses are judged below
    if (/^Failed to load resource: the server responded with a status of/.test(text)) return;
    problems.push(`${label}: console error: ${text} (${msg.location()?.url || ''})`);
  });
  page.on('pageerror', (e) => problems.push(`${label}: uncaught: ${e.message}`));
  page.on('requestfailed', (req) => {
    const why = req.failure()?.errorText || '';
    // a page left (or a stream closed) while a request was open is not a failure
    if (/ERR_ABORTED/.test(why) || isAllowed(req.url(), undefined)) return;
    problems.push(`${label}: request failed: ${req.method()} ${req.url()} ${why}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !isAllowed(res.url(), res.status())) {
      problems.push(`${label}: HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
    }
  });
  page.on('dialog', (d) => { problems.push(`${label}: unexpected dialog: ${d.message()}`); d.dismiss(); });
  return { problems };
}
