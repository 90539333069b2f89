"""`wspulse bench` against a real server: each mode runs for a second or two
and its --json summary must hold the expected fields with sane values; a
wrong echo, a refused connection and bad options give their exit statuses;
Ctrl+C still prints a summary. Figures are checked for sanity only (more
than zero, nothing lost), never for speed: the test machine may be busy."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from raw_server import read_head, server_frame, switching_protocols
from wspulse_test import BINARY, OUT, TIME_SCALE, Server, timeout


def bench(*args, timeout_s=40):
    """Run `wspulse bench ARGS --json --quiet`; returns (status, summary, stderr)."""
    proc = subprocess.run([BINARY, "bench", *args, "--json", "--quiet"],
                          capture_output=True, text=True, timeout=timeout_s)
    check_clean(proc.stderr)
    summary = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, summary, proc.stderr


def check_clean(stderr):
    """No sanitizer report (make clients SAN=1 runs the ASan/UBSan build)."""
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        if bad in stderr:
            raise AssertionError(f"sanitizer report from bench:\n{stderr}")


def check_server(server):
    """Stop the server: it exits 0, with no sanitizer report in its log
    (make clients SAN=1), as test_monitor.py checks."""
    rc = server.stop()
    log = server.log_text()
    if rc != 0 or "Sanitizer" in log or "runtime error" in log:
        raise AssertionError(f"server {server.name} exited with {rc}; log:\n{log}")


def check_latency(test, summary, key):
    lat = summary[key]
    test.assertEqual(set(lat), {"p50", "p90", "p99", "max"})
    test.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat)


class BenchModes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--log-level", "warn", name="bench-server").start()

    @classmethod
    def tearDownClass(cls):
        check_server(cls.server)

    def url(self, path=""):
        return f"ws://127.0.0.1:{self.server.port}{path}"

    def check_common(self, s, mode):
        self.assertEqual(s["mode"], mode)
        self.assertEqual(s["errors"], 0)
        self.assertEqual(s["dropped"], 0)
        self.assertEqual(s["connect_failures"], 0)
        self.assertFalse(s["interrupted"])
        self.assertGreater(s["seconds"], 0)
        self.assertGreater(s["client_cpu_pct"], 0)      # it did work for s["seconds"]

    @timeout(30)
    def test_echo_text(self):
        rc, s, err = bench("echo", self.url(), "-c", "4", "--in-flight", "8", "-d", "1")
        self.assertEqual(rc, 0, err)
        self.check_common(s, "echo")
        self.assertEqual(s["url"], self.url("/echo"))      # the mode's path
        self.assertEqual((s["connections"], s["opened"], s["in_flight"], s["size"]), (4, 4, 8, 16))
        self.assertFalse(s["binary"])
        self.assertGreater(s["messages"], 0)
        self.assertGreater(s["msg_per_s"], 0)
        check_latency(self, s, "latency_ms")

    @timeout(30)
    def test_echo_binary_64k_two_threads(self):
        rc, s, err = bench("echo", self.url("/echo"), "-c", "4", "-T", "2", "--binary",
                           "--size", "64K", "--in-flight", "2", "-d", "1", "--warmup", "0.2")
        self.assertEqual(rc, 0, err)
        self.check_common(s, "echo")
        self.assertEqual((s["threads"], s["size"]), (2, 65536))
        self.assertTrue(s["binary"])
        self.assertGreater(s["messages"], 0)
        self.assertAlmostEqual(s["mb_per_s"], s["msg_per_s"] * 65536 / 1e6, delta=0.5)

    @timeout(30)
    def test_echo_mismatch_fails_loudly(self):
        # /rpc answers "text - N": every "echo" differs from what was sent.
        rc, s, err = bench("echo", self.url("/rpc"), "-c", "1", "-d", "0.5")
        self.assertEqual(rc, 1)
        self.assertGreater(s["errors"], 0)
        self.assertEqual(s["messages"], 0)
        self.assertIn("MISMATCH", err)

    @timeout(30)
    def test_fanout_loses_nothing(self):
        rc, s, err = bench("fanout", self.url(), "--subscribers", "20", "--rate", "200",
                           "-d", "1", "-T", "2")
        self.assertEqual(rc, 0, err)
        self.check_common(s, "fanout")
        self.assertEqual(s["subscribers"], 20)
        self.assertGreater(s["published"], 0)
        self.assertEqual(s["expected"], s["published"] * 20)
        self.assertEqual(s["received"], s["expected"])
        self.assertEqual(s["lost"], 0)
        self.assertGreater(s["deliveries_per_s"], 0)
        check_latency(self, s, "latency_ms")

    @timeout(30)
    def test_conns_with_pid(self):
        rc, s, err = bench("conns", self.url(), "-c", "200", "--hold", "0.5",
                           "--pid", str(self.server.proc.pid))
        self.assertEqual(rc, 0, err)
        self.check_common(s, "conns")
        self.assertEqual((s["connections"], s["opened"]), (200, 200))
        self.assertGreater(s["handshakes_per_s"], 0)
        self.assertGreater(s["server_rss_before"], 0)
        self.assertGreater(s["server_rss_after"], 0)
        self.assertIn("server_bytes_per_conn", s)
        self.assertIn("server_cpu_pct", s)
        check_latency(self, s, "handshake_ms")

    @timeout(30)
    def test_handshakes(self):
        rc, s, err = bench("handshakes", self.url(), "-c", "4", "-d", "1")
        self.assertEqual(rc, 0, err)
        self.check_common(s, "handshakes")
        self.assertEqual(s["workers"], 4)
        self.assertGreater(s["cycles"], 0)
        self.assertGreater(s["cycles_per_s"], 0)
        check_latency(self, s, "cycle_ms")

    @timeout(30)
    def test_interrupt_still_summarises(self):
        proc = subprocess.Popen([BINARY, "bench", "echo", self.url(), "-c", "2", "-d", "30",
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(proc.kill)
        # The first progress line (once a second, on stderr): messages have
        # been echoed. Then interrupt.
        seen = b""
        while b"run:" not in seen:
            chunk = os.read(proc.stderr.fileno(), 4096)
            self.assertTrue(chunk, f"bench ended before its progress line: {seen!r}")
            seen += chunk
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        out, err = out.decode(), seen.decode() + err.decode()
        check_clean(err)
        s = json.loads(out)
        self.assertTrue(s["interrupted"])
        self.assertGreater(s["messages"], 0)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("run:", err)       # the progress line is on stderr


class BenchTicks(unittest.TestCase):
    @timeout(30)
    def test_ticks_count_and_jitter(self):
        srv = Server("--log-level", "warn", "--tick-ms", "50", name="bench-ticks").start()
        try:
            rc, s, err = bench("ticks", f"ws://127.0.0.1:{srv.port}", "-c", "5",
                               "--tick-ms", "50", "--gap-ms", "1000", "-d", "1.5")
        finally:
            check_server(srv)
        self.assertEqual(rc, 0, err)
        self.assertEqual((s["mode"], s["clients"], s["tick_ms"], s["lost"]), ("ticks", 5, 50, 0))
        expected = 5 * s["seconds"] * 1000 / 50
        self.assertAlmostEqual(s["expected"], expected, delta=1)
        # About 30 ticks per client; a busy machine may shift one or two, a
        # slowed one (WSPULSE_TIME_SCALE) more, but never adds any.
        slack = min(0.3 * TIME_SCALE, 0.9)
        self.assertGreater(s["messages"], expected * (1 - slack))
        self.assertLess(s["messages"], expected * 1.3)
        self.assertEqual(set(s["jitter_ms"]), {"p50", "p90", "p99", "max"})
        self.assertEqual(set(s["late_ms"]), {"p50", "p90", "p99", "max"})

    @timeout(30)
    def test_lateness_is_arrival_minus_the_stamp(self):
        # A server of our own, on raw sockets: ticks every 50 ms whose
        # timestamp_ms is 400 ms in the past. The bench must say so.
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        threading.Thread(target=serve_stale_ticks, args=(listener, 400), daemon=True).start()
        rc, s, err = bench("ticks", f"ws://127.0.0.1:{port}/ws", "-c", "2", "--tick-ms", "50",
                           "--gap-ms", "1000", "-d", "1", "--warmup", "0")
        listener.close()
        self.assertEqual(rc, 0, err)
        self.assertGreater(s["messages"], 10)
        self.assertGreaterEqual(s["late_ms"]["p50"], 399)
        # Above 400 only by the time the frame takes to arrive (loopback).
        self.assertLess(s["late_ms"]["p50"], 400 + 500 * TIME_SCALE)


def serve_stale_ticks(listener, age_ms):
    """Accept WebSocket clients and send each a tick every 50 ms stamped
    age_ms before it is sent (RFC 6455 handshake, unmasked text frames)."""
    def one(sock):
        head = read_head(sock)
        if head is None:         # the client went before its request
            sock.close()
            return
        try:
            sock.sendall(switching_protocols(head))
            for count in range(1, 1000):
                text = json.dumps({"type": "timestamp", "message_count": count,
                                   "timestamp_ms": int(time.time() * 1000) - age_ms},
                                  separators=(",", ":"))
                sock.sendall(server_frame(text))
                time.sleep(0.05)
        except OSError:
            pass                 # the bench went
        sock.close()
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return               # the test closed the listener
        threading.Thread(target=one, args=(sock,), daemon=True).start()


class BenchFailures(unittest.TestCase):
    @timeout(30)
    def test_refused_is_status_1(self):
        rc, s, err = bench("echo", "ws://127.0.0.1:1/echo", "-c", "2", "-d", "1")
        self.assertEqual(rc, 1)
        self.assertEqual(s["connect_failures"], 2)
        self.assertIn("refused", err)

    @timeout(30)
    def test_bad_options_are_status_2(self):
        for args in (["nomode"], [], ["echo", "--size", "1Q"], ["echo", "--text", "--binary"],
                     ["echo", "-c", "0"], ["echo", "--bogus"], ["echo", "wss://x/"],
                     ["conns", "-c", "1000000"], ["echo", "--max-failures", "x"],
                     ["ticks", "--pid", "4000000"]):
            proc = subprocess.run([BINARY, "bench", *args], capture_output=True, text=True,
                                  timeout=10)
            self.assertEqual(proc.returncode, 2, f"{args}: {proc.stderr}")
            self.assertEqual(proc.stdout, "", args)
            self.assertIn("wspulse bench", proc.stderr, args)

    @timeout(10)
    def test_help(self):
        proc = subprocess.run([BINARY, "bench", "--help"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0)
        for word in ("echo", "fanout", "conns", "handshakes", "ticks", "--in-flight",
                     "--source-ips", "--warmup"):
            self.assertIn(word, proc.stdout)


if __name__ == "__main__":
    unittest.main()
