"""Server-wide limits that no single client reaches alone.

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

from wspulse_test import (TIME_SCALE, WRAPPER, FrameReader, Server, connect, frame,
                          http_request, parse_response, timeout, ws_connect_raw)


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
