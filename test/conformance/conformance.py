"""wspulse's own RFC 6455 conformance suite, run against /echo.

The cases are written from RFC 6455 and grouped by the section numbers and
names of the Autobahn|Testsuite (fuzzingclient cases against a server), plus
a few of our own: an "Opening handshake" section and extra framing cases.
The client is this file: raw sockets and the frame encoder of
test/lib/wspulse_test.py; nothing of the server's C code is used.

Every case opens its own connection and checks the exact outcome: the
message echoed byte for byte (then a clean close handshake, which also shows
that nothing else was sent), or a Close with the expected code, after any
echoes of earlier valid messages, followed by the server closing TCP
gracefully: a FIN (recv() returns b""), never a reset (RST, which can throw
away what the client has not read yet, the Close among it). Every
frame from the server is checked too: never masked, RSV bits 0, no reserved
opcodes, control frames whole and at most 125 bytes, text valid UTF-8.

Where Autobahn accepts either of two behaviours ("non-strict"), the stricter
one that RFC 6455 allows is asserted; each such place says so in a comment.

Run: make conformance (WSPULSE=./wspulse PYTHONPATH=test/lib python3 ...).
Arguments, if any, pick cases by id prefix: conformance.py 6.4 7.3.2 H
Exit status 0 only when every case passed.
"""
import base64
import hashlib
import random
import signal
import sys
import threading
import time

from wspulse_test import Server, connect, frame, parse_response, recv_until, ws_connect_raw

TIMEOUT = 5.0          # every socket operation of every case
CASE_LIMIT = 30        # seconds for a whole case, whatever it does
LIMIT = 65536          # --max-message of the second server (section 9.9)
DEFAULT_LIMIT = 16 << 20

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
KIND = {OP_TEXT: "text", OP_BINARY: "binary"}
RNG = random.Random(6455)   # masking keys and payloads, the same every run
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Fail(Exception):
    def __init__(self, expected, got):
        super().__init__(expected, got)
        self.expected, self.got = expected, got


class CaseTimeout(Exception):
    pass


class TcpReset(Exception):
    """The server reset the connection (RST) where it was due to close it
    gracefully (FIN)."""


# --- frames we send -------------------------------------------------------

def mask_bytes(data, key):
    """XOR data with the repeated 4-byte key (§5.3), fast for megabytes."""
    n = len(data)
    if n == 0:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


def F(op, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One client frame. The header comes from wspulse_test.frame() (given an
    empty payload and the length, it returns header and key); the payload is
    masked here, with a fresh key per frame. mask=False: unmasked."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    if not mask:
        return frame(op, payload, fin=fin, mask=None, rsv=rsv, length=n)
    key = RNG.randbytes(4)
    return frame(op, b"", fin=fin, mask=key, rsv=rsv, length=n) + mask_bytes(payload, key)


def close_frame(code=None, reason=b"", **kw):
    if isinstance(reason, str):
        reason = reason.encode()
    payload = b"" if code is None else code.to_bytes(2, "big") + reason
    return F(OP_CLOSE, payload, **kw)


def fragments(op, payload, size):
    """A message as frames of size bytes each (the last may be shorter)."""
    if isinstance(payload, str):
        payload = payload.encode()
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    return [F(op if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1)
            for i, p in enumerate(pieces)]


def split_at(op, payload, cuts):
    """A message as frames cut at the given byte positions (empty frames
    allowed: a cut at 0 or at the end makes one)."""
    bounds = [0] + list(cuts) + [len(payload)]
    pieces = [payload[a:b] for a, b in zip(bounds, bounds[1:])]
    return [F(op if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1)
            for i, p in enumerate(pieces)]


def text_payload(n):
    """n bytes of valid UTF-8 with 1- to 4-byte characters."""
    unit = "wspulse µ κόσμε € 🙂 ".encode()
    reps = n // len(unit)
    return unit * reps + b"x" * (n - reps * len(unit))


def binary_payload(n):
    return RNG.randbytes(n)


# --- events we expect -----------------------------------------------------

def T(payload):
    return ("text", payload.encode() if isinstance(payload, str) else bytes(payload))


def B(payload):
    return ("binary", bytes(payload))


def PONG(payload=b""):
    return ("pong", payload.encode() if isinstance(payload, str) else bytes(payload))


def CLOSE(code, reason=None):
    """A Close with this code (None: no status code, an empty payload);
    reason, when given, must match exactly."""
    return ("close", code, reason.encode() if isinstance(reason, str) else reason)


def show(ev):
    if ev[0] == "close":
        s = "Close " + ("(no code)" if ev[1] is None else str(ev[1]))
        return s + (f" {ev[2]!r}" if ev[2] else "")
    p = ev[1]
    if len(p) <= 32:
        return f"{ev[0]}[{len(p)}] {p!r}"
    return f"{ev[0]}[{len(p)}] {p[:16]!r}..."


def show_all(evs):
    return ", ".join(show(e) for e in evs) or "nothing"


def matches(exp, ev):
    if exp[0] != ev[0]:
        return False
    if exp[0] == "close":
        return exp[1] == ev[1] and (exp[2] is None or exp[2] == ev[2])
    return exp[1] == ev[1]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


# --- a client connection --------------------------------------------------

OPEN = []   # every socket a case opened; the runner closes them


class Conn:
    """A WebSocket client on a raw socket: sends bytes as told and reads the
    server's frames, checking each one."""

    def __init__(self, port=None, sock=None, initial=b""):
        if sock is None:
            sock, initial = ws_connect_raw(port)
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        OPEN.append(sock)
        self.buf = bytearray(initial)
        self.msg_op = None
        self.parts = []
        self.sender = None

    # sending
    def send(self, data, chunk=None):
        """data: bytes or a list of frames. chunk=None: one write;
        chunk="frames": one write per frame; an int: writes of that size.
        A server that has failed the connection may already have closed it:
        what it sent before is still read, so a refused write is no error
        here (the expected events decide)."""
        try:
            self._send(data, chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, data, chunk):
        if isinstance(data, list):
            if chunk == "frames":
                for f in data:
                    self.sock.sendall(f)
                return
            data = b"".join(data)
        if chunk is None or chunk == "frames":
            self.sock.sendall(data)
            return
        view = memoryview(data)
        for i in range(0, len(data), chunk):
            self.sock.sendall(view[i:i + chunk])

    def send_bg(self, data, chunk=None):
        """Send from a thread while the case reads (big or pipelined input
        whose echoes would otherwise fill both socket buffers)."""
        def run():
            try:
                self.send(data, chunk)
            except OSError:
                pass          # the case's reading side reports what matters
        self.sender = threading.Thread(target=run, daemon=True)
        self.sender.start()

    # receiving
    def _need(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, min(n - len(self.buf), 4 << 20)))
            except ConnectionResetError:
                raise TcpReset from None
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read_frame(self):
        """(fin, opcode, payload) of the next server frame, checked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, pos = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self._need(10)
            n, pos = int.from_bytes(self.buf[2:10], "big"), 10
        if b1 & 0x80:                                              # §5.1
            raise Fail("server frames unmasked", f"a masked frame (opcode {b0 & 15})")
        if b0 & 0x70:                                              # §5.2
            raise Fail("server frames with RSV bits 0", f"RSV {(b0 >> 4) & 7} on opcode {b0 & 15}")
        self._need(pos + n)
        payload = bytes(self.buf[pos:pos + n])
        del self.buf[:pos + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def next_event(self):
        """The next whole message ("text"/"binary", payload), or control
        frame ("ping"/"pong", payload) or ("close", code, reason)."""
        while True:
            fin, op, payload = self.read_frame()
            if op >= 8:
                if not fin or len(payload) > 125:                  # §5.5
                    raise Fail("valid server control frames",
                               f"opcode {op}, fin {fin}, {len(payload)} bytes")
                if op == OP_CLOSE:
                    if len(payload) == 1:
                        raise Fail("a valid server Close", "a 1-byte Close payload")
                    try:
                        payload[2:].decode("utf-8")
                    except UnicodeDecodeError:
                        raise Fail("a UTF-8 Close reason", repr(payload))
                    code = int.from_bytes(payload[:2], "big") if payload else None
                    return ("close", code, payload[2:])
                if op == OP_PING:
                    return ("ping", payload)
                if op == OP_PONG:
                    return ("pong", payload)
                raise Fail("no reserved opcodes from the server", f"opcode {op}")
            if op == OP_CONT:
                if self.msg_op is None:
                    raise Fail("valid server frames", "a continuation with no message")
                self.parts.append(payload)
            elif op in KIND:
                if self.msg_op is not None:
                    raise Fail("valid server frames", "a new message inside a fragmented one")
                self.msg_op, self.parts = op, [payload]
            else:
                raise Fail("no reserved opcodes from the server", f"opcode {op}")
            if fin:
                data, kind = b"".join(self.parts), KIND[self.msg_op]
                self.msg_op, self.parts = None, []
                if kind == "text":
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise Fail("valid UTF-8 in server text", f"{e} in {len(data)} bytes")
                return (kind, data)

    def expect(self, *events, eof=True):
        """Read events and compare them with the expected ones, in order.
        After an expected Close: nothing more, and the server closes TCP."""
        got = []
        for exp in events:
            try:
                ev = self.next_event()
            except TimeoutError:
                raise Fail(show_all(events), (show_all(got) + "; then " if got else "")
                           + f"nothing within {TIMEOUT:g} s")
            except EOFError:
                raise Fail(show_all(events), (show_all(got) + "; then " if got else "")
                           + "TCP closed")
            except TcpReset:
                raise Fail(show_all(events), (show_all(got) + "; then " if got else "")
                           + "TCP reset (RST)")
            got.append(ev)
            if not matches(exp, ev):
                detail = ""
                if exp[0] == ev[0] and exp[0] != "close":
                    detail = f" (differs at byte {first_difference(exp[1], ev[1])})"
                raise Fail(show_all(events), show_all(got) + detail)
        if events and events[-1][0] == "close" and eof:
            self.expect_eof(show_all(events))

    def expect_eof(self, before):
        """The server closes the TCP connection gracefully (FIN, not RST)
        and sends nothing more."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except TimeoutError:
            raise Fail(f"{before}, then TCP closed",
                       f"TCP still open {TIMEOUT:g} s after the Close")
        except ConnectionResetError:
            raise Fail(f"{before}, then TCP closed with a FIN",
                       "TCP reset (RST)" + (f" after {len(self.buf)} more bytes"
                                            if self.buf else ""))
        if self.buf:
            extra = []
            try:
                while self.buf:
                    extra.append(show(self.next_event()))
            except (Fail, EOFError):
                extra.append(f"{len(self.buf)} stray bytes")
            raise Fail(f"{before}, then TCP closed", "after the Close: " + ", ".join(extra))

    def finish(self):
        """A clean close handshake: our Close 1000 comes back, then TCP closes.
        After an echo this also shows that nothing unexpected was sent."""
        self.send(close_frame(1000))
        self.expect(CLOSE(1000))


# --- case registry --------------------------------------------------------

SECTIONS = [
    ("1", "Framing"),
    ("2", "Pings/Pongs"),
    ("3", "Reserved bits"),
    ("4", "Opcodes"),
    ("5", "Fragmentation"),
    ("6", "UTF-8 handling"),
    ("7", "Close handling"),
    ("9", "Limits/performance"),
    ("10", "Misc"),
    ("12/13", "Compression (declined)"),
    ("H", "Opening handshake"),
]
CASES = []


def section_of(cid):
    head = cid.split(".")[0]
    return "12/13" if head in ("12", "13") else head


def add(cid, desc, fn):
    CASES.append((section_of(cid), cid, desc, fn))


class Env:
    port = None          # the main server (default options)
    limit_port = None    # the server with --max-message 65536


def scenario(send, events, chunk=None, limit=False, bg=False):
    """A case: open a connection, send (bytes or a list of frames, see
    Conn.send), expect events; when they do not end with a Close, finish
    with a clean close handshake."""
    def run(env):
        c = Conn(env.limit_port if limit else env.port)
        if bg:
            c.send_bg(send, chunk)
        else:
            c.send(send, chunk)
        c.expect(*events)
        if not events or events[-1][0] != "close":
            c.finish()
    return run


def echoes(op, payload, chunk=None, frames=None, bg=False):
    """A case: payload sent as one frame (or as the given frames) comes
    back as one message."""
    frames = frames if frames is not None else [F(op, payload)]
    return scenario(frames, [(KIND[op], bytes(payload))], chunk=chunk, bg=bg)


def fails(send, code, before=(), chunk=None, limit=False, reason=None):
    """A case: after the echoes `before`, a Close with code."""
    return scenario(send, list(before) + [CLOSE(code, reason)], chunk=chunk, limit=limit)


# --- 1 Framing ------------------------------------------------------------

def framing_cases():
    lengths = [0, 125, 126, 127, 128, 65535, 65536]
    for sub, op, make in ((1, OP_TEXT, lambda n: b"*" * n), (2, OP_BINARY, lambda n: b"\xfe" * n)):
        name = KIND[op]
        for i, n in enumerate(lengths, 1):
            add(f"1.{sub}.{i}", f"{name} message of {n} bytes", echoes(op, make(n)))
        add(f"1.{sub}.8", f"{name} message of 65536 bytes sent in writes of 997 bytes",
            echoes(op, make(65536), chunk=997))
        # Random content too: every byte value, whatever the masking key.
        payload = text_payload(1000) if op == OP_TEXT else binary_payload(1000)
        add(f"1.{sub}.9", f"{name} message of 1000 varied bytes", echoes(op, payload))

    # Writes of every small size, then byte by byte across each length form.
    msg = text_payload(300)
    for i, size in enumerate((1, 2, 3, 5, 7, 13, 64, 125, 126, 127), 1):
        add(f"1.3.{i}", f"300-byte text message sent in writes of {size} bytes",
            echoes(OP_TEXT, msg, chunk=size))
    add("1.3.11", "5-byte text message (7-bit length) sent byte by byte",
        echoes(OP_TEXT, b"Hello", chunk=1))
    add("1.3.12", "200-byte binary message (16-bit length) sent byte by byte",
        echoes(OP_BINARY, binary_payload(200), chunk=1))
    add("1.3.13", "65536-byte binary message (64-bit length) sent byte by byte",
        echoes(OP_BINARY, binary_payload(65536), chunk=1, bg=True))

    def every_header_split(n):
        def run(env):
            c = Conn(env.port)
            payload = binary_payload(n)
            f = F(OP_BINARY, payload)
            for cut in range(1, min(len(f), 20)):
                c.send(f[:cut])
                c.send(f[cut:])
                c.expect(B(payload))
            c.finish()
        return run
    for i, n in enumerate((5, 300, 70000), 14):
        add(f"1.3.{i}", f"{n}-byte message cut in two at every point of its header",
            every_header_split(n))

    # §5.1: a client frame must be masked; §5.2: the 64-bit length has its
    # top bit 0. The length "MUST" use the minimal encoding; failing a frame
    # that does not is the strict reading (Autobahn does not test it).
    add("1.4.1", "unmasked text frame → 1002", fails(F(OP_TEXT, b"Hello", mask=False), 1002))
    add("1.4.2", "unmasked ping → 1002 (no pong)", fails(F(OP_PING, b"ping", mask=False), 1002))
    add("1.4.3", "unmasked frame after a valid message → echo, then 1002",
        fails([F(OP_TEXT, "first"), F(OP_BINARY, b"\x01\x02", mask=False)], 1002,
              before=[T("first")]))
    key = b"\x01\x02\x03\x04"
    add("1.4.4", "64-bit length with its most significant bit set → 1002",
        fails(bytes([0x82, 0xFF]) + (1 << 63 | 10).to_bytes(8, "big") + key, 1002))
    add("1.4.5", "16-bit length field holding 5 (not minimal) → 1002",
        fails(bytes([0x82, 0xFE, 0x00, 0x05]) + key + mask_bytes(b"hello", key), 1002))
    add("1.4.6", "64-bit length field holding 200 (not minimal) → 1002",
        fails(bytes([0x82, 0xFF]) + (200).to_bytes(8, "big") + key
              + mask_bytes(b"x" * 200, key), 1002))
    add("1.4.7", "masking key of all zeros → echo",
        echoes(OP_TEXT, b"zero key", frames=[frame(OP_TEXT, b"zero key", mask=b"\0\0\0\0")]))


# --- 2 Pings/Pongs --------------------------------------------------------

def ping_cases():
    add("2.1", "ping without payload → empty pong", scenario(F(OP_PING), [PONG(b"")]))
    add("2.2", "ping with a text payload → the same in the pong",
        scenario(F(OP_PING, "Hello, wspulse!"), [PONG("Hello, wspulse!")]))
    bin_payload = bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF])
    add("2.3", "ping with a binary payload → the same in the pong",
        scenario(F(OP_PING, bin_payload), [PONG(bin_payload)]))
    p125 = bytes(range(125))
    add("2.4", "ping with 125 bytes (the most allowed) → pong",
        scenario(F(OP_PING, p125), [PONG(p125)]))
    add("2.5", "ping with 126 bytes → 1002, no pong",
        fails(F(OP_PING, bytes(range(126))), 1002))
    add("2.6", "ping with 125 bytes sent byte by byte → pong",
        scenario(F(OP_PING, p125), [PONG(p125)], chunk=1))
    add("2.7", "unsolicited empty pong → ignored", scenario(F(OP_PONG), []))
    add("2.8", "unsolicited pong with payload → ignored",
        scenario(F(OP_PONG, "unsolicited pong payload"), []))
    add("2.9", "unsolicited pong, then ping → only the pong for the ping",
        scenario([F(OP_PONG, "unsolicited"), F(OP_PING, "ping payload")], [PONG("ping payload")]))
    pings = [f"ping {i}".encode() for i in range(10)]
    add("2.10", "10 pings in a row → 10 pongs in order",
        scenario([F(OP_PING, p) for p in pings], [PONG(p) for p in pings]))
    add("2.11", "10 pings sent byte by byte → 10 pongs in order",
        scenario([F(OP_PING, p) for p in pings], [PONG(p) for p in pings], chunk=1))
    add("2.12", "ping with FIN 0 (fragmented control frame) → 1002",
        fails(F(OP_PING, "fragmented", fin=False), 1002))
    # Strict: the header alone says 126 bytes, so fail before the payload.
    add("2.13", "header of a 126-byte ping alone → 1002 before the payload is sent",
        fails(F(OP_PING, bytes(126))[:8], 1002))
    add("2.14", "ping between two messages → echo, pong, echo in order",
        scenario([F(OP_TEXT, "one"), F(OP_PING, "p"), F(OP_BINARY, b"two")],
                 [T("one"), PONG("p"), B(b"two")]))
    add("2.15", "3 pings, each frame its own write → 3 pongs in order",
        scenario([F(OP_PING, "a"), F(OP_PING, "b"), F(OP_PING, "")],
                 [PONG("a"), PONG("b"), PONG("")], chunk="frames"))


# --- 3 Reserved bits ------------------------------------------------------

def rsv_cases():
    # §5.2: with no extension negotiated, any RSV bit set fails the
    # connection; whatever came before it is still answered.
    for rsv in range(1, 8):
        p = f"3.{rsv}"
        add(f"{p}.1", f"text with RSV={rsv} → 1002", fails(F(OP_TEXT, "Hello", rsv=rsv), 1002))
        before = [F(OP_TEXT, "valid"), F(OP_TEXT, "Hello", rsv=rsv), F(OP_PING, "no")]
        add(f"{p}.2", f"valid text, text with RSV={rsv}, ping → echo, 1002, no pong",
            fails(before, 1002, before=[T("valid")]))
        add(f"{p}.3", f"same as {p}.2, frame by frame",
            fails(before, 1002, before=[T("valid")], chunk="frames"))
        add(f"{p}.4", f"same as {p}.2, byte by byte",
            fails(before, 1002, before=[T("valid")], chunk=1))
        add(f"{p}.5", f"binary with RSV={rsv} → 1002",
            fails(F(OP_BINARY, b"\x00\xff", rsv=rsv), 1002))
        add(f"{p}.6", f"ping with RSV={rsv} → 1002, no pong",
            fails(F(OP_PING, "ping", rsv=rsv), 1002))
        add(f"{p}.7", f"pong with RSV={rsv} → 1002", fails(F(OP_PONG, "pong", rsv=rsv), 1002))
        add(f"{p}.8", f"close 1000 with RSV={rsv} → 1002",
            fails(close_frame(1000, rsv=rsv), 1002))
        add(f"{p}.9", f"continuation with RSV={rsv} in a fragmented text → 1002, no echo",
            fails([F(OP_TEXT, "frag", fin=False), F(OP_CONT, "ment", rsv=rsv)], 1002))


# --- 4 Opcodes ------------------------------------------------------------

def opcode_cases():
    # §5.2: opcodes 3-7 (non-control) and 0xB-0xF (control) are reserved.
    for sub, ops in ((1, range(3, 8)), (2, range(0xB, 0x10))):
        for op in ops:
            p = f"4.{sub}.{op}"
            add(f"{p}.1", f"reserved opcode {op}, empty → 1002", fails(F(op), 1002))
            add(f"{p}.2", f"reserved opcode {op} with payload → 1002",
                fails(F(op, "reserved opcode"), 1002))
            add(f"{p}.3", f"valid text, opcode {op}, ping → echo, 1002, no pong",
                fails([F(OP_TEXT, "valid"), F(op, "x"), F(OP_PING, "no")], 1002,
                      before=[T("valid")]))
            add(f"{p}.4", f"opcode {op} between fragments of a text → 1002, no echo",
                fails([F(OP_TEXT, "frag", fin=False), F(op, "x"), F(OP_CONT, "ment")], 1002))


# --- 5 Fragmentation ------------------------------------------------------

def fragmentation_cases():
    # §5.4/§5.5: control frames must not be fragmented.
    add("5.1", "ping in 2 fragments → 1002",
        fails([F(OP_PING, "frag", fin=False), F(OP_CONT, "ment")], 1002))
    add("5.2", "pong in 2 fragments → 1002",
        fails([F(OP_PONG, "frag", fin=False), F(OP_CONT, "ment")], 1002))
    two = [F(OP_TEXT, "fragment1", fin=False), F(OP_CONT, "fragment2")]
    add("5.3", "text in 2 fragments → one message", scenario(two, [T("fragment1fragment2")]))
    add("5.4", "text in 2 fragments, byte by byte",
        scenario(two, [T("fragment1fragment2")], chunk=1))
    add("5.5", "text in 2 fragments, frame by frame",
        scenario(two, [T("fragment1fragment2")], chunk="frames"))
    with_ping = [F(OP_TEXT, "fragment1", fin=False), F(OP_PING, "pongme!"),
                 F(OP_CONT, "fragment2")]
    for i, chunk in ((6, None), (7, 1), (8, "frames")):
        how = {None: "", 1: ", byte by byte", "frames": ", frame by frame"}[chunk]
        add(f"5.{i}", f"text in 2 fragments with a ping between → pong, then the message{how}",
            scenario(with_ping, [PONG("pongme!"), T("fragment1fragment2")], chunk=chunk))
    # §5.4: a continuation with no message to continue fails the connection.
    lone_fin = [F(OP_CONT, "non-continuation payload"), F(OP_TEXT, "Hello, world!")]
    lone = [F(OP_CONT, "non-continuation payload", fin=False), F(OP_TEXT, "Hello, world!")]
    for i, (frames, what) in enumerate(((lone_fin, "FIN 1"), (lone, "FIN 0"))):
        for j, chunk in enumerate((None, 1, "frames")):
            how = {None: "", 1: ", byte by byte", "frames": ", frame by frame"}[chunk]
            add(f"5.{9 + 3 * i + j}",
                f"continuation ({what}) with nothing to continue → 1002{how}",
                fails(frames, 1002, chunk=chunk))
    add("5.15", "text in 2 fragments, then a continuation (FIN 0) with nothing to continue "
        "→ echo, 1002",
        fails(two + [F(OP_CONT, "fragment3", fin=False), F(OP_TEXT, "fragment4")], 1002,
              before=[T("fragment1fragment2")]))
    add("5.16", "continuation (FIN 0), text (FIN 0), continuation, twice → 1002",
        fails([F(OP_CONT, "fragment1", fin=False), F(OP_TEXT, "fragment2", fin=False),
               F(OP_CONT, "fragment3")] * 2, 1002))
    add("5.17", "continuation (FIN 1), text (FIN 0), continuation, twice → 1002",
        fails([F(OP_CONT, "fragment1"), F(OP_TEXT, "fragment2", fin=False),
               F(OP_CONT, "fragment3")] * 2, 1002))
    # §5.4: fragments of one message must not interleave with another.
    add("5.18", "text (FIN 0), then text (FIN 1) instead of a continuation → 1002",
        fails([F(OP_TEXT, "fragment1", fin=False), F(OP_TEXT, "fragment2")], 1002))
    five = [F(OP_TEXT, "fragment1", fin=False), F(OP_CONT, "fragment2", fin=False),
            F(OP_PING, "pongme 1!"), F(OP_CONT, "fragment3", fin=False),
            F(OP_PING, "pongme 2!"), F(OP_CONT, "fragment4", fin=False), F(OP_CONT, "fragment5")]
    five_ev = [PONG("pongme 1!"), PONG("pongme 2!"),
               T("fragment1fragment2fragment3fragment4fragment5")]
    add("5.19", "text in 5 fragments with 2 pings between → 2 pongs, then the message",
        scenario(five, five_ev))
    add("5.20", "same as 5.19, frame by frame", scenario(five, five_ev, chunk="frames"))
    # More of our own.
    bin2 = binary_payload(3000)
    add("5.21", "binary in 2 fragments → one message",
        echoes(OP_BINARY, bin2, frames=split_at(OP_BINARY, bin2, [1000])))
    bin100 = binary_payload(10000)
    add("5.22", "binary in 100 fragments → one message",
        echoes(OP_BINARY, bin100, frames=fragments(OP_BINARY, bin100, 100)))
    txt = text_payload(300)
    add("5.23", "text in 100 fragments of 3 bytes (cutting characters) → one message",
        echoes(OP_TEXT, txt, frames=fragments(OP_TEXT, txt, 3)))
    add("5.24", "close in 2 fragments → 1002",
        fails([close_frame(1000, fin=False), F(OP_CONT, "")], 1002))
    add("5.25", "text of 3 empty fragments → empty message",
        scenario([F(OP_TEXT, "", fin=False), F(OP_CONT, "", fin=False), F(OP_CONT, "")], [T("")]))
    add("5.26", "empty first and last fragments around data → the data",
        scenario([F(OP_TEXT, "", fin=False), F(OP_CONT, "middle", fin=False), F(OP_CONT, "")],
                 [T("middle")]))
    add("5.27", "binary of empty fragments → empty binary message",
        scenario([F(OP_BINARY, b"", fin=False), F(OP_CONT, b"")], [B(b"")]))
    three = [F(OP_TEXT, "abc", fin=False), F(OP_CONT, "κόσμε", fin=False), F(OP_CONT, "xyz")]
    add("5.28", "text in 3 fragments, each sent byte by byte",
        scenario(three, [T("abcκόσμεxyz")], chunk=1))
    add("5.29", "binary (FIN 0), then text instead of a continuation → 1002",
        fails([F(OP_BINARY, b"frag", fin=False), F(OP_TEXT, "x")], 1002))
    add("5.30", "binary (FIN 0), then binary instead of a continuation → 1002",
        fails([F(OP_BINARY, b"frag", fin=False), F(OP_BINARY, b"x")], 1002))
    add("5.31", "unsolicited pong between fragments → ignored, the message",
        scenario([F(OP_BINARY, b"ab", fin=False), F(OP_PONG, "x"), F(OP_CONT, b"cd")],
                 [B(b"abcd")]))
    add("5.32", "two fragmented messages back to back → two messages",
        scenario(two + [F(OP_BINARY, b"\x01", fin=False), F(OP_CONT, b"\x02")],
                 [T("fragment1fragment2"), B(b"\x01\x02")]))
    add("5.33", "continuation (FIN 1) right after a complete message → echo, 1002",
        fails([F(OP_TEXT, "whole"), F(OP_CONT, "late")], 1002, before=[T("whole")]))
    add("5.34", "fragmented text with a ping between, every frame byte by byte",
        scenario(five, five_ev, chunk=1))


# --- 6 UTF-8 handling -----------------------------------------------------

HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = "κόσμε".encode()     # ce ba e1 bd b9 cf 83 ce bc ce b5


def utf8_cases():
    def valid(cid, desc, payload):
        add(cid, desc + " → echo", echoes(OP_TEXT, payload))

    def invalid(cid, desc, payload):
        add(cid, desc + " → 1007", fails(F(OP_TEXT, payload), 1007))

    # 6.1 empty
    valid("6.1.1", "empty text", b"")
    add("6.1.2", "text of 3 empty fragments → empty message",
        scenario([F(OP_TEXT, "", fin=False), F(OP_CONT, "", fin=False), F(OP_CONT, "")], [T("")]))
    add("6.1.3", "empty, non-empty, empty fragment → the middle",
        scenario([F(OP_TEXT, "", fin=False), F(OP_CONT, "middle", fin=False), F(OP_CONT, "")],
                 [T("middle")]))

    # 6.2 / 6.3: valid text cut at every byte position, also inside characters.
    for sub, s in ((2, HELLO), (3, KOSME)):
        valid(f"6.{sub}.1", f"{s.decode()!r} in one frame", s)
        for cut in range(len(s) + 1):
            add(f"6.{sub}.2.{cut}", f"{s.decode()!r} in 2 fragments cut at byte {cut}",
                echoes(OP_TEXT, s, frames=split_at(OP_TEXT, s, [cut])))
        add(f"6.{sub}.3", f"{s.decode()!r} in one frame sent byte by byte",
            echoes(OP_TEXT, s, chunk=1))
        add(f"6.{sub}.4", f"{s.decode()!r} with every byte its own fragment",
            echoes(OP_TEXT, s, frames=fragments(OP_TEXT, s, 1)))
        add(f"6.{sub}.5", f"{s.decode()!r} in 1-byte fragments sent byte by byte",
            echoes(OP_TEXT, s, frames=fragments(OP_TEXT, s, 1), chunk=1))
    four = "a𝄞b🙂".encode()
    for cut in range(len(four) + 1):
        add(f"6.3.6.{cut}",
            f"{four.decode()!r} (4-byte characters) in 2 fragments cut at byte {cut}",
            echoes(OP_TEXT, four, frames=split_at(OP_TEXT, four, [cut])))
    add("6.3.7", "'κόσμε' in 3 fragments at every pair of cut points",
        every_three_way(KOSME))

    # 6.4 fail fast (§8.1: fail as soon as the bytes cannot be UTF-8). The
    # rest of the message is never sent; the Close must come without it.
    bad = b"\xf4\x90\x80\x80"        # would be U+110000
    add("6.4.1", "fragments 'κόσμε', then U+110000 bytes (FIN 0); 3rd never sent → 1007",
        fails([F(OP_TEXT, KOSME, fin=False), F(OP_CONT, bad, fin=False)], 1007))
    add("6.4.2",
        "fragment 'κόσμε\\xf4', then '\\x90\\x80\\x80' (FIN 0); 3rd never sent → 1007",
        fails([F(OP_TEXT, KOSME + bad[:1], fin=False), F(OP_CONT, bad[1:], fin=False)], 1007))
    whole = F(OP_TEXT, KOSME + bad + b"edited")
    head = len(whole) - len(KOSME + bad + b"edited")
    add("6.4.3", "one frame: 'κόσμε' and '\\xf4\\x90' sent, the rest never → 1007",
        fails(whole[:head + len(KOSME) + 2], 1007))
    add("6.4.4", "one frame sent in pieces 'κόσμε\\xf4' | '\\x90'; the rest never → 1007",
        fails([whole[:head + len(KOSME) + 1], whole[head + len(KOSME) + 1:head + len(KOSME) + 2]],
              1007, chunk="frames"))
    firsts = [(b"\xc0\xafabc", "overlong '/'"), (b"ab\xed\xa0\x80cd", "surrogate U+D800"),
              (b"abc\xf5\x80\x80\x80", "lead byte F5"), (b"x\xe0\x80", "overlong E0 80"),
              (b"\xff", "byte FF"), (b"ok\x80", "lone continuation byte")]
    for i, (p, what) in enumerate(firsts, 5):
        add(f"6.4.{i}", f"FIRST fragment (FIN 0) holds {what}; later fragments never sent → 1007",
            fails(F(OP_TEXT, p, fin=False), 1007))
    big = b"abcdefghij\xc0\xaf" + b"x" * 88
    add("6.4.11", "first fragment announcing 65536 bytes, invalid at byte 10, "
        "only 100 bytes sent → 1007",
        fails(F(OP_TEXT, big, fin=False, length=65536), 1007))
    add("6.4.12", "one frame announcing 1 MiB, invalid at byte 3, only 64 bytes sent → 1007",
        fails(F(OP_TEXT, b"abc\xfe" + b"y" * 60, length=1 << 20), 1007))
    add("6.4.13", "invalid bytes in the 2nd of 3 fragments, 3rd never sent, "
        "each sent byte by byte → 1007",
        fails([F(OP_TEXT, "valid", fin=False), F(OP_CONT, b"\xed\xbf\xbf", fin=False)], 1007,
              chunk=1))

    # 6.5 valid text
    for i, s in enumerate(["κόσμε", "\u0000", "𝄞 music", "🙂", "日本語テキスト",
                           "mixed µ € 𝄞 ascii", "\u0000\u007f\u0080\u07ff\u0800\uffff"], 1):
        valid(f"6.5.{i}", f"valid {s!r}", s.encode())

    # 6.6 every prefix of κόσμε: valid only when it ends on a character.
    for n in range(1, len(KOSME) + 1):
        p = KOSME[:n]
        try:
            p.decode()
            valid(f"6.6.{n}", f"first {n} bytes of 'κόσμε' {p.hex(' ')}", p)
        except UnicodeDecodeError:
            invalid(f"6.6.{n}",
                    f"first {n} bytes of 'κόσμε' {p.hex(' ')} (truncated at the end)", p)

    # 6.7 / 6.9 / 6.11 boundaries of each sequence length.
    for i, cp in enumerate((0x0, 0x80, 0x800, 0x10000), 1):
        valid(f"6.7.{i}", f"first code point of its length U+{cp:04X}", chr(cp).encode())
    for i, b in enumerate((b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"), 1):
        invalid(f"6.8.{i}", f"first 5/6-byte sequence {b.hex(' ')}", b)
    for i, cp in enumerate((0x7F, 0x7FF, 0xFFFF, 0x10FFFF), 1):
        valid(f"6.9.{i}", f"last code point of its length U+{cp:04X}", chr(cp).encode())
    for i, b in enumerate((b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf",
                           b"\xfd\xbf\xbf\xbf\xbf\xbf"), 1):
        invalid(f"6.10.{i}", f"last 4/5/6-byte pattern {b.hex(' ')}", b)
    for i, cp in enumerate((0xD7FF, 0xE000, 0xFFFD, 0x10FFFF), 1):
        valid(f"6.11.{i}", f"boundary U+{cp:04X}", chr(cp).encode())
    invalid("6.11.5", "U+110000 f4 90 80 80", b"\xf4\x90\x80\x80")
    for i, cp in enumerate((0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF), 6):
        valid(f"6.11.{i}", f"U+{cp:04X} between ASCII", b"a" + chr(cp).encode() + b"z")

    # 6.12 unexpected continuation bytes
    for i, c in enumerate(range(0x80, 0xC0), 1):
        invalid(f"6.12.{i}", f"lone continuation byte {c:02x}", bytes([c]))
    for i, b in enumerate((b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
                           b"\x80\xbf\x80\xbf\x80", bytes(range(0x80, 0xC0))), 65):
        invalid(f"6.12.{i}", f"continuation bytes {b[:6].hex(' ')}{'...' if len(b) > 6 else ''}", b)

    # 6.13 lonely start bytes, each followed by a space; 6.16 impossible bytes.
    for i, c in enumerate(range(0xC0, 0xFE), 1):
        invalid(f"6.13.{i}", f"lead byte {c:02x} followed by a space", bytes([c, 0x20]))
    for i, b in enumerate((b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"), 1):
        invalid(f"6.16.{i}", f"impossible bytes {b.hex(' ')}", b)

    # 6.14 / 6.15 sequences with their last continuation byte missing.
    cut = [b"\xc2", b"\xdf", b"\xe0\xa0", b"\xe1\x80", b"\xed\x9f", b"\xef\xbf",
           b"\xf0\x90\x80", b"\xf1\x80\x80", b"\xf4\x8f\xbf"]
    for i, b in enumerate(cut, 1):
        invalid(f"6.14.{i}", f"{b.hex(' ')} at the message end", b"abc" + b)
        invalid(f"6.14.{i + len(cut)}", f"{b.hex(' ')} followed by ASCII", b"abc" + b + b"z")
    invalid("6.15.1", "all of 6.14 concatenated", b"".join(cut))

    # 6.17-6.19 overlong forms; 6.20/6.21 UTF-16 surrogates.
    overlong_slash = [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                      b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"]
    for i, b in enumerate(overlong_slash, 1):
        invalid(f"6.17.{i}", f"overlong '/' {b.hex(' ')}", b)
    overlong_max = [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                    b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"]
    for i, b in enumerate(overlong_max, 1):
        invalid(f"6.18.{i}", f"largest overlong {b.hex(' ')}", b)
    overlong_nul = [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
                    b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80"]
    for i, b in enumerate(overlong_nul, 1):
        invalid(f"6.19.{i}", f"overlong NUL {b.hex(' ')}", b)
    surrogates = [0xD800, 0xDB7F, 0xDB80, 0xDBFF, 0xDC00, 0xDF80, 0xDFFF]

    def cesu(cp):      # the 3 bytes a surrogate would take, were it allowed
        return bytes([0xE0 | cp >> 12, 0x80 | (cp >> 6) & 0x3F, 0x80 | cp & 0x3F])
    for i, cp in enumerate(surrogates, 1):
        invalid(f"6.20.{i}", f"single surrogate U+{cp:04X} {cesu(cp).hex(' ')}", cesu(cp))
    pairs = [(h, l) for h in (0xD800, 0xDB7F, 0xDB80, 0xDBFF) for l in (0xDC00, 0xDFFF)]
    for i, (h, l) in enumerate(pairs, 1):
        invalid(f"6.21.{i}", f"surrogate pair U+{h:04X} U+{l:04X}", cesu(h) + cesu(l))

    # 6.22 noncharacters are valid UTF-8 (RFC 3629 does not exclude them).
    for plane in range(17):
        for j, low in enumerate((0xFFFE, 0xFFFF)):
            cp = plane << 16 | low
            valid(f"6.22.{2 * plane + j + 1}", f"noncharacter U+{cp:04X}", chr(cp).encode())
    valid("6.22.35", "noncharacters U+FDD0..U+FDEF",
          "".join(chr(c) for c in range(0xFDD0, 0xFDF0)).encode())

    # 6.23 U+FFFD and friends
    valid("6.23.1", "U+FFFD", "\ufffd".encode())
    valid("6.23.2", "U+FFFD repeated", ("\ufffd" * 40).encode())
    valid("6.23.3", "BOM U+FEFF at the start", "\ufeffbom".encode())

    # 6.24 / 6.25 (ours): bad or good bytes at every offset of an ASCII run,
    # for servers that check 8 ASCII bytes at a time.
    for k in range(17):
        p = bytearray(b"a" * 64)
        p[k] = 0xFF
        invalid(f"6.24.{k + 1}", f"64 ASCII bytes with FF at offset {k}", bytes(p))
    for k in range(17):
        p = b"a" * k + "€".encode() + b"a" * (64 - k)
        valid(f"6.25.{k + 1}", f"ASCII run with '€' at offset {k}", p)
    long_ascii = b"b" * 4095
    invalid("6.24.18", "4095 ASCII bytes then a lone lead byte C3", long_ascii + b"\xc3")
    invalid("6.24.19", "4096 ASCII bytes, last byte 80", long_ascii + b"\x80")
    valid("6.25.18", "4094 ASCII bytes then 'é'", long_ascii[:-1] + "é".encode())

    # 6.26 (ours): invalid across fragment boundaries and at the message end.
    add("6.26.1", "surrogate split across fragments ed | a0 80 → 1007",
        fails([F(OP_TEXT, b"ab\xed", fin=False), F(OP_CONT, b"\xa0\x80")], 1007))
    add("6.26.2", "final fragment ends inside a character → 1007",
        fails([F(OP_TEXT, "κόσμ", fin=False), F(OP_CONT, b"\xce")], 1007))
    add("6.26.3", "character started in one fragment, final empty fragment → 1007",
        fails([F(OP_TEXT, b"ab\xe2\x82", fin=False), F(OP_CONT, b"")], 1007))
    add("6.26.4", "overlong split across 3 fragments e0 | 80 | af → 1007",
        fails([F(OP_TEXT, b"\xe0", fin=False), F(OP_CONT, b"\x80", fin=False),
               F(OP_CONT, b"\xaf")], 1007))
    add("6.26.5", "valid text, then invalid text → echo, 1007",
        fails([F(OP_TEXT, KOSME), F(OP_TEXT, b"\xce")], 1007, before=[T(KOSME)]))
    add("6.26.6", "invalid UTF-8 in a binary message is not checked → echo",
        echoes(OP_BINARY, b"\xff\xfe\xc0\xaf\xed\xa0\x80"))
    add("6.26.7", "invalid UTF-8 in a ping is not checked → pong",
        scenario(F(OP_PING, b"\xff\xc0\xaf"), [PONG(b"\xff\xc0\xaf")]))
    add("6.26.8", "message ending inside a character while the next one starts → 1007",
        fails([F(OP_TEXT, b"abc\xe2\x82"), F(OP_TEXT, b"\xac")], 1007))
    for cut in range(1, 3):
        ol = b"ab\xe0\x80\xafcd"
        add(f"6.26.{8 + cut}", f"overlong e0 80 af cut into fragments at {cut + 2} → 1007",
            fails(split_at(OP_TEXT, ol, [cut + 2]), 1007))


def every_three_way(s):
    """A case: s in 3 fragments, for every pair of cut points, on one
    connection."""
    def run(env):
        c = Conn(env.port)
        for a in range(len(s) + 1):
            for b in range(a, len(s) + 1):
                c.send(split_at(OP_TEXT, s, [a, b]))
                try:
                    c.expect(T(s))
                except Fail as e:
                    raise Fail(e.expected, f"cuts at {a} and {b}: {e.got}")
        c.finish()
    return run


# --- 7 Close handling -----------------------------------------------------

def close_cases():
    add("7.1.1", "text, then close 1000 → echo, close 1000",
        fails([F(OP_TEXT, "Hello World!"), close_frame(1000)], 1000, before=[T("Hello World!")]))
    add("7.1.2", "two closes → one close, then TCP closed",
        fails([close_frame(1000), close_frame(1000)], 1000))
    add("7.1.3", "close, then ping → close only (no pong after a Close)",
        fails([close_frame(1000), F(OP_PING, "no pong")], 1000))
    add("7.1.4", "close, then text → close only (data after a Close is ignored)",
        fails([close_frame(1000), F(OP_TEXT, "ignored")], 1000))
    add("7.1.5", "first fragment, close, last fragment → close only, no message",
        fails([F(OP_TEXT, "fragment1", fin=False), close_frame(1000), F(OP_CONT, "fragment2")],
              1000))
    flood = binary_payload(65536)

    def flood_then_close(env):
        c = Conn(env.port)
        c.send_bg([F(OP_BINARY, flood)] * 10 + [close_frame(1000)])
        c.expect(*([B(flood)] * 10 + [CLOSE(1000)]))
    add("7.1.6", "10 × 64 KiB binary, then close → 10 echoes, then close 1000", flood_then_close)
    add("7.1.7", "close, then binary, each frame its own write → close only",
        fails([close_frame(1000), F(OP_BINARY, b"ignored")], 1000, chunk="frames"))

    # §5.5.1: the reply to a Close without a status code echoes that: the
    # strict choice is an empty Close (Autobahn also takes 1000).
    add("7.3.1", "close without payload → close without payload", fails(close_frame(None), None))
    add("7.3.2", "close with a 1-byte payload → 1002", fails(F(OP_CLOSE, b"\x03"), 1002))
    add("7.3.3", "close 1000 → close 1000", fails(close_frame(1000), 1000))
    add("7.3.4", "close 1000 with reason → close 1000",
        fails(close_frame(1000, "Hello World!"), 1000))
    add("7.3.5", "close 1000 with a 123-byte reason (125-byte payload) → close 1000",
        fails(close_frame(1000, "*" * 123), 1000))
    add("7.3.6", "close 1000 with a 124-byte reason (126-byte payload) → 1002",
        fails(close_frame(1000, "*" * 124), 1002))
    add("7.3.7", "close 1000 with a UTF-8 reason 'κόσμε' → close 1000",
        fails(close_frame(1000, KOSME), 1000))
    add("7.3.8", "close sent byte by byte → close 1000",
        fails(close_frame(1000, "bye"), 1000, chunk=1))
    # §5.5.1 + §8.1: the reason is UTF-8; Autobahn also allows 1002 here.
    add("7.5.1", "close 1000 with invalid UTF-8 in the reason → 1007",
        fails(close_frame(1000, KOSME + b"\xed\xa0\x80edited"), 1007))
    add("7.5.2", "close 1000 with a reason cut inside a character → 1007",
        fails(close_frame(1000, b"abc\xce"), 1007))
    add("7.5.3", "close 1000 with an overlong in the reason → 1007",
        fails(close_frame(1000, b"\xc0\xaf"), 1007))
    # §5.5.1: "typically echos the status code it received": strict, the
    # same code (Autobahn also accepts 1000).
    for i, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                              3000, 3999, 4000, 4999), 1):
        add(f"7.7.{i}", f"close with valid code {code} → close {code}",
            fails(close_frame(code), code))
    add("7.7.14", "close with valid code 4000 and a reason → close 4000",
        fails(close_frame(4000, "app-defined"), 4000))
    # §7.4: codes never sent on the wire, unassigned or out of range.
    # 1012-1014 were registered with IANA after RFC 6455 and are left out.
    for i, code in enumerate((0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999), 1):
        add(f"7.9.{i}", f"close with invalid code {code} → 1002", fails(close_frame(code), 1002))
    # Autobahn only reports on these ("informational"); the strict answer
    # is 1002: no code above 4999 is defined (§7.4.2).
    for i, code in enumerate((5000, 65535), 1):
        add(f"7.13.{i}", f"close with code {code} → 1002", fails(close_frame(code), 1002))

    # 7.14 (ours): the end of the connection.
    def reply_after_fail(env):
        c = Conn(env.port)
        c.send(F(OP_TEXT, b"\xff"))
        c.expect(CLOSE(1007), eof=False)
        c.send(close_frame(1007))       # our reply to its Close
        c.expect_eof("Close 1007 and nothing after our reply")
    add("7.14.1", "after the server's Close 1007, our Close reply gets no answer, TCP closed",
        reply_after_fail)

    def tcp_close_without_help(env):
        c = Conn(env.port)
        c.send(close_frame(1000))
        c.expect(CLOSE(1000), eof=False)
        # We neither reply nor close: the server closes TCP first (§7.1.1).
        c.expect_eof("Close 1000")
    add("7.14.2", "after the close handshake the server closes TCP first", tcp_close_without_help)

    def text_after_close_reply(env):
        c = Conn(env.port)
        c.send(close_frame(1000))
        c.expect(CLOSE(1000), eof=False)
        try:
            c.send(F(OP_TEXT, "too late"))
        except OSError:
            pass            # already closed: fine
        c.expect_eof("Close 1000")
    add("7.14.3", "text sent after the server's Close → nothing back, TCP closed",
        text_after_close_reply)


# --- 9 Limits/performance -------------------------------------------------

def limit_cases():
    sizes = [("64 KiB", 1 << 16), ("256 KiB", 1 << 18), ("1 MiB", 1 << 20),
             ("4 MiB", 1 << 22), ("16 MiB", 1 << 24)]
    for sub, op, make in ((1, OP_TEXT, text_payload), (2, OP_BINARY, binary_payload)):
        for i, (name, n) in enumerate(sizes, 1):
            add(f"9.{sub}.{i}", f"{KIND[op]} message of {name}",
                lazy_echo(op, make, n, None))
    frame_sizes = [64, 256, 1024, 4096, 16384, 65536, 1 << 18, 1 << 20, 1 << 22]
    for sub, op, make in ((3, OP_TEXT, text_payload), (4, OP_BINARY, binary_payload)):
        for i, fs in enumerate(frame_sizes, 1):
            add(f"9.{sub}.{i}", f"4 MiB {KIND[op]} message in frames of {fs} bytes",
                lazy_echo(op, make, 1 << 22, fs))
    chunks = [64, 128, 256, 512, 1024, 2048, 4096, 65536]
    for sub, op, make in ((5, OP_TEXT, text_payload), (6, OP_BINARY, binary_payload)):
        for i, ch in enumerate(chunks, 1):
            add(f"9.{sub}.{i}", f"1 MiB {KIND[op]} message sent in writes of {ch} bytes",
                lazy_echo(op, make, 1 << 20, None, chunk=ch))
    counts = [(0, 1000), (16, 1000), (64, 1000), (256, 1000), (1024, 1000), (4096, 1000),
              (16, 10000)]
    for sub, op, make in ((7, OP_TEXT, text_payload), (8, OP_BINARY, binary_payload)):
        for i, (size, count) in enumerate(counts, 1):
            add(f"9.{sub}.{i}", f"{count} {KIND[op]} messages of {size} bytes pipelined",
                pipelined(op, make, size, count))

    # 9.9 (ours): --max-message (§10.4; README: 1009, the limit named).
    reason = f"message exceeds {LIMIT} bytes"
    for i, op in enumerate((OP_BINARY, OP_TEXT), 1):
        p = text_payload(LIMIT) if op == OP_TEXT else binary_payload(LIMIT)
        add(f"9.9.{i}", f"{KIND[op]} of exactly --max-message {LIMIT} → echo",
            scenario([F(op, p)], [(KIND[op], p)], limit=True))
    over = binary_payload(LIMIT + 1)
    add("9.9.3", f"binary of {LIMIT + 1} bytes: header and 1 KiB sent, the rest never → 1009",
        fails(F(OP_BINARY, over)[:14 + 1024], 1009, limit=True, reason=reason))
    add("9.9.4", f"text of {LIMIT + 1} bytes: header alone sent → 1009",
        fails(F(OP_TEXT, text_payload(LIMIT + 1))[:14], 1009, limit=True, reason=reason))
    add("9.9.5", "fragments of 32768 + 32768, then a 1-byte fragment's header → 1009",
        fails([F(OP_BINARY, over[:32768], fin=False), F(OP_CONT, over[32768:65536], fin=False),
               F(OP_CONT, b"x")[:6]], 1009, limit=True, reason=reason))
    add("9.9.6", "fragments of 32768 + 32768 → one message of exactly the limit",
        scenario([F(OP_BINARY, over[:32768], fin=False), F(OP_CONT, over[32768:65536])],
                 [B(over[:65536])], limit=True))
    add("9.9.7", "frame announcing 2^62 bytes → 1009",
        fails(bytes([0x82, 0xFF]) + (1 << 62).to_bytes(8, "big") + b"\x01\x02\x03\x04", 1009,
              limit=True, reason=reason))
    add("9.9.8", "valid message, then one over the limit → echo, 1009",
        fails([F(OP_TEXT, "small"), F(OP_BINARY, over)[:14]], 1009, before=[T("small")],
              limit=True, reason=reason))
    add("9.9.9", "default server: header of a 16 MiB + 1 byte binary → 1009 naming 16777216",
        fails(F(OP_BINARY, b"", length=DEFAULT_LIMIT + 1), 1009,
              reason=f"message exceeds {DEFAULT_LIMIT} bytes"))
    add("9.9.10", "default server: 16 MiB in fragments, then 1 more byte → 1009",
        lazy_over_default())


def lazy_echo(op, make, n, frame_size, chunk=None):
    """Like echoes(), but builds the payload only when the case runs."""
    def run(env):
        payload = make(n)
        frames = [F(op, payload)] if frame_size is None else fragments(op, payload, frame_size)
        c = Conn(env.port)
        c.send_bg(frames, chunk)
        c.expect((KIND[op], payload))
        c.finish()
    return run


def pipelined(op, make, size, count):
    def run(env):
        msgs = [make(size) for _ in range(min(count, 50))]
        msgs = [msgs[i % len(msgs)] + str(i).encode() if op == OP_TEXT else
                msgs[i % len(msgs)] + i.to_bytes(4, "big") for i in range(count)]
        c = Conn(env.port)
        c.send_bg([F(op, m) for m in msgs])
        for i, m in enumerate(msgs):
            try:
                c.expect((KIND[op], m))
            except Fail as e:
                raise Fail(f"message {i} of {count}: {e.expected}", e.got)
        c.finish()
    return run


def lazy_over_default():
    def run(env):
        c = Conn(env.port)
        part = binary_payload(1 << 20)
        frames = [F(OP_BINARY if i == 0 else OP_CONT, part, fin=False) for i in range(16)]
        c.send_bg(frames + [F(OP_CONT, b"x")[:6]])
        c.expect(CLOSE(1009, f"message exceeds {DEFAULT_LIMIT} bytes"))
    return run


# --- 10 Misc --------------------------------------------------------------

def misc_cases():
    p = text_payload(65536)
    add("10.1.1", "65536-byte text in fragments of 1300 bytes → one message",
        echoes(OP_TEXT, p, frames=fragments(OP_TEXT, p, 1300)))

    def kib_fragments(op, make):
        def run(env):
            payload = make(1 << 20)
            c = Conn(env.port)
            c.send_bg(fragments(op, payload, 1024))
            c.expect((KIND[op], payload))
            c.finish()
        return run
    add("10.1.2", "1 MiB text as 1024 fragments of 1 KiB → one message",
        kib_fragments(OP_TEXT, text_payload))
    add("10.1.3", "1 MiB binary as 1024 fragments of 1 KiB → one message",
        kib_fragments(OP_BINARY, binary_payload))


# --- 12/13 Compression (declined) -----------------------------------------

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.strip() + GUID).digest()).decode()


def request(headers, method=b"GET", path=b"/echo", version=b"HTTP/1.1"):
    return (method + b" " + path + b" " + version + b"\r\n"
            + b"".join(h + b"\r\n" for h in headers) + b"\r\n")


def std_headers(key=KEY, extra=()):
    return [b"Host: 127.0.0.1", b"Upgrade: websocket", b"Connection: Upgrade",
            b"Sec-WebSocket-Key: " + key, b"Sec-WebSocket-Version: 13"] + list(extra)


def handshake(port, raw, chunk=None):
    """Send a raw request; (socket, status, headers, head lines, leftover)."""
    s = connect(port, timeout_s=TIMEOUT)
    OPEN.append(s)
    if chunk:
        for i in range(0, len(raw), chunk):
            s.sendall(raw[i:i + chunk])
    else:
        s.sendall(raw)
    data = recv_until(s)
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise Fail("an HTTP response", f"{data[:80]!r}")
    status, headers, _ = parse_response(head + sep)
    lines = [ln.split(b":", 1)[0].strip().lower() for ln in head.split(b"\r\n")[1:]]
    return s, status, headers, lines, rest


def check_101(status, headers, lines, rest, key=KEY):
    """§4.2.2: the accepting answer, and nothing we did not ask for."""
    if status != 101:
        raise Fail("101", str(status))
    if headers.get("upgrade", "").lower() != "websocket":
        raise Fail("Upgrade: websocket", repr(headers.get("upgrade")))
    tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
    if "upgrade" not in tokens:
        raise Fail("Connection: Upgrade", repr(headers.get("connection")))
    if headers.get("sec-websocket-accept") != accept_of(key):
        raise Fail(f"Sec-WebSocket-Accept: {accept_of(key)}",
                   repr(headers.get("sec-websocket-accept")))
    for name in (b"sec-websocket-extensions", b"sec-websocket-protocol"):
        if name in lines:
            raise Fail(f"no {name.decode()} header (none was agreed)", f"{name.decode()}: "
                       f"{headers.get(name.decode())!r}")
    if rest:
        raise Fail("nothing after the 101 head", repr(rest[:40]))


def accepts(headers, key=KEY, chunk=None, then=None, **kw):
    """A case: the request is accepted (101, correct answer), then the
    connection echoes (or does `then`) and closes cleanly."""
    raw = request(headers, **kw)

    def run(env):
        s, status, hdrs, lines, rest = handshake(env.port, raw, chunk)
        check_101(status, hdrs, lines, rest, key)
        c = Conn(sock=s, initial=rest)
        if then:
            then(c)
        else:
            c.send(F(OP_TEXT, "after the handshake"))
            c.expect(T("after the handshake"))
            c.finish()
    return run


def refuses(headers, statuses, want_header=None, **kw):
    """A case: the request gets one of statuses (never 101)."""
    raw = request(headers, **kw)

    def run(env):
        s, status, hdrs, lines, rest = handshake(env.port, raw)
        if status not in statuses:
            raise Fail(" or ".join(map(str, statuses)), str(status))
        if want_header:
            name, value = want_header
            if hdrs.get(name) != value:
                raise Fail(f"{name}: {value}", repr(hdrs.get(name)))
    return run


def compression_cases():
    # RFC 6455 §9.1 / RFC 7692 §5: a server that does not accept an offer
    # leaves Sec-WebSocket-Extensions out of its answer; then RSV1 (the
    # "compressed" bit) is not negotiated, and a frame carrying it fails.
    offers = [b"permessage-deflate",
              b"permessage-deflate; client_max_window_bits",
              b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
              b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
              b"permessage-deflate; client_max_window_bits, permessage-deflate",
              b"x-webkit-deflate-frame"]

    def rsv1_fails(c):
        c.send(F(OP_TEXT, "plain"))
        c.expect(T("plain"))
        # "Hello" compressed with raw DEFLATE, as RFC 7692 §7.2.3.1 shows.
        c.send(F(OP_TEXT, bytes.fromhex("f248cdc9c90700"), rsv=4))
        c.expect(CLOSE(1002))
    for i, offer in enumerate(offers, 1):
        sec = "12" if i <= 4 else "13"
        n = i if i <= 4 else i - 4
        add(f"{sec}.1.{n}", f"offer '{offer.decode()}' → 101 without Sec-WebSocket-Extensions, "
            "uncompressed echo, RSV1 frame → 1002",
            accepts(std_headers(extra=[b"Sec-WebSocket-Extensions: " + offer]), then=rsv1_fails))
    add("13.1.3", "offer in two header lines → declined",
        accepts(std_headers(extra=[b"Sec-WebSocket-Extensions: permessage-deflate",
                                   b"Sec-WebSocket-Extensions: permessage-deflate; "
                                   b"client_max_window_bits"]), then=rsv1_fails))


# --- H Opening handshake --------------------------------------------------

def handshake_cases():
    add("H.1", "RFC 6455 §1.3 sample key → accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        accepts(std_headers()))
    if accept_of(KEY) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=":
        raise SystemExit("the suite's own accept computation is wrong")
    for i in range(2, 7):
        key = base64.b64encode(RNG.randbytes(16))
        add(f"H.{i}", f"random key {key.decode()} → its accept value",
            accepts(std_headers(key), key))
    lower = [b"host: 127.0.0.1", b"upgrade: websocket", b"connection: Upgrade",
             b"sec-websocket-key: " + KEY, b"sec-websocket-version: 13"]
    add("H.7", "header names in lower case", accepts(lower))
    add("H.8", "header names in upper case", accepts([h.split(b":")[0].upper() + b":"
                                                      + h.split(b":", 1)[1] for h in lower]))
    add("H.9", "header names in mixed case",
        accepts([b"hOsT: 127.0.0.1", b"UpGrAdE: websocket", b"cOnNeCtIoN: Upgrade",
                 b"SEC-websocket-KEY: " + KEY, b"Sec-Websocket-Version: 13"]))

    def conn_value(v):
        return [b"Host: 127.0.0.1", b"Upgrade: websocket", b"Connection: " + v,
                b"Sec-WebSocket-Key: " + KEY, b"Sec-WebSocket-Version: 13"]
    for i, v in enumerate((b"keep-alive, Upgrade", b"Upgrade, keep-alive", b"keep-alive,Upgrade",
                           b"keep-alive ,   Upgrade  ", b"  Upgrade", b"upgrade", b"UPGRADE",
                           b"keep-alive, , Upgrade,"), 10):
        add(f"H.{i}", f"Connection: {v.decode()!r}", accepts(conn_value(v)))
    add("H.18", "Upgrade: WebSocket (token case)",
        accepts([b"Host: x", b"Upgrade: WebSocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + KEY, b"Sec-WebSocket-Version: 13"]))
    add("H.19", "blanks around header values",
        accepts([b"Host:127.0.0.1", b"Upgrade:   websocket  ", b"Connection:\tUpgrade ",
                 b"Sec-WebSocket-Key:   " + KEY + b"  ", b"Sec-WebSocket-Version:  13 "]))
    add("H.20", "request sent byte by byte", accepts(std_headers(), chunk=1))

    def frame_with_request(env):
        raw = request(std_headers()) + F(OP_TEXT, "in the same write")
        s, status, hdrs, lines, rest = handshake(env.port, raw)
        check_101(status, hdrs, lines, b"")
        c = Conn(sock=s, initial=rest)
        c.expect(T("in the same write"))
        c.finish()
    add("H.21", "first frame in the same write as the request → echoed", frame_with_request)
    add("H.22", "extra headers (Origin, User-Agent, Cookie, Pragma)",
        accepts(std_headers(extra=[b"Origin: http://127.0.0.1", b"User-Agent: conformance",
                                   b"Cookie: a=b", b"Pragma: no-cache"])))
    # §4.2.2: a subprotocol the server did not select must not be named.
    add("H.23", "Sec-WebSocket-Protocol offered → none selected",
        accepts(std_headers(extra=[b"Sec-WebSocket-Protocol: chat, superchat"])))
    # RFC 9110 §5.3: field lines of the same name form one list.
    add("H.24", "Connection in two header lines (keep-alive / Upgrade)",
        accepts([b"Host: 127.0.0.1", b"Upgrade: websocket", b"Connection: keep-alive",
                 b"Connection: Upgrade", b"Sec-WebSocket-Key: " + KEY,
                 b"Sec-WebSocket-Version: 13"]))
    add("H.25", "Upgrade: a token list 'foo/1, websocket'",
        accepts([b"Host: x", b"Upgrade: foo/1, websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + KEY, b"Sec-WebSocket-Version: 13"]))
    # §4.2.2 / §4.4: refusals.
    add("H.26", "Sec-WebSocket-Version: 8 → 426 with Sec-WebSocket-Version: 13",
        refuses([h if not h.startswith(b"Sec-WebSocket-Version") else b"Sec-WebSocket-Version: 8"
                 for h in std_headers()], (426,), ("sec-websocket-version", "13")))
    # §4.2.2, §4.4: no version is not version 13 either; README: 426 naming 13.
    add("H.27", "no Sec-WebSocket-Version → 426 with Sec-WebSocket-Version: 13",
        refuses([h for h in std_headers() if not h.startswith(b"Sec-WebSocket-Version")],
                (426,), ("sec-websocket-version", "13")))
    add("H.28", "no Sec-WebSocket-Key → 400",
        refuses([h for h in std_headers() if not h.startswith(b"Sec-WebSocket-Key")], (400,)))
    add("H.29", "key of 15 bytes → 400",
        refuses(std_headers(base64.b64encode(b"x" * 15)), (400,)))
    add("H.30", "key of 17 bytes → 400",
        refuses(std_headers(base64.b64encode(b"x" * 17)), (400,)))
    add("H.31", "key not base64 → 400", refuses(std_headers(b"!!!!!!!!!!!!!!!!!!!!!!=="), (400,)))
    add("H.32", "no Connection: Upgrade → 400",
        refuses([h for h in std_headers() if not h.startswith(b"Connection")], (400,)))
    add("H.33", "Connection: keep-alive only → 400",
        refuses(conn_value(b"keep-alive"), (400,)))
    add("H.34", "Connection: 'Upgraded' (not the token) → 400",
        refuses(conn_value(b"Upgraded"), (400,)))
    add("H.35", "POST with the upgrade headers → 405 (README: other methods)",
        refuses(std_headers(), (405,), method=b"POST"))
    add("H.36", "HTTP/1.0 request → 400", refuses(std_headers(), (400,), version=b"HTTP/1.0"))
    add("H.37", "no Host → 400", refuses([h for h in std_headers() if not h.startswith(b"Host")],
                                         (400,)))
    add("H.38", "unknown path with upgrade headers → 404",
        refuses(std_headers(), (404,), path=b"/no-such-endpoint"))
    # §11.3.1: Sec-WebSocket-Key MUST NOT appear more than once; two lines
    # make the value "k1, k2", not a 16-byte key, so §4.2.2 asks for 400.
    add("H.39", "Sec-WebSocket-Key in two header lines → 400",
        refuses(std_headers(extra=[b"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="]), (400,)))
    # Two version lines make the value "13, 8", which is not 13 (§4.2.1 item 6).
    add("H.40", "Sec-WebSocket-Version 13 and 8 in two header lines → 400 or 426",
        refuses(std_headers(extra=[b"Sec-WebSocket-Version: 8"]), (400, 426)))


# --- runner ---------------------------------------------------------------

def run_case(fn, env):
    def expire(signo, frame_):
        raise CaseTimeout()
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, CASE_LIMIT)
    try:
        fn(env)
        return None
    except Fail as e:
        return e.expected, e.got
    except CaseTimeout:
        return "the case to finish", f"still running after {CASE_LIMIT} s"
    except TimeoutError:
        return "an answer", f"nothing for {TIMEOUT:g} s"
    except TcpReset:
        return "the connection to stay open, or close with a FIN", "TCP reset (RST)"
    except (EOFError, ConnectionError, BrokenPipeError) as e:
        return "the connection to stay open", f"{type(e).__name__} {e}"
    except AssertionError as e:
        return "a WebSocket connection", str(e)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        while OPEN:
            s = OPEN.pop()
            try:
                s.close()
            except OSError:
                pass


def main():
    for build in (framing_cases, ping_cases, rsv_cases, opcode_cases, fragmentation_cases,
                  utf8_cases, close_cases, limit_cases, misc_cases, compression_cases,
                  handshake_cases):
        build()
    only = sys.argv[1:]          # optional case-id prefixes, e.g. 6.4 7.
    cases = [c for c in CASES if not only or any(c[1] == p or c[1].startswith(p.rstrip(".") + ".")
                                                  for p in only)]
    env = Env()
    started = time.monotonic()
    totals = [0, 0]
    print(f"wspulse RFC 6455 conformance ({len(cases)} cases)")
    servers = [Server(name="conformance"),
               Server("--max-message", str(LIMIT), name="conformance-limit")]
    try:
        for srv in servers:
            srv.start()
        env.port, env.limit_port = servers[0].port, servers[1].port
        for key, name in SECTIONS:
            mine = [c for c in cases if c[0] == key]
            if not mine:
                continue
            passed = failed = 0
            for _, cid, desc, fn in mine:
                result = run_case(fn, env)
                if result is None:
                    passed += 1
                    continue
                failed += 1
                expected, got = result
                print(f"  FAIL {cid} {desc}\n"
                      f"         expected: {expected}\n"
                      f"         got:      {got}")
            label = f"{key:>5} {name} "
            print(f"{label:.<34} {passed:4d} passed, {failed} failed")
            totals[0] += passed
            totals[1] += failed
    finally:
        for srv in (srv for srv in servers if srv.proc):
            alive = srv.proc.poll() is None
            rc = srv.stop()
            if not alive or rc != 0:     # a crash, or a sanitizer's exit status
                totals[1] += 1
                print(f"  FAIL {srv.name}: server {'died' if not alive else 'exited'} "
                      f"with status {rc}; see {srv.log_path}")
    label = "  all sections "
    print(f"{label:.<34} {totals[0]:4d} passed, {totals[1]} failed "
          f"({time.monotonic() - started:.1f} s)")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
