"""HTTP hardening (issues 14 and 15): --www serves only regular files that
lie in the folder itself, a FIFO there never blocks the server, a request
whose Content-Length is ambiguous is refused and the connection closed
(RFC 9112 §6.3), and no answer to HEAD carries a body (RFC 9110 §9.3.2).
Raw sockets throughout, so the exact bytes on the wire are what is tested.
"""
import contextlib
import errno
import os
import tempfile
import unittest

from wspulse_test import (FrameReader, ResponseReader, Server, connect, frame, http_request,
                          parse_response, timeout, ws_connect_raw)


def get(port, path, method="GET"):
    """(status, headers, raw body up to the server's close) of one request."""
    raw = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    data = http_request(port, raw)
    status, headers, _ = parse_response(data)
    return status, headers, data.partition(b"\r\n\r\n")[2]


class WwwFilesTest(unittest.TestCase):
    """--www DIR: only regular files, only inside DIR."""

    def setUp(self):
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        self.root = root.name
        self.www = os.path.join(root.name, "www")
        os.mkdir(self.www)
        self.write(os.path.join(self.root, "secret.txt"), b"outside www\n")
        self.write(os.path.join(self.www, "index.html"), b"<p>index</p>")
        self.write(os.path.join(self.www, "inside.txt"), b"inside www\n")
        self.srv = Server("--www", self.www, name="http-hardening-www").start()
        self.addCleanup(self.stop)

    def stop(self):
        rc = self.srv.stop()
        self.assertEqual(rc, 0, self.srv.log_text())

    @staticmethod
    def write(path, data):
        with open(path, "wb") as f:
            f.write(data)

    def make_fifo(self, name):
        """A FIFO in the folder, and a cleanup that opens its write end, which
        frees a server stuck opening it (so a failing run still stops)."""
        path = os.path.join(self.www, name)
        os.mkfifo(path)

        def unblock():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as e:         # ENXIO: nobody waits to read it
                if e.errno != errno.ENXIO:
                    raise
        self.addCleanup(unblock)
        return path

    @timeout(20)
    def test_fifo_is_404_and_blocks_no_one(self):
        self.make_fifo("pipe.txt")
        ws, rest = ws_connect_raw(self.srv.port, b"/echo")
        with contextlib.closing(ws):
            frames = FrameReader(ws, rest)
            ws.sendall(frame(1, b"before"))
            self.assertEqual(frames.read()[2], b"before")
            status, _, body = get(self.srv.port, "/pipe.txt")
            self.assertEqual(status, 404)
            self.assertIn(b"404", body)
            ws.sendall(frame(1, b"after"))       # the reactor still turns
            self.assertEqual(frames.read()[2], b"after")

    @timeout(20)
    def test_fifo_behind_the_html_fallback_is_404(self):
        self.make_fifo("pipe.html")              # "/pipe" is pipe.html
        self.assertEqual(get(self.srv.port, "/pipe")[0], 404)
        self.assertEqual(get(self.srv.port, "/inside.txt")[0], 200)

    @timeout(10)
    def test_directory_is_404(self):
        os.mkdir(os.path.join(self.www, "sub.txt"))
        self.assertEqual(get(self.srv.port, "/sub.txt")[0], 404)

    @timeout(10)
    def test_symlink_out_of_the_folder_is_404(self):
        os.symlink(os.path.join(self.root, "secret.txt"), os.path.join(self.www, "out.txt"))
        os.symlink("../secret.txt", os.path.join(self.www, "rel.txt"))
        for path in ("/out.txt", "/rel.txt"):
            with self.subTest(path=path):
                status, _, body = get(self.srv.port, path)
                self.assertEqual(status, 404)
                self.assertNotIn(b"outside www", body)

    @timeout(10)
    def test_regular_file_inside_is_served(self):
        status, headers, body = get(self.srv.port, "/inside.txt")
        self.assertEqual((status, body), (200, b"inside www\n"))
        self.assertEqual(headers.get("content-type"), "text/plain; charset=utf-8")

    @timeout(10)
    def test_symlink_inside_the_folder_is_404_too(self):
        """Documented choice (README "Bad input and limits"): no symlink is
        followed, so what is served is exactly what the folder holds."""
        os.symlink("inside.txt", os.path.join(self.www, "alias.txt"))
        self.assertEqual(get(self.srv.port, "/alias.txt")[0], 404)


class FramingAndHeadTest(unittest.TestCase):
    """Request framing and HEAD answers; one server (with a token, for 401)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--token", "s3cret", name="http-hardening").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, f"server exited with {rc}; log:\n{cls.srv.log_text()}"

    def exchange(self, raw):
        """Everything the server sends for raw, up to its close."""
        return http_request(self.srv.port, raw)

    def assert_one_400_then_close(self, headers_lines):
        """A GET with these extra header lines, followed by a second request
        that must never be answered: one 400, Connection: close, EOF."""
        raw = (b"GET / HTTP/1.1\r\nHost: x\r\n" + headers_lines +
               b"\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = self.exchange(raw)
        status, headers, _ = parse_response(data)
        self.assertEqual(status, 400, data[:300])
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data[:300])

    # --- Content-Length ------------------------------------------------------

    @timeout(10)
    def test_two_different_content_lengths_are_400(self):
        self.assert_one_400_then_close(b"Content-Length: 0\r\nContent-Length: 5\r\n")
        self.assert_one_400_then_close(b"Content-Length: 5\r\nContent-Length: 0\r\n")

    @timeout(10)
    def test_repeated_identical_content_lengths_are_400(self):
        self.assert_one_400_then_close(b"Content-Length: 0\r\nContent-Length: 0\r\n")
        self.assert_one_400_then_close(b"Content-Length: 0, 0\r\n")
        self.assert_one_400_then_close(b"Content-Length: 5, 5\r\n")

    @timeout(10)
    def test_content_length_not_a_decimal_is_400(self):
        for value in (b"", b"abc", b"+0", b"-0", b"0x0", b"0 0", b"1e3",
                      b"99999999999999999999999"):
            with self.subTest(value=value):
                self.assert_one_400_then_close(b"Content-Length: " + value + b"\r\n")

    @timeout(10)
    def test_transfer_encoding_is_400(self):
        self.assert_one_400_then_close(b"Transfer-Encoding: chunked\r\n")
        self.assert_one_400_then_close(b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n")

    @timeout(10)
    def test_one_zero_content_length_is_served_and_kept_alive(self):
        with contextlib.closing(connect(self.srv.port)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                      b"GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n")
            reader = ResponseReader(s)
            self.assertEqual(reader.read()[::2], (200, b"ok\n"))
            self.assertEqual(reader.read()[::2], (200, b"ready\n"))

    # --- HEAD -------------------------------------------------------------------

    def assert_head_only(self, raw, want_status):
        """The answer to raw is exactly one head with want_status, and the
        connection ends right after it: no body."""
        data = self.exchange(raw)
        head, sep, body = data.partition(b"\r\n\r\n")
        self.assertEqual(sep, b"\r\n\r\n", data)
        status, headers, _ = parse_response(data)
        self.assertEqual(status, want_status, data)
        self.assertEqual(body, b"", data)
        return headers

    def head(self, path, extra=b""):
        return (b"HEAD " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + extra + b"\r\n")

    UPGRADE_LINES = (b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n")

    @timeout(10)
    def test_head_upgrade_to_a_websocket_path_has_no_body(self):
        headers = self.assert_head_only(self.head(b"/echo?token=s3cret", self.UPGRADE_LINES),
                                        400)
        self.assertGreater(int(headers["content-length"]), 0)

    @timeout(10)
    def test_head_upgrade_to_an_unknown_path_has_no_body(self):
        self.assert_head_only(self.head(b"/nowhere", self.UPGRADE_LINES), 404)

    @timeout(10)
    def test_head_of_refusals_has_no_body(self):
        cases = [
            (self.head(b"/no-such-page"), 404),
            (self.head(b"/ws"), 426),                          # WebSocket only
            (self.head(b"/stats"), 401),                       # needs the token
            (self.head(b"/", b"Host: y\r\n"), 400),            # two Hosts
            (self.head(b"/", b"Content-Length: 5\r\n"), 400),
            (self.head(b"/", b"Content-Length: 0\r\nContent-Length: 5\r\n"), 400),
            (self.head(b"/", b"Transfer-Encoding: chunked\r\n"), 400),
            (self.head(b"*"), 400),                            # not a path
        ]
        for raw, status in cases:
            with self.subTest(raw=raw):
                self.assert_head_only(raw, status)

    @timeout(10)
    def test_head_of_pages_has_no_body(self):
        for path in (b"/", b"/chat", b"/healthz", b"/readyz", b"/stats?token=s3cret"):
            with self.subTest(path=path):
                self.assert_head_only(self.head(path), 200)


if __name__ == "__main__":
    unittest.main()
