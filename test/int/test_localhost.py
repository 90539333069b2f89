"""localhost where it resolves to ::1 first, as Debian's stock /etc/hosts makes it.

Each test runs the program under test in a private mount namespace whose
/etc/hosts says "::1 localhost" before "127.0.0.1 localhost" (unshare -m and
a bind mount: root only, which the tests and CI are). Nothing else on the
machine sees that file.

Client side: against a server listening on 127.0.0.1 only, the connect to
::1 is refused (after the non-blocking connect() said EINPROGRESS), and
connect, monitor and bench must go on to 127.0.0.1 instead of retrying ::1
forever. Server side: `--host localhost` listens on both addresses."""
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import websockets

from wspulse_test import BINARY, OUT, Server, run_chat_client, timeout

HOSTS = "::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 localhost\n"


def in_namespace(hosts_path, *cmd):
    """cmd with /etc/hosts replaced by hosts_path, for it alone."""
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, hosts_path, *cmd]


def sanitizer_free(text):
    return "Sanitizer" not in text and "runtime error" not in text


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                     "needs root and unshare for a private /etc/hosts")
class LocalhostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.hosts = os.path.join(cls.tmp.name, "hosts")
        with open(cls.hosts, "w") as f:
            f.write(HOSTS)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_client(self, *args, stdin_text=None, timeout_s=20):
        """`wspulse ARGS` in the namespace; returns (status, stdout, stderr)."""
        try:
            if args[0] == "connect" and stdin_text == "/quit\n":
                r = run_chat_client(in_namespace(self.hosts, BINARY, *args), timeout_s)
            else:
                r = subprocess.run(in_namespace(self.hosts, BINARY, *args), input=stdin_text,
                                   capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            self.fail(f"wspulse {' '.join(args)} did not finish in {timeout_s} s "
                      f"(stuck on ::1?):\n{e.stdout}")
        self.assertTrue(sanitizer_free(r.stderr), r.stderr)
        return r.returncode, r.stdout, r.stderr

    def test_the_namespace_puts_ipv6_first(self):
        r = subprocess.run(in_namespace(self.hosts, "getent", "ahosts", "localhost"),
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("::1"), r.stdout)

    @timeout(30)
    def test_monitor_goes_on_to_127_0_0_1(self):
        with Server(name="localhost-monitor") as srv:
            rc, out, err = self.run_client("monitor", f"ws://localhost:{srv.port}/ws",
                                           "--duration", "1.5", "--gap-ms", "1000")
        self.assertEqual(rc, 0, out + err)
        self.assertIn(f"connected to ws://localhost:{srv.port}/ws", out)
        self.assertNotIn("Connection refused", out)

    @timeout(30)
    def test_connect_goes_on_to_127_0_0_1(self):
        with Server(name="localhost-connect") as srv:
            rc, out, err = self.run_client("connect", f"ws://localhost:{srv.port}/chat",
                                           "--name", "ann", stdin_text="/quit\n")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("connected.", out)
        self.assertIn("SYSTEM: Welcome!", out)

    @timeout(40)
    def test_bench_goes_on_to_127_0_0_1(self):
        with Server("--log-level", "warn", name="localhost-bench") as srv:
            rc, out, err = self.run_client("bench", "echo", f"ws://localhost:{srv.port}",
                                           "-c", "4", "-d", "0.5", "--quiet",
                                           "--max-failures", "0")
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("Connection refused", err)

    @timeout(30)
    def test_a_name_that_nobody_serves_still_fails(self):
        port = _free_port()
        rc, out, err = self.run_client("monitor", f"ws://localhost:{port}/ws",
                                       "--duration", "1")
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot connect (Connection refused)", out)

    @timeout(30)
    def test_server_listens_on_every_address_of_localhost(self):
        log_path = os.path.join(OUT, "localhost-listen.log")
        os.makedirs(OUT, exist_ok=True)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(in_namespace(self.hosts, BINARY, "--host", "localhost",
                                                 "--port", "0"),
                                    stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            banner = proc.stdout.readline()
            m = re.search(r"listening on http://localhost:(\d+)/", banner)
            self.assertTrue(m, banner)
            port = int(m.group(1))
            for host in ("127.0.0.1", "[::1]"):
                with self.subTest(host=host):
                    self.assertEqual(asyncio.run(echo(f"ws://{host}:{port}/echo")), "hi")
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=10), 0)
            proc.stdout.close()
        with open(log_path) as f:
            log_text = f.read()
        self.assertTrue(sanitizer_free(log_text), log_text)
        self.assertRegex(log_text, rf"listening on localhost \(\[::1\]:{port} "
                                   rf"127\.0\.0\.1:{port}\)")


async def echo(url):
    async with websockets.connect(url, open_timeout=5) as ws:
        await ws.send("hi")
        return await asyncio.wait_for(ws.recv(), 5)


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    unittest.main()
