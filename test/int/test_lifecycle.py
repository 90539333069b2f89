"""Start and stop: the command line (--help, --version, bad options, a port
in use) and the drain on SIGTERM and SIGINT (README "Server options" and
"Bad input and faults"): /readyz turns 503, every WebSocket gets Close 1001
"server shutting down", and the process exits 0 within --drain-timeout.
"""
import re
import signal
import socket
import subprocess
import unittest

from wspulse_test import (BINARY, TIME_SCALE, FrameReader, ResponseReader, Reset, Server,
                          connect, frame, timeout, ws_connect_raw)

DRAIN_S = 2
SLACK_S = 3 * TIME_SCALE    # process start-up and exit on a busy machine (or valgrind)
README_OPTIONS = ("--host", "--port", "--tick-ms", "--instance", "--www", "--max-message",
                "--max-conns", "--ping-interval", "--log-level", "--sensor-log",
                "--sensor-hz", "--sensor-decimate")


def wspulse(*args):
    """Run the binary to completion: (exit status, stdout, stderr)."""
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=5)
    return r.returncode, r.stdout, r.stderr


class CommandLineTest(unittest.TestCase):
    @timeout(15)
    def test_help_exits_0_and_lists_every_server_option(self):
        rc, out, _ = wspulse("--help")
        self.assertEqual(rc, 0)
        for option in README_OPTIONS:
            with self.subTest(option=option):
                self.assertRegex(out, rf"(?m)^\s+{re.escape(option)}\b")

    @timeout(15)
    def test_version_prints_the_version(self):
        rc, out, _ = wspulse("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^wspulse \d+\.\d+\.\d+\n$")
        with Server(name="lifecycle-version") as srv:
            self.assertEqual(srv.banner,
                             f"{out.strip()} listening on http://127.0.0.1:{srv.port}/")

    @timeout(15)
    def test_bad_option_exits_2_with_one_line_naming_it(self):
        for args, named in ((["--port", "abc"], "--port"), (["--tick-ms", "0"], "--tick-ms"),
                            (["--nope"], "--nope"), (["--port"], "--port"),
                            (["--max-message", "lots"], "--max-message")):
            with self.subTest(args=args):
                rc, out, err = wspulse("--port", "0", *args)
                self.assertEqual(rc, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(named, err)

    @timeout(15)
    def test_port_in_use_exits_1_with_a_clear_message(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            rc, out, err = wspulse("--port", str(port))
        self.assertEqual(rc, 1)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(str(port), err)
        self.assertIn("in use", err.lower())


class DrainTest(unittest.TestCase):
    def start(self, *args):
        srv = Server("--drain-timeout", str(DRAIN_S), "--tick-ms", "50", *args,
                     name=f"lifecycle-{self._testMethodName.removeprefix('test_')}")
        srv.start()
        self.addCleanup(self.kill_if_running, srv)
        return srv

    def kill_if_running(self, srv):
        """After a failed test: the server must not outlive it."""
        if srv.proc.poll() is None:
            srv.proc.kill()
        srv.stop()

    def wait_exit(self, srv):
        """The exit status, once the server exits by itself."""
        try:
            rc = srv.proc.wait(timeout=DRAIN_S + SLACK_S)
        except subprocess.TimeoutExpired:
            self.fail(f"server still running {DRAIN_S + SLACK_S} s after the signal")
        srv.stop()                               # only tidies up now
        return rc

    def open_clients(self, srv):
        clients = []
        for path in (b"/echo", b"/ws", b"/echo", b"/ticks"):
            s, rest = ws_connect_raw(srv.port, path)
            self.addCleanup(s.close)
            clients.append((s, FrameReader(s, rest)))
        return clients

    def check_every_client_closed_1001(self, sig):
        srv = self.start()
        clients = self.open_clients(srv)
        srv.proc.send_signal(sig)
        for s, reader in clients:
            self.assertEqual(reader.read_close(), (1001, "server shutting down"))
            s.sendall(frame(8, (1001).to_bytes(2, "big")))
            self.assertTrue(reader.at_eof())
        self.assertEqual(self.wait_exit(srv), 0, srv.log_text())

    @timeout(20)
    def test_sigterm_closes_every_client_1001_and_exits_0(self):
        self.check_every_client_closed_1001(signal.SIGTERM)

    @timeout(20)
    def test_sigint_closes_every_client_1001_and_exits_0(self):
        self.check_every_client_closed_1001(signal.SIGINT)

    @timeout(20)
    def test_silent_client_does_not_hold_the_exit_past_the_drain_timeout(self):
        srv = self.start()
        s, rest = ws_connect_raw(srv.port)
        self.addCleanup(s.close)
        srv.proc.send_signal(signal.SIGTERM)
        reader = FrameReader(s, rest)
        self.assertEqual(reader.read_close(), (1001, "server shutting down"))
        self.assertEqual(self.wait_exit(srv), 0, srv.log_text())    # never answered
        self.assertTrue(reader.at_eof())

    @timeout(20)
    def test_readyz_is_503_while_draining(self):
        srv = self.start()
        http = connect(srv.port)
        self.addCleanup(http.close)
        responses = ResponseReader(http)
        http.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(responses.read()[0], 200)      # keep-alive: stays open
        ws, rest = ws_connect_raw(srv.port)              # never answers the Close,
        self.addCleanup(ws.close)                        # so the drain lasts
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(FrameReader(ws, rest).read_close()[0], 1001)   # draining now
        http.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            status, _, body = responses.read()
        except (EOFError, Reset):
            self.fail("the keep-alive connection was closed, not answered, while draining")
        self.assertEqual((status, body.strip()), (503, b"draining"))
        self.assertEqual(self.wait_exit(srv), 0, srv.log_text())


if __name__ == "__main__":
    unittest.main()
