"""Server-wide limits that no single client reaches alone.

--max-buffered: clients that each begin a large message and never finish it
are bounded together (each alone is within --max-message); the client whose
bytes would pass the budget is closed with 1013, counted, and the account
goes down as messages are delivered and connections end.

Out of file descriptors: at the open-file limit the server answers waiting
clients 503 with its spare descriptor (a few at a time), stops accepting
until its next sweep, and keeps serving what it has: no spinning, a bounded
log, /healthz and echoes working, SIGTERM obeyed.
"""
import contextlib
import json
import os
import resource
import signal
import subprocess
import time
import unittest
from unittest import mock

from wspulse_test import (BINARY, TIME_SCALE, WRAPPER, FrameReader, Server, connect, frame,
                          http_request, parse_response, timeout, ws_connect_raw)

KIB = 1 << 10
MIB = 1 << 20
BUDGET = 1 * MIB                 # --max-buffered in the budget tests
BUSY = "server busy: partial messages over --max-buffered"


def get(port, path):
    raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    return parse_response(http_request(port, raw))


def stats(port):
    status, _, body = get(port, "/stats")
    assert status == 200, (status, body)
    return json.loads(body)


def wait_for(what, predicate, timeout_s=10):
    """Poll predicate() (the server's state, reached asynchronously) until it
    returns a true value; fail naming what did not happen."""
    deadline = time.monotonic() + timeout_s * TIME_SCALE
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.02)


def buffered_is(port, n):
    """Wait until the server holds n bytes of unfinished messages; returns
    /stats then."""
    def check():
        s = stats(port)
        return s if s["buffered_bytes"] == n else None
    return wait_for(f"buffered_bytes == {n}", check)


class PartialMessage:
    """A raw /echo client that sends a message in pieces: frames of a binary
    message, the last one possibly cut short."""

    def __init__(self, port):
        self.sock, rest = ws_connect_raw(port)
        self.reader = FrameReader(self.sock, rest)

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


class TestBufferedBudget(unittest.TestCase):

    def setUp(self):
        self.server = Server("--max-buffered", str(BUDGET), name="limits_budget").start()
        self.port = self.server.port
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        rc = self.server.stop()
        self.assertEqual(rc, 0, self.server.log_text())

    def client(self):
        c = PartialMessage(self.port)
        self.clients.append(c)
        return c

    @timeout(30)
    def test_unfinished_messages_share_one_budget(self):
        a_payload = os.urandom(600 * KIB)
        a_frame = frame(2, a_payload)                    # one frame, cut short
        a = self.client()
        a.send(a_frame[:len(a_frame) - 200 * KIB])
        b = self.client()                                # fragments: the first one whole
        b_payload = os.urandom(400 * KIB)
        b.send(frame(2, b_payload, fin=False))
        held = 400 * KIB + 400 * KIB
        buffered_is(self.port, held)

        c = self.client()                                # would pass the budget: 1013
        c.send(frame(2, os.urandom(400 * KIB), fin=False))
        code, reason = c.reader.read_close()
        self.assertEqual((code, reason), (1013, BUSY))
        self.assertTrue(c.reader.at_eof())
        c.close()
        s = buffered_is(self.port, held)                 # what c held is freed
        self.assertEqual(s["over_buffered"], 1)
        wait_for("1013 counted", lambda: stats(self.port)["closes_by_code"].get("1013") == 1)
        self.assertIn(f'code=1013 reason="{BUSY}"', self.server.log_text())

        a.send(a_frame[len(a_frame) - 200 * KIB:])       # a finishes: echoed, uncounted
        _, op, payload, _, _ = a.reader.read()
        self.assertEqual((op, payload), (2, a_payload))
        buffered_is(self.port, 400 * KIB)
        b.close()                                        # b leaves: uncounted
        buffered_is(self.port, 0)

        d = self.client()                                # the room is there again
        d_payload = os.urandom(900 * KIB)
        d_frame = frame(2, d_payload)
        d.send(d_frame[:300 * KIB])
        d.send(d_frame[300 * KIB:])
        _, op, payload, _, _ = d.reader.read()
        self.assertEqual((op, payload), (2, d_payload))
        buffered_is(self.port, 0)

        _, _, metrics = get(self.port, "/metrics")
        self.assertIn(b"\nwspulse_over_buffered_total 1\n", metrics)
        self.assertIn(b"\nwspulse_buffered_bytes 0\n", metrics)

    @timeout(20)
    def test_control_frames_between_fragments_are_uncounted_after(self):
        """A ping collected behind a message in pieces leaves the account
        when it is answered; the message's bytes when it is delivered."""
        a = self.client()
        a.send(frame(2, b"x" * 1000, fin=False))
        ping = frame(9, b"p" * 100)
        a.send(ping[:50])                                # the ping arrives in two pieces
        buffered_is(self.port, 1000 + 50 - 6)            # header 2 + mask 4 bytes
        a.send(ping[50:])
        _, op, payload, _, _ = a.reader.read()
        self.assertEqual((op, payload), (10, b"p" * 100))
        buffered_is(self.port, 1000)
        a.send(frame(0, b"y" * 24))
        _, op, payload, _, _ = a.reader.read()
        self.assertEqual((op, payload), (2, b"x" * 1000 + b"y" * 24))
        buffered_is(self.port, 0)


class TestBufferedDefault(unittest.TestCase):

    @timeout(10)
    def test_default_is_256_mib_or_a_quarter_of_memory(self):
        out = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                             timeout=10).stdout
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE")
        default = min(256 * MIB, phys // 4)
        self.assertRegex(out, r"--max-buffered BYTES .*\(default %d\)" % default)


# --- out of file descriptors ------------------------------------------------

NOFILE = 300                     # the server's open-file limit (soft and hard)
IDLE = 320                       # idle TCP connections: more than it can hold


class LimitedServer(Server):
    """A server started with RLIMIT_NOFILE lowered to nofile (soft and hard,
    so that it cannot raise it again)."""

    def __init__(self, *args, nofile, **kwargs):
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def start(self):
        real_popen = subprocess.Popen

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

        def popen(*args, **kwargs):
            return real_popen(*args, preexec_fn=limit, **kwargs)
        with mock.patch("subprocess.Popen", popen):
            return super().start()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])     # utime + stime


def echo(sock, reader, text):
    sock.sendall(frame(1, text))
    _, op, payload, _, _ = reader.read()
    return op, payload


@unittest.skipIf(WRAPPER, "valgrind keeps descriptors of its own under the limit")
class TestOutOfDescriptors(unittest.TestCase):

    @timeout(60)
    def test_at_the_open_file_limit_the_server_keeps_serving(self):
        server = LimitedServer("--header-timeout", "60", nofile=NOFILE, name="limits_fds")
        server.start()
        idle = []
        try:
            ws, rest = ws_connect_raw(server.port)
            reader = FrameReader(ws, rest)
            self.assertEqual(echo(ws, reader, b"before"), (1, b"before"))
            started = time.monotonic()
            for _ in range(IDLE):                       # the kernel completes them all
                idle.append(connect(server.port))
            wait_for("the server ran out of descriptors",
                     lambda: "out of file descriptors" in server.log_text())

            # Not spinning: a bound on CPU, not a measure of speed.
            hz = os.sysconf("SC_CLK_TCK")
            before = cpu_ticks(server.proc.pid)
            time.sleep(2)
            used = cpu_ticks(server.proc.pid) - before
            self.assertLess(used, hz, f"server used {used / hz / 2:.0%} of a core")

            self.assertEqual(echo(ws, reader, b"meanwhile"), (1, b"meanwhile"))

            for s in idle[:60]:                         # descriptors free up
                s.close()
            del idle[:60]
            wait_for("/healthz 200", lambda: get(server.port, "/healthz")[0] == 200)
            self.assertEqual(echo(ws, reader, b"after"), (1, b"after"))

            lines = server.log_text().count("out of file descriptors")
            elapsed = time.monotonic() - started
            self.assertLessEqual(lines, elapsed + 2, server.log_text()[-2000:])
            self.assertRegex(server.log_text(),
                             r"out of file descriptors: \d+ connection\(s\) refused with 503")
            self.assertGreater(stats(server.port)["refused_no_fds"], 0)

            term = time.monotonic()
            rc = server.stop(signal.SIGTERM, timeout_s=10)
            self.assertEqual(rc, 0, server.log_text()[-2000:])
            self.assertLess(time.monotonic() - term, 10 * TIME_SCALE)
        finally:
            for s in idle:
                s.close()
            with contextlib.suppress(NameError):
                ws.close()
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
                server.proc.stdout.close()
                server.log.close()


if __name__ == "__main__":
    unittest.main()
