"""wss:// from wspulse's own clients (issue 12 item 6): connect, monitor and
bench of the TLS build (make TLS=1) against the TLS server and against
HAProxy terminating TLS in front of the plain server, with a throwaway CA
made here by the openssl CLI.

What is checked: the certificate is verified against --cacert (the system's
store without it, which does not know our CA), the name in it against the
URL's host (DNS name, or IP address for an IP literal); an untrusted
certificate ends connect and monitor at once with exit 1 and a line naming
the reason and the host (no retry loop); --insecure works and warns once;
the plain build refuses wss:// with exit 2 and one line.

The clients run with pipes; their stderr is checked for sanitizer reports
(a SAN=1 build)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from wspulse_test import BINARY, OUT, TIME_SCALE, TLS_BINARY, Server, timeout

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
UNTRUSTED = "certificate verify failed: unable to get local issuer certificate for localhost"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory):
    """ca.pem and ca.key: a self-signed CA for one day."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=wspulse test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
    return os.path.join(directory, "ca.pem")


def make_server_certificate(directory, name, cn, alt_names):
    """NAME.pem, NAME.key signed by the CA, and NAME-combined.pem (both, for
    HAProxy's crt)."""
    with open(os.path.join(directory, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={alt_names}\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(int(time.time() * 1000)), "-days", "1",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory)
    paths = [os.path.join(directory, f"{name}.{ext}") for ext in ("pem", "key")]
    combined = os.path.join(directory, f"{name}-combined.pem")
    with open(combined, "w") as out:
        for p in paths:
            with open(p) as f:
                out.write(f.read())
    return paths[0], paths[1], combined


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_clean(stderr):
    for mark in SANITIZER_MARKS:
        if mark in stderr:
            raise AssertionError(f"client stderr has a sanitizer report:\n{stderr}")


def monitor_seconds(n):
    """A --duration of n seconds, stretched for a slow server (valgrind):
    there a TLS handshake alone can take longer than a second, so a slow run
    gives the monitor up to 4 s more."""
    return str(round(min(n * TIME_SCALE, n + 4)))


def client(*args, binary=None, timeout_s=20, stdin=None):
    """Run a client to its end; returns (status, stdout, stderr)."""
    r = subprocess.run([binary or TLS_BINARY, *args], capture_output=True, text=True,
                       input=stdin, timeout=timeout_s * TIME_SCALE)
    check_clean(r.stderr)
    return r.returncode, r.stdout, r.stderr


class Chatter:
    """`wspulse connect URL --name NAME` with pipes: lines written to its
    stdin, its screen read line by line (it flushes each)."""

    def __init__(self, name, *args):
        os.makedirs(OUT, exist_ok=True)
        self.err_path = os.path.join(OUT, f"client-tls-{name}.err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([TLS_BINARY, "connect", *args, "--name", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)

    def read_until(self, pattern):
        seen = []
        for line in self.proc.stdout:
            seen.append(line)
            if re.search(pattern, line):
                return "".join(seen)
        self.proc.wait(10)
        with open(self.err_path) as f:
            raise AssertionError(f"exit {self.proc.returncode} before {pattern!r}:\n"
                                 + "".join(seen) + f.read())

    def say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self):
        """End of input: connect leaves; returns its exit status."""
        self.proc.stdin.close()
        self.proc.stdout.read()
        rc = self.proc.wait(15 * TIME_SCALE)
        self.proc.stdout.close()
        self.err.close()
        with open(self.err_path) as f:
            check_clean(f.read())
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.err):
            if not f.closed:
                f.close()


class ClientTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TLS_BINARY):
            raise RuntimeError(f"{TLS_BINARY} is missing: the TLS build must exist "
                               "(make tls-build)")
        cls.dir = tempfile.mkdtemp()
        cls.ca = make_ca(cls.dir)
        cls.cert, cls.key, cls.combined = make_server_certificate(
            cls.dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
        cls.other_cert, cls.other_key, _ = make_server_certificate(
            cls.dir, "other", "other.example", "DNS:other.example")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def server(self, name, cert=None, key=None):
        srv = Server("--tls-cert", cert or self.cert, "--tls-key", key or self.key,
                     name=f"client-tls-{name}", binary=TLS_BINARY)
        srv.start()
        self.addCleanup(srv.__exit__, None, None, None)
        return srv

    def assert_monitor_ok(self, rc, out, err):
        self.assertEqual(rc, 0, out + err)
        m = re.search(r"(?m)^  messages +(\d+)$", out)
        self.assertTrue(m and int(m.group(1)) > 0, out)
        self.assertIn("result      OK", out)

    @timeout(30)
    def test_monitor_gets_ticks_with_cacert(self):
        srv = self.server("monitor")
        rc, out, err = client("monitor", f"wss://localhost:{srv.port}/ws", "--cacert", self.ca,
                              "--duration", monitor_seconds(2))
        self.assert_monitor_ok(rc, out, err)
        self.assertIn(f"connected to wss://localhost:{srv.port}/ws", out)
        self.assertNotIn("warning", err)

    @timeout(30)
    def test_monitor_to_an_ip_literal_checks_the_ip_address(self):
        srv = self.server("monitor-ip")
        rc, out, err = client("monitor", f"wss://127.0.0.1:{srv.port}/ws", "--cacert", self.ca,
                              "--duration", monitor_seconds(1), "--quiet")
        self.assert_monitor_ok(rc, out, err)

    @timeout(40)
    def test_bench_echo_over_several_connections_and_threads(self):
        srv = self.server("bench")
        rc, out, err = client("bench", "echo", f"wss://localhost:{srv.port}", "--cacert", self.ca,
                              "-d", "1", "-c", "8", "-T", "2", "--in-flight", "4",
                              "--size", "20000", "--quiet", "--json")
        self.assertEqual(rc, 0, out + err)
        r = json.loads(out)
        self.assertEqual(r["url"], f"wss://localhost:{srv.port}/echo")
        self.assertEqual(r["opened"], 8)
        self.assertGreater(r["messages"], 0)
        self.assertEqual((r["errors"], r["connect_failures"], r["dropped"]), (0, 0, 0))

    @timeout(40)
    def test_connect_exchanges_chat_messages(self):
        srv = self.server("connect")
        url = f"wss://localhost:{srv.port}/chat"
        alice = Chatter("alice", url, "--cacert", self.ca)
        self.addCleanup(alice.kill)
        alice.read_until(r"\*\*\* .* connected\.")
        bob = Chatter("bob", url, "--cacert", self.ca)
        self.addCleanup(bob.kill)
        bob.read_until(r"\*\*\* .* connected\.")
        bob.say("hello over TLS")
        alice.read_until(r"^\[\d\d:\d\d:\d\d\] bob: hello over TLS$")
        alice.say("héllo back")
        bob.read_until(r"^\[\d\d:\d\d:\d\d\] alice: héllo back$")
        self.assertEqual(alice.finish(), 0)
        self.assertEqual(bob.finish(), 0)

    @timeout(30)
    def test_untrusted_certificate_fails_at_once_without_retrying(self):
        srv = self.server("untrusted")
        url = f"wss://localhost:{srv.port}/ws"
        # --duration 60 and a 20 s limit: only a client that gives up at once passes.
        rc, out, err = client("monitor", url, "--duration", "60")
        self.assertEqual(rc, 1, out + err)
        self.assertIn(f"wspulse monitor: {url}: {UNTRUSTED}", err)
        self.assertIn("--cacert", err)
        self.assertIn(f"result      FAIL: {UNTRUSTED}", out)
        self.assertRegex(out, r"\(1 failed attempt\(s\)\)")
        self.assertNotIn("reconnecting", out)

        rc, out, err = client("connect", f"wss://localhost:{srv.port}/chat", "--name", "carol",
                              stdin="")
        self.assertEqual(rc, 1, out + err)
        self.assertIn(f"cannot connect ({UNTRUSTED}); not retrying", out)
        self.assertNotIn("reconnecting", out)

    @timeout(30)
    def test_bench_counts_untrusted_connections_as_failures(self):
        srv = self.server("bench-untrusted")
        rc, out, err = client("bench", "echo", f"wss://localhost:{srv.port}", "-c", "3",
                              "-d", "1", "--quiet")
        self.assertEqual(rc, 1, out + err)
        self.assertIn(UNTRUSTED, err)
        self.assertIn("3 connect failures", out)

    @timeout(30)
    def test_insecure_works_and_warns_once(self):
        srv = self.server("insecure")
        rc, out, err = client("monitor", f"wss://localhost:{srv.port}/ws", "--insecure",
                              "--duration", monitor_seconds(1))
        self.assert_monitor_ok(rc, out, err)
        self.assertEqual(err.count("warning: --insecure"), 1, err)
        rc, out, err = client("bench", "echo", f"wss://localhost:{srv.port}", "--insecure",
                              "-c", "4", "-T", "2", "-d", "1", "--quiet")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(err.count("warning: --insecure"), 1, err)

    @timeout(30)
    def test_certificate_for_another_name_fails(self):
        srv = self.server("wrong-name", self.other_cert, self.other_key)
        rc, out, err = client("monitor", f"wss://localhost:{srv.port}/ws", "--cacert", self.ca,
                              "--duration", "60")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("certificate verify failed: hostname mismatch for localhost", err)
        rc, out, err = client("monitor", f"wss://127.0.0.1:{srv.port}/ws", "--cacert", self.ca,
                              "--duration", "60")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("certificate verify failed: IP address mismatch for 127.0.0.1", err)

    @timeout(20)
    def test_plain_build_rejects_wss_in_one_line(self):
        for args in (["monitor", "wss://localhost:1/ws"],
                     ["connect", "wss://localhost:1/chat", "--name", "x"],
                     ["bench", "echo", "wss://localhost:1", "-d", "1"]):
            rc, out, err = client(*args, binary=BINARY, stdin="")
            self.assertEqual(rc, 2, args)
            self.assertEqual(out, "", args)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn("built without", err)
            self.assertIn("make TLS=1", err)

    @timeout(20)
    def test_bad_tls_options_are_usage_errors(self):
        cases = [
            (["monitor", "ws://localhost:1/ws", "--insecure"], "are for wss://"),
            (["monitor", "wss://localhost:1/ws", "--cacert", self.ca, "--insecure"],
             "contradict"),
            (["monitor", "wss://localhost:1/ws", "--cacert", "/nonexistent.pem"], "--cacert"),
            (["bench", "echo", "wss://localhost:1", "--cacert", "/nonexistent.pem"], "--cacert"),
        ]
        for args, text in cases:
            rc, out, err = client(*args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(text, err)

    @timeout(60)
    def test_monitor_through_haproxy_terminating_tls(self):
        """HAProxy answers 421 to a client that sent no SNI: the monitor's does."""
        haproxy = shutil.which("haproxy")
        if not haproxy:
            self.skipTest("haproxy is not installed "
                          "(apt-get install -y --no-install-recommends haproxy)")
        backend = Server(name="client-tls-haproxy-backend")
        backend.start()
        self.addCleanup(backend.__exit__, None, None, None)
        port = free_port()
        config = os.path.join(self.dir, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(f"""global
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend wss
    bind 127.0.0.1:{port} ssl crt {self.combined}
    http-request deny deny_status 421 if !{{ ssl_fc_sni -m str localhost }}
    default_backend wspulse
backend wspulse
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    server s1 127.0.0.1:{backend.port} check inter 500ms
""")
        log = open(os.path.join(OUT, "client-tls-haproxy.log"), "w")
        self.addCleanup(log.close)
        proxy = subprocess.Popen([haproxy, "-f", config, "-db"], stdout=log,
                                 stderr=subprocess.STDOUT)

        def stop():
            proxy.terminate()
            proxy.wait(10)
        self.addCleanup(stop)
        deadline = time.monotonic() + 10 * TIME_SCALE
        while True:                  # HAProxy listening
            self.assertIsNone(proxy.poll(), "haproxy exited; see test/out/client-tls-haproxy.log")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "haproxy did not listen")
                time.sleep(0.05)
        rc, out, err = client("monitor", f"wss://localhost:{port}/ws", "--cacert", self.ca,
                              "--duration", monitor_seconds(2), "--gap-ms", "1000")
        self.assert_monitor_ok(rc, out, err)
        self.assertIn(f"connected to wss://localhost:{port}/ws", out)


if __name__ == "__main__":
    unittest.main()
