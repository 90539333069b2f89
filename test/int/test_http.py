"""Plain HTTP on the WebSocket port (README "What it serves", RFC 9112): pages, the
health and counter endpoints, every refusal status, and requests however
they are split or pipelined. Raw sockets throughout, so the exact bytes on
the wire are what is tested.

One server serves the whole class; the --www tests start their own.
"""
import json
import os
import re
import tempfile
import unittest

from wspulse_test import (FrameReader, ResponseReader, Server, connect, frame, http_request,
                          parse_response, timeout, ws_connect_raw)


def request(port, method, path, version="1.1", extra=b""):
    """One request with Connection: close; (status, headers, raw body), where
    the raw body is everything after the head up to the server's close."""
    raw = (f"{method} {path} HTTP/{version}\r\nHost: x\r\nConnection: close\r\n".encode()
           + extra + b"\r\n")
    data = http_request(port, raw)
    status, headers, _ = parse_response(data)
    return status, headers, data.partition(b"\r\n\r\n")[2]


def answer(port, raw):
    """(status, headers, body) of the server's answer to raw bytes."""
    return parse_response(http_request(port, raw))


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(name="http").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, f"server exited with {rc}; log:\n{cls.srv.log_text()}"

    def get(self, path, **kw):
        return request(self.srv.port, "GET", path, **kw)

    # --- pages -----------------------------------------------------------

    @timeout(10)
    def test_root_is_html_with_exact_length(self):
        status, headers, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "text/html; charset=utf-8")
        self.assertGreater(len(body), 0)
        self.assertEqual(int(headers["content-length"]), len(body))

    @timeout(10)
    def test_files_beside_the_directory_are_not_served(self):
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"):
            with self.subTest(path=path):
                self.assertEqual(request(self.srv.port, "GET", path)[0], 404)

    @timeout(10)
    def test_head_has_the_get_headers_and_no_body(self):
        _, get_headers, get_body = self.get("/")
        status, headers, body = request(self.srv.port, "HEAD", "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), get_headers["content-type"])
        self.assertEqual(headers.get("content-length"), str(len(get_body)))
        self.assertEqual(body, b"")

    @timeout(10)
    def test_unknown_path_is_404(self):
        self.assertEqual(self.get("/no-such-page")[0], 404)

    @timeout(10)
    def test_other_methods_are_405_with_allow(self):
        for method in ("POST", "PUT", "DELETE"):
            with self.subTest(method=method):
                status, headers, _ = request(self.srv.port, method, "/")
                self.assertEqual(status, 405)
                allowed = {m.strip() for m in headers.get("allow", "").split(",")}
                self.assertEqual(allowed, {"GET", "HEAD"})

    # --- malformed requests ---------------------------------------------

    @timeout(10)
    def test_malformed_request_line_is_400(self):
        for line in (b"GET\r\n", b"GET /\r\n", b"GET / HTTP/1.1 extra\r\n",
                     b"GET  / HTTP/1.1\r\n", b"GET / HTTX/1.1\r\n", b"\x01GET / HTTP/1.1\r\n"):
            with self.subTest(line=line):
                status, _, _ = answer(self.srv.port, line + b"Host: x\r\n\r\n")
                self.assertEqual(status, 400)

    @timeout(10)
    def test_bare_cr_in_a_header_is_400(self):
        raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"
        self.assertEqual(answer(self.srv.port, raw)[0], 400)

    @timeout(10)
    def test_space_before_colon_is_400(self):
        raw = b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"         # RFC 9112 §5.1
        self.assertEqual(answer(self.srv.port, raw)[0], 400)

    @timeout(10)
    def test_http11_without_host_is_400(self):
        raw = b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"   # RFC 9112 §3.2
        self.assertEqual(answer(self.srv.port, raw)[0], 400)

    @timeout(10)
    def test_http11_with_two_hosts_is_400(self):
        raw = b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"
        self.assertEqual(answer(self.srv.port, raw)[0], 400)          # RFC 9112 §3.2

    @timeout(10)
    def test_absolute_form_target_is_served(self):
        raw = b"GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, _, body = answer(self.srv.port, raw)                  # RFC 9112 §3.2.2
        self.assertEqual((status, body), (200, b"ok\n"))

    @timeout(10)
    def test_header_section_over_8k_is_431(self):
        raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        self.assertEqual(answer(self.srv.port, raw)[0], 431)

    @timeout(10)
    def test_header_section_under_8k_is_served(self):
        raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
               + b"a" * 7000 + b"\r\n\r\n")
        self.assertEqual(answer(self.srv.port, raw)[0], 200)

    @timeout(10)
    def test_http2_request_line_is_505(self):
        raw = b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"
        self.assertEqual(answer(self.srv.port, raw)[0], 505)

    @timeout(10)
    def test_plain_get_of_a_websocket_endpoint_is_426(self):
        status, headers, _ = self.get("/ws")
        self.assertEqual(status, 426)
        self.assertEqual(headers.get("sec-websocket-version"), "13")

    # --- framing of requests on the connection --------------------------

    @timeout(15)
    def test_request_split_byte_by_byte(self):
        raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        with connect(self.srv.port) as s:
            for i in range(len(raw)):
                s.sendall(raw[i:i + 1])
            status, _, body = ResponseReader(s).read()
        self.assertEqual((status, body), (200, b"ok\n"))

    @timeout(10)
    def test_pipelined_requests_answered_in_order(self):
        raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        with connect(self.srv.port) as s:
            s.sendall(raw)
            reader = ResponseReader(s)
            first, second = reader.read(), reader.read()
            self.assertEqual((first[0], first[2]), (200, b"ok\n"))
            self.assertEqual(first[1].get("connection", "").lower(), "keep-alive")
            self.assertEqual((second[0], second[2]), (200, b"ready\n"))
            # Still open for a third, sent only now.
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(reader.read()[0], 200)

    @timeout(15)
    def test_a_head_split_behind_a_pipelined_one(self):
        # The second head begins in the read that ends the first, and the
        # rest comes a byte at a time: its scan starts where it begins, not
        # where the buffer did, and a spoiled byte in it is still refused.
        with connect(self.srv.port) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /rea")
            reader = ResponseReader(s)
            self.assertEqual(reader.read()[2], b"ok\n")
            for byte in b"dyz HTTP/1.1\r\nHost: x\r\n\r\n":
                s.sendall(bytes([byte]))
            self.assertEqual(reader.read()[2], b"ready\n")
            s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
            s.sendall(b"st: x\r\nX-Bad: \x01\r\n\r\n")
            self.assertEqual(reader.read()[0], 400)

    @timeout(10)
    def test_http10_without_keep_alive_is_closed(self):
        with connect(self.srv.port) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            reader = ResponseReader(s)
            status, headers, body = reader.read()
            self.assertEqual((status, body), (200, b"ok\n"))
            self.assertEqual(headers.get("connection", "").lower(), "close")
            self.assertTrue(reader.at_eof(), "server kept the connection open")

    # --- built-in endpoints ----------------------------------------------

    @timeout(10)
    def test_healthz_is_ok(self):
        status, _, body = self.get("/healthz")
        self.assertEqual((status, body.strip()), (200, b"ok"))

    @timeout(10)
    def test_readyz_is_ready(self):
        status, _, body = self.get("/readyz")
        self.assertEqual((status, body.strip()), (200, b"ready"))

    def stats(self):
        status, headers, body = self.get("/stats")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/json")
        return json.loads(body)

    @timeout(10)
    def test_stats_is_json_with_endpoint_counters(self):
        stats = self.stats()
        self.assertIsInstance(stats["uptime_s"], (int, float))
        self.assertIsInstance(stats["closes_by_code"], dict)
        for name in ("echo", "ticks"):
            with self.subTest(endpoint=name):
                ep = stats["endpoints"][name]
                for key in ("connections", "messages_in", "messages_out", "bytes_in",
                            "bytes_out"):
                    self.assertIsInstance(ep[key], int, key)

    @timeout(10)
    def test_stats_echo_counters_move_after_an_echo(self):
        before = self.stats()
        s, rest = ws_connect_raw(self.srv.port)
        with s:
            reader = FrameReader(s, rest)
            s.sendall(frame(1, b"hello stats"))
            self.assertEqual(reader.read()[1:3], (1, b"hello stats"))
            during = self.stats()["endpoints"]["echo"]
            s.sendall(frame(8, (1000).to_bytes(2, "big")))
            self.assertEqual(reader.read_close()[0], 1000)
            self.assertTrue(reader.at_eof())
        after = self.stats()
        old, new = before["endpoints"]["echo"], after["endpoints"]["echo"]
        self.assertEqual(during["connections"], old["connections"] + 1)
        self.assertEqual(new["connections"], old["connections"])
        self.assertEqual(new["messages_in"], old["messages_in"] + 1)
        self.assertEqual(new["messages_out"], old["messages_out"] + 1)
        self.assertEqual(new["bytes_in"], old["bytes_in"] + len(b"hello stats"))
        self.assertEqual(new["bytes_out"], old["bytes_out"] + len(b"hello stats"))
        self.assertEqual(after["closes_by_code"].get("1000", 0),
                         before["closes_by_code"].get("1000", 0) + 1)

    @timeout(10)
    def test_metrics_is_prometheus_text(self):
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain; version=0.0.4"))
        sample = re.compile(r'^(wspulse_[a-zA-Z0-9_]*)'
                            r'(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
                            r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})?'
                            r' (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)$')
        types, helps, samples = {}, set(), []
        for line in body.decode().splitlines():
            if line.startswith("# HELP "):
                helps.add(line.split(" ")[2])
            elif line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                types[name] = kind
            else:
                m = sample.match(line)
                self.assertIsNotNone(m, f"not a sample line: {line!r}")
                samples.append(m.group(1))
        self.assertTrue(samples)
        self.assertEqual(set(types), helps, "every family needs HELP and TYPE")
        for name, kind in types.items():
            self.assertTrue(name.startswith("wspulse_"), name)
            if kind == "counter":
                self.assertTrue(name.endswith("_total"), f"counter {name}")
        for name in samples:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            self.assertTrue(name in types or types.get(family) == "histogram",
                            f"{name} has no TYPE line")

    # --- routing -----------------------------------------------------------

    @timeout(10)
    def test_query_string_is_ignored_for_routing(self):
        status, _, body = self.get("/healthz?x=1")
        self.assertEqual((status, body.strip()), (200, b"ok"))

    @timeout(10)
    def test_path_traversal_is_404(self):
        for path in ("/../etc/passwd", "/%2e%2e/x", "/.hidden", "/..%2fetc%2fpasswd",
                     "/%2e%2e%2fetc%2fpasswd", "/./index.html", "//etc/passwd"):
            with self.subTest(path=path):
                self.assertEqual(self.get(path)[0], 404)


class WwwDirTest(unittest.TestCase):
    """--www DIR: pages come from DIR, read at each request."""

    def setUp(self):
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        self.www = os.path.join(root.name, "www")
        os.mkdir(self.www)
        with open(os.path.join(root.name, "secret.txt"), "wb") as f:
            f.write(b"outside www\n")
        self.write("index.html", b"<p>temp index</p>")
        self.write("page.txt", b"first version\n")
        self.srv = Server("--www", self.www, name="http-www").start()
        self.addCleanup(self.stop)

    def stop(self):
        rc = self.srv.stop()
        self.assertEqual(rc, 0, self.srv.log_text())

    def write(self, name, data):
        with open(os.path.join(self.www, name), "wb") as f:
            f.write(data)

    @timeout(10)
    def test_serves_a_file_from_the_directory(self):
        status, headers, body = request(self.srv.port, "GET", "/page.txt")
        self.assertEqual((status, body), (200, b"first version\n"))
        self.assertEqual(headers.get("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(request(self.srv.port, "GET", "/")[2], b"<p>temp index</p>")

    @timeout(10)
    def test_a_changed_file_is_served_changed(self):
        self.assertEqual(request(self.srv.port, "GET", "/page.txt")[2], b"first version\n")
        self.write("page.txt", b"second, longer version\n")
        status, headers, body = request(self.srv.port, "GET", "/page.txt")
        self.assertEqual((status, body), (200, b"second, longer version\n"))
        self.assertEqual(int(headers["content-length"]), len(body))

    @timeout(10)
    def test_files_beside_the_directory_are_not_served(self):
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"):
            with self.subTest(path=path):
                self.assertEqual(request(self.srv.port, "GET", path)[0], 404)


if __name__ == "__main__":
    unittest.main()
