"""/stats (JSON) and /metrics (Prometheus text exposition format): the
fields exist, they move with traffic on each endpoint, closes are counted by
code, and the two renderings agree.

Synchronisation without sleeps: a counter is read only after the client saw
the answer that follows the counted event (the server counts before it
answers), and a close is known to be counted once a /chat observer hears
the leave notice, which the server sends right after counting it.
"""
import asyncio
import json
import math
import re
import socket
import time
import unittest

import websockets

from wspulse_test import (FrameReader, Server, frame, http_request, parse_response, timeout,
                          ws_connect_raw)

ENDPOINTS = ("echo", "ticks", "chat", "rpc", "sensor", "control")
EP_FIELDS = ("connections", "connections_total", "messages_in", "messages_out",
             "bytes_in", "bytes_out")
# /metrics family for each per-endpoint /stats field.
EP_FAMILIES = {
    "connections": "wspulse_connections",
    "connections_total": "wspulse_connections_total",
    "messages_in": "wspulse_messages_received_total",
    "messages_out": "wspulse_messages_sent_total",
    "bytes_in": "wspulse_received_bytes_total",
    "bytes_out": "wspulse_sent_bytes_total",
}


def run(coro):
    return asyncio.run(coro)


def get(server, path):
    raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, headers, body = parse_response(http_request(server.port, raw))
    assert status == 200, (path, status, body)
    return headers, body


def get_stats(server):
    headers, body = get(server, "/stats")
    return json.loads(body)


def get_metrics(server):
    headers, body = get(server, "/metrics")
    return headers, body.decode("utf-8")


async def open_ws(server, path):
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=5)


async def recv(ws, timeout_s=5):
    return await asyncio.wait_for(ws.recv(), timeout_s)


def size(message):
    return len(message.encode() if isinstance(message, str) else message)


# --- a parser for the Prometheus text exposition format (0.0.4) -------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|\Z)')
SAMPLE = re.compile(rf"^({METRIC_NAME})(?:\{{(.*)\}})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$")
HELP = re.compile(rf"^# HELP ({METRIC_NAME}) (.*)$")
TYPE = re.compile(rf"^# TYPE ({METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$")


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise ValueError(f"bad label set {{{text}}} at {pos}")
        value = m.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        if m.group(1) in labels:
            raise ValueError(f"label {m.group(1)} twice in {{{text}}}")
        labels[m.group(1)] = value
        pos = m.end()
    return labels


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text)
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError(f"bad sample value {text!r}")
    return float(text)


def family_of(name, types):
    """The family a sample name belongs to (histograms add suffixes)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def parse_exposition(test, text):
    """Check every line; returns (types {family: type}, help {family: text},
    samples [(name, labels, value)])."""
    test.assertTrue(text.endswith("\n"), "the exposition must end with a line feed")
    types, helps, samples = {}, {}, []
    seen_families, current = [], None
    for number, line in enumerate(text.split("\n")[:-1], 1):
        where = f"/metrics line {number}: {line!r}"
        if line.startswith("#"):
            m = HELP.match(line)
            if m:
                test.assertNotIn(m.group(1), helps, f"{where}: second HELP")
                helps[m.group(1)] = m.group(2)
                family = m.group(1)
            else:
                m = TYPE.match(line)
                test.assertIsNotNone(m, f"{where}: neither HELP nor TYPE")
                family = m.group(1)
                test.assertNotIn(family, types, f"{where}: second TYPE")
                test.assertNotIn(family, {family_of(s[0], types) for s in samples},
                                 f"{where}: TYPE after the family's samples")
                types[family] = m.group(2)
        else:
            test.assertTrue(line.strip(), f"{where}: blank line")
            m = SAMPLE.match(line)
            test.assertIsNotNone(m, f"{where}: not a sample")
            try:
                labels = parse_labels(m.group(2) or "")
                value = parse_value(m.group(3))
            except ValueError as e:
                test.fail(f"{where}: {e}")
            family = family_of(m.group(1), types)
            test.assertIn(family, types, f"{where}: sample before its TYPE line")
            samples.append((m.group(1), labels, value))
        if family != current:            # every family is one group of lines
            test.assertNotIn(family, seen_families, f"{where}: family {family} split up")
            seen_families.append(family)
            current = family
    return types, helps, samples


def sample_value(samples, name, **labels):
    found = [v for n, l, v in samples if n == name and l == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


class StatsCase(unittest.TestCase):
    args = ()

    def setUp(self):
        self.srv = Server(*self.args,
                          name="stats-" + self._testMethodName.removeprefix("test_")).start()
        self.addCleanup(self.stop_server)

    def stop_server(self):
        rc = self.srv.stop()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{self.srv.log_text()}")

    def endpoint(self, stats, name):
        return stats["endpoints"][name]

    def assertMoved(self, before, after, name, **deltas):
        """Per-endpoint fields of name moved by exactly the deltas given;
        a field given as (">=", n) moved by at least n."""
        for field, delta in deltas.items():
            old, new = before["endpoints"][name][field], after["endpoints"][name][field]
            if isinstance(delta, tuple):
                self.assertGreaterEqual(new - old, delta[1], f"{name}.{field}: {old} -> {new}")
            else:
                self.assertEqual(new - old, delta, f"{name}.{field}: {old} -> {new}")


class StatsJsonTest(StatsCase):
    @timeout(10)
    def test_fields_exist(self):
        stats = get_stats(self.srv)
        self.assertIsInstance(stats["uptime_s"], (int, float))
        self.assertGreaterEqual(stats["uptime_s"], 0)
        self.assertIsInstance(stats["open_connections"], int)
        self.assertEqual(set(stats["endpoints"]), set(ENDPOINTS))
        for name in ENDPOINTS:
            for field in EP_FIELDS:
                value = stats["endpoints"][name][field]
                self.assertIsInstance(value, int, f"{name}.{field}")
                self.assertEqual(value, 0, f"{name}.{field} on a fresh server")
        self.assertIsInstance(stats["closes_by_code"], dict)
        for field in ("running", "samples", "samples_logged"):
            self.assertIn(field, stats["sensor"])

    @timeout(10)
    def test_content_type_is_json(self):
        headers, body = get(self.srv, "/stats")
        self.assertTrue(headers["content-type"].startswith("application/json"), headers)
        self.assertEqual(int(headers["content-length"]), len(body))

    @timeout(10)
    def test_uptime_moves(self):
        first = get_stats(self.srv)["uptime_s"]
        async def go():                  # a timed scenario: let time pass
            await asyncio.sleep(0.2)
        run(go())
        self.assertGreater(get_stats(self.srv)["uptime_s"], first)

    @timeout(10)
    def test_connections_current_and_total(self):
        async def go():
            a = await open_ws(self.srv, "/echo")
            b = await open_ws(self.srv, "/echo")
            echo = get_stats(self.srv)["endpoints"]["echo"]
            self.assertEqual((echo["connections"], echo["connections_total"]), (2, 2))
            await a.close()             # returns once the server closed TCP
            echo = get_stats(self.srv)["endpoints"]["echo"]
            self.assertEqual((echo["connections"], echo["connections_total"]), (1, 2))
            c = await open_ws(self.srv, "/echo")
            echo = get_stats(self.srv)["endpoints"]["echo"]
            self.assertEqual((echo["connections"], echo["connections_total"]), (2, 3))
            await b.close()
            await c.close()
            echo = get_stats(self.srv)["endpoints"]["echo"]
            self.assertEqual((echo["connections"], echo["connections_total"]), (0, 3))
        run(go())

    @timeout(10)
    def test_echo_traffic(self):
        async def go():
            before = get_stats(self.srv)
            ws = await open_ws(self.srv, "/echo")
            sent = ["abc", b"\x00\x01\xff", "h\u00e9llo \U0001F600", "x" * 70000]
            for message in sent:
                await ws.send(message)
                self.assertEqual(await recv(ws), message)
            after = get_stats(self.srv)
            total = sum(map(size, sent))
            self.assertMoved(before, after, "echo", connections=1, connections_total=1,
                             messages_in=len(sent), messages_out=len(sent),
                             bytes_in=total, bytes_out=total)
            for other in ENDPOINTS:
                if other != "echo":
                    self.assertMoved(before, after, other, messages_in=0, messages_out=0,
                                     connections_total=0)
            await ws.close()
        run(go())

    @timeout(10)
    def test_ticks_traffic(self):
        async def go():
            before = get_stats(self.srv)
            ws = await open_ws(self.srv, "/ws")
            ticks = [await recv(ws) for _ in range(3)]
            after = get_stats(self.srv)
            self.assertMoved(before, after, "ticks", connections=1, connections_total=1,
                             messages_in=0, bytes_in=0, messages_out=(">=", 3),
                             bytes_out=(">=", sum(map(size, ticks))))
            await ws.close()
        run(go())

    @timeout(10)
    def test_chat_traffic(self):
        async def go():
            before = get_stats(self.srv)
            ws = await open_ws(self.srv, "/chat")
            welcome = await recv(ws)
            request = json.dumps({"type": "message", "message": "counted", "sender": "A"})
            await ws.send(request)
            relayed = await recv(ws)
            after = get_stats(self.srv)
            self.assertMoved(before, after, "chat", connections=1, connections_total=1,
                             messages_in=1, bytes_in=size(request), messages_out=2,
                             bytes_out=size(welcome) + size(relayed))
            await ws.close()
        run(go())

    @timeout(10)
    def test_rpc_traffic(self):
        async def go():
            before = get_stats(self.srv)
            ws = await open_ws(self.srv, "/rpc")
            answers = []
            for request in ("one", "GET_TIME", "GREET_ME"):
                await ws.send(request)
                answers.append(await recv(ws))
            after = get_stats(self.srv)
            self.assertMoved(before, after, "rpc", connections=1, connections_total=1,
                             messages_in=3, bytes_in=3 + 8 + 8, messages_out=3,
                             bytes_out=sum(map(size, answers)))
            await ws.close()
        run(go())

    def check_command_traffic(self, path, name):
        async def go():
            before = get_stats(self.srv)
            ws = await open_ws(self.srv, path)
            state = await recv(ws)
            await ws.send("NONSENSE")
            error = await recv(ws)
            after = get_stats(self.srv)
            self.assertMoved(before, after, name, connections=1, connections_total=1,
                             messages_in=1, bytes_in=8, messages_out=2,
                             bytes_out=size(state) + size(error))
            await ws.close()
        run(go())

    @timeout(10)
    def test_sensor_traffic(self):
        self.check_command_traffic("/sensor", "sensor")

    @timeout(10)
    def test_control_traffic(self):
        self.check_command_traffic("/control", "control")


class ClosesTest(StatsCase):
    """Each close is counted under its code. A /chat observer hears the
    leave notice only after the server has counted the close."""

    def check_close(self, code, close_somehow):
        async def go():
            observer = await open_ws(self.srv, "/chat")
            await recv(observer)                          # welcome
            before = get_stats(self.srv)["closes_by_code"]
            await close_somehow()
            while "has left" not in json.loads(await recv(observer)).get("message", ""):
                pass
            after = get_stats(self.srv)["closes_by_code"]
            self.assertEqual(after.get(str(code), 0) - before.get(str(code), 0), 1,
                             f"closes_by_code {before} -> {after}")
            others = {k: v for k, v in after.items() if k != str(code)}
            self.assertEqual(others, {k: v for k, v in before.items() if k != str(code)})
            await observer.close()
        run(go())

    @timeout(10)
    def test_normal_close_counts_1000(self):
        async def close_somehow():
            ws = await open_ws(self.srv, "/chat")
            await ws.close(1000)
        self.check_close(1000, close_somehow)

    @timeout(10)
    def test_going_away_counts_1001(self):
        async def close_somehow():
            ws = await open_ws(self.srv, "/chat")
            await ws.close(1001)
        self.check_close(1001, close_somehow)

    @timeout(10)
    def test_protocol_error_counts_1002(self):
        async def close_somehow():
            sock, rest = ws_connect_raw(self.srv.port, b"/chat")
            sock.sendall(frame(1, b'{"type":"ping"}', mask=None))   # unmasked: §5.1
            code, _ = FrameReader(sock, rest).read_close()
            self.assertEqual(code, 1002)
            sock.close()
        self.check_close(1002, close_somehow)

    @timeout(10)
    def test_drop_counts_1006(self):
        async def close_somehow():
            sock, rest = ws_connect_raw(self.srv.port, b"/chat")
            FrameReader(sock, rest).read()                # the welcome
            sock.shutdown(socket.SHUT_RDWR)               # no Close frame
            sock.close()
        self.check_close(1006, close_somehow)


class MetricsTest(StatsCase):
    args = ("--tick-ms", "10")

    def traffic(self):
        """Some echo and chat traffic and one closed connection."""
        async def go():
            ws = await open_ws(self.srv, "/echo")
            for message in ("one", "two", b"\x01\x02"):
                await ws.send(message)
                await recv(ws)
            await ws.close()
            ticks = await open_ws(self.srv, "/ticks")
            for _ in range(5):
                await recv(ticks)
            await ticks.close()
        run(go())

    @timeout(10)
    def test_exposition_format(self):
        self.traffic()
        headers, text = get_metrics(self.srv)
        self.assertTrue(headers["content-type"].startswith("text/plain"), headers)
        types, helps, samples = parse_exposition(self, text)
        self.assertTrue(samples)
        for family, kind in types.items():
            self.assertTrue(family.startswith("wspulse_"), family)
            self.assertIn(family, helps, f"{family}: no HELP")
            if kind == "counter":
                self.assertTrue(family.endswith("_total"), f"counter {family}")
            else:
                self.assertFalse(family.endswith("_total"), f"{kind} {family}")
        for name, labels, value in samples:
            if types[family_of(name, types)] == "counter":
                self.assertGreaterEqual(value, 0, name)
                self.assertTrue(math.isfinite(value), name)

    @timeout(10)
    def test_per_endpoint_families(self):
        self.traffic()
        types, _, samples = parse_exposition(self, get_metrics(self.srv)[1])
        labelled = {}
        for name, labels, value in samples:
            if "endpoint" in labels:
                labelled.setdefault(name, []).append(labels["endpoint"])
        for field, family in EP_FAMILIES.items():
            self.assertIn(family, types, f"no family for {field}")
            self.assertEqual(sorted(labelled.get(family, [])), sorted(ENDPOINTS), family)
        self.assertEqual(types["wspulse_connections"], "gauge")
        for field, family in EP_FAMILIES.items():
            if field != "connections":
                self.assertEqual(types[family], "counter", family)

    @timeout(10)
    def test_tick_lateness_histogram(self):
        self.traffic()
        types, _, samples = parse_exposition(self, get_metrics(self.srv)[1])
        histograms = [f for f, kind in types.items() if kind == "histogram"]
        self.assertTrue(any("tick" in f and "late" in f for f in histograms), histograms)
        for family in histograms:
            buckets = [(l["le"], v) for n, l, v in samples if n == family + "_bucket"]
            self.assertTrue(buckets, family)
            bounds = [parse_value(le) for le, _ in buckets]
            self.assertEqual(bounds, sorted(bounds), f"{family}: le out of order")
            self.assertEqual(len(set(bounds)), len(bounds), f"{family}: le twice")
            self.assertEqual(buckets[-1][0], "+Inf", family)
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), f"{family}: buckets not cumulative")
            count = sample_value(samples, family + "_count")
            self.assertEqual(count, counts[-1], f"{family}: _count != +Inf bucket")
            self.assertGreater(count, 0, f"{family}: nothing observed")
            self.assertGreaterEqual(sample_value(samples, family + "_sum"), 0)

    def tick_send_figures(self):
        """(ticks so far, seconds spent sending them) from /metrics."""
        types, _, samples = parse_exposition(self, get_metrics(self.srv)[1])
        send, late = "wspulse_tick_send_seconds", "wspulse_tick_lateness_seconds"
        self.assertEqual(types.get(send), "histogram", sorted(types))
        # Both are observed by the same timer callback, so /metrics (served
        # between two loop iterations) always sees them at the same count.
        count = sample_value(samples, send + "_count")
        self.assertEqual(count, sample_value(samples, late + "_count"))
        return count, sample_value(samples, send + "_sum")

    def mean_tick_send(self, before, after):
        ticks = after[0] - before[0]
        self.assertGreaterEqual(ticks, 5)
        return (after[1] - before[1]) / ticks

    @timeout(15)
    def test_tick_send_time_grows_with_the_clients(self):
        """The time a tick takes to go out is the sends: ticks to 200
        clients take longer than ticks to none (a send costs microseconds,
        formatting the tick once about as much as one send)."""
        def with_clients(n):
            # Raw clients that never read: 20 ticks of ~150 B stay within
            # their socket buffers, and closing them needs no handshake.
            clients = [ws_connect_raw(self.srv.port, b"/ticks")[0] for _ in range(n)]
            before = self.tick_send_figures()
            time.sleep(0.2)                          # 20 ticks at --tick-ms 10
            after = self.tick_send_figures()
            for sock in clients:
                sock.close()
            return before, after
        alone = with_clients(0)
        crowd = with_clients(200)
        self.assertGreater(self.mean_tick_send(*crowd), 3 * self.mean_tick_send(*alone))
        self.assertLess(self.mean_tick_send(*crowd), 1.0)

    @timeout(10)
    def test_metrics_agree_with_stats(self):
        self.traffic()
        async def go():
            observer = await open_ws(self.srv, "/chat")
            await recv(observer)                          # welcome
            sock, rest = ws_connect_raw(self.srv.port, b"/chat")
            sock.sendall(frame(1, b"{}", mask=None))       # unmasked: closed with 1002
            FrameReader(sock, rest).read_close()
            sock.close()
            while "has left" not in json.loads(await recv(observer))["message"]:
                pass
            stats = get_stats(self.srv)
            _, text = get_metrics(self.srv)
            again = get_stats(self.srv)
            await observer.close()
            return stats, text, again
        stats, text, again = run(go())
        _, _, samples = parse_exposition(self, text)
        for name in ENDPOINTS:
            for field, family in EP_FAMILIES.items():
                self.assertEqual(stats["endpoints"][name][field],
                                 again["endpoints"][name][field],
                                 f"{name}.{field} moved between the reads")
                self.assertEqual(sample_value(samples, family, endpoint=name),
                                 stats["endpoints"][name][field], f"{family}{{{name}}}")
        self.assertEqual(stats["endpoints"]["echo"]["messages_in"], 3)
        self.assertEqual(stats["closes_by_code"].get("1002"), 1, stats["closes_by_code"])
        by_code = {l["code"]: v for n, l, v in samples if n == "wspulse_closes_total"}
        for code in set(by_code) | set(stats["closes_by_code"]):
            self.assertEqual(by_code.get(code, 0), stats["closes_by_code"].get(code, 0),
                             f"closes with code {code}")
        self.assertEqual(sample_value(samples, "wspulse_chat_online"), stats["chat_online"])
        self.assertEqual(sample_value(samples, "wspulse_sensor_samples_total"),
                         stats["sensor"]["samples"])


if __name__ == "__main__":
    unittest.main()
