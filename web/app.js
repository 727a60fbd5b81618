// tern's browser client: one call at a time over the session WebSocket of
// docs/protocol.md. The microphone goes out as 16 kHz PCM16 in 20 ms binary
// frames; the agent's audio comes back the same way and plays through a
// jitter buffer (worklet.js); every text frame is one session event, which
// this page turns into a transcript, a status line and plain sentences.
//
// window.ternTest mirrors what the page knows, for the end-to-end test.
'use strict';

(() => {
  const WIRE_RATE = 16000;
  const PREBUFFER_MS = 80;
  const MAX_UNSENT_BYTES = WIRE_RATE * 2; // a second of mic audio stuck in the socket
  const SWITCH_JOIN_MS = 5000; // a switch this soon after an error explains it

  const $ = (id) => document.getElementById(id);
  const test = {
    transcript: [], // {role: 'caller'|'agent'|'tool', text, interrupted}
    events: [], // every JSON message from the server, in order
    notices: [], // {level, text}
    agentAudioFrames: 0,
    agentAudioPlayedMs: 0, // what the player worklet has sent to the speaker
    micFramesSent: 0,
    state: 'idle',
    session: null,
    closeCode: null,
  };
  window.ternTest = test;

  const COMPONENT = {
    stt: 'The speech recogniser',
    llm: 'The language model',
    tts: 'The voice',
    vad: 'Voice detection',
    tool: 'A tool',
    transport: 'The connection',
    config: 'The configuration',
  };
  const NOUN = { stt: 'speech recogniser', llm: 'language model', tts: 'voice' };
  const KIND = {
    timeout: 'timed out',
    stalled: 'stopped sending in the middle of an answer',
    connection: 'could not be reached',
    rate_limited: 'is limiting how often we can ask',
    quota: 'has run out of quota or credit',
    server: 'had a server error',
    auth: 'refused our credentials',
    invalid_request: 'rejected the request',
    context_length: 'found the conversation too long',
    bad_response: 'sent an answer that could not be understood',
    cancelled: 'was cancelled',
    overloaded: 'is overloaded',
    unavailable: 'is resting after recent failures',
  };
  const LEVEL = {
    full: 'Full service again.',
    reduced: 'Running on backup providers; the conversation goes on as normal.',
    minimal: 'Reduced to simple replies: the language model or the voice is down.',
    emergency: 'Emergency mode: the agent can only play recorded messages.',
  };
  const STATE_TEXT = {
    idle: 'Not connected',
    connecting: 'Connecting…',
    listening: 'Listening',
    user_speaking: 'Hearing you',
    end_of_turn: 'Hearing you',
    thinking: 'Thinking…',
    speaking: 'Speaking',
  };

  let call = null; // the live call: {ws, ctx, stream, capture, player, ready, hungUp}
  const providers = { stt: null, llm: null, tts: null };
  const breakers = new Map(); // provider name -> closed | open | half_open
  const lastError = {}; // component -> {li, text, at}: the notice a switch may finish

  // ---- page plumbing --------------------------------------------------------

  function setState(s) {
    test.state = s;
    $('state-dot').dataset.state = s;
    $('state-text').textContent = STATE_TEXT[s] || s;
  }

  function setButton(inCall, busy) {
    const b = $('call');
    b.textContent = inCall ? 'Hang up' : 'Start call';
    b.className = inCall ? 'stop' : 'start';
    b.disabled = !!busy;
  }

  function clearPlaceholder(list) {
    const p = list.querySelector('.placeholder');
    if (p) p.remove();
  }

  function notice(level, text) {
    const list = $('notices');
    clearPlaceholder(list);
    const li = document.createElement('li');
    li.className = level;
    const t = document.createElement('time');
    t.textContent = new Date().toLocaleTimeString();
    const span = document.createElement('span');
    span.textContent = text;
    li.append(t, span);
    list.append(li);
    list.scrollTop = list.scrollHeight;
    const rec = { level, text };
    test.notices.push(rec);
    return { li, span, rec };
  }

  function addLine(role, text, opts = {}) {
    const list = $('transcript');
    clearPlaceholder(list);
    const li = document.createElement('li');
    li.className = role + (opts.interrupted ? ' interrupted' : '');
    if (role !== 'tool') {
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = role === 'caller' ? 'You' : 'Agent';
      li.append(who);
    }
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(body);
    if (opts.tag) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = opts.tag;
      li.append(tag);
    }
    list.append(li);
    list.scrollTop = list.scrollHeight;
    test.transcript.push({ role, text, interrupted: !!opts.interrupted });
  }

  function renderProviders() {
    for (const c of ['stt', 'llm', 'tts']) {
      const name = providers[c];
      const st = name && breakers.get(name);
      $('prov-' + c).textContent = !name ? '—' : st && st !== 'closed' ? `${name} (${st.replace('_', '-')})` : name;
    }
    const ul = $('breakers');
    ul.replaceChildren();
    if (!breakers.size && (providers.stt || providers.llm || providers.tts)) {
      const li = document.createElement('li');
      li.className = 'closed';
      li.textContent = 'no provider failures';
      ul.append(li);
    }
    for (const [name, st] of breakers) {
      const li = document.createElement('li');
      li.className = st;
      li.textContent = `${name}: ${st === 'closed' ? 'healthy' : st === 'open' ? 'breaker open' : 'testing'}`;
      ul.append(li);
    }
  }

  function ms(v) {
    if (typeof v !== 'number' || v < 0) return '—';
    if (v < 1) return '<1 ms';
    return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`;
  }

  // ---- events → words ---------------------------------------------------------

  function errorSentence(e) {
    const who = COMPONENT[e.component] || `The ${e.component || 'system'}`;
    const prov = e.provider ? ` (${e.provider})` : '';
    const what = KIND[e.kind] || `failed (${e.kind || 'unknown error'})`;
    return `${who}${prov} ${what}`;
  }

  function onError(e) {
    // Recovery probes of a resting provider fail quietly by design.
    if (e.probe) return;
    const text = errorSentence(e);
    const last = lastError[e.component];
    if (last && last.text === text && Date.now() - last.at < SWITCH_JOIN_MS) {
      // Retries of the same failure: one line that counts them.
      last.tries++;
      last.at = Date.now();
      last.n.span.textContent = `${text} (${last.tries} tries).`;
      last.n.rec.text = last.n.span.textContent;
      return;
    }
    const n = notice(e.recoverable === false ? 'error' : 'warn', text + '.');
    if (e.message) n.li.title = e.message;
    lastError[e.component] = { n, text, tries: 1, at: Date.now() };
  }

  function onSwitch(e) {
    providers[e.component] = e.to;
    renderProviders();
    const last = lastError[e.component];
    if (e.reason !== 'switch_back' && last && Date.now() - last.at < SWITCH_JOIN_MS) {
      // "The speech recogniser (deepgram) timed out — switched to pocketsphinx."
      const tries = last.tries > 1 ? ` (${last.tries} tries)` : '';
      last.n.span.textContent = `${last.text}${tries} — switched to ${e.to}.`;
      last.n.rec.text = last.n.span.textContent;
      delete lastError[e.component];
      return;
    }
    const noun = NOUN[e.component] || e.component;
    if (e.reason === 'switch_back') notice('ok', `${e.to} is back as the ${noun} (was ${e.from}).`);
    else notice('warn', `Switched the ${noun} from ${e.from} to ${e.to}.`);
  }

  function onBreaker(e) {
    breakers.set(e.provider, e.to);
    renderProviders();
    if (e.to === 'open') {
      notice('error', `${e.provider} failed repeatedly; tern stops calling it for a while.`);
    } else if (e.to === 'half_open') {
      notice('warn', `Trying ${e.provider} again.`);
    } else if (e.to === 'closed' && e.from !== 'closed') {
      notice('ok', `${e.provider} is working again.`);
    }
  }

  function handle(m) {
    test.events.push(m);
    switch (m.type) {
      case 'ready':
        test.session = m.session;
        if (m.sample_rate && m.sample_rate !== WIRE_RATE) {
          notice('error', `The server wants ${m.sample_rate} Hz audio; this page sends ${WIRE_RATE} Hz.`);
          hangUp(null);
          return;
        }
        if (call) call.ready = true;
        notice('ok', 'Connected. Say something!');
        setState('listening');
        break;
      case 'session_started':
        providers.stt = m.stt || providers.stt;
        providers.llm = m.llm || providers.llm;
        providers.tts = m.tts || providers.tts;
        renderProviders();
        break;
      case 'state':
        setState(m.state);
        break;
      case 'user_speech_committed':
        addLine('caller', m.text);
        break;
      case 'agent_speech_committed': {
        // Text already shown as text-only (voice down) is not shown twice.
        const prev = test.transcript[test.transcript.length - 1];
        if (prev && prev.role === 'agent' && prev.textOnly && prev.text === m.text) break;
        addLine('agent', m.text, { interrupted: m.interrupted, tag: m.interrupted ? 'interrupted' : '' });
        break;
      }
      case 'agent_text':
        addLine('agent', m.text, { tag: 'text only — the voice is down' });
        test.transcript[test.transcript.length - 1].textOnly = true;
        break;
      case 'function_call_started':
        addLine('tool', `⚙ ${m.name}`);
        break;
      case 'function_calls_finished':
        if (m.ok === false) notice('warn', `The tool “${m.name}” failed; the agent answers without it.`);
        break;
      case 'error':
        onError(m);
        break;
      case 'provider_switched':
        onSwitch(m);
        break;
      case 'breaker_state_changed':
        onBreaker(m);
        break;
      case 'degradation_changed':
        notice(m.to === 'full' ? 'ok' : m.to === 'reduced' ? 'warn' : 'error', LEVEL[m.to] || `Service level: ${m.to}.`);
        break;
      case 'fallback_spoken': {
        const noun = NOUN[m.component] || m.component || 'system';
        notice('warn', `The agent told you about a problem with the ${noun}${m.reason ? ` (${m.reason})` : ''}.`);
        break;
      }
      case 'metrics':
        $('lat-e2e').textContent = ms(m.e2e_ms);
        $('lat-eou').textContent = ms(m.eou_ms);
        $('lat-stt').textContent = ms(m.stt_ms);
        $('lat-llm').textContent = ms(m.llm_ttft_ms);
        $('lat-tts').textContent = ms(m.tts_ttfb_ms);
        break;
      case 'protocol_error':
        notice('warn', `The server could not read something this page sent: ${m.message}`);
        break;
      case 'session_closed':
        notice('ok', `The call ended (${(m.reason || 'closed').replace(/_/g, ' ')}).`);
        break;
      default:
        break; // pong and events this page has no use for
    }
  }

  // ---- the call ---------------------------------------------------------------

  function sessionUrl(token) {
    const q = new URLSearchParams(location.search);
    // ?server=ws://host:port lets a page opened elsewhere reach a tern serve.
    const base = q.get('server') || `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
    const p = new URLSearchParams({ access_token: token, sample_rate: String(WIRE_RATE) });
    return `${base.replace(/\/$/, '')}/session?${p}`;
  }

  function micProblem(err) {
    if (err && err.name === 'NotAllowedError') return 'The browser was not allowed to use the microphone. Allow it in the address bar and try again.';
    if (err && err.name === 'NotFoundError') return 'No microphone was found.';
    if (!navigator.mediaDevices) return 'This page needs a secure origin (https or localhost) to use the microphone.';
    return `The microphone could not be opened (${err && err.message ? err.message : err}).`;
  }

  function closeProblem(ev, opened) {
    if (!opened) return 'Could not connect. Check that the token is valid and not expired, that tern serve is running, and that it allows this page\'s address ([server] allowed_origins).';
    switch (ev.code) {
      case 1000: return null; // session_closed already said why
      case 1001: return 'The server is shutting down; the call ended.';
      case 1008: return 'The server ended the call: this page sent too many messages it could not read.';
      case 1011: return 'The server hit an internal error and ended the call.';
      case 1013: return 'The server is busy; try again in a moment.';
      default: return `The connection was lost (code ${ev.code}).`;
    }
  }

  async function start() {
    const token = $('token').value.trim();
    if (!token) {
      notice('error', 'Paste an access token first (make one with: tern token).');
      $('token').focus();
      return;
    }
    setButton(true, true);
    setState('connecting');
    const c = { ready: false, hungUp: false, opened: false };
    call = c;
    try {
      // Echo cancellation stays on so the agent does not hear (and get
      // interrupted by) its own voice from the speakers. Chromium's gain
      // control is off: it pushed clean speech into clipping, and the
      // recogniser then misheard words that it heard right without it.
      c.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: false },
      });
    } catch (err) {
      notice('error', micProblem(err));
      teardown(c);
      return;
    }
    try {
      c.ctx = new AudioContext({ latencyHint: 'interactive' });
      await c.ctx.audioWorklet.addModule('worklet.js');
      await c.ctx.resume();
    } catch (err) {
      notice('error', `Audio could not start in this browser (${err.message || err}).`);
      teardown(c);
      return;
    }
    if (call !== c) {
      teardown(c); // the call was given up while the audio was starting
      return;
    }

    c.player = new AudioWorkletNode(c.ctx, 'tern-player', {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: { prebufferMs: PREBUFFER_MS },
    });
    c.player.connect(c.ctx.destination);
    c.player.port.onmessage = ({ data }) => {
      $('lat-buf').textContent = `${data.bufferedMs} ms`;
      test.agentAudioPlayedMs = data.playedMs;
    };

    // The capture node writes nothing to its output, but Chromium only runs
    // nodes that lead to the destination, so it is wired there (silent).
    c.capture = new AudioWorkletNode(c.ctx, 'tern-capture', { numberOfInputs: 1, numberOfOutputs: 1 });
    c.source = c.ctx.createMediaStreamSource(c.stream);
    c.source.connect(c.capture);
    c.capture.connect(c.ctx.destination);
    c.capture.onprocessorerror = c.player.onprocessorerror = () => {
      notice('error', 'The audio processing in this page failed; hang up and start again.');
    };
    c.capture.port.onmessage = ({ data }) => {
      $('mic-level').style.width = `${Math.min(100, Math.round(data.peak * 140))}%`;
      const ws = c.ws;
      // Until the server says ready nothing is sent; on a slow link old
      // audio is dropped rather than queued, so the agent hears the present.
      if (!c.ready || !ws || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_UNSENT_BYTES) return;
      ws.send(data.pcm.buffer);
      test.micFramesSent++;
    };

    const ws = new WebSocket(sessionUrl(token));
    ws.binaryType = 'arraybuffer';
    c.ws = ws;
    ws.onopen = () => {
      c.opened = true;
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return; // not ours to fix; the server only sends JSON
        }
        if (call === c) handle(m);
        return;
      }
      const pcm = new Int16Array(ev.data, 0, ev.data.byteLength >> 1);
      test.agentAudioFrames++;
      c.player.port.postMessage(pcm, [pcm.buffer]);
    };
    ws.onclose = (ev) => {
      test.closeCode = ev.code;
      if (call !== c) return;
      if (!c.hungUp) {
        const why = closeProblem(ev, c.opened);
        if (why) notice('error', why);
        if (!c.opened) $('token-row').hidden = false; // let the token be fixed
      }
      teardown(c);
    };
    setButton(true, false);
  }

  function hangUp(why = 'You hung up.') {
    const c = call;
    if (!c) return;
    c.hungUp = true;
    // Closing first is how a caller hangs up (the server records
    // caller_hung_up); an `end` message would ask the agent for a goodbye.
    if (c.ws && c.ws.readyState === WebSocket.OPEN) c.ws.close(1000, 'hung up');
    if (why) notice('ok', why);
    teardown(c);
  }

  function teardown(c) {
    if (c.ws && c.ws.readyState <= WebSocket.OPEN) c.ws.close(1000);
    if (c.stream) c.stream.getTracks().forEach((t) => t.stop());
    if (c.ctx) c.ctx.close().catch(() => {});
    if (call === c) {
      call = null;
      setState('idle');
      setButton(false, false);
      $('mic-level').style.width = '0';
    }
  }

  // ---- wiring -----------------------------------------------------------------

  const q = new URLSearchParams(location.search);
  const urlToken = q.get('token');
  if (urlToken) {
    $('token').value = urlToken;
    $('token-row').hidden = true;
    // Keep the token out of the address bar (and screenshots, and history).
    q.delete('token');
    const rest = q.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }
  $('call').addEventListener('click', () => (call ? hangUp() : start()));
  setState('idle');
})();
