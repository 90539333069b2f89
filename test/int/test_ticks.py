"""/ws and /ticks: the timestamp stream of README "Messages", read by an independent
client (Debian's python3-websockets). The server ticks every 20 ms so a
run of 50 messages takes about a second.
"""
import asyncio
import json
import re
import socket
import time
import unittest

import websockets

from wspulse_test import Server, frame, timeout, ws_connect_raw

TICK_MS = 20
TICK = re.compile(r'^\{"type":"timestamp",'
                  r'"timestamp_iso":"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",'
                  r'"timestamp_ms":\d+,'
                  r'"message_count":[1-9]\d*\}$')


def run(coro):
    return asyncio.run(coro)


async def read_ticks(ws, n):
    """The next n messages, each a text message, as raw strings."""
    got = []
    for _ in range(n):
        m = await asyncio.wait_for(ws.recv(), 5)
        if not isinstance(m, str):
            raise AssertionError(f"tick is not a text message: {m!r}")
        got.append(m)
    return got


def counts(ticks):
    return [json.loads(t)["message_count"] for t in ticks]


class TicksCase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--tick-ms", str(TICK_MS), *cls.server_args,
                         name=f"ticks-{cls.__name__}").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, f"server exited with {rc}; log:\n{cls.srv.log_text()}"

    def connect(self, path="/ws"):
        return websockets.connect(self.srv.url(path), compression=None, ping_interval=None)

    def ticks(self, n, path="/ws"):
        async def go():
            async with self.connect(path) as ws:
                return await read_ticks(ws, n)
        return run(go())


class TicksTest(TicksCase):
    @timeout(10)
    def test_format_matches_the_spec_exactly(self):
        for t in self.ticks(5):
            self.assertRegex(t, TICK)

    @timeout(10)
    def test_iso_time_is_the_local_time_of_timestamp_ms(self):
        for t in self.ticks(5):
            tick = json.loads(t)
            local = time.strftime("%Y-%m-%d %H:%M:%S",
                                  time.localtime(tick["timestamp_ms"] // 1000))
            self.assertEqual(tick["timestamp_iso"], local)

    @timeout(10)
    def test_timestamp_ms_is_now(self):
        before = time.time() * 1000
        ticks = self.ticks(3)
        after = time.time() * 1000
        for t in ticks:                          # a wall clock, not a monotonic one
            self.assertGreaterEqual(json.loads(t)["timestamp_ms"], before - 1000)
            self.assertLessEqual(json.loads(t)["timestamp_ms"], after + 1000)

    @timeout(10)
    def test_count_starts_at_one_with_no_holes(self):
        self.assertEqual(counts(self.ticks(30)), list(range(1, 31)))

    @timeout(10)
    def test_ticks_alias(self):
        ticks = self.ticks(3, path="/ticks")
        for t in ticks:
            self.assertRegex(t, TICK)
        self.assertEqual(counts(ticks), [1, 2, 3])

    @timeout(10)
    def test_mean_interval_is_the_tick_interval(self):
        stamps = [json.loads(t)["timestamp_ms"] for t in self.ticks(50)]
        self.assertEqual(stamps, sorted(stamps))
        mean = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
        self.assertGreater(mean, TICK_MS * 0.8)
        self.assertLess(mean, TICK_MS * 1.2)

    @timeout(10)
    def test_two_clients_count_independently(self):
        async def go():
            async with self.connect() as a:
                first = await read_ticks(a, 5)
                async with self.connect("/ticks") as b:
                    b_ticks = await read_ticks(b, 5)
                    a_more = await read_ticks(a, 5)
            return counts(first + a_more), counts(b_ticks)
        a_counts, b_counts = run(go())
        self.assertEqual(b_counts, [1, 2, 3, 4, 5])
        self.assertEqual(a_counts, list(range(a_counts[0], a_counts[0] + 10)))
        self.assertEqual(a_counts[0], 1)

    @timeout(20)
    def test_a_client_that_stops_reading_does_not_affect_another(self):
        # One ticks client with a tiny receive buffer that never reads, and
        # one echo client that has filled its socket with unread echoes.
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stuck.connect(("127.0.0.1", self.srv.port))
        self.addCleanup(stuck.close)
        stuck.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
        flooder, _ = ws_connect_raw(self.srv.port)
        self.addCleanup(flooder.close)
        flooder.setblocking(False)
        chunk = frame(2, bytes(60000), mask=b"\0\0\0\0")
        sent = 0
        try:
            while sent < 8 << 20:
                sent += flooder.send(chunk)
        except BlockingIOError:
            pass                                 # its socket is full both ways
        self.assertEqual(counts(self.ticks(30)), list(range(1, 31)))


class InstanceTest(TicksCase):
    server_args = ("--instance", "eu-west-1")

    @timeout(10)
    def test_instance_name_is_in_every_tick(self):
        for t in self.ticks(3):
            tick = json.loads(t)
            self.assertEqual(tick["server"], "eu-west-1")
            self.assertEqual(tick["type"], "timestamp")
            self.assertRegex(t.replace(',"server":"eu-west-1"', ""), TICK)


class InstanceEscapeTest(TicksCase):
    server_args = ("--instance", 'a "quoted" \\ name')

    @timeout(10)
    def test_instance_name_is_json_escaped(self):
        self.assertEqual(json.loads(self.ticks(1)[0])["server"], 'a "quoted" \\ name')


if __name__ == "__main__":
    unittest.main()
