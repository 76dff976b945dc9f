// The elements that shift while a page loads, from the browser's own layout-shift entries
// (PerformanceObserver, with their sources): Lighthouse 12.2.3's `layout-shifts` audit fails
// with Debian's Chromium here (its RootCauses gatherer: "Cannot read properties of undefined
// (reading 'frame_sequence')"), so the CLS it reports comes without the nodes. Same pages,
// logins, viewport (412×823, DPR 1.75) and throttling as Lighthouse's mobile run, applied for
// real here (DevTools: 4× CPU slowdown, 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up), empty cache,
// and every /api/ answer held back 500 ms (apiDelayMs) so that the page has painted its
// "Loading…" state before its data arrives, as on a phone: on loopback the data can win the
// race against the first paint, and the shift it causes then depends on the machine's load.
//   node tests/lighthouse/shifts.mjs [page,page...] [--json FILE]
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { setUp } from './lighthouse.mjs';

// Loads the page in a fresh tab and returns its layout shifts (those without recent input),
// each with its value and the elements that moved (selector-like name, before and after).
export async function layoutShifts(ctx, page, { settleMs = 4000, apiDelayMs = 500 } = {}) {
  const tab = await ctx.browser.newPage();
  try {
    await tab.setViewport({ width: 412, height: 823, deviceScaleFactor: 1.75, isMobile: true, hasTouch: true });
    const cdp = await tab.createCDPSession();
    await cdp.send('Network.clearBrowserCookies');
    if (page.role) {
      const c = ctx.clients.get(page.role);
      await cdp.send('Network.setCookies', { cookies: [...c.cookies].map(([name, value]) => ({ name, value, url: ctx.srv.url })) });
    }
    await cdp.send('Network.enable');
    await cdp.send('Network.clearBrowserCache');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 150, downloadThroughput: (1.6 * 1024 * 1024) / 8, uploadThroughput: (750 * 1024) / 8 });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
    if (apiDelayMs > 0) {
      await tab.setRequestInterception(true);
      tab.on('request', (req) => {
        if (req.isInterceptResolutionHandled()) return;
        const path = new URL(req.url()).pathname;
        if (path.startsWith('/api/')) setTimeout(() => req.continue().catch(() => {}), apiDelayMs);
        else req.continue().catch(() => {});
      });
    }
    if (page.draft) await tab.evaluateOnNewDocument((d) => { sessionStorage.setItem('pitwall.draft', d); }, JSON.stringify(page.draft));
    await tab.evaluateOnNewDocument(() => {
      const name = (n) => {
        if (!n || n.nodeType !== 1) return n ? n.nodeName : '(gone)';
        let s = n.tagName.toLowerCase();
        if (n.id) s += `#${n.id}`;
        if (n.className && typeof n.className === 'string') s += `.${n.className.trim().split(/\s+/).join('.')}`;
        const parent = n.parentElement;
        return parent && !n.id ? `${name(parent).split(' > ').pop()} > ${s}` : s;
      };
      const rect = (r) => `${Math.round(r.x)},${Math.round(r.y)} ${Math.round(r.width)}×${Math.round(r.height)}`;
      window.__shifts = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (e.hadRecentInput) continue;
          window.__shifts.push({
            value: e.value, at: Math.round(e.startTime),
            sources: (e.sources || []).map((s) => ({ node: name(s.node), text: (s.node?.textContent || '').trim().slice(0, 60), from: rect(s.previousRect), to: rect(s.currentRect) })),
          });
        }
      }).observe({ type: 'layout-shift', buffered: true });
    });
    await tab.goto(ctx.srv.url + page.path, { waitUntil: 'load' });
    await new Promise((ok) => setTimeout(ok, settleMs));
    const shifts = await tab.evaluate(() => window.__shifts);
    await cdp.detach().catch(() => {});
    return { name: page.name, path: page.path, cls: shifts.reduce((a, s) => a + s.value, 0), shifts };
  } finally {
    await tab.close().catch(() => {});
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const jsonAt = args.indexOf('--json');
  const only = args[0] && !args[0].startsWith('--') ? args[0].split(',') : null;
  const ctx = await setUp();
  const out = [];
  try {
    for (const page of ctx.pages) {
      if (page.optional || (only && !only.includes(page.name))) continue;
      const r = await layoutShifts(ctx, page);
      out.push(r);
      console.log(`== ${r.name}: CLS ${r.cls.toFixed(3)}`);
      for (const s of r.shifts) {
        console.log(`   ${s.value.toFixed(3)} at ${s.at} ms`);
        for (const src of s.sources) console.log(`     ${src.node} "${src.text}" ${src.from} → ${src.to}`);
      }
    }
  } finally {
    await ctx.close();
  }
  if (jsonAt >= 0) writeFileSync(args[jsonAt + 1], JSON.stringify(out, null, 2));
}
