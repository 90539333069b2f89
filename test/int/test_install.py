"""make install: PREFIX and DESTDIR honoured, the man page renders cleanly,
the systemd unit points at the installed binary and passes systemd-analyze."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from wspulse_test import ROOT, timeout


def read(path):
    with open(path) as f:
        return f.read()


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp()
        r = subprocess.run(["make", "-s", "install", f"DESTDIR={cls.dest}", "PREFIX=/opt/wsp"],
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"make install failed: {r.stderr}")
        cls.root = os.path.join(cls.dest, "opt/wsp")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest)

    @timeout(20)
    def test_binary_is_installed_and_runs(self):
        binary = os.path.join(self.root, "bin/wspulse")
        self.assertTrue(os.access(binary, os.X_OK))
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        self.assertRegex(out, r"^wspulse \d+\.\d+\.\d+")

    @timeout(20)
    def test_man_page_renders_without_warnings(self):
        page = os.path.join(self.root, "share/man/man1/wspulse.1")
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", page],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr, "")
        text = re.sub(r".\x08", "", r.stdout)
        for option in ("--max-message", "--ping-interval", "--token", "--tls-cert",
                       "--sensor-log", "SIGHUP", "monitor", "bench"):
            self.assertIn(option, text)

    @timeout(20)
    def test_systemd_unit_runs_the_installed_binary_sandboxed(self):
        unit = os.path.join(self.root, "lib/systemd/system/wspulse.service")
        text = read(unit)
        self.assertNotIn("@BINDIR@", text)
        self.assertRegex(text, r"(?m)^ExecStart=/opt/wsp/bin/wspulse ")
        for key in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "CapabilityBoundingSet=", "SystemCallFilter=@system-service",
                    "ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE="):
            self.assertIn(key, text)

    @timeout(60)
    def test_systemd_analyze_accepts_the_unit(self):
        analyze = shutil.which("systemd-analyze")
        self.assertIsNotNone(analyze, "systemd-analyze is missing (package systemd)")
        unit = read(os.path.join(self.root, "lib/systemd/system/wspulse.service"))
        # Point it at the binary where DESTDIR put it, so the check can see it.
        unit = unit.replace("/opt/wsp/bin/wspulse", os.path.join(self.root, "bin/wspulse"))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "wspulse.service")
            with open(path, "w") as f:
                f.write(unit)
            r = subprocess.run([analyze, "verify", "--man=no", path],
                               capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
