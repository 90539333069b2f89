"""The failover drill in its short form (issue 12 item 7): bench/drill.py
--short --json runs a real cluster -- Redis with its append-only file, three
instances, HAProxy with deploy/haproxy.cfg.in -- with a monitor and four
resuming chat clients through HAProxy while a publisher sends 20 messages a
second, SIGKILLs the monitor's instance, and counts every client's messages
by id against the Redis stream. Asserted here: 0 lost, 0 duplicated, 0 out
of order, exactly one monitor gap (the SIGKILL's, on the killed instance),
and the report's fields.

Also: the same through HAProxy terminating TLS (wss:// chat clients and the
TLS build's monitor with --cacert), and, as root, across network namespaces,
which the drill must remove at its end and when interrupted.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from wspulse_test import BINARY, OUT, ROOT, TIME_SCALE, TLS_BINARY, timeout

DRILL = os.path.join(ROOT, "bench", "drill.py")
# The drill runs in a session of its own with a raised autogroup priority,
# like the benchmarks (bench/isolate.py): it measures failovers with a 120 ms
# gap threshold, which other jobs on a shared 2-core machine would blur. The
# PID stays the drill's (isolate.py execs it).
ISOLATE = [os.path.join(ROOT, "bench", "isolate.py"), "-10"]
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
EVENT_KEYS = {"key", "event", "target", "at", "settled_s", "monitor", "reconnect_ms",
              "clients_per_instance", "chat", "sensor"}


def namespaces(prefix):
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.startswith(prefix)]


def processes_under(path):
    """PIDs whose command line names path (the drill's copies of binaries
    and its run folder)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path + "/" in cmd and "drill.py" not in cmd:
            found.append((int(pid), cmd))
    return found


class DrillCase(unittest.TestCase):
    def run_drill(self, *args, name):
        logs = os.path.join(OUT, f"drill-{name}")
        shutil.rmtree(logs, ignore_errors=True)
        env = dict(os.environ, WSPULSE=BINARY, WSPULSE_TLS=TLS_BINARY)
        r = subprocess.run([PYTHON, *ISOLATE, PYTHON, DRILL, "--short", "--json", "--logs", logs,
                            *args],
                           cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=90 * TIME_SCALE)
        self.assertIn(r.returncode, (0, 1), f"the drill could not run:\n{r.stderr}")
        report = json.loads(r.stdout)
        self.assertEqual(r.returncode, 0 if report["ok"] else 1)
        self.assertEqual(processes_under(logs), [], "the drill left processes behind")
        return report, logs

    def check_report(self, report, variant, tls):
        d = report["drill"]
        self.assertEqual((d["variant"], d["tls"], d["short"]), (variant, tls, True))
        for key in ("command", "date", "machine", "clients", "rate", "load_balancer", "redis",
                    "monitor"):
            self.assertIn(key, d)
        self.assertIn("deploy/haproxy.cfg.in", d["load_balancer"])
        self.assertIn("appendonly yes", d["redis"])
        self.assertEqual(report["problems"], [])
        self.assertTrue(report["ok"])

        # Ground truth: the stream, and the publisher's acks agree with it.
        g = report["ground_truth"]
        self.assertIn("XRANGE", g["source"])
        self.assertGreater(g["accepted"], 10)
        p = g["publisher"]
        self.assertEqual(p["acked_not_in_stream"], 0)
        self.assertEqual(p["unanswered_on_a_live_connection"], 0)
        self.assertEqual(g["source_duplicates"], 0)
        self.assertLessEqual(g["accepted"], p["sent"])

        # Every client (and the publisher) has every accepted message once.
        clients = report["clients"]
        self.assertEqual(len(clients), d["clients"] + 1)
        for c in clients:
            self.assertEqual((c["lost"], c["duplicated"], c["out_of_order"], c["unknown_ids"],
                              c["text_mismatch"]), (0, 0, 0, 0, 0), c)
            self.assertEqual(c["distinct"], g["accepted"] + 1, c)     # + the start marker
        t = report["totals"]
        self.assertEqual((t["lost"], t["duplicated"], t["out_of_order"]), (0, 0, 0))

        # One event: the SIGKILL of the monitor's instance, and its one gap.
        self.assertEqual(len(report["events"]), 1)
        ev = report["events"][0]
        self.assertTrue(EVENT_KEYS <= set(ev), set(ev))
        self.assertEqual(ev["key"], "a")
        self.assertRegex(ev["event"], r"^SIGKILL ws\d$")
        m = ev["monitor"]
        self.assertEqual(m["served_by_before"], ev["target"])
        self.assertNotEqual(m["served_by_after"], ev["target"])
        self.assertEqual(m["gaps"], 1)
        self.assertGreater(m["gap_ms"][0], 120)
        self.assertLess(m["gap_ms"][0], 5000)
        self.assertGreater(m["missed_ticks"], 0)
        self.assertEqual((t["monitor_gaps"], t["unexplained_gaps"]), (1, 0))
        gaps = report["monitor"]["gaps"]
        self.assertEqual(len(gaps), 1)
        self.assertTrue(gaps[0]["explained"])
        self.assertEqual(report["monitor"]["summary"]["gaps"], 1)
        self.assertEqual(report["monitor"]["summary"]["reconnects"], 1)

        # The killed instance's clients came back elsewhere and resumed.
        rc = ev["reconnect_ms"]
        before = ev["clients_per_instance"]["before"]
        after = ev["clients_per_instance"]["after"]
        self.assertNotIn(ev["target"], after)
        self.assertEqual(sum(before.values()), sum(after.values()))
        self.assertGreaterEqual(rc["clients"], 0)
        if rc["clients"]:
            self.assertLessEqual(rc["p50"], rc["p99"])
            self.assertLessEqual(rc["p99"], rc["max"])
            self.assertLess(rc["max"], 10000)
        self.assertEqual(ev["chat"]["lost"], 0)
        self.assertEqual(ev["chat"]["duplicated"], 0)
        self.assertIn("witness", ev["sensor"])
        self.assertIsNotNone(ev["sensor"]["hole_ms"])
        # Exactly the connections the killed instance served came back: its
        # chat clients (each resumed once), maybe the publisher, the monitor.
        members = [c for c in clients if c["name"] != "drill-publisher"]
        publisher = next(c for c in clients if c["name"] == "drill-publisher")
        moved = [c for c in members if c["connections"] == 2]
        self.assertEqual(len(moved) + len([c for c in members if c["connections"] == 1]),
                         len(members))
        self.assertEqual(rc["clients"], len(moved))
        self.assertEqual(len(moved) + (publisher["connections"] - 1) + 1, before[ev["target"]])


class Drill(DrillCase):
    @timeout(60)
    def test_short_drill_through_haproxy(self):
        report, _ = self.run_drill(name="loopback")
        self.check_report(report, "loopback", False)

    @timeout(60)
    def test_short_drill_through_haproxy_terminating_tls(self):
        """wss:// chat clients and the TLS build's monitor, --cacert."""
        if not os.path.exists(TLS_BINARY):
            raise AssertionError(f"{TLS_BINARY} is missing (make tls-build)")
        report, logs = self.run_drill("--tls", name="tls")
        self.check_report(report, "loopback", True)
        self.assertTrue(report["drill"]["monitor"].startswith("wspulse monitor wss://localhost:"))
        with open(os.path.join(logs, "haproxy.cfg")) as f:
            self.assertRegex(f.read(), r"\n\s*bind 127\.0\.0\.1:\d+ ssl crt \S+combined\.pem\n")


@unittest.skipUnless(os.geteuid() == 0, "network namespaces need root")
class DrillNetns(DrillCase):
    @timeout(60)
    def test_short_drill_across_namespaces_and_teardown(self):
        report, logs = self.run_drill("--netns", name="netns")
        self.check_report(report, "netns", False)
        self.assertTrue(report["drill"]["monitor"].startswith("wspulse monitor ws://10.77.0."))
        self.assertEqual(namespaces("wsd"), [])

    @timeout(60)
    def test_interrupted_drill_removes_its_namespaces_and_processes(self):
        logs = os.path.join(OUT, "drill-netns-interrupted")
        shutil.rmtree(logs, ignore_errors=True)
        env = dict(os.environ, WSPULSE=BINARY)
        proc = subprocess.Popen([PYTHON, *ISOLATE, PYTHON, DRILL, "--netns", "--clients", "4",
                                 "--logs", logs],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        prefix = f"wsd{proc.pid}-"
        deadline = time.monotonic() + 30 * TIME_SCALE
        # Interrupt once the cluster runs: the namespaces exist and the
        # monitor has a line (the clients are connected by then).
        monitor_out = os.path.join(logs, "monitor.out")
        while not (namespaces(prefix) and os.path.exists(monitor_out)
                   and os.path.getsize(monitor_out) > 0):
            self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
            self.assertLess(time.monotonic(), deadline, "the drill did not get going")
            time.sleep(0.05)
        self.assertGreater(len(processes_under(logs)), 4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30 * TIME_SCALE)
        self.assertEqual(proc.returncode, 2, err)
        self.assertIn("interrupted", err)
        self.assertEqual(namespaces(prefix), [])
        self.assertEqual(processes_under(logs), [])


if __name__ == "__main__":
    unittest.main()
