// The operator dashboard renders: a real `tern serve` with fake providers
// (one LLM that fails half its calls, so there are errors, failovers and
// breaker changes to show), a few callers talking to it from the browser,
// and the dashboard opened with ?token= in headless Chromium. Checks that
// the page loads only with the admin token, polls, draws every chart (no
// blank canvas), lists breakers and events, and throws no errors; saves a
// screenshot. Run by tests/web/test_dashboard.sh (which checks the tools and
// installs playwright-core, as for e2e.mjs).
//
// Environment: TERN (the binary), TERN_WEB_ROOT (web/), TERN_OUT (a build
// folder: work files in TERN_OUT/dashboard-e2e, the screenshot at
// TERN_OUT/dashboard.png and dashboard-dark.png), TERN_CHROMIUM (default /usr/bin/chromium).
// Exit 0: every check passed; 1: a check failed; 2: the setup broke.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TERN = process.env.TERN;
const WEB_ROOT = path.resolve(process.env.TERN_WEB_ROOT || path.join(import.meta.dirname, '..'));
const OUT = path.resolve(process.env.TERN_OUT || '.');
const CHROMIUM = process.env.TERN_CHROMIUM || '/usr/bin/chromium';
const WORK = path.join(OUT, 'dashboard-e2e');
const SHOT = path.join(OUT, 'dashboard.png');
const SHOT_DARK = path.join(OUT, 'dashboard-dark.png');
const CALLERS = 4;
const TRAFFIC_MS = 9000;

let passed = 0;
let failed = 0;
function check(ok, what, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n     ${detail}` : ''}`);
  return ok;
}
class SetupError extends Error {}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Callers, run inside the browser: each says something (a loud square wave
// the fake recogniser hears as "hello there") for a second, waits for the
// agent's reply, and goes again, until `ms` have passed; then hangs up.
async function talk({ url, callers, ms }) {
  const one = () =>
    new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      let k = 0;
      let speakUntil = 0;
      let timer = null;
      const frame = new Int16Array(320); // 20 ms at 16 kHz
      ws.onopen = () => {
        speakUntil = k + 50;
        timer = setInterval(() => {
          const loud = k < speakUntil;
          for (let i = 0; i < 320; i++) frame[i] = loud ? (((k * 320 + i) >> 5) & 1 ? 8000 : -8000) : ((i * 7919) % 61) - 30;
          if (ws.readyState === 1) ws.send(frame);
          k++;
        }, 20);
      };
      ws.onmessage = (m) => {
        if (typeof m.data !== 'string') return;
        const ev = JSON.parse(m.data);
        // Speak again a little after the agent finished its answer.
        if (ev.type === 'agent_speech_committed') speakUntil = k + 40 + 50;
      };
      const done = () => {
        clearInterval(timer);
        resolve();
      };
      ws.onclose = done;
      setTimeout(() => {
        ws.close(1000);
        done();
      }, ms);
    });
  await Promise.all(Array.from({ length: callers }, (_, i) => new Promise((r) => setTimeout(r, i * 700)).then(one)));
}

async function main() {
  if (!TERN) throw new SetupError('TERN (the tern binary) is not set');
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const adminToken = crypto.randomBytes(12).toString('hex');
  const config = path.join(WORK, 'tern.ini');
  fs.writeFileSync(
    config,
    [
      '# written by web/test/dashboard.mjs: fake providers, one flaky model',
      '[stt]', 'chain = fake',
      '[llm]', 'chain = flaky, backup',
      '[llm.flaky]', 'kind = fake', 'fail_rate = 0.5', 'first_delay_ms = 250', 'seed = 7',
      '[llm.backup]', 'kind = fake', 'first_delay_ms = 120',
      '[tts]', 'chain = fake',
      '[server]', 'bind = 127.0.0.1', `port = ${port}`, 'workers = 2', 'allowed_origins = *', `web_root = ${WEB_ROOT}`,
      '[admin]', 'bind = 127.0.0.1', `port = ${adminPort}`, `token = ${adminToken}`,
      '[auth]', 'disabled = true',
      '',
    ].join('\n'),
  );
  const serverLog = fs.openSync(path.join(WORK, 'serve.log'), 'w');
  const server = spawn(TERN, ['serve', '--config', config], { cwd: WORK, stdio: ['ignore', serverLog, serverLog] });
  let serverExit = null;
  server.on('exit', (code, sig) => (serverExit = sig || code));
  const admin = `http://127.0.0.1:${adminPort}`;
  let browser = null;
  try {
    const up = await waitFor(async () => serverExit === null && (await fetch(`${admin}/health`)).ok, 20000);
    if (!up) throw new SetupError(`tern serve did not come up (exit: ${serverExit}); see ${WORK}/serve.log`);
    check((await fetch(`${admin}/dashboard`)).status === 401, 'the dashboard needs the admin token');
    check((await fetch(`${admin}/stats?token=${adminToken}`)).status === 401, 'the data endpoint takes no token in the URL');
    const page0 = await fetch(`${admin}/dashboard?token=${adminToken}`);
    check(page0.status === 200 && /text\/html/.test(page0.headers.get('content-type')), 'the dashboard is served as HTML with ?token=');

    browser = await chromium.launchPersistentContext(path.join(WORK, 'chromium-profile'), {
      executablePath: CHROMIUM,
      viewport: { width: 1360, height: 900 },
      headless: false, // the new headless mode, asked for by flag below
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--force-color-profile=srgb'],
    });
    const callers = await browser.newPage();
    await callers.goto(`${admin}/health`);
    const traffic = callers.evaluate(talk, { url: `ws://127.0.0.1:${port}/session?sample_rate=16000`, callers: CALLERS, ms: TRAFFIC_MS });

    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => ['error', 'warning'].includes(m.type()) && problems.push(`console ${m.type()}: ${m.text()}`));
    await page.goto(`${admin}/dashboard?token=${adminToken}`);
    const busy = await waitFor(
      () => page.evaluate(() => {
        const s = window.ternDash.stats;
        return s && s.sessions_active > 0 && s.turns_total >= 2 && s.errors_total >= 1 && s.failovers_total >= 1 ? s : null;
      }),
      TRAFFIC_MS,
    );
    check(busy, 'the page shows live sessions, turns, errors and failovers', JSON.stringify(await page.evaluate(() => window.ternDash.stats && { a: window.ternDash.stats.sessions_active, t: window.ternDash.stats.turns_total, e: window.ternDash.stats.errors_total })));
    // The picture while the callers talk, in both colour schemes.
    await page.waitForTimeout(3000);
    await page.screenshot({ path: SHOT, fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(1200); // a poll redraws the canvases in the dark colours
    await page.screenshot({ path: SHOT_DARK, fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    console.log(`     screenshots: ${SHOT}, ${SHOT_DARK}`);
    await traffic;
    await page.waitForTimeout(1500); // a poll after the callers left

    const dash = await page.evaluate(() => ({ polls: window.ternDash.polls, errors: window.ternDash.errors }));
    check(dash.polls >= 3 && dash.errors === 0, 'the page polls /stats and /debug/events every second with the header', JSON.stringify(dash));
    // Every canvas drew something: count painted pixels.
    const canvases = await page.evaluate(() =>
      [...document.querySelectorAll('canvas')].map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]) painted++;
        return { id: c.id, w: c.width, h: c.height, painted };
      }),
    );
    check(canvases.length === 7, 'seven charts: sessions, errors, five latency histograms', canvases.map((c) => c.id).join(','));
    const blank = canvases.filter((c) => !c.w || !c.h || c.painted < 200);
    check(!blank.length, 'no chart is blank', JSON.stringify(blank));
    const e2eBars = await page.locator('#q-e2e').innerText();
    check(/p50\s+\d/.test(e2eBars), 'the e2e histogram gives percentile estimates', e2eBars);
    const chips = await page.locator('#breakers .chip').allInnerTexts();
    check(chips.some((c) => /flaky/.test(c)) && chips.some((c) => /backup/.test(c)), 'breaker chips for every LLM provider', chips.join(' | '));
    const switches = await page.locator('#switches li').allInnerTexts();
    check(switches.some((s) => /flaky → backup/.test(s)), 'failovers are listed', switches.join(' | '));
    const events = await page.locator('#events li').count();
    check(events > 5, 'recent events are listed', `${events} rows`);
    const errRows = await page.locator('#errtable tr').count();
    check(errRows >= 2, 'errors by kind and provider are tabled', `${errRows} rows`);
    check(!(await page.locator('#problem').isVisible()), 'no connection problem is shown');
    check(problems.length === 0, 'no errors or warnings in the console', problems.join('; '));
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (serverExit === null) {
      server.kill('SIGTERM');
      if (!(await waitFor(async () => serverExit !== null, 10000))) server.kill('SIGKILL');
    }
  }
}

try {
  await main();
} catch (e) {
  process.exitCode = 2;
  console.error(e instanceof SetupError ? `dashboard: ${e.message}` : e.stack || e.message);
}
console.log(`${passed} passed, ${failed} failed`);
if (failed && !process.exitCode) process.exitCode = 1;
if (process.exitCode === 2) console.error(`dashboard: the setup broke; work files are in ${WORK}`);
