"""RFC 6455 MUSTs that no other suite proves, one test each; docs/rfc6455.md
names them in its table next to the code that enforces them.
"""
import select
import socket
import subprocess
import unittest

from wspulse_test import BINARY, WRAPPER, Server, connect, recv_or_reset, timeout


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(name="rfc6455").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, f"server exited with {rc}; log:\n{cls.srv.log_text()}"

    @timeout(10)
    def test_refused_handshake_is_answered_then_closed(self):
        # §4.2.1: a bad handshake gets an HTTP error; §7.2.2: the server
        # then closes the connection, though the request asked to keep it.
        s = connect(self.srv.port)
        self.addCleanup(s.close)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while chunk := recv_or_reset(s):
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:40])


class ClientTest(unittest.TestCase):
    @timeout(10)
    def test_client_never_speaks_plain_to_a_wss_url(self):
        # §4.1: for wss:// the TLS handshake comes before the request: the
        # first bytes are a TLS record (a build with TLS), or nothing is sent
        # at all (a build without), never a plain GET.
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        port = listener.getsockname()[1]
        proc = subprocess.Popen(WRAPPER + [BINARY, "monitor", f"wss://127.0.0.1:{port}/ws",
                                           "--duration", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        first = b""
        while proc.poll() is None:           # until it connects or gives up
            if not select.select([listener], [], [], 0.05)[0]:
                continue
            s, _ = listener.accept()
            s.settimeout(5)
            first = s.recv(1)
            s.close()
            break
        out = proc.communicate(timeout=8)[0].decode()
        if first:
            self.assertEqual(first, b"\x16", "not a TLS handshake record")
        else:
            self.assertIn("wss://", out)
            self.assertIn("TLS", out)
            self.assertNotEqual(proc.returncode, 0, out)


if __name__ == "__main__":
    unittest.main()
