#!/usr/bin/env python3
"""fakeprov: a fault-injecting fake of tern's cloud providers, for tests.

It speaks the wire formats of the OpenAI-compatible API (chat, audio
transcription, speech), Anthropic Messages, ElevenLabs text-to-speech and
Deepgram (live WebSocket and pre-recorded) on 127.0.0.1 only, closely enough
that real clients accept it, and lets a test script faults per request
through a control API on the same port (see README.md next to this file).

Invariants:
  - it binds loopback only and never opens an outbound connection;
  - everything a reply depends on is deterministic: the input, the scripted
    reply texts and the scripted faults; no randomness and no wall-clock
    dependent content except headers such as Date;
  - one scripted fault entry is consumed by exactly one request of its route,
    in order, whether that request then succeeds, fails or is refused;
  - /_control/reset restores the state of a fresh server and wakes every
    connection held by a stall fault.

Only the Python standard library is used: WebSocket is implemented here
(RFC 6455 server side, enough for Deepgram's protocol) so that a test box
needs nothing beyond python3.
"""

import argparse
import base64
import copy
import hashlib
import json
import math
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

ROUTES = (
    "openai.chat",
    "openai.stt",
    "openai.tts",
    "anthropic.messages",
    "elevenlabs.tts",
    "deepgram.listen",
    "deepgram.prerecorded",
)
PROVIDERS = ("openai", "anthropic", "elevenlabs", "deepgram")

FAULT_KEYS = {
    "delay_headers_ms", "status", "body", "retry_after", "error_type",
    "error_code", "message", "content_type", "headers", "reset_after_chunks",
    "stall_after_chunks", "stall_ms", "drip_ms", "malformed_json",
    "malformed_at", "truncate_after_chunks", "wrong_content_type",
    "oversized_body_bytes", "close_before_response", "error_after_chunks",
    "close_after_messages", "close_code", "close_reason", "text",
    "tool_calls", "note", "piece_bytes",
}

DEFAULT_TRANSCRIPT = "hello there"
DEFAULT_STALL_MS = 600000
MAX_REQUEST_BODY = 64 << 20
TTS_MS_PER_CHAR = 50          # synthetic speech: 50 ms of audio per character
AUDIO_PIECE_MS = 100          # streamed audio goes out in 100 ms chunks
VOICE_RMS = 300               # Deepgram fake: a 20 ms frame above this is speech
EXTRA_REASONS = {529: "Overloaded"}

STOP = threading.Event()
QUIET = False


def log(msg):
    if not QUIET:
        sys.stderr.write("fakeprov: %s\n" % msg)
        sys.stderr.flush()


class ControlError(Exception):
    pass


class State:
    """Everything tests can script or inspect; guarded by one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.generation = 0
        self._clear()

    def _clear(self):
        self.queues = {r: deque() for r in ROUTES}
        self.defaults = {r: None for r in ROUTES}
        self.replies = {r: None for r in ROUTES}
        self.reply_used = {r: 0 for r in ROUTES}
        self.keys = {p: None for p in PROVIDERS}
        self.counts = {r: 0 for r in ROUTES}
        self.faulted = {r: 0 for r in ROUTES}
        self.last = {r: None for r in ROUTES}
        self.connections = 0

    def reset(self):
        with self.lock:
            self._clear()
            self.generation += 1

    def take(self, route):
        """Counts a request and hands it its script (a dict, maybe empty)."""
        with self.lock:
            self.counts[route] += 1
            if self.queues[route]:
                script = self.queues[route].popleft()
            elif self.defaults[route] is not None:
                script = copy.deepcopy(self.defaults[route])
            else:
                script = {}
            if any(k not in ("text", "tool_calls", "note") for k in script):
                self.faulted[route] += 1
            return script

    def record(self, route, summary):
        with self.lock:
            self.last[route] = summary

    def update_last(self, route, summary, **fields):
        with self.lock:
            summary.update(fields)

    def reply_text(self, route, script, fallback):
        """The scripted text wins, then the configured reply list (one entry
        per use, the last one repeating), then the route's own default."""
        if script.get("text") is not None:
            return str(script["text"])
        with self.lock:
            texts = self.replies[route]
            if not texts:
                return fallback
            i = min(self.reply_used[route], len(texts) - 1)
            self.reply_used[route] += 1
            return texts[i]

    def stats(self):
        with self.lock:
            out = {"connections": self.connections, "routes": {}}
            for r in ROUTES:
                out["routes"][r] = {
                    "count": self.counts[r],
                    "faulted": self.faulted[r],
                    "queued": len(self.queues[r]),
                    "last": self.last[r],
                }
            return json.dumps(out).encode()


STATE = State()


# ---------------------------------------------------------------- helpers

def jbytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def tokens(text):
    """Splits a reply into streaming tokens the way models do: word plus the
    space after it, so that joining the tokens gives the text back."""
    toks = re.findall(r"\S+\s*|\s+", text)
    return toks or [""]


def slices(s, n):
    return [s[i:i + n] for i in range(0, len(s), n)] or [""]


def header_safe(text):
    return quote(text, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")


def tone(n_samples, rate):
    """A 440 Hz tone: proof of audio whose length alone carries meaning."""
    period = [int(6000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(rate)]
    one_second = struct.pack("<%dh" % rate, *period)
    need = n_samples * 2
    reps = need // len(one_second) + 1
    return (one_second * reps)[:need]


def wav_header(n_bytes, rate, channels=1):
    return (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE" +
            b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
                                   rate * channels * 2, channels * 2, 16) +
            b"data" + struct.pack("<I", n_bytes))


def wav_info(data):
    """Summary of a RIFF/WAVE blob, or None when it is not one."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, info = 12, {}
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt " and len(body) >= 16:
            fmt, ch, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            info.update(format=fmt, channels=ch, sample_rate=rate, bits=bits)
        elif cid == b"data":
            info["data_bytes"] = len(body)
            if info.get("sample_rate") and info.get("channels") and info.get("bits"):
                frame = info["channels"] * info["bits"] // 8
                info["duration_ms"] = 1000 * (len(body) // frame) // info["sample_rate"]
            break
        pos += 8 + size + (size & 1)
    return info


def parse_multipart(body, content_type):
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not m:
        return None
    delim = b"--" + m.group(1).encode()
    parts = {}
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, value = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if value.endswith(b"\r\n"):
            value = value[:-2]
        head = head.decode("latin-1")
        name = re.search(r'name="([^"]*)"', head)
        fname = re.search(r'filename="([^"]*)"', head)
        if name:
            parts[name.group(1)] = {"value": value,
                                    "filename": fname.group(1) if fname else None}
    return parts


def text_of(content):
    """Plain text of an OpenAI or Anthropic message content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif part.get("type") == "tool_result":
                    out.append(text_of(part.get("content")))
        return "".join(out)
    return ""


def last_user_text(messages):
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def tool_args(call):
    args = call.get("arguments", {})
    return args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))


def parsed_args(call):
    try:
        return json.loads(tool_args(call) or "{}")
    except ValueError:
        return {}


# ------------------------------------------------------- provider errors

def error_body(provider, status, script):
    """A provider-shaped error body for status (script may override parts)."""
    msg = script.get("message")
    etype = script.get("error_type")
    code = script.get("error_code")
    if provider == "openai":
        defaults = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                    403: ("invalid_request_error", None), 404: ("invalid_request_error", "model_not_found"),
                    429: ("requests", "rate_limit_exceeded"), 500: ("server_error", None),
                    503: ("server_error", None)}
        t, c = defaults.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return jbytes({"error": {"message": msg or "fakeprov: error %d" % status,
                                 "type": etype or t, "param": None, "code": code or c}})
    if provider == "anthropic":
        defaults = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    500: "api_error", 529: "overloaded_error"}
        t = defaults.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return jbytes({"type": "error", "error": {"type": etype or t,
                                                  "message": msg or "fakeprov: error %d" % status}})
    if provider == "elevenlabs":
        defaults = {401: "invalid_api_key", 429: "too_many_concurrent_requests", 422: "invalid_request",
                    400: "invalid_request", 503: "system_busy"}
        t = defaults.get(status, "internal_error" if status >= 500 else "invalid_request")
        return jbytes({"detail": {"status": etype or t, "message": msg or "fakeprov: error %d" % status}})
    defaults = {400: "Bad Request", 401: "INVALID_AUTH", 402: "ASR_PAYMENT_REQUIRED",
                403: "INSUFFICIENT_PERMISSIONS", 429: "TOO_MANY_REQUESTS"}
    t = defaults.get(status, "INTERNAL_SERVER_ERROR" if status >= 500 else "Bad Request")
    return jbytes({"err_code": code or etype or t, "err_msg": msg or "fakeprov: error %d" % status,
                   "request_id": "00000000-0000-4000-8000-00000000fa1e"})


class Reply:
    """A response about to be sent: status, headers and body pieces. Each
    piece is one "chunk" for the chunk-counting faults: one SSE event, 100 ms
    of streamed audio, or one half of a JSON body."""

    def __init__(self, status, ctype, pieces, stream, kind, headers=None):
        self.status = status
        self.headers = [("Content-Type", ctype)] + list(headers or [])
        self.pieces = [p for p in pieces if p]
        self.stream = stream      # chunked transfer-encoding, else Content-Length
        self.kind = kind          # "sse", "json", "audio", "text"


def json_reply(status, body, headers=None):
    half = max(1, len(body) // 2)
    return Reply(status, "application/json", [body[:half], body[half:]], False, "json", headers)


def error_reply(provider, status, script=None, message=None):
    script = dict(script or {})
    if message and not script.get("message"):
        script["message"] = message
    return json_reply(status, error_body(provider, status, script))


# ------------------------------------------------------------- WebSocket

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WSClosed(Exception):
    pass


class WebSocket:
    """Server side of RFC 6455 over a handler's buffered reader and socket."""

    def __init__(self, rfile, sock):
        self.rfile = rfile
        self.sock = sock
        self.fragments = None
        self.frag_op = 0

    def _read(self, n):
        data = self.rfile.read(n) if n else b""
        if len(data) < n:
            raise WSClosed("eof")
        return data

    def recv(self):
        """Next message as (opcode, payload); pings are answered here. A close
        frame comes back as (8, payload)."""
        while True:
            b0, b1 = self._read(2)
            fin, op = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            if n > MAX_REQUEST_BODY:
                raise WSClosed("frame too large")
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask and n:
                key = (mask * (n // 4 + 1))[:n]
                payload = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")
            if op == 9:
                self.send(10, payload)
                continue
            if op == 10:
                continue
            if op == 8:
                return 8, payload
            if op == 0:
                if self.fragments is None:
                    raise WSClosed("continuation without start")
                self.fragments.append(payload)
                if fin:
                    msg, self.fragments = b"".join(self.fragments), None
                    return self.frag_op, msg
                continue
            if not fin:
                self.fragments, self.frag_op = [payload], op
                continue
            return op, payload

    def send(self, op, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x80 | op, n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | op, 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | op, 127, n)
        self.sock.sendall(head + payload)

    def send_close(self, code, reason=""):
        self.send(8, struct.pack(">H", code) + reason.encode()[:120])


# --------------------------------------------------------------- handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeprov/1"

    def setup(self):
        super().setup()
        # Streams go out in small writes; Nagle would batch them and blur
        # the chunk timing that drip and stall faults are about.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with STATE.lock:
            STATE.connections += 1
        self.generation = STATE.generation

    def log_request(self, code="-", size="-"):
        if not self.path.startswith("/_control/"):
            super().log_request(code, size)

    def log_message(self, fmt, *args):
        log("%s:%d %s" % (self.server.name, self.server.server_address[1], fmt % args))

    def send_response(self, code, message=None):
        super().send_response(code, message or EXTRA_REASONS.get(code))

    # ---- plumbing

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_REQUEST_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(n) if n else b""

    def hard_close(self, reset):
        """Closes the connection now; with reset the kernel sends RST (linger
        0) instead of FIN, which is what a crashed peer or proxy looks like."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # The buffered reader holds a reference that would keep the socket
        # open; the writer holds none and must stay usable for the base
        # class's final flush.
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def wait(self, ms, watch_peer):
        """Sleeps ms, waking early on shutdown, on reset, or (watch_peer) when
        the client goes away, so a stalled connection never outlives its use."""
        deadline = time.monotonic() + ms / 1000.0
        while not STOP.is_set() and STATE.generation == self.generation:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if not watch_peer:
                time.sleep(min(left, 0.05))
                continue
            try:
                r, _, _ = select.select([self.connection], [], [], min(left, 0.05))
                if r and not self.connection.recv(65536):
                    return False
            except OSError:
                return False
        return False

    def send_json(self, status, obj):
        body = obj if isinstance(obj, bytes) else jbytes(obj)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # ---- dispatch

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        self.generation = STATE.generation
        url = urlsplit(self.path)
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = self.read_body() if method in ("POST", "DELETE") else b""
        except (ValueError, OSError) as e:
            self.close_connection = True
            self.send_json(400, {"error": "bad request body: %s" % e})
            return
        try:
            if path.startswith("/_control/"):
                self.control(method, path, body)
                return
            route, extra = self.match(method, path)
            if route is None:
                self.send_json(404, {"error": {"message": "fakeprov: no route %s %s" % (method, path),
                                               "type": "invalid_request_error"}})
                return
            script = STATE.take(route)
            if route == "deepgram.listen":
                self.websocket(route, query, script)
                return
            reply = getattr(self, "route_" + route.replace(".", "_"))(route, script, body, query, extra)
            self.deliver(route, script, reply)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, WSClosed):
            self.close_connection = True
        except Exception:  # a bug here must not look like a provider fault
            import traceback
            log("internal error:\n" + traceback.format_exc())
            self.hard_close(False)

    def match(self, method, path):
        if method == "POST":
            fixed = {"/v1/chat/completions": "openai.chat", "/v1/audio/transcriptions": "openai.stt",
                     "/v1/audio/speech": "openai.tts", "/v1/messages": "anthropic.messages",
                     "/v1/listen": "deepgram.prerecorded"}
            if path in fixed:
                return fixed[path], None
            m = re.fullmatch(r"/v1/text-to-speech/([^/]+)(/stream)?", path)
            if m:
                return "elevenlabs.tts", {"voice_id": m.group(1), "stream": bool(m.group(2))}
        if method == "GET" and path == "/v1/listen" and \
                self.headers.get("Upgrade", "").lower() == "websocket":
            return "deepgram.listen", None
        return None, None

    # ---- control API

    def control(self, method, path, body):
        try:
            req = json.loads(body or b"{}")
            if not isinstance(req, dict):
                raise ControlError("body must be a JSON object")
            if path == "/_control/stats" and method == "GET":
                self.send_json(200, STATE.stats())
            elif path == "/_control/health" and method == "GET":
                self.send_json(200, {"ok": True})
            elif path == "/_control/reset" and method == "POST":
                STATE.reset()
                self.send_json(200, {"ok": True})
            elif path == "/_control/script" and method == "POST":
                self.control_script(req)
            elif path == "/_control/reply" and method == "POST":
                self.control_reply(req)
            elif path == "/_control/key" and method == "POST":
                self.control_key(req)
            else:
                self.send_json(404, {"error": "no control endpoint %s %s" % (method, path)})
        except (ControlError, ValueError) as e:
            self.send_json(400, {"error": str(e)})

    @staticmethod
    def check_route(req):
        route = req.get("route")
        if route not in ROUTES:
            raise ControlError("unknown route %r; known: %s" % (route, ", ".join(ROUTES)))
        return route

    @staticmethod
    def check_fault(f):
        if not isinstance(f, dict):
            raise ControlError("a fault must be a JSON object")
        bad = sorted(set(f) - FAULT_KEYS)
        if bad:
            raise ControlError("unknown fault field(s): %s" % ", ".join(bad))
        return f

    def control_script(self, req):
        route = self.check_route(req)
        faults = [self.check_fault(f) for f in req.get("faults") or []]
        default = req.get("default")
        if default is not None:
            self.check_fault(default)
        with STATE.lock:
            if not req.get("append"):
                STATE.queues[route].clear()
            STATE.queues[route].extend(faults)
            if "default" in req:
                STATE.defaults[route] = default
            queued = len(STATE.queues[route])
        self.send_json(200, {"ok": True, "queued": queued})

    def control_reply(self, req):
        route = self.check_route(req)
        texts = req.get("texts")
        if texts is None and req.get("text") is not None:
            texts = [req["text"]]
        if texts is not None and (not isinstance(texts, list) or
                                  not all(isinstance(t, str) for t in texts)):
            raise ControlError("text must be a string, texts a list of strings")
        with STATE.lock:
            STATE.replies[route] = texts or None
            STATE.reply_used[route] = 0
        self.send_json(200, {"ok": True})

    def control_key(self, req):
        who = req.get("provider") or str(req.get("route", "")).split(".")[0]
        if who not in PROVIDERS:
            raise ControlError("unknown provider %r; known: %s" % (who, ", ".join(PROVIDERS)))
        key = req.get("key")
        if key is not None and not isinstance(key, str):
            raise ControlError("key must be a string or null")
        with STATE.lock:
            STATE.keys[who] = key
        self.send_json(200, {"ok": True})

    # ---- auth

    def presented_key(self, provider):
        h = self.headers
        if provider == "anthropic":
            return h.get("x-api-key")
        if provider == "elevenlabs":
            return h.get("xi-api-key")
        auth = h.get("Authorization", "")
        scheme, _, cred = auth.partition(" ")
        if provider == "openai":
            return cred.strip() if scheme.lower() == "bearer" else None
        if scheme.lower() in ("token", "bearer"):
            return cred.strip()
        protos = [p.strip() for p in h.get("Sec-WebSocket-Protocol", "").split(",")]
        if len(protos) >= 2 and protos[0].lower() == "token":
            return protos[1]
        return None

    def auth_failure(self, route):
        """None when the request may go on, else the error Reply."""
        provider = route.split(".")[0]
        got = self.presented_key(provider)
        with STATE.lock:
            want = STATE.keys[provider]
        if provider == "anthropic":
            if got is None:
                return error_reply(provider, 401, message="x-api-key header is required")
            if not self.headers.get("anthropic-version"):
                return error_reply(provider, 400, message="anthropic-version: header is required")
        if want is not None and got != want:
            msg = {"openai": "Incorrect API key provided.", "anthropic": "invalid x-api-key",
                   "elevenlabs": "Invalid API key", "deepgram": "Invalid credentials."}[provider]
            return error_reply(provider, 401, message=msg)
        return None

    def summary(self, route, query, **fields):
        s = {"path": self.path, "query": query,
             "headers": {k.lower(): v for k, v in self.headers.items()}}
        s.update(fields)
        STATE.record(route, s)
        return s

    # ---- routes

    def route_openai_chat(self, route, script, body, query, extra):
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            self.summary(route, query, raw=body[:512].decode("utf-8", "replace"))
            return error_reply("openai", 400, message="We could not parse the JSON body of your request.")
        messages = req.get("messages")
        user = last_user_text(messages) if isinstance(messages, list) else ""
        self.summary(route, query, model=req.get("model"), stream=bool(req.get("stream")),
                     messages=messages, last_user=user,
                     tools=[t.get("function", {}).get("name") for t in req.get("tools") or []
                            if isinstance(t, dict)],
                     max_tokens=req.get("max_tokens", req.get("max_completion_tokens")))
        denied = self.auth_failure(route)
        if denied:
            return denied
        if not isinstance(messages, list) or not messages or not req.get("model"):
            return error_reply("openai", 400, message="'messages' and 'model' are required")
        text = STATE.reply_text(route, script, "You said: %s" % user if user else "Hello from fakeprov.")
        calls = script.get("tool_calls") or []
        if calls and script.get("text") is None:
            text = ""
        model, cid, created = req["model"], "chatcmpl-fake%d" % STATE.counts[route], 1700000000
        usage = {"prompt_tokens": sum(len(text_of(m.get("content")).split()) for m in messages
                                      if isinstance(m, dict)) + 1,
                 "completion_tokens": len(tokens(text)), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        finish = "tool_calls" if calls else "stop"
        if not req.get("stream"):
            msg = {"role": "assistant", "content": text if text or not calls else None}
            if calls:
                msg["tool_calls"] = [{"id": "call_fake%d" % i, "type": "function",
                                      "function": {"name": c.get("name"), "arguments": tool_args(c)}}
                                     for i, c in enumerate(calls)]
            return json_reply(200, jbytes({"id": cid, "object": "chat.completion", "created": created,
                                           "model": model, "choices": [{"index": 0, "message": msg,
                                                                        "finish_reason": finish}],
                                           "usage": usage}))

        def chunk(delta, finish_reason=None, **more):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            obj.update(more)
            return b"data: " + jbytes(obj) + b"\n\n"

        pieces = [chunk({"role": "assistant", "content": ""})]
        if text:
            pieces += [chunk({"content": t}) for t in tokens(text)]
        for i, c in enumerate(calls):
            pieces.append(chunk({"tool_calls": [{"index": i, "id": "call_fake%d" % i, "type": "function",
                                                 "function": {"name": c.get("name"), "arguments": ""}}]}))
            pieces += [chunk({"tool_calls": [{"index": i, "function": {"arguments": a}}]})
                       for a in slices(tool_args(c), 7)]
        pieces.append(chunk({}, finish))
        if (req.get("stream_options") or {}).get("include_usage"):
            pieces.append(b"data: " + jbytes({"id": cid, "object": "chat.completion.chunk", "created": created,
                                              "model": model, "choices": [], "usage": usage}) + b"\n\n")
        pieces.append(b"data: [DONE]\n\n")
        return Reply(200, "text/event-stream", pieces, True, "sse", [("Cache-Control", "no-cache")])

    def route_anthropic_messages(self, route, script, body, query, extra):
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            self.summary(route, query, raw=body[:512].decode("utf-8", "replace"))
            return error_reply("anthropic", 400, message="invalid JSON body")
        messages = req.get("messages")
        user = last_user_text(messages) if isinstance(messages, list) else ""
        self.summary(route, query, model=req.get("model"), stream=bool(req.get("stream")),
                     messages=messages, last_user=user, system=text_of(req.get("system")),
                     tools=[t.get("name") for t in req.get("tools") or [] if isinstance(t, dict)],
                     max_tokens=req.get("max_tokens"))
        denied = self.auth_failure(route)
        if denied:
            return denied
        for field in ("model", "messages", "max_tokens"):
            if not req.get(field):
                return error_reply("anthropic", 400, message="%s: Field required" % field)
        text = STATE.reply_text(route, script, "You said: %s" % user if user else "Hello from fakeprov.")
        calls = script.get("tool_calls") or []
        if calls and script.get("text") is None:
            text = ""
        mid, model = "msg_fake%d" % STATE.counts[route], req["model"]
        in_tokens = sum(len(text_of(m.get("content")).split()) for m in messages if isinstance(m, dict)) + 1
        out_tokens = len(tokens(text)) + len(calls)
        stop = "tool_use" if calls else "end_turn"
        blocks = ([{"type": "text", "text": text}] if text else []) + \
                 [{"type": "tool_use", "id": "toolu_fake%d" % i, "name": c.get("name"),
                   "input": parsed_args(c)} for i, c in enumerate(calls)]
        if not req.get("stream"):
            return json_reply(200, jbytes({"id": mid, "type": "message", "role": "assistant", "model": model,
                                           "content": blocks, "stop_reason": stop, "stop_sequence": None,
                                           "usage": {"input_tokens": in_tokens, "output_tokens": out_tokens}}))

        def ev(name, obj):
            return b"event: " + name.encode() + b"\ndata: " + jbytes(obj) + b"\n\n"

        pieces = [ev("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": in_tokens, "output_tokens": 1}}})]
        index = 0
        if text:
            pieces.append(ev("content_block_start", {"type": "content_block_start", "index": 0,
                                                     "content_block": {"type": "text", "text": ""}}))
            pieces += [ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": t}})
                       for t in tokens(text)]
            pieces.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
            index = 1
        for i, c in enumerate(calls):
            pieces.append(ev("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": "toolu_fake%d" % i, "name": c.get("name"), "input": {}}}))
            pieces += [ev("content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "input_json_delta", "partial_json": a}})
                       for a in [""] + slices(tool_args(c), 7)]
            pieces.append(ev("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        pieces.append(ev("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": stop, "stop_sequence": None},
                                           "usage": {"output_tokens": out_tokens}}))
        pieces.append(ev("message_stop", {"type": "message_stop"}))
        # Anthropic sends a ping right after the first block opens.
        pieces.insert(2 if len(pieces) > 3 else 1, ev("ping", {"type": "ping"}))
        return Reply(200, "text/event-stream", pieces, True, "sse", [("Cache-Control", "no-cache")])

    def tts_reply(self, text, rate, wav, stream=True):
        pcm = tone(len(text) * rate * TTS_MS_PER_CHAR // 1000, rate)
        step = rate * 2 * AUDIO_PIECE_MS // 1000
        pieces = slices(pcm, step) if pcm else []
        if wav:
            head = wav_header(len(pcm), rate)
            pieces = [head + pieces[0]] + pieces[1:] if pieces else [head]
        headers = [("X-Fake-Text", header_safe(text)), ("X-Fake-Chars", str(len(text))),
                   ("X-Fake-Samples", str(len(pcm) // 2)), ("X-Fake-Sample-Rate", str(rate))]
        return Reply(200, "audio/wav" if wav else "application/octet-stream", pieces, stream,
                     "audio", headers)

    def route_openai_tts(self, route, script, body, query, extra):
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            self.summary(route, query, raw=body[:512].decode("utf-8", "replace"))
            return error_reply("openai", 400, message="We could not parse the JSON body of your request.")
        fmt = req.get("response_format", "mp3")
        self.summary(route, query, model=req.get("model"), input=req.get("input"), voice=req.get("voice"),
                     response_format=fmt, speed=req.get("speed"), instructions=req.get("instructions"))
        denied = self.auth_failure(route)
        if denied:
            return denied
        if not isinstance(req.get("input"), str) or not req.get("model") or not req.get("voice"):
            return error_reply("openai", 400, message="'model', 'input' and 'voice' are required")
        if fmt not in ("pcm", "wav"):
            return error_reply("openai", 400, message="fakeprov speaks only response_format pcm or wav")
        text = script["text"] if script.get("text") is not None else req["input"]
        return self.tts_reply(str(text), 24000, fmt == "wav")

    def route_elevenlabs_tts(self, route, script, body, query, extra):
        fmt = query.get("output_format", "mp3_44100_128")
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            self.summary(route, query, voice_id=extra["voice_id"], raw=body[:512].decode("utf-8", "replace"))
            return error_reply("elevenlabs", 400, message="invalid JSON body")
        self.summary(route, query, voice_id=extra["voice_id"], text=req.get("text"), model_id=req.get("model_id"),
                     output_format=fmt, previous_text=req.get("previous_text"),
                     voice_settings=req.get("voice_settings"))
        denied = self.auth_failure(route)
        if denied:
            return denied
        if not isinstance(req.get("text"), str):
            return error_reply("elevenlabs", 422, message="text: field required")
        m = re.fullmatch(r"pcm_(8000|16000|22050|24000|44100|48000)", fmt)
        if not m:
            return error_reply("elevenlabs", 400, script={"error_type": "invalid_output_format"},
                               message="fakeprov speaks only pcm_* output formats")
        text = script["text"] if script.get("text") is not None else req["text"]
        return self.tts_reply(str(text), int(m.group(1)), False, extra["stream"])

    def route_openai_stt(self, route, script, body, query, extra):
        parts = parse_multipart(body, self.headers.get("Content-Type"))
        if parts is None:
            self.summary(route, query, content_type=self.headers.get("Content-Type"))
            return error_reply("openai", 400, message="expected multipart/form-data")
        f = parts.get("file", {})
        field = {k: v["value"].decode("utf-8", "replace") for k, v in parts.items() if k != "file"}
        self.summary(route, query, model=field.get("model"), language=field.get("language"),
                     prompt=field.get("prompt"), response_format=field.get("response_format", "json"),
                     filename=f.get("filename"), file_bytes=len(f.get("value", b"")),
                     wav=wav_info(f.get("value", b"")))
        denied = self.auth_failure(route)
        if denied:
            return denied
        if not f or not field.get("model"):
            return error_reply("openai", 400, message="'file' and 'model' are required")
        text = STATE.reply_text(route, script, DEFAULT_TRANSCRIPT)
        fmt = field.get("response_format", "json")
        if fmt == "text":
            body = text.encode()
            return Reply(200, "text/plain; charset=utf-8", [body], False, "text")
        if fmt == "verbose_json":
            info = wav_info(f["value"]) or {}
            dur = info.get("duration_ms", 0) / 1000.0
            return json_reply(200, jbytes({"task": "transcribe", "language": "english", "duration": dur,
                                           "text": text, "segments": [{"id": 0, "start": 0.0, "end": dur,
                                                                       "text": text}]}))
        return json_reply(200, jbytes({"text": text}))

    def route_deepgram_prerecorded(self, route, script, body, query, extra):
        ctype = self.headers.get("Content-Type", "")
        info = wav_info(body)
        self.summary(route, query, content_type=ctype, body_bytes=len(body), wav=info)
        denied = self.auth_failure(route)
        if denied:
            return denied
        if "json" in ctype:
            return error_reply("deepgram", 400, message="fakeprov cannot fetch URLs; send the audio")
        if not body:
            return error_reply("deepgram", 400, message="empty audio body")
        text = STATE.reply_text(route, script, DEFAULT_TRANSCRIPT)
        dur = (info or {}).get("duration_ms", 1000) / 1000.0
        alt = {"transcript": text, "confidence": 0.98, "words": words(text, 0.0, dur)}
        return json_reply(200, jbytes({
            "metadata": {"request_id": "fakeprov-%d" % STATE.counts[route], "created": "2024-01-01T00:00:00Z",
                         "duration": dur, "channels": 1, "models": ["fakeprov"],
                         "model_info": {"fakeprov": {"name": "fakeprov", "version": "1", "arch": "fake"}}},
            "results": {"channels": [{"alternatives": [alt]}]}}))

    # ---- sending with faults

    def deliver(self, route, script, reply):
        provider = route.split(".")[0]
        if script.get("close_before_response"):
            self.hard_close(script["close_before_response"] == "reset")
            return
        if script.get("delay_headers_ms"):
            if not self.wait(script["delay_headers_ms"], True):
                self.hard_close(False)
                return
        if script.get("status") is not None:
            status = int(script["status"])
            if status >= 400:
                reply = error_reply(provider, status, script)
            reply.status = status
        if "body" in script:
            b = script["body"]
            raw = b.encode() if isinstance(b, str) else jbytes(b)
            ctype = script.get("content_type") or ("text/plain" if isinstance(b, str) else "application/json")
            reply = Reply(reply.status, ctype, [raw[:max(1, len(raw) // 2)], raw[len(raw) // 2:]],
                          False, "json")
        if script.get("wrong_content_type"):
            html = (b"<html><head><title>502 Bad Gateway</title></head><body>"
                    b"<center><h1>502 Bad Gateway</h1></center></body></html>\n")
            reply = Reply(reply.status, "text/html", [html], False, "text")
        if script.get("content_type"):
            reply.headers[0] = ("Content-Type", script["content_type"])
        if script.get("retry_after") is not None:
            reply.headers.append(("Retry-After", str(script["retry_after"])))
        for k, v in (script.get("headers") or {}).items():
            reply.headers.append((str(k), str(v)))
        if script.get("malformed_json"):
            self.malform(reply, provider, script)
        if script.get("error_after_chunks") is not None and reply.kind == "sse":
            n = int(script["error_after_chunks"])
            reply.pieces = reply.pieces[:n] + [self.stream_error(provider, script)]
        if script.get("oversized_body_bytes"):
            reply.pieces = self.oversized(reply.kind, int(script["oversized_body_bytes"]))
        if script.get("piece_bytes"):
            body = b"".join(reply.pieces)
            reply.pieces = slices(body, max(1, int(script["piece_bytes"]))) if body else []
        self.send_reply(reply, script)

    @staticmethod
    def stream_error(provider, script):
        if provider == "anthropic":
            obj = {"type": "error", "error": {"type": script.get("error_type", "overloaded_error"),
                                              "message": script.get("message", "Overloaded")}}
            return b"event: error\ndata: " + jbytes(obj) + b"\n\n"
        obj = {"error": {"message": script.get("message", "The server had an error while processing"),
                         "type": script.get("error_type", "server_error"), "param": None,
                         "code": script.get("error_code")}}
        return b"data: " + jbytes(obj) + b"\n\n"

    @staticmethod
    def malform(reply, provider, script):
        if reply.kind == "sse":
            at = int(script.get("malformed_at", 1 if len(reply.pieces) > 1 else 0))
            broken = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                      b'"delta":{"type":"text_delta","text":"oo\n\n') if provider == "anthropic" else \
                (b'data: {"id":"chatcmpl-fake","object":"chat.completion.chunk",'
                 b'"choices":[{"index":0,"delta":{"content":"oo\n\n')
            if 0 <= at < len(reply.pieces):
                reply.pieces[at] = broken
        elif reply.kind == "json":
            body = b"".join(reply.pieces)
            body = body[:max(1, len(body) * 2 // 3)]
            reply.pieces = [body[:len(body) // 2], body[len(body) // 2:]]
        elif reply.kind == "audio" and reply.pieces:
            # audio has no JSON to break: an odd byte count breaks sample framing instead
            reply.pieces[-1] = reply.pieces[-1] + b"\x00"

    @staticmethod
    def oversized(kind, n):
        unit = b"x" * 65536
        if kind == "audio":
            return [b"\x00" * 65536] * (n // 65536) + [b"\x00" * (n % 65536)]
        head = b'data: {"pad":"' if kind == "sse" else b'{"pad":"'
        tail = b'"}\n\n' if kind == "sse" else b'"}'
        mid = max(0, n - len(head) - len(tail))
        return [head] + [unit] * (mid // 65536) + [b"x" * (mid % 65536), tail]

    def send_reply(self, reply, script):
        pieces = reply.pieces
        reset_at = script.get("reset_after_chunks")
        stall_at = script.get("stall_after_chunks")
        trunc_at = script.get("truncate_after_chunks")
        drip = script.get("drip_ms") or 0
        self.send_response(reply.status)
        for k, v in reply.headers:
            self.send_header(k, v)
        if reply.stream:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(sum(len(p) for p in pieces)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        for i in range(len(pieces) + 1):
            if reset_at is not None and i == int(reset_at):
                self.hard_close(True)
                return
            if stall_at is not None and i == int(stall_at):
                log("stalling after %d chunks" % i)
                self.wait(script.get("stall_ms", DEFAULT_STALL_MS), True)
                self.hard_close(False)
                return
            if trunc_at is not None and i == int(trunc_at):
                if reply.stream:
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.hard_close(False)
                return
            if i == len(pieces):
                break
            if drip and i > 0 and not self.wait(drip, True):
                self.hard_close(False)
                return
            p = pieces[i]
            if reply.stream:
                self.wfile.write(b"%x\r\n" % len(p) + p + b"\r\n")
            else:
                self.wfile.write(p)
        if reply.stream:
            self.wfile.write(b"0\r\n\r\n")

    # ---- Deepgram live (WebSocket)

    def refuse(self, reply):
        self.close_connection = True
        self.send_reply(reply, {})

    def websocket(self, route, query, script):
        """Deepgram live transcription. A scripted status refuses the upgrade;
        chunk-counting faults count the messages this side sends."""
        summary = self.summary(route, query, audio_bytes=0, keepalives=0, finalizes=0,
                               close_stream=False, text_messages=[], results_sent=0)
        denied = self.auth_failure(route)
        key = self.headers.get("Sec-WebSocket-Key")
        if script.get("close_before_response"):
            self.hard_close(script["close_before_response"] == "reset")
            return
        if script.get("delay_headers_ms") and not self.wait(script["delay_headers_ms"], True):
            self.hard_close(False)
            return
        if script.get("status") is not None and int(script["status"]) != 101:
            status = int(script["status"])
            reply = error_reply("deepgram", status, script)
            if "body" in script:
                b = script["body"]
                reply = Reply(status, "application/json", [b.encode() if isinstance(b, str) else jbytes(b)],
                              False, "json")
            if script.get("retry_after") is not None:
                reply.headers.append(("Retry-After", str(script["retry_after"])))
            self.refuse(reply)
            return
        if denied:
            self.refuse(denied)
            return
        if not key or self.headers.get("Sec-WebSocket-Version") != "13":
            self.refuse(error_reply("deepgram", 400, message="not a WebSocket version 13 handshake"))
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        if self.headers.get("Sec-WebSocket-Protocol", "").lower().startswith("token"):
            self.send_header("Sec-WebSocket-Protocol", "token")
        self.send_header("dg-request-id", "fakeprov-%d" % STATE.counts[route])
        self.end_headers()
        self.close_connection = True
        LiveSession(self, route, query, script, summary).run()


def words(text, start, end):
    ws = text.split()
    if not ws:
        return []
    step = (end - start) / len(ws)
    return [{"word": w.lower().strip(".,!?"), "start": round(start + i * step, 3),
             "end": round(start + (i + 1) * step, 3), "confidence": 0.98, "punctuated_word": w}
            for i, w in enumerate(ws)]


class LiveSession:
    """One Deepgram live connection: energy-based endpointing over 20 ms
    frames turns received audio into interim and final Results."""

    def __init__(self, handler, route, query, script, summary):
        self.h, self.route, self.script, self.summary = handler, route, script, summary
        self.ws = WebSocket(handler.rfile, handler.connection)
        self.rate = int(query.get("sample_rate", 16000))
        self.channels = int(query.get("channels", 1))
        self.interim = query.get("interim_results", "false").lower() == "true"
        ep = query.get("endpointing", "300").lower()
        self.endpointing = None if ep == "false" else max(10, int(ep))
        self.utterance_end = int(query["utterance_end_ms"]) if "utterance_end_ms" in query else None
        self.vad_events = query.get("vad_events", "false").lower() == "true"
        self.frame_bytes = self.rate // 50 * 2 * self.channels
        self.buf = b""
        self.frames = 0            # 20 ms frames received
        self.utt = None            # start frame of the utterance being heard
        self.speech = 0            # voiced frames in it
        self.silence = 0           # trailing silent frames
        self.since_interim = 0
        self.n_interim = 0
        self.text = None
        self.sent = 0
        self.stalled_until = None
        self.request_id = "fakeprov-%d" % STATE.counts[route]

    def now(self):
        return self.frames * 0.02

    def emit(self, obj):
        """Sends one message, applying the message-counting faults first."""
        s, i = self.script, self.sent
        if self.stalled_until is not None:
            return
        if s.get("reset_after_chunks") is not None and i == int(s["reset_after_chunks"]):
            self.h.hard_close(True)
            raise WSClosed("reset")
        if s.get("close_after_messages") is not None and i == int(s["close_after_messages"]):
            self.close(int(s.get("close_code", 1011)), s.get("close_reason", "fakeprov fault"))
        if s.get("truncate_after_chunks") is not None and i == int(s["truncate_after_chunks"]):
            self.close(1000, "")
        if s.get("stall_after_chunks") is not None and i == int(s["stall_after_chunks"]):
            log("live: stalling after %d messages" % i)
            self.stalled_until = time.monotonic() + s.get("stall_ms", DEFAULT_STALL_MS) / 1000.0
            return
        if s.get("drip_ms") and not self.h.wait(s["drip_ms"], False):
            raise WSClosed("stopped")
        data = jbytes(obj)
        if s.get("malformed_json") and i == int(s.get("malformed_at", 0)):
            data = b'{"type":"Results","channel":{"alternatives":[{"transcript":"oo'
        self.ws.send(1, data)
        self.sent += 1
        STATE.update_last(self.route, self.summary, results_sent=self.sent)

    def results(self, is_final, speech_final, from_finalize=False, n_words=None):
        if self.text is None:
            self.text = STATE.reply_text(self.route, self.script, DEFAULT_TRANSCRIPT)
        ws = self.text.split()
        t = " ".join(ws if n_words is None else ws[:n_words])
        start = self.utt * 0.02 if self.utt is not None else self.now()
        dur = round(self.now() - start, 3)
        msg = {"type": "Results", "channel_index": [0, 1], "duration": dur, "start": round(start, 3),
               "is_final": is_final, "speech_final": speech_final, "from_finalize": from_finalize,
               "channel": {"alternatives": [{"transcript": t, "confidence": 0.98 if t else 0.0,
                                             "words": words(t, start, start + dur)}]},
               "metadata": {"request_id": self.request_id, "model_uuid": "fakeprov",
                            "model_info": {"name": "fakeprov", "version": "1", "arch": "fake"}}}
        self.emit(msg)

    def end_utterance(self, speech_final, from_finalize):
        self.results(True, speech_final, from_finalize)
        if speech_final and self.utterance_end is not None:
            self.emit({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(self.now(), 3)})
        self.utt, self.speech, self.silence, self.text = None, 0, 0, None
        self.since_interim, self.n_interim = 0, 0

    def frame(self, data):
        n = len(data) // 2
        samples = struct.unpack("<%dh" % n, data[:n * 2])
        rms = math.sqrt(sum(x * x for x in samples) / n) if n else 0
        self.frames += 1
        if rms >= VOICE_RMS:
            if self.utt is None:
                self.utt = self.frames - 1
                if self.vad_events:
                    self.emit({"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(self.now(), 3)})
            self.speech += 1
            self.silence = 0
        elif self.utt is not None:
            self.silence += 1
        if self.utt is None:
            return
        self.since_interim += 1
        if self.interim and self.since_interim >= 13:   # about every 250 ms
            self.since_interim = 0
            self.n_interim += 1
            self.results(False, False, n_words=self.n_interim)
        if self.endpointing is not None and self.speech >= 3 and self.silence * 20 >= self.endpointing:
            self.end_utterance(True, False)

    def control(self, payload):
        try:
            msg = json.loads(payload)
            kind = msg.get("type") if isinstance(msg, dict) else None
        except ValueError:
            kind = None
        with STATE.lock:
            tm = self.summary["text_messages"]
            tm.append(payload.decode("utf-8", "replace")[:200])
            del tm[:-16]
        if kind == "KeepAlive":
            with STATE.lock:
                self.summary["keepalives"] += 1
        elif kind == "Finalize":
            with STATE.lock:
                self.summary["finalizes"] += 1
            if self.utt is not None:
                self.end_utterance(False, True)
            else:
                self.results(True, False, True, n_words=0)
        elif kind == "CloseStream":
            STATE.update_last(self.route, self.summary, close_stream=True)
            self.finish()
            raise WSClosed("done")

    def close(self, code, reason):
        """Sends a close frame and waits briefly for the client's, so the
        TCP close is clean (unread audio at close() would turn FIN into RST)."""
        self.ws.send_close(code, reason)
        try:
            self.h.connection.settimeout(2.0)
            while self.ws.recv()[0] != 8:
                pass
        except (WSClosed, OSError, ValueError, struct.error):
            pass
        raise WSClosed("closed")

    def finish(self):
        if self.utt is not None:
            self.end_utterance(True, False)
        self.emit({"type": "Metadata", "transaction_key": "deprecated", "request_id": self.request_id,
                   "sha256": "0" * 64, "created": "2024-01-01T00:00:00.000Z", "duration": round(self.now(), 3),
                   "channels": self.channels, "models": ["fakeprov"],
                   "model_info": {"fakeprov": {"name": "fakeprov", "version": "1", "arch": "fake"}}})
        if self.stalled_until is None:
            self.close(1000, "")

    def run(self):
        try:
            while not STOP.is_set():
                if self.stalled_until is not None:
                    # A stalled peer swallows everything, close frames
                    # included, until the stall ends; then it drops the line.
                    self.h.wait(max(0.0, self.stalled_until - time.monotonic()) * 1000, True)
                    break
                op, payload = self.ws.recv()
                if op == 8:
                    if self.stalled_until is None:
                        self.ws.send(8, payload[:2])
                    break
                if op == 1:
                    self.control(payload)
                elif op == 2:
                    with STATE.lock:
                        self.summary["audio_bytes"] += len(payload)
                    self.buf += payload
                    while len(self.buf) >= self.frame_bytes:
                        f, self.buf = self.buf[:self.frame_bytes], self.buf[self.frame_bytes:]
                        self.frame(f)
        except (WSClosed, OSError, ValueError, struct.error):
            pass
        self.h.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, name, port):
        self.name = name
        super().__init__(("127.0.0.1", port), Handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            super().handle_error(request, client_address)


def main():
    global QUIET
    ap = argparse.ArgumentParser(description="fault-injecting fake provider server (loopback only)")
    ap.add_argument("--port", type=int, default=0, help="HTTP port (0: any free port)")
    ap.add_argument("--ws-port", type=int, default=0, help="WebSocket port (0: any free port)")
    ap.add_argument("--port-file", help='written as "HTTP_PORT WS_PORT\\n" once both ports listen')
    ap.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    ap.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = ap.parse_args()
    QUIET = args.quiet

    servers = [Server("http", args.port), Server("ws", args.ws_port)]
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    ports = "%d %d\n" % (servers[0].server_address[1], servers[1].server_address[1])
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(ports)
        os.rename(tmp, args.port_file)
    log("listening on 127.0.0.1, ports %s" % ports.strip())

    def stop(signum, frame):
        STOP.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not STOP.wait(0.25):
        if args.parent_pid and os.getppid() != args.parent_pid:
            log("parent %d is gone; exiting" % args.parent_pid)
            break
    STOP.set()
    sys.stderr.flush()
    # Handler threads may be in the middle of a stall or a drip; nothing they
    # hold needs an orderly end, so leave at once (the kernel closes sockets).
    os._exit(0)


if __name__ == "__main__":
    main()
