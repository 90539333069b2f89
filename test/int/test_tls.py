"""wss:// and https:// with the TLS build (make TLS=1), a self-signed
certificate made here, and Python's ssl + websockets as the independent peer.
Also: the plain build refuses TLS options clearly, and garbage on the TLS
port harms nobody."""
import asyncio
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest
import urllib.request

import websockets

from wspulse_test import BINARY, TLS_BINARY, Server, connect, timeout


def make_certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TLS_BINARY):
            raise RuntimeError(f"{TLS_BINARY} is missing: the TLS build must exist (make tls-build)")
        cls.dir = tempfile.mkdtemp()
        cls.cert, cls.key = make_certificate(cls.dir)
        cls.ctx = ssl.create_default_context(cafile=cls.cert)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def server(self, name, *args):
        return Server("--tls-cert", self.cert, "--tls-key", self.key, *args,
                      name=name, binary=TLS_BINARY)

    @timeout(30)
    def test_wss_echo_small_and_large(self):
        async def go(port):
            url = f"wss://localhost:{port}/echo"
            async with websockets.connect(url, ssl=self.ctx, max_size=None) as ws:
                await ws.send("héllo over TLS")
                small = await ws.recv()
                big = os.urandom(3 << 20)        # many TLS records each way
                await ws.send(big)
                return small, (await ws.recv()) == big
        with self.server("tls-echo") as srv:
            self.assertEqual(asyncio.run(go(srv.port)), ("héllo over TLS", True))

    @timeout(30)
    def test_wss_ticks_and_chat(self):
        async def go(port):
            async with websockets.connect(f"wss://localhost:{port}/ws", ssl=self.ctx) as ws:
                tick = await ws.recv()
            async with websockets.connect(f"wss://localhost:{port}/chat", ssl=self.ctx) as ws:
                welcome = await ws.recv()
            return tick, welcome
        with self.server("tls-ticks") as srv:
            tick, welcome = asyncio.run(go(srv.port))
            self.assertIn('"message_count":1}', tick)
            self.assertIn("Welcome!", welcome)

    @timeout(30)
    def test_https_page_and_health(self):
        with self.server("tls-https") as srv:
            url = f"https://localhost:{srv.port}"
            with urllib.request.urlopen(url + "/healthz", context=self.ctx) as r:
                self.assertEqual(r.read(), b"ok\n")
            with urllib.request.urlopen(url + "/", context=self.ctx) as r:
                self.assertIn("text/html", r.headers["Content-Type"])

    @timeout(30)
    def test_plain_http_on_the_tls_port_harms_nobody(self):
        async def go(port):
            async with websockets.connect(f"wss://localhost:{port}/echo", ssl=self.ctx) as ws:
                await ws.send("still fine")
                return await ws.recv()
        with self.server("tls-garbage") as srv:
            s = connect(srv.port)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")   # not a ClientHello
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass                          # an alert or nothing, then EOF
            except ConnectionResetError:
                pass
            s.close()
            self.assertEqual(asyncio.run(go(srv.port)), "still fine")

    @timeout(10)
    def test_cert_without_key_is_a_usage_error(self):
        r = subprocess.run([TLS_BINARY, "--tls-cert", self.cert], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--tls-key", r.stderr)

    @timeout(10)
    def test_bad_certificate_file_fails_to_start(self):
        r = subprocess.run([TLS_BINARY, "--port", "0", "--tls-cert", "/nonexistent.pem",
                            "--tls-key", self.key], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("TLS", r.stderr)

    @timeout(10)
    def test_plain_build_says_how_to_get_tls(self):
        r = subprocess.run([BINARY, "--port", "0", "--tls-cert", self.cert,
                            "--tls-key", self.key], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("make TLS=1", r.stderr)


if __name__ == "__main__":
    unittest.main()
