"""Output is bounded on every path. A client that sends and never reads
(replies, pongs, error replies, HTTP answers, over TLS too) stops being read
once its backlog passes the bound, and is closed (1008, counted) when it
stays there; the server's memory stays within the bound plus a fixed
overhead and returns to the baseline after it leaves. A slow consumer is told
why (Close 1008 after the frames already on their way), and on shutdown the
queue goes out before the Close, never after it (RFC 6455 §5.5.1)."""
import asyncio
import concurrent.futures
import contextlib
import json
import os
import select
import shutil
import socket
import ssl
import tempfile
import time
import unittest
import urllib.request

import websockets

from test_tls import make_certificate
from wspulse_test import (BINARY, TIME_SCALE, TLS_BINARY, WRAPPER, FrameReader, Server,
                          connect, frame, timeout, ws_connect_raw)

MIB = 1 << 20
# Growth of the server's resident memory a non-reader may cause: the
# default --max-pending (4 MiB) and one read's worth of answers, with room
# for the allocator. Before the bound it grew by hundreds of MiB a second.
RSS_BOUND = 24 * MIB
# What the server has queued for its peers (/stats queued_bytes) once the
# non-reader is paused: the pause threshold (1 MiB with the default
# --max-pending) and what the last read's answers added.
QUEUED_BOUND = 4 * MIB
# The process's memory says something only for the plain build: AddressSanitizer
# keeps freed memory in quarantine, and under valgrind the process is valgrind.
MEASURE_RSS = not WRAPPER and "/san/" not in BINARY


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stats(port, scheme="http"):
    ctx = None
    if scheme == "https":        # the test's own self-signed server
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/stats", timeout=5,
                                context=ctx) as r:
        return json.load(r)


def small_receive_buffer(sock):
    """A client that reads nothing: its receive window stays small."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


def flood(sock, unit, pid, quiet_s=1.0):
    """Send copies of unit (whole, never a torn one) until the server has
    stopped reading: nothing more goes out for quiet_s. Returns the peak
    growth of the server's memory seen meanwhile and the bytes sent."""
    base, peak, sent = rss(pid), 0, 0
    chunk = unit * max(1, 65536 // len(unit))
    pending = b""
    sock.setblocking(False)
    while True:
        if not pending:
            pending = chunk
        try:
            n = sock.send(pending)
            pending = pending[n:]
            sent += n
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], quiet_s * TIME_SCALE)
            peak = max(peak, rss(pid) - base)
            if not writable:
                return peak, sent
        except (ConnectionResetError, BrokenPipeError):
            return peak, sent
        peak = max(peak, rss(pid) - base)


def wait_for(predicate, what, timeout_s=10):
    deadline = time.monotonic() + timeout_s * TIME_SCALE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def echo_works(port):
    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            await ws.send("still here?")
            return await asyncio.wait_for(ws.recv(), 5 * TIME_SCALE)
    return asyncio.run(go()) == "still here?"


class NonReadingSender(unittest.TestCase):
    """One client floods a path and reads nothing."""

    def check_bounded(self, path, unit, *args, http=False):
        with Server(*args, name="backpressure") as srv:
            base = rss(srv.proc.pid)
            if http:
                sock = connect(srv.port)
            else:
                sock, _ = ws_connect_raw(srv.port, path)
            with contextlib.closing(sock):
                small_receive_buffer(sock)
                growth, sent = flood(sock, unit, srv.proc.pid)
                self.assertLessEqual(stats(srv.port)["queued_bytes"], QUEUED_BOUND)
                if MEASURE_RSS:
                    self.assertLess(growth, RSS_BOUND, f"{path}: grew by {growth >> 20} MiB")
                self.assertTrue(echo_works(srv.port), "another client is still served")
            wait_for(lambda: stats(srv.port)["queued_bytes"] == 0, "the queue freed")
            if MEASURE_RSS:
                wait_for(lambda: rss(srv.proc.pid) < base + 4 * MIB, "memory back to the baseline")
            return sent

    @timeout(30)
    def test_echo_binary_1k(self):
        self.check_bounded(b"/echo", frame(2, b"x" * 1024))

    @timeout(30)
    def test_echo_text_100k(self):
        self.check_bounded(b"/echo", frame(1, b"y" * 100_000))

    @timeout(30)
    def test_rpc_text(self):
        self.check_bounded(b"/rpc", frame(1, b"z" * 1000))

    @timeout(30)
    def test_chat_own_broadcasts(self):
        self.check_bounded(b"/chat", frame(1, b'{"type":"message","message":"hi","sender":"a"}'))

    @timeout(30)
    def test_chat_pings(self):
        self.check_bounded(b"/chat", frame(1, b'{"type":"ping"}'))

    @timeout(30)
    def test_chat_invalid_json(self):
        self.check_bounded(b"/chat", frame(1, b"x"))

    @timeout(30)
    def test_ping_frames_16(self):
        self.check_bounded(b"/echo", frame(9, b"p" * 16))

    @timeout(30)
    def test_ping_frames_125(self):
        self.check_bounded(b"/echo", frame(9, b"p" * 125))

    @timeout(30)
    def test_pipelined_healthz(self):
        self.check_bounded(None, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http=True)

    @timeout(30)
    def test_pipelined_hub_page(self):
        self.check_bounded(None, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", http=True)

    @timeout(60)
    def test_pipelined_large_file(self):
        www = tempfile.mkdtemp()
        try:
            with open(os.path.join(www, "big.bin"), "wb") as f:
                f.write(os.urandom(MIB))
            sent = self.check_bounded(None, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
                                      "--www", www, http=True)
            self.assertGreater(sent, 0)
        finally:
            shutil.rmtree(www)

    @timeout(30)
    def test_stalled_client_is_closed_1008_and_counted(self):
        with Server("--ping-interval", "1", name="backpressure-stall") as srv:
            sock, _ = ws_connect_raw(srv.port, b"/echo")
            with contextlib.closing(sock):
                small_receive_buffer(sock)
                flood(sock, frame(2, b"x" * 1024), srv.proc.pid)
                wait_for(lambda: stats(srv.port)["closes_by_code"].get("1008", 0) == 1,
                         "the non-reader's close")
                self.assertEqual(stats(srv.port)["slow_consumers_closed"], 1)
            self.assertIn("not reading: output over --max-pending", srv.log_text())

    @timeout(60)
    def test_large_echoes_not_read_are_closed(self):
        """30 clients each send one 16 MiB message to /echo and read nothing:
        each is closed once it stalls, and the memory goes back."""
        with Server("--max-pending", "4M", "--ping-interval", "1", "--max-buffered", "1G",
                    name="backpressure-large") as srv:
            base = rss(srv.proc.pid)
            message = frame(2, os.urandom(16 * MIB))
            socks = []
            for _ in range(30):
                sock, _ = ws_connect_raw(srv.port, b"/echo")
                small_receive_buffer(sock)
                sock.setblocking(False)
                socks.append([sock, message])
            while any(m for _, m in socks):
                for entry in socks:
                    try:
                        entry[1] = entry[1][entry[0].send(entry[1]):]
                    except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                        pass
                select.select([], [s for s, m in socks if m], [], 0.1)
            # Stalled output: 1008. A client whose next piece of input came
            # over a second late (a loaded machine) was pinged first, and it
            # answers no ping: 1001, ping timeout. Either way it is closed.
            def closed():
                codes = stats(srv.port)["closes_by_code"]
                return codes.get("1008", 0) + codes.get("1001", 0) == 30
            wait_for(closed, "all 30 closed", timeout_s=30)
            for sock, _ in socks:
                sock.close()
            wait_for(lambda: stats(srv.port)["queued_bytes"] == 0, "the queues freed")
            if MEASURE_RSS:
                wait_for(lambda: rss(srv.proc.pid) < base + 8 * MIB, "memory back", timeout_s=20)


class SlowConsumerIsToldWhy(unittest.TestCase):
    @timeout(60)
    def test_close_1008_reaches_a_chat_reader_that_stopped(self):
        """A /chat reader stops during a burst; once its queue passes
        --max-pending it gets, after the frames already on their way, a
        Close 1008 naming the reason, then a clean end (issue: it saw 1006)."""
        with Server("--max-pending", "64K", name="slow-consumer") as srv:
            slow, rest = ws_connect_raw(srv.port, b"/chat")   # it reads nothing until the end

            async def burst():
                async with websockets.connect(f"ws://127.0.0.1:{srv.port}/chat",
                                              max_queue=None) as ws:
                    # 12 MB: more than the kernel's buffers between us can hold
                    for i in range(3000):
                        await ws.send(json.dumps({"type": "message", "sender": "b",
                                                  "message": f"{i:04} " + "m" * 4000}))
                    await ws.send(json.dumps({"type": "ping"}))
                    while json.loads(await ws.recv())["type"] != "pong":
                        pass
            asyncio.run(burst())
            wait_for(lambda: stats(srv.port)["slow_consumers_closed"] == 1, "the slow consumer")
            got, close, tail = read_to_close(slow, rest)
            self.assertEqual(close, (1008).to_bytes(2, "big")
                             + b"slow consumer: output queue over limit")
            self.assertEqual(got, list(range(len(got))), "in order, none after a gap")
            self.assertEqual(tail, b"", "FIN after the Close, nothing more")
            slow.close()


def read_to_close(sock, initial):
    """Read server frames up to the Close, then the rest until the end.
    Returns (chat message numbers, the Close payload, bytes after the Close)."""
    buf, pos, got = bytearray(initial), 0, []
    sock.settimeout(30 * TIME_SCALE)

    def need(n):
        while len(buf) - pos < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise EOFError("closed before the Close frame")
            buf.extend(chunk)
    while True:
        need(2)
        op, n, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
        if n == 126:
            need(4)
            n, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
        elif n == 127:
            need(10)
            n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
        need(head + n)
        payload = bytes(buf[pos + head:pos + head + n])
        pos += head + n
        if op == 8:
            break
        msg = json.loads(payload)
        if msg["type"] == "message":
            got.append(int(msg["message"][:4]))
    sock.sendall(frame(8, payload[:2]))
    tail = bytes(buf[pos:])
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            tail += chunk
    return got, payload, tail


class ShutdownDeliversBeforeClose(unittest.TestCase):
    @timeout(90)
    def test_sigterm_delivers_the_queue_then_close(self):
        """500 x 16,000 B chat messages; three readers pause for a second
        while SIGTERM arrives; each then gets all 500, the Close 1001, and no
        frame after it (it got 1,012 data frames after its Close before)."""
        srv = Server("--max-pending", "64M", "--drain-timeout", "60", name="drain-order").start()
        try:
            readers = [ws_connect_raw(srv.port, b"/chat") for _ in range(3)]

            async def burst():
                async with websockets.connect(f"ws://127.0.0.1:{srv.port}/chat",
                                              max_queue=None) as ws:
                    for i in range(500):
                        await ws.send(json.dumps({"type": "message", "sender": "p",
                                                  "message": f"{i:04}" + "d" * 16000}))
                    await ws.send(json.dumps({"type": "ping"}))
                    while json.loads(await ws.recv())["type"] != "pong":
                        pass
            asyncio.run(burst())
            srv.proc.send_signal(15)
            wait_for(lambda: "shutting down" in srv.log_text(), "the drain")
            time.sleep(1)                # the readers' pause, as in the report
            with concurrent.futures.ThreadPoolExecutor(len(readers)) as pool:
                results = list(pool.map(lambda r: read_to_close(*r), readers))
            for got, close, tail in results:
                self.assertEqual(int.from_bytes(close[:2], "big"), 1001)
                self.assertEqual(got, list(range(500)))
                self.assertEqual(tail, b"", "nothing after the Close")
            for sock, _ in readers:
                sock.close()
            self.assertEqual(srv.proc.wait(timeout=20 * TIME_SCALE), 0)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
            srv.stop()


class TlsReadPath(unittest.TestCase):
    @timeout(60)
    def test_large_messages_echo_without_more_input(self):
        """2 MiB + 100 B messages: the end of each one, decrypted inside
        OpenSSL after the reader's round limit, must not wait for the
        client's next bytes."""
        if not os.path.exists(TLS_BINARY):
            raise RuntimeError(f"{TLS_BINARY} is missing (make tls-build)")
        d = tempfile.mkdtemp()
        try:
            cert, key = make_certificate(d)
            ctx = ssl.create_default_context(cafile=cert)
            with Server("--tls-cert", cert, "--tls-key", key, name="tls-large",
                        binary=TLS_BINARY) as srv:
                async def go():
                    async with websockets.connect(f"wss://localhost:{srv.port}/echo", ssl=ctx,
                                                  max_size=None) as ws:
                        for _ in range(20):
                            data = os.urandom(2 * MIB + 100)
                            await ws.send(data)
                            self.assertEqual(await asyncio.wait_for(ws.recv(), 10 * TIME_SCALE),
                                             data)
                asyncio.run(go())
        finally:
            shutil.rmtree(d)

    @timeout(30)
    def test_wss_non_reader_is_bounded(self):
        d = tempfile.mkdtemp()
        try:
            cert, key = make_certificate(d)
            ctx = ssl.create_default_context(cafile=cert)
            with Server("--tls-cert", cert, "--tls-key", key, name="tls-noread",
                        binary=TLS_BINARY) as srv:
                raw = connect(srv.port)
                small_receive_buffer(raw)
                sock = ctx.wrap_socket(raw, server_hostname="localhost")
                with contextlib.closing(sock):
                    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\n"
                                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 b"Sec-WebSocket-Version: 13\r\n\r\n")
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += sock.recv(1)
                    self.assertIn(b" 101 ", head)
                    growth = self.flood_tls(sock, frame(2, b"x" * 1024), srv.proc.pid)
                    self.assertLessEqual(stats(srv.port, "https")["queued_bytes"], QUEUED_BOUND)
                    if MEASURE_RSS:
                        self.assertLess(growth, RSS_BOUND)
        finally:
            shutil.rmtree(d)

    def flood_tls(self, sock, unit, pid, quiet_s=1.0):
        base, peak = rss(pid), 0
        sock.settimeout(quiet_s * TIME_SCALE)
        data = unit * 64
        while True:
            try:
                sock.sendall(data)
            except (socket.timeout, ssl.SSLWantWriteError):
                return max(peak, rss(pid) - base)
            peak = max(peak, rss(pid) - base)


if __name__ == "__main__":
    unittest.main()
