// tern's audio worklets: the microphone side and the speaker side of a call.
//
// Both run on the audio thread, so they never allocate per sample and never
// wait on the network. The wire format is fixed by docs/protocol.md: PCM16
// little-endian mono at the rate asked for in the URL (16 kHz here), while
// the AudioContext runs at whatever the sound card likes (often 48 kHz).

const WIRE_RATE = 16000;

// A windowed-sinc low-pass, so that downsampling does not fold the mic's
// high frequencies back into the speech band (the recogniser hears that).
function lowpass(cutoff, taps) {
  const h = new Float32Array(taps);
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1));
    h[i] = sinc * hann;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

function toPcm16(x) {
  const v = x < -1 ? -1 : x > 1 ? 1 : x;
  return v < 0 ? v * 0x8000 : v * 0x7fff;
}

// Microphone: input at the context rate -> 16 kHz PCM16, posted in 20 ms
// frames (320 samples) with the frame's peak level for the meter.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / WIRE_RATE; // input samples per output sample
    const down = this.step > 1;
    this.taps = down ? lowpass((0.45 * WIRE_RATE) / sampleRate, 63) : new Float32Array([1]);
    this.hist = new Float32Array(this.taps.length); // circular history of input
    this.hpos = 0;
    this.prev = 0; // last filtered sample
    this.t = 0; // position of the next output sample, relative to the newest input
    this.frame = new Int16Array(WIRE_RATE / 50);
    this.fill = 0;
    this.peak = 0;
  }

  filtered(x) {
    const n = this.hist.length;
    this.hist[this.hpos] = x;
    this.hpos = (this.hpos + 1) % n;
    let acc = 0;
    for (let i = 0, j = this.hpos; i < n; i++, j = (j + 1) % n) acc += this.taps[i] * this.hist[j];
    return acc;
  }

  emit(v) {
    const a = Math.abs(v);
    if (a > this.peak) this.peak = a;
    this.frame[this.fill++] = toPcm16(v);
    if (this.fill === this.frame.length) {
      const pcm = this.frame;
      this.frame = new Int16Array(pcm.length); // before the transfer empties pcm
      this.port.postMessage({ pcm, peak: this.peak }, [pcm.buffer]);
      this.fill = 0;
      this.peak = 0;
    }
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true; // no mic yet: keep the node alive
    for (let i = 0; i < ch.length; i++) {
      const cur = this.filtered(ch[i]);
      // Output samples that fall between the previous input and this one,
      // placed by linear interpolation on the filtered signal.
      while (this.t <= 1) {
        this.emit(this.prev + (cur - this.prev) * this.t);
        this.t += this.step;
      }
      this.t -= 1;
      this.prev = cur;
    }
    return true;
  }
}

// Speaker: 16 kHz PCM16 frames from the server -> the context rate, through
// a small jitter buffer. Playback starts once `prebuffer` ms are queued and
// goes back to waiting after an underrun, so network jitter becomes a short
// pause at a sentence start rather than crackle in the middle of words.
class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.step = WIRE_RATE / sampleRate; // wire samples per output sample
    this.prebuffer = Math.round(((o.prebufferMs || 80) / 1000) * WIRE_RATE);
    this.cap = Math.round(((o.maxBufferMs || 2000) / 1000) * WIRE_RATE);
    this.buf = new Float32Array(this.cap + WIRE_RATE); // ring of wire-rate samples
    this.head = 0; // read index
    this.size = 0;
    this.t = 0; // fractional read position between buf[head] and buf[head+1]
    this.playing = false;
    this.gaps = 0;
    this.played = 0; // wire samples that reached the speaker
    this.dropped = 0;
    this.port.onmessage = (e) => {
      if (e.data === 'flush') {
        this.size = 0;
        this.t = 0;
        this.playing = false;
      } else if (e.data instanceof Int16Array) {
        this.push(e.data);
      }
    };
  }

  push(pcm) {
    const n = this.buf.length;
    // Over the cap the oldest audio goes: falling further behind the
    // conversation is worse than a skipped syllable.
    const over = this.size + pcm.length - this.cap;
    if (over > 0) {
      const drop = Math.min(over, this.size);
      this.head = (this.head + drop) % n;
      this.size -= drop;
      this.dropped += drop;
    }
    let w = (this.head + this.size) % n;
    for (let i = 0; i < pcm.length; i++) {
      this.buf[w] = pcm[i] / 0x8000;
      w = w + 1 === n ? 0 : w + 1;
    }
    this.size += pcm.length;
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    const n = this.buf.length;
    if (!this.playing && this.size >= this.prebuffer) this.playing = true;
    let i = 0;
    if (this.playing) {
      for (; i < out.length; i++) {
        if (this.size < 2) {
          this.playing = false; // the end of a reply, or the network fell behind
          this.gaps++;
          break;
        }
        const a = this.buf[this.head];
        const b = this.buf[(this.head + 1) % n];
        out[i] = a + (b - a) * this.t;
        this.t += this.step;
        while (this.t >= 1 && this.size >= 2) {
          this.t -= 1;
          this.head = (this.head + 1) % n;
          this.size--;
          this.played++;
        }
      }
    }
    for (; i < out.length; i++) out[i] = 0;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (currentFrame % (sampleRate / 2) < out.length) {
      this.port.postMessage({
        bufferedMs: Math.round((this.size / WIRE_RATE) * 1000),
        gaps: this.gaps,
        playedMs: Math.round((this.played / WIRE_RATE) * 1000),
        droppedMs: Math.round((this.dropped / WIRE_RATE) * 1000),
      });
    }
    return true;
  }
}

registerProcessor('tern-capture', CaptureProcessor);
registerProcessor('tern-player', PlayerProcessor);
