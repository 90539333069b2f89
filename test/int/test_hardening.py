"""Production hardening: access control, limits, timeouts, logging.

Each test starts its own server with the options under test and checks
what a client sees (status codes, close codes, closed sockets) and what
the server counts (/stats) and logs.
"""
import asyncio
import json
import os
import signal
import socket
import tempfile
import time
import unittest

import websockets

from wspulse_test import (TIME_SCALE, Server, FrameReader, UPGRADE, connect, frame,
                          http_request, parse_response, recv_until, timeout, ws_connect_raw)


def run(coro):
    return asyncio.run(coro)


def read(path):
    with open(path) as f:
        return f.read()


def get_stats(server, token=None):
    path = "/stats" + (f"?token={token}" if token else "")
    status, _, body = parse_response(http_request(
        server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()))
    assert status == 200, status
    return json.loads(body)


def upgrade_status(port, path=b"/echo", extra=b""):
    """Status code of a raw upgrade request with extra header lines."""
    request = UPGRADE % path
    request = request[:-2] + extra + b"\r\n"
    with connect(port) as s:
        s.sendall(request)
        status, headers, _ = parse_response(recv_until(s))
    return status, headers


def wait_for(test, what, check, seconds=5):
    """Poll check() until it is true; fail naming what after seconds."""
    deadline = time.monotonic() + seconds * TIME_SCALE
    while not check():
        test.assertLess(time.monotonic(), deadline, f"no {what} within {seconds} s")
        time.sleep(0.02)


class TokenTest(unittest.TestCase):
    @timeout(20)
    def test_websocket_needs_the_token(self):
        with Server("--token", "s3cret", name="token") as srv:
            status, headers = upgrade_status(srv.port)
            self.assertEqual(status, 401)
            self.assertIn("bearer", headers.get("www-authenticate", "").lower())
            self.assertEqual(upgrade_status(srv.port, b"/echo?token=wrong")[0], 401)
            self.assertEqual(upgrade_status(srv.port, b"/echo?token=s3cret")[0], 101)
            self.assertEqual(upgrade_status(srv.port, b"/echo",
                                            b"Authorization: Bearer s3cret\r\n")[0], 101)

    @timeout(20)
    def test_counters_need_it_pages_and_health_do_not(self):
        with Server("--token", "s3cret", name="token-pages") as srv:
            def status(path):
                raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                return parse_response(http_request(srv.port, raw))[0]
            self.assertEqual(status("/stats"), 401)
            self.assertEqual(status("/metrics"), 401)
            self.assertEqual(status("/stats?token=s3cret"), 200)
            self.assertEqual(status("/healthz"), 200)
            self.assertEqual(status("/readyz"), 200)
            self.assertEqual(status("/"), 200)

    @timeout(20)
    def test_python_client_with_token(self):
        async def go(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/echo?token=a%20b") as ws:
                await ws.send("hi")
                return await ws.recv()
        with Server("--token", "a b", name="token-py") as srv:
            self.assertEqual(run(go(srv.port)), "hi")


class OriginTest(unittest.TestCase):
    @timeout(20)
    def test_only_listed_origins(self):
        with Server("--allow-origin", "https://good.example, http://localhost:1",
                    name="origin") as srv:
            self.assertEqual(upgrade_status(srv.port, b"/echo",
                                            b"Origin: https://evil.example\r\n")[0], 403)
            self.assertEqual(upgrade_status(srv.port, b"/echo",
                                            b"Origin: https://good.example\r\n")[0], 101)
            self.assertEqual(upgrade_status(srv.port, b"/echo",
                                            b"Origin: http://localhost:1\r\n")[0], 101)
            # No Origin: not a browser, not refused for it (RFC 6455 §10.2).
            self.assertEqual(upgrade_status(srv.port)[0], 101)


class ConnectionLimitTest(unittest.TestCase):
    @timeout(20)
    def test_max_conns_refuses_upgrade_with_503(self):
        with Server("--max-conns", "2", name="maxconns") as srv:
            a, _ = ws_connect_raw(srv.port)
            self.addCleanup(a.close)
            b, _ = ws_connect_raw(srv.port)
            self.addCleanup(b.close)
            status, headers = upgrade_status(srv.port)
            self.assertEqual(status, 503)
            self.assertIn("retry-after", headers)
            # Plain HTTP still works while full, and a freed place is reusable.
            raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            self.assertEqual(parse_response(http_request(srv.port, raw))[0], 200)
            a.sendall(frame(8, b"\x03\xe8"))
            self.assertTrue(FrameReader(a).at_eof())
            a.close()                    # the end of our side: the server lingers until it
            deadline = time.monotonic() + 5 * TIME_SCALE
            while upgrade_status(srv.port)[0] != 101:
                self.assertLess(time.monotonic(), deadline, "place not freed")
            self.assertGreaterEqual(get_stats(srv)["refused_full"], 1)

    @timeout(20)
    def test_per_ip_limit_answers_429(self):
        with Server("--max-conns-per-ip", "2", name="perip") as srv:
            for _ in range(3):
                self.addCleanup((c := connect(srv.port)).close)
            status, headers, body = parse_response(recv_until(c))
            self.assertEqual(status, 429)
            self.assertIn(b"--max-conns-per-ip", body)


class RateLimitTest(unittest.TestCase):
    @timeout(20)
    def test_burst_over_the_limit_is_closed_with_1008(self):
        with Server("--rate-limit", "10", name="rate") as srv:
            s, rest = ws_connect_raw(srv.port)
            self.addCleanup(s.close)
            s.sendall(b"".join(frame(1, b"m%d" % i) for i in range(30)))
            reader = FrameReader(s, rest)
            echoed = 0
            while True:
                fin, op, payload, _, _ = reader.read()
                if op == 8:
                    break
                echoed += 1
            self.assertEqual(int.from_bytes(payload[:2], "big"), 1008)
            self.assertIn(b"rate limit", payload[2:])
            self.assertEqual(echoed, 10)          # one second's worth of burst
            self.assertGreaterEqual(get_stats(srv)["rate_limited"], 1)


class TimeoutTest(unittest.TestCase):
    @timeout(20)
    def test_slow_headers_get_408_and_close(self):
        with Server("--header-timeout", "0.5", name="hdr-timeout") as srv:
            s = connect(srv.port, timeout_s=10)
            self.addCleanup(s.close)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")   # never finished
            data = recv_until(s)
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:40])
            self.assertTrue(FrameReader(s).at_eof())
            self.assertGreaterEqual(get_stats(srv)["header_timeouts"], 1)

    @timeout(20)
    def test_silent_connection_is_closed(self):
        with Server("--header-timeout", "0.5", name="idle-timeout") as srv:
            with connect(srv.port, timeout_s=10) as s:
                self.assertEqual(s.recv(100), b"")    # closed (FIN), nothing said

    @timeout(20)
    def test_peer_that_never_pongs_is_closed(self):
        with Server("--ping-interval", "0.5", name="ping-timeout") as srv:
            s, rest = ws_connect_raw(srv.port)
            self.addCleanup(s.close)
            reader = FrameReader(s, rest)
            fin, op, payload, _, _ = reader.read()
            self.assertEqual(op, 9)               # the keepalive ping
            code, reason = reader.read_close()
            self.assertEqual(code, 1001)
            self.assertEqual(reason, "ping timeout")
            self.assertTrue(reader.at_eof())
            self.assertGreaterEqual(get_stats(srv)["ping_timeouts"], 1)

    @timeout(30)
    def test_pings_every_interval_and_a_peer_that_pongs_stays(self):
        # Counted, so that an ignored --ping-interval (30 s by default) fails:
        # four pings, each at least one interval of quiet after our last pong
        # and well within the default.
        interval = 0.5
        with Server("--ping-interval", str(interval), name="ping-ok") as srv:
            s, rest = ws_connect_raw(srv.port)
            self.addCleanup(s.close)
            reader = FrameReader(s, rest)
            pings, last_pong = [], time.monotonic()
            while len(pings) < 4:
                fin, op, payload, _, _ = reader.read()
                self.assertEqual(op, 9, "only pings come to an idle /echo client")
                pings.append(time.monotonic() - last_pong)
                s.sendall(frame(10, payload))
                last_pong = time.monotonic()
            for quiet in pings[1:]:
                self.assertGreaterEqual(quiet, interval * 0.8, pings)
                self.assertLess(quiet, (interval + 2) * TIME_SCALE, pings)
            s.sendall(frame(1, b"still here"))
            while (got := reader.read())[1] == 9:
                s.sendall(frame(10, got[2]))
            self.assertEqual(got[1:3], (1, b"still here"))
            self.assertEqual(get_stats(srv)["ping_timeouts"], 0)

    @timeout(20)
    def test_closing_handshake_has_a_deadline(self):
        with Server("--max-message", "10", "--close-timeout", "0.5", name="close-timeout") as srv:
            s, rest = ws_connect_raw(srv.port)
            self.addCleanup(s.close)
            s.sendall(frame(2, b"x" * 11))
            reader = FrameReader(s, rest)
            self.assertEqual(reader.read_close()[0], 1009)
            self.assertTrue(reader.at_eof(timeout_s=5))          # FIN after the Close
            # We neither answer the Close nor close our end; the server must
            # not keep the connection past --close-timeout (only the /stats
            # request is left open).
            wait_for(self, "end of the connection",
                     lambda: get_stats(srv)["open_connections"] == 1, seconds=4)


class SlowConsumerTest(unittest.TestCase):
    @timeout(60)
    def test_reader_that_stops_is_closed_others_unharmed(self):
        async def go(port, stalled):
            url = f"ws://127.0.0.1:{port}/chat"
            async with websockets.connect(url, max_size=None) as pub:
                big = "x" * 60000
                got = 0
                for i in range(200):             # 12 MB for every member, but the
                    await pub.send(json.dumps({  # publisher reads its own copy first
                        "type": "message", "message": big, "sender": str(i)}))
                    while json.loads(await pub.recv())["type"] != "message":
                        pass                     # system messages (a leave)
                    got += 1
                return got

        with Server("--max-pending", "262144", name="slow-consumer") as srv:
            stalled = socket.socket()
            self.addCleanup(stalled.close)
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect(("127.0.0.1", srv.port))
            stalled.sendall(UPGRADE % b"/chat")
            wait_for(self, "stalled member in /chat",   # joined; now it never reads
                     lambda: get_stats(srv)["endpoints"]["chat"]["connections"] == 1)
            self.assertEqual(run(go(srv.port, stalled)), 200)
            self.assertEqual(get_stats(srv)["slow_consumers_closed"], 1)
            self.assertIn("slow consumer", srv.log_text())


class LogTest(unittest.TestCase):
    @timeout(30)
    def test_json_log_has_open_and_close_with_peer_and_code(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "wspulse.log")
            with Server("--log-format", "json", "--log-file", path, name="log-json") as srv:
                s, rest = ws_connect_raw(srv.port)
                s.sendall(frame(8, b"\x03\xe8bye"))
                self.assertTrue(FrameReader(s, rest).at_eof())
                s.close()
                deadline = time.monotonic() + 5
                while '"close"' not in read(path):
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
            lines = [json.loads(line) for line in read(path).splitlines()]
            for line in lines:
                self.assertIn("time", line)
                self.assertIn(line["level"], ("error", "warn", "info", "debug"))
            opened = [l for l in lines if l["msg"] == "open"]
            closed = [l for l in lines if l["msg"] == "close"]
            self.assertEqual(len(opened), 1)
            self.assertEqual(len(closed), 1)
            self.assertRegex(opened[0]["peer"], r"^127\.0\.0\.1:\d+$")
            self.assertEqual(closed[0]["code"], 1000)
            self.assertEqual(closed[0]["endpoint"], "echo")

    @timeout(30)
    def test_sighup_reopens_the_log_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "wspulse.log")
            with Server("--log-file", path, name="log-hup") as srv:
                moved = path + ".1"
                os.rename(path, moved)
                srv.proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 5
                while not os.path.exists(path):   # reopened at the old name
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
                ws_connect_raw(srv.port)[0].close()
                while " open " not in read(path):
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
                self.assertNotIn(" open ", read(moved))


if __name__ == "__main__":
    unittest.main()
