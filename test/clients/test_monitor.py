"""`wspulse monitor` against a real server: a steady stream, an outage (the
server stopped and a new one started on the same port), a server that never
comes, Ctrl+C, and bad options. The outage is inherently timed; the only
timing assertion is the one the monitor exists for: the gap it reports
spans the outage, plus at most 1.5 s of reconnect backoff and tick phase.

The tests pass --gap-ms 400 (not the default 150) so that a loaded test
machine delaying one 100 ms tick by 50 ms is not counted as a gap: the
outage gaps measured here are far longer."""
import os
import re
import signal
import subprocess
import time
import unittest

from wspulse_test import BINARY, OUT, Server, timeout
from terminal import check_stderr_clean, free_port

GAP_MS = "400"


def summary_value(out, name):
    m = re.search(rf"^  {name} +(\d+)", out, re.M)
    if not m:
        raise AssertionError(f"no '{name}' in the summary:\n{out}")
    return int(m.group(1))


class Monitor:
    """A monitor process; its stdout is read at the end, stderr kept in test/out."""

    def __init__(self, name, *args):
        self.err_path = os.path.join(OUT, f"monitor-{name}.err")
        os.makedirs(OUT, exist_ok=True)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([BINARY, "monitor", *args], stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)

    def wait_line(self, pattern):
        """Read stdout up to a line matching pattern; returns what was read."""
        seen = ""
        for line in self.proc.stdout:
            seen += line
            if re.search(pattern, line):
                return seen
        raise AssertionError(f"monitor ended before {pattern!r}:\n{seen}")

    def finish(self, seen="", timeout_s=20):
        """Wait for the end; returns (exit status, everything printed)."""
        out = seen + self.proc.stdout.read()
        rc = self.proc.wait(timeout=timeout_s)
        self.proc.stdout.close()
        self.err.close()
        check_stderr_clean(self.err_path)
        return rc, out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class MonitorTest(unittest.TestCase):
    def start_server(self, name, *args):
        server = Server(*args, name=name).start()
        self.addCleanup(self.stop_server, server)
        return server

    def stop_server(self, server):
        if not server.log.closed:
            self.assertEqual(server.stop(), 0, server.log_text())
        self.assertNotIn("Sanitizer", server.log_text())
        self.assertNotIn("runtime error", server.log_text())

    def monitor(self, name, *args):
        m = Monitor(name, *args)
        self.addCleanup(m.kill)
        return m

    @timeout(40)
    def test_an_outage_is_one_gap_of_its_length_and_one_reconnect(self):
        port = free_port()
        first = self.start_server("monitor-outage-1", "--port", str(port))
        url = first.url("/ws")
        strict = self.monitor("outage-strict", url, "--duration", "6", "--gap-ms", GAP_MS)
        lenient = self.monitor("outage-lenient", url, "--duration", "6", "--gap-ms", GAP_MS,
                               "--max-gaps", "1")
        seen_strict = strict.wait_line(r"connected to ")
        seen_lenient = lenient.wait_line(r"connected to ")
        time.sleep(2)                                # the stream flows for a while
        down = time.monotonic()
        self.stop_server(first)
        # Back after about a second. The monitor's backoff (250 ms doubling,
        # equal jitter, capped at 1 s) retries at most 1 s apart, so the
        # server is found within 1 s of being back.
        time.sleep(max(0.0, down + 1.0 - time.monotonic()))
        spawned = time.monotonic()                   # nothing serves before this
        self.start_server("monitor-outage-2", "--port", str(port))
        up = time.monotonic()                        # the new server listens
        rc, out = strict.finish(seen_strict)
        rc_lenient, out_lenient = lenient.finish(seen_lenient)

        gaps = [float(g) for g in re.findall(r"\] gap (\d+\.\d+) s", out)]
        self.assertEqual(len(gaps), 1, out)
        self.assertGreaterEqual(gaps[0], spawned - down, out)
        self.assertLessEqual(gaps[0], up - down + 1.5, out)
        self.assertRegex(out, r"\] gap \d+\.\d+ s across a reconnect: ~\d+ missed")
        self.assertRegex(out, r"connection lost \(the server closed it: 1001 server shutting down\); "
                              r"reconnecting in \d+\.\d s\.\.\.")
        self.assertRegex(out, r"reconnected to ws://127\.0\.0\.1:\d+/ws \(reconnect 1\)")
        self.assertEqual(summary_value(out, "gaps"), 1)
        self.assertEqual(summary_value(out, "reconnects"), 1)
        self.assertTrue(30 <= summary_value(out, "messages") <= 61, out)
        self.assertRegex(out, rf"longest gap {gaps[0]:.3f} s")
        self.assertRegex(out, r"delivery latency \(clock-based\): p50 \d+ ms, p90 \d+ ms, "
                              r"p99 \d+ ms, max \d+ ms")
        self.assertEqual(rc, 1, out)                 # default --max-gaps 0: no gap allowed
        self.assertRegex(out, r"result +FAIL: 1 gap\(s\), more than --max-gaps 0")
        self.assertEqual(summary_value(out_lenient, "gaps"), 1, out_lenient)
        self.assertEqual(rc_lenient, 0, out_lenient)

    @timeout(30)
    def test_a_steady_stream_has_no_gaps_and_exits_0(self):
        server = self.start_server("monitor-steady")
        m = self.monitor("steady", server.url("/ws"), "--duration", "2", "--gap-ms", GAP_MS)
        rc, out = m.finish()
        self.assertEqual(rc, 0, out)
        self.assertEqual(summary_value(out, "gaps"), 0)
        self.assertEqual(summary_value(out, "reconnects"), 0)
        self.assertTrue(10 <= summary_value(out, "messages") <= 21, out)
        self.assertRegex(out, r"result +OK: 0 gap\(s\)")

    @timeout(30)
    def test_quiet_prints_only_the_summary(self):
        server = self.start_server("monitor-quiet")
        m = self.monitor("quiet", server.url("/ws"), "--duration", "1", "--quiet")
        rc, out = m.finish()
        self.assertTrue(out.startswith("summary of ws://127.0.0.1:"), out)
        self.assertNotIn("connected to", out)
        self.assertIn("  messages ", out)

    @timeout(30)
    def test_ctrl_c_prints_the_summary(self):
        server = self.start_server("monitor-sigint")
        m = self.monitor("sigint", server.url("/ws"), "--gap-ms", GAP_MS)
        seen = m.wait_line(r"connected to ")
        m.proc.send_signal(signal.SIGINT)
        rc, out = m.finish(seen)
        messages = summary_value(out, "messages")
        self.assertEqual(rc, 0 if messages > 0 else 1, out)
        self.assertEqual(summary_value(out, "gaps"), 0, out)

    @timeout(30)
    def test_no_server_retries_with_reasons_and_exits_1(self):
        m = self.monitor("refused", f"ws://127.0.0.1:{free_port()}/ws", "--duration", "1.5")
        rc, out = m.finish()
        self.assertEqual(rc, 1, out)
        self.assertGreaterEqual(len(re.findall(
            r"cannot connect \(Connection refused\); reconnecting in \d+\.\d s\.\.\.", out)), 2,
            out)
        self.assertRegex(out, r"result +FAIL: no timestamp message arrived")

    @timeout(30)
    def test_bad_options_exit_2_with_one_line(self):
        for args, what in ((["--gap-ms", "0"], "--gap-ms"),
                           (["--duration", "soon"], "--duration"),
                           (["--max-gaps"], "--max-gaps"),
                           (["--frobnicate"], "--frobnicate"),
                           (["ftp://example.com/"], "bad URL")):
            with self.subTest(args=args):
                r = subprocess.run([BINARY, "monitor", *args], capture_output=True, text=True,
                                   timeout=10)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(what, r.stderr)
                self.assertEqual(r.stdout, "")
        r = subprocess.run([BINARY, "connect", "--name"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    unittest.main()
