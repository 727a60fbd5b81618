// End-to-end: a spoken question goes from a (fake) microphone in headless
// Chromium through web/ to a real `tern serve`, and the answer comes back as
// transcript, events and audio. Run by tests/web/test_browser.sh, which
// checks the tools first and installs playwright-core (never a browser).
//
// Environment: TERN (the tern binary), TERN_WEB_ROOT (the web/ folder),
// TERN_OUT (a build folder: work files go to TERN_OUT/web-e2e, the screenshot
// to TERN_OUT/web-e2e.png), TERN_CHROMIUM (default /usr/bin/chromium).
// Exit 0: every check passed; 1: a check failed; 2: the setup broke.
import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TERN = process.env.TERN;
const WEB_ROOT = path.resolve(process.env.TERN_WEB_ROOT || path.join(import.meta.dirname, '..'));
const OUT = path.resolve(process.env.TERN_OUT || '.');
const CHROMIUM = process.env.TERN_CHROMIUM || '/usr/bin/chromium';
const WORK = path.join(OUT, 'web-e2e');
const SHOT = path.join(OUT, 'web-e2e.png');
const QUESTION = 'what is the weather in london';
const TURN_WAIT_MS = 60000;

let passed = 0;
let failed = 0;
function check(ok, what, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n     ${detail}` : ''}`);
  return ok;
}
class SetupError extends Error {}
class SkipError extends Error {}
function die(msg) {
  throw new SetupError(msg);
}

function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: WORK, timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args[0]} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

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

// The fake microphone loops its file. Silence first gives the page time to
// connect (and the greeting time to finish); the long tail lets the agent
// answer before the question comes round again.
function padWav(src, dst, leadSec, tailSec) {
  const b = fs.readFileSync(src);
  let rate = 0;
  let data = null;
  for (let off = 12; off + 8 <= b.length; ) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') rate = b.readUInt32LE(off + 12);
    if (id === 'data') data = b.subarray(off + 8, off + 8 + size);
    off += 8 + size + (size & 1);
  }
  if (!rate || !data) die(`${src} is not a PCM WAV`);
  const pcm = Buffer.concat([Buffer.alloc(Math.round(rate * leadSec) * 2), data, Buffer.alloc(Math.round(rate * tailSec) * 2)]);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + pcm.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(pcm.length, 40);
  fs.writeFileSync(dst, Buffer.concat([h, pcm]));
}

async function waitFor(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function readEvents(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
}

// Index of the first agent line after a caller line that mentions the
// weather, or -1: the reply must come after the question, not be the greeting.
function answerAfterQuestion(lines, agentKey) {
  const q = lines.findIndex((l) => l.caller && /weather/i.test(l.text));
  if (q < 0) return -1;
  return lines.findIndex((l, i) => i > q && l[agentKey] && l.text);
}

async function main() {
  if (!TERN) die('TERN (the tern binary) is not set');
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });

  // The question, spoken by flite at 48 kHz: the rate Chromium's fake capture
  // device runs at, so the browser hands the page the samples unchanged.
  await run(TERN, ['say', QUESTION, '-o', 'question-raw.wav', '--rate', '48000']);
  const wav = path.join(WORK, 'question.wav');
  padWav(path.join(WORK, 'question-raw.wav'), wav, 3, 12);

  const port = await freePort();
  const adminPort = await freePort();
  const secret = crypto.randomBytes(24).toString('hex');
  const config = path.join(WORK, 'tern.ini');
  fs.writeFileSync(
    config,
    [
      '# written by web/test/e2e.mjs: the offline chain, tokens on',
      '[session]',
      'greeting = Hello, this is tern.',
      '[stt]',
      'chain = pocketsphinx',
      '[llm]',
      'chain = scripted',
      '[tts]',
      'chain = flite',
      '[server]',
      'bind = 127.0.0.1',
      `port = ${port}`,
      `web_root = ${WEB_ROOT}`,
      '[admin]',
      'bind = 127.0.0.1',
      `port = ${adminPort}`,
      '[auth]',
      'api_key = e2e',
      `api_secret = ${secret}`,
      '',
    ].join('\n'),
  );
  const token = (await run(TERN, ['token', '--config', config, '--identity', 'e2e-caller', '--room', 'e2e'])).trim().split('\n').pop().trim();
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) die(`tern token printed no JWT: ${token}`);

  const eventsFile = path.join(WORK, 'events.jsonl');
  const serverLog = fs.openSync(path.join(WORK, 'serve.log'), 'w');
  const server = spawn(TERN, ['serve', '--config', config, '--events', eventsFile], {
    cwd: WORK,
    stdio: ['ignore', serverLog, serverLog],
  });
  let serverExit = null;
  server.on('exit', (code, sig) => (serverExit = sig || code));
  const base = `http://127.0.0.1:${port}`;
  let browser = null;
  try {
    const home = await waitFor('server', async () => {
      if (serverExit !== null) return undefined;
      const r = await fetch(`${base}/`);
      return { status: r.status, body: await r.text() };
    }, 20000);
    if (!home) die(`tern serve did not answer at ${base}/ (exit: ${serverExit}); see ${WORK}/serve.log`);
    // Interim: a tern serve that knows only /session (its 404 says so) cannot
    // serve [server] web_root yet; that is the one gap this test may skip for.
    // Any other refusal of the page is a failure.
    if (home.status === 404 && /sessions are WebSocket upgrades/.test(home.body)) {
      throw new SkipError(`tern serve does not serve the browser client yet (GET / -> 404 "${home.body.trim()}")`);
    }
    if (home.status !== 200) die(`GET ${base}/ answered ${home.status}: ${home.body.slice(0, 200)}`);

    // A persistent context on a fresh folder: a new, empty profile each run.
    browser = await chromium.launchPersistentContext(path.join(WORK, 'chromium-profile'), {
      executablePath: CHROMIUM,
      viewport: { width: 900, height: 1000 },
      headless: false, // the new headless mode, asked for by flag below
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${wav}`,
        '--autoplay-policy=no-user-gesture-required',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await page.goto(`${base}/?token=${encodeURIComponent(token)}`);
    check(!(await page.url()).includes(token), 'the page takes the token out of the address bar');
    await page.getByRole('button', { name: 'Start call' }).click();

    const turn = await waitFor(
      'turn',
      () =>
        page.evaluate(() => {
          const t = window.ternTest;
          const lines = t.transcript.map((l) => ({ caller: l.role === 'caller', agent: l.role === 'agent', text: l.text }));
          const q = lines.findIndex((l) => l.caller && /weather/i.test(l.text));
          return q >= 0 && lines.some((l, i) => i > q && l.agent) && t.agentAudioPlayedMs > 0 ? t : null;
        }),
      TURN_WAIT_MS,
    );
    const t = turn || (await page.evaluate(() => window.ternTest));
    const lines = t.transcript.map((l) => ({ caller: l.role === 'caller', agent: l.role === 'agent', text: l.text }));
    const said = t.transcript.map((l) => `${l.role}: ${l.text}`).join(' | ') || '(nothing)';
    check(t.events.some((e) => e.type === 'ready'), 'the server says ready to the page', `events: ${t.events.map((e) => e.type).join(',')}`);
    check(t.micFramesSent > 0, 'the page streams microphone frames', `sent ${t.micFramesSent}`);
    check(lines.some((l) => l.caller && /weather/i.test(l.text)), "the page shows the caller's question", said);
    check(answerAfterQuestion(lines, 'agent') >= 0, "the page shows the agent's reply after it", said);
    check(t.agentAudioFrames > 0, 'agent audio frames reach the page', `frames: ${t.agentAudioFrames}`);
    check(t.agentAudioPlayedMs > 0, 'the player worklet plays them', `played: ${t.agentAudioPlayedMs} ms`);
    check(['listening', 'user_speaking', 'end_of_turn', 'thinking', 'speaking'].includes(t.state), 'the page shows the agent state', t.state);
    const shown = await page.locator('#transcript').innerText();
    check(/weather/i.test(shown), 'the transcript is on screen, not just in memory', shown);
    check((await page.locator('#prov-stt').innerText()) === 'pocketsphinx', 'the providers panel names the recogniser');
    await page.waitForTimeout(300);
    await page.screenshot({ path: SHOT, fullPage: true });
    console.log(`     screenshot: ${SHOT}`);

    await page.getByRole('button', { name: 'Hang up' }).click();
    const closed = await waitFor('close', async () => readEvents(eventsFile).find((e) => e.type === 'session_closed'), 10000);
    check(closed && closed.reason === 'caller_hung_up', 'hanging up ends the session on the server as a hang-up', JSON.stringify(closed));
    check(pageErrors.length === 0, 'the page threw no errors', pageErrors.join('; '));

    // The server's own record of the turn, in its order.
    const ev = readEvents(eventsFile);
    const types = ev.map((e) => e.type);
    check(types.includes('session_started'), 'the server logged session_started', types.join(','));
    const sv = ev
      .filter((e) => e.type === 'user_speech_committed' || e.type === 'agent_speech_committed')
      .map((e) => ({ caller: e.type === 'user_speech_committed', agent: e.type === 'agent_speech_committed', text: e.text }));
    check(answerAfterQuestion(sv, 'agent') >= 0, 'the server logged the question and the answer', JSON.stringify(sv));

    // A forged token is refused, and the page says so in words.
    const bad = await browser.newPage();
    await bad.goto(`${base}/?token=${token.slice(0, -4)}AAAA`);
    await bad.getByRole('button', { name: 'Start call' }).click();
    const refused = await waitFor('refusal', () => bad.evaluate(() => window.ternTest.notices.find((n) => /could not connect/i.test(n.text))), 10000);
    check(refused, 'a forged token is refused with a plain-language message');
    check((await bad.getByRole('button').innerText()) === 'Start call', 'after a refusal the page is ready to try again');

    // With no call left, a SIGTERM drains at once; under the sanitizer
    // build this is also where a leak report would turn the status non-zero.
    server.kill('SIGTERM');
    await waitFor('exit', async () => serverExit !== null, 15000);
    check(serverExit === 0, 'tern serve exits cleanly on SIGTERM', `exit: ${serverExit}; see ${WORK}/serve.log`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (serverExit === null) {
      server.kill('SIGTERM');
      const gone = await waitFor('exit', async () => serverExit !== null, 10000);
      if (!gone) server.kill('SIGKILL');
    }
  }
}

try {
  await main();
} catch (e) {
  if (e instanceof SkipError) {
    console.log(`SKIP: ${e.message}`);
    process.exit(77);
  }
  process.exitCode = 2;
  console.error(e instanceof SetupError ? `e2e: ${e.message}` : e.stack || e.message);
}
console.log(`${passed} passed, ${failed} failed`);
if (failed && !process.exitCode) process.exitCode = 1;
if (process.exitCode === 2) console.error(`e2e: the setup broke; work files are in ${WORK}`);
