"""Shared helpers for the Python tests: start the real wspulse binary on a
free port, talk to it over raw sockets, and bound every test in time.

The binary is $WSPULSE (default ./wspulse, relative to the repository root).
Run tests with Debian's /usr/bin/python3, which sees python3-websockets.
"""
import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, os.environ.get("WSPULSE", "wspulse"))
# The TLS build of the same variant (make builds it for the tests).
TLS_BINARY = os.path.join(ROOT, os.environ.get("WSPULSE_TLS", "build/tls/wspulse"))
OUT = os.path.join(ROOT, "test", "out")
# Extra command prefix, e.g. "valgrind --error-exitcode=99 -q" (make valgrind).
WRAPPER = os.environ.get("WSPULSE_WRAPPER", "").split()


# A slow run (the server under valgrind) stretches every time limit here.
TIME_SCALE = float(os.environ.get("WSPULSE_TIME_SCALE", "1"))


def timeout(seconds):
    """Fail a test (instead of hanging CI) if it runs longer than seconds."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            def expire(signo, frame):
                raise TimeoutError(f"{fn.__name__} took longer than {seconds} s")
            old = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, seconds * TIME_SCALE)
            try:
                return fn(*args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
        return run
    return wrap


class Server:
    """A wspulse server process on a free port. Use as a context manager."""

    def __init__(self, *args, name="server", env=None, binary=None):
        self.binary = binary or BINARY
        self.args = list(args)
        self.name = name
        self.env = env
        self.proc = None
        self.port = None
        os.makedirs(OUT, exist_ok=True)
        self.log_path = os.path.join(OUT, f"{name}.log")

    def start(self):
        if not os.path.exists(self.binary):
            raise RuntimeError(f"{self.binary} does not exist: run make first")
        self.log = open(self.log_path, "w")
        cmd = WRAPPER + [self.binary, "--port", "0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, env=self.env)
        line = self.proc.stdout.readline()
        self.banner = line.rstrip("\n")     # "wspulse X.Y.Z listening on URL"
        m = re.search(r"https?://(\[[^\]]+\]|[^:/]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            raise RuntimeError(f"server did not announce its URL: {line!r}; "
                               f"log: {self.log_text()}")
        self.host = m.group(1).strip("[]")
        self.port = int(m.group(2))
        return self

    def url(self, path="/", scheme="ws"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self, sig=signal.SIGTERM, timeout_s=15):
        """Stop the server and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout_s * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not exit within {timeout_s} s of signal {sig}")
        self.proc.stdout.close()
        self.log.close()
        return rc

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None and rc != 0:
            raise AssertionError(f"server exited with {rc}; log:\n{self.log_text()}")


def connect(port, host="127.0.0.1", timeout_s=5):
    s = socket.create_connection((host, port), timeout=timeout_s * TIME_SCALE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_until(sock, marker=b"\r\n\r\n", limit=1 << 20):
    """Read until marker (included) or EOF; returns the bytes read."""
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class Reset(AssertionError):
    """The server reset the connection (RST) where it was due to close it
    gracefully: FIN after its last bytes (a Close frame, an HTTP answer), so
    that the peer reads all of them. recv() returning b"" is a FIN; a reset
    is ConnectionResetError, and can throw away bytes not yet read."""


def recv_or_reset(sock, n=65536):
    """sock.recv(n); a reset fails the test (Reset) instead of looking like
    the end of the data."""
    try:
        return sock.recv(n)
    except ConnectionResetError:
        raise Reset("TCP reset (RST) where a graceful close (FIN) was due") from None


def recv_all(sock):
    """Read until the peer closes (FIN); returns everything. Reset if the
    server resets the connection instead."""
    data = b""
    while True:
        chunk = recv_or_reset(sock)
        if not chunk:
            break
        data += chunk
    return data


def http_request(port, raw, read_all=True):
    """Send raw request bytes; return the whole answer (server closes) or
    just the head and what came with it."""
    with contextlib.closing(connect(port)) as s:
        s.sendall(raw)
        return recv_all(s) if read_all else recv_until(s)


def parse_response(data):
    """(status, headers dict with lower-case names, body) of one response."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return status, headers, body


UPGRADE = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def ws_connect_raw(port, path=b"/echo"):
    """Open a WebSocket with a raw socket; returns (socket, leftover bytes)."""
    s = connect(port)
    try:
        s.sendall(UPGRADE % path)
        data = recv_until(s)
    except BaseException:
        s.close()
        raise
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        s.close()
        raise AssertionError(f"no 101: {head!r}")
    return s, rest


def frame(opcode, payload=b"", fin=True, mask=b"\x11\x22\x33\x44", rsv=0, length=None):
    """Encode one frame; mask=None sends it unmasked. length overrides the
    encoded length (for broken frames)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class FrameReader:
    """Reads server frames (unmasked) from a socket, whatever the split."""

    def __init__(self, sock, initial=b""):
        self.sock = sock
        self.buf = initial

    def _need(self, n):
        while len(self.buf) < n:
            chunk = recv_or_reset(self.sock)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def read(self):
        """(fin, opcode, payload, rsv, masked)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, pos = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self._need(10)
            n, pos = int.from_bytes(self.buf[2:10], "big"), 10
        masked = bool(b1 & 0x80)
        if masked:
            pos += 4
        self._need(pos + n)
        payload = self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload, (b0 >> 4) & 7, masked

    def read_close(self):
        """Skip data frames to the Close; returns (code or None, reason)."""
        while True:
            fin, op, payload, _, _ = self.read()
            if op == 8:
                if len(payload) >= 2:
                    return int.from_bytes(payload[:2], "big"), payload[2:].decode()
                return None, ""

    def at_eof(self, timeout_s=5):
        """True if the server closes the TCP connection gracefully (FIN)
        within timeout_s, False if it stays open; Reset if it resets it."""
        self.sock.settimeout(timeout_s * TIME_SCALE)
        try:
            while True:
                chunk = recv_or_reset(self.sock)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False


class ResponseReader:
    """Reads HTTP responses one at a time from a socket (keep-alive,
    pipelining), using Content-Length to find where each body ends."""

    def __init__(self, sock, initial=b""):
        self.sock = sock
        self.buf = initial

    def _fill(self):
        chunk = recv_or_reset(self.sock)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read(self, head_only=False):
        """(status, headers dict with lower-case names, body) of the next
        response; head_only for the answer to HEAD, which has no body."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        status, headers, _ = parse_response(self.buf[:end])
        n = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < end + n:
            self._fill()
        body, self.buf = self.buf[end:end + n], self.buf[end + n:]
        return status, headers, body

    def at_eof(self, timeout_s=5):
        """True if the server closes the connection gracefully (FIN) with
        nothing more sent, False if it stays open or sends more; Reset if it
        resets it."""
        self.sock.settimeout(timeout_s * TIME_SCALE)
        try:
            while True:
                chunk = recv_or_reset(self.sock)
                if not chunk:
                    return not self.buf
                self.buf += chunk
        except socket.timeout:
            return False


def run_chat_client(cmd, timeout_s=15):
    """Run `wspulse connect ...` (cmd, a list), wait until it shows the
    room's welcome (or ends), then type /quit. The welcome is a message of
    its own after the handshake, so a /quit given at once may beat it.
    Returns a CompletedProcess (returncode, stdout, stderr)."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out = []
    deadline = time.monotonic() + timeout_s * TIME_SCALE
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line)
        if "SYSTEM: Welcome!" in line:
            break
    try:
        rest, err = p.communicate("/quit\n", timeout=timeout_s * TIME_SCALE)
    except subprocess.TimeoutExpired:
        p.kill()
        rest, err = p.communicate()
    return subprocess.CompletedProcess(cmd, p.returncode, "".join(out) + rest, err)
