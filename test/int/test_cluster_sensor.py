"""The cluster mode (--redis) seen from outside: a real redis-server on a
free loopback port and two real wspulse instances sharing /sensor and
/control through it (SPEC.md, "Several instances"). Also what every
cluster endpoint shares: the start-up errors for a --redis that is
malformed, refused or has the wrong password, /readyz while Redis is
away, the broker in /stats and /metrics, and --reuse-port.

Each test has its own --redis-prefix, so they share one Redis but no keys;
the test that stops Redis has one of its own. Waiting is by messages or by
polling /stats, /readyz or the log; never a bare sleep.
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import websockets

from wspulse_test import (BINARY, OUT, TIME_SCALE, Server, http_request, parse_response,
                          timeout)

REDIS = shutil.which("redis-server")
HZ = 100                       # --sensor-hz: t_ms steps of 10 ms
STEP_MS = 1000 // HZ


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of our own on a free loopback port, stopped by PID."""

    def __init__(self, *extra, port=None):
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc = None

    def start(self):
        os.makedirs(OUT, exist_ok=True)
        self.log = open(os.path.join(OUT, f"cluster-redis-{self.port}.log"), "a")
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"] + self.extra, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start on {self.port}")
                time.sleep(0.02)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc:
            self.log.close()
        self.proc = None

    def url(self, password=None):
        auth = f":{password}@" if password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}"


def get(server, path):
    return parse_response(http_request(
        server.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path))


def get_stats(server):
    status, _, body = get(server, b"/stats")
    assert status == 200, status
    return json.loads(body)


def poll(what, fn, seconds):
    """fn() until it returns something true; that value. Fails after seconds."""
    deadline = time.monotonic() + seconds * TIME_SCALE
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.02)


async def open_ws(server, path):
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=5, max_queue=None)


async def recv_json(ws, timeout_s=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s * TIME_SCALE))


async def until_type(ws, kind):
    while True:
        msg = await recv_json(ws)
        if msg.get("type") == kind:
            return msg


def run(coro):
    return asyncio.run(coro)


def accel_lines(test, path):
    """The accel lines of a sensor log in file order; every line is whole
    JSON that names its instance."""
    with open(path, "rb") as f:
        data = f.read()
    test.assertTrue(data.endswith(b"\n"), f"{path}: empty, or the last line incomplete")
    lines = [json.loads(line) for line in data.split(b"\n")[:-1]]
    for line in lines:
        test.assertIn("instance", line, f"{path}: {line}")
    return [line for line in lines if line["sensor"] == "accel"]


class ClusterCase(unittest.TestCase):
    redis = None

    @classmethod
    def setUpClass(cls):
        if not REDIS:        # fail, never skip: the cluster mode would go untested
            raise AssertionError("redis-server is missing: apt-get install redis-server "
                                 "(make deps does it)")
        cls.redis = Redis().start()

    @classmethod
    def tearDownClass(cls):
        if cls.redis:
            cls.redis.stop()

    def prefix(self):
        return "t-" + self._testMethodName

    def start(self, name, *args, redis=None, sensor_log=None):
        args = ["--redis", (redis or self.redis).url(), "--redis-prefix", self.prefix(),
                "--instance", name, "--sensor-hz", str(HZ)] + list(args)
        if sensor_log:
            args += ["--sensor-log", sensor_log]
        srv = Server(*args, name=f"cluster-{self._testMethodName[5:]}-{name}")
        srv.start()
        srv.instance = name
        self.addCleanup(self.stop_server, srv)
        return srv

    def stop_server(self, srv):
        if srv.proc.returncode is not None:
            return
        rc = srv.stop()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{srv.log_text()}")

    def holder(self, *servers):
        """The instance running the acquisition, once exactly one does."""
        def one():
            held = [s for s in servers if get_stats(s)["sensor"].get("holder")]
            return held[0] if len(held) == 1 else None
        return poll("one holder of the sensor lease", one, 5)

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="wspulse-cluster-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


class SharedSensor(ClusterCase):
    @timeout(20)
    def test_start_on_one_instance_reaches_the_clients_of_the_other(self):
        a, b = self.start("A"), self.start("B")

        async def scenario():
            control_b = await open_ws(b, "/control")
            sensor_b = await open_ws(b, "/sensor")
            control_a = await open_ws(a, "/control")
            for ws in (control_b, sensor_b, control_a):
                self.assertEqual(await recv_json(ws), {"type": "state", "running": False})
            await control_a.send("START")
            for ws in (control_a, control_b, sensor_b):
                self.assertEqual(await until_type(ws, "state"),
                                 {"type": "state", "running": True})
            await control_b.send(json.dumps({"type": "control", "command": "stop"}))
            for ws in (control_a, control_b):
                self.assertEqual(await until_type(ws, "state"),
                                 {"type": "state", "running": False})
            for ws in (control_b, sensor_b, control_a):
                await ws.close()
        run(scenario())
        self.assertFalse(get_stats(a)["sensor"]["running"])

    @timeout(20)
    def test_samples_of_the_holder_reach_the_other_instances_clients(self):
        a, b = self.start("A"), self.start("B")

        async def scenario():
            control = await open_ws(a, "/control")
            await recv_json(control)
            await control.send("START")
            await until_type(control, "state")
            holder = self.holder(a, b)
            other = b if holder is a else a
            sensor = await open_ws(other, "/sensor")
            state = await recv_json(sensor)
            if not state["running"]:       # an instance that started just now may lag
                state = await until_type(sensor, "state")
            self.assertEqual(state, {"type": "state", "running": True})
            samples = [await recv_json(sensor) for _ in range(20)]
            for s in samples:
                self.assertEqual(s["type"], "sample", s)
                self.assertEqual(s["instance"], holder.instance, s)
            accel = [s["t_ms"] for s in samples if s["sensor"] == "accel"]
            steps = {y - x for x, y in zip(accel, accel[1:])}
            self.assertEqual(steps, {5 * STEP_MS}, "every 5th sample (--sensor-decimate)")
            self.assertEqual(get_stats(holder)["sensor"]["lease_holder"], holder.instance)
            self.assertEqual(get_stats(other)["sensor"]["lease_holder"], holder.instance)
            self.assertFalse(get_stats(other)["sensor"]["holder"])
            await sensor.close()
            await control.close()
        run(scenario())

    @timeout(30)
    def test_a_killed_holder_is_replaced_and_the_log_has_one_hole(self):
        d = self.tmpdir()
        a = self.start("A", sensor_log=os.path.join(d, "A.jsonl"))
        b = self.start("B", sensor_log=os.path.join(d, "B.jsonl"))

        async def start_it():
            control = await open_ws(a, "/control")
            await recv_json(control)
            await control.send("START")
            await until_type(control, "state")
            await control.close()
        run(start_it())
        holder = self.holder(a, b)
        survivor = b if holder is a else a
        poll("samples logged by the survivor",
             lambda: get_stats(survivor)["sensor"]["samples_logged"] >= 100, 5)
        holder.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        holder.proc.wait()
        poll("the survivor takes over", lambda: get_stats(survivor)["sensor"]["holder"], 3)
        takeover_ms = (time.monotonic() - killed) * 1000
        poll("samples taken by the new holder",
             lambda: get_stats(survivor)["sensor"]["samples"] >= 100, 5)
        self.assertEqual(survivor.stop(), 0)
        holder.stop()
        lines = accel_lines(self, os.path.join(d, survivor.instance + ".jsonl"))
        holes = [(x, y) for x, y in zip(lines, lines[1:]) if y["t_ms"] - x["t_ms"] != STEP_MS]
        self.assertEqual(len(holes), 1, f"holes: {holes[:5]}")
        before, after = holes[0]
        hole_ms = after["t_ms"] - before["t_ms"]
        self.assertEqual((before["instance"], after["instance"]),
                         (holder.instance, survivor.instance))
        self.assertGreater(hole_ms, 500, "the lease is not taken over before it expires")
        self.assertLess(abs(hole_ms - takeover_ms), 750,
                        f"hole {hole_ms} ms, takeover seen after {takeover_ms:.0f} ms")
        self.assertEqual({x["instance"] for x in lines[:lines.index(after)]}, {holder.instance})
        self.assertEqual({x["instance"] for x in lines[lines.index(after):]},
                         {survivor.instance})


class Broker(ClusterCase):
    @timeout(30)
    def test_readyz_is_503_while_redis_is_stopped_and_200_after(self):
        own = Redis().start()
        self.addCleanup(own.stop)
        a = self.start("A", redis=own)
        self.assertEqual(get(a, b"/readyz")[:1], (200,))
        own.stop()
        status, _, body = poll("/readyz 503", lambda: (lambda r: r if r[0] == 503 else None)(
            get(a, b"/readyz")), 5)
        self.assertEqual(body, b"broker unavailable\n")
        self.assertFalse(get_stats(a)["broker"]["connected"])

        async def command_meanwhile():
            control = await open_ws(a, "/control")
            await recv_json(control)
            await control.send("START")
            reply = await recv_json(control)
            self.assertEqual(reply["type"], "error")
            self.assertIn("broker unavailable", reply["message"])
            await control.close()
        run(command_meanwhile())
        own = Redis(port=own.port).start()
        self.addCleanup(own.stop)
        poll("/readyz 200", lambda: get(a, b"/readyz")[0] == 200, 8)
        broker = get_stats(a)["broker"]
        self.assertTrue(broker["connected"])
        self.assertGreaterEqual(broker["reconnects"], 1)

    @timeout(15)
    def test_stats_and_metrics_show_the_broker(self):
        a = self.start("A")
        broker = poll("a command answered", lambda: (lambda b: b if b["commands"] > 1
                                                      else None)(get_stats(a)["broker"]), 5)
        self.assertEqual(broker["url"], self.redis.url())
        self.assertEqual(broker["instance"], "A")
        self.assertTrue(broker["connected"])
        for key in ("connects", "reconnects", "connect_failures", "timeouts", "pending",
                    "rtt_ms", "last_error"):
            self.assertIn(key, broker)
        self.assertIn("lease_holder", get_stats(a)["sensor"])
        status, _, body = get(a, b"/metrics")
        text = body.decode()
        self.assertIn("\nwspulse_broker_up 1\n", text)
        self.assertIn("\nwspulse_broker_reconnects_total 0\n", text)
        self.assertIn("wspulse_broker_rtt_seconds ", text)
        self.assertIn("\nwspulse_sensor_lease_held 0\n", text)

    @timeout(15)
    def test_no_redis_option_no_broker_section(self):
        with Server(name="cluster-alone") as srv:
            self.assertNotIn("broker", get_stats(srv))
            self.assertEqual(get(srv, b"/readyz")[0], 200)


class StartUp(unittest.TestCase):
    def serve(self, *args):
        proc = subprocess.run([BINARY, "--port", "0"] + list(args), capture_output=True,
                              text=True, timeout=15 * TIME_SCALE)
        return proc.returncode, proc.stdout, proc.stderr

    @timeout(15)
    def test_malformed_url_is_a_bad_option(self):
        for url in ("localhost:6379", "redis://127.0.0.1:notaport", "redis://"):
            rc, out, err = self.serve("--redis", url)
            self.assertEqual(rc, 2, err)
            self.assertEqual(out, "")
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertTrue(err.startswith("wspulse: --redis: "), err)

    @timeout(15)
    def test_refused_url_exits_1_naming_it(self):
        port = free_port()
        rc, out, err = self.serve("--redis", f"redis://127.0.0.1:{port}")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "", "no listening before the broker answers")
        self.assertEqual(err, f"wspulse: --redis redis://127.0.0.1:{port}: Connection refused\n")

    @timeout(20)
    def test_wrong_password_exits_1_and_the_right_one_works(self):
        if not REDIS:
            raise AssertionError("redis-server is missing")
        own = Redis("--requirepass", "s3cret").start()
        self.addCleanup(own.stop)
        rc, out, err = self.serve("--redis", own.url("wrong"))
        self.assertEqual(rc, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith(f"wspulse: --redis redis://:***@127.0.0.1:{own.port}: "
                                       "AUTH refused: WRONGPASS"), err)
        self.assertNotIn("wrong", err, "the password is never shown")
        with Server("--redis", own.url("s3cret"), name="cluster-password") as srv:
            self.assertTrue(get_stats(srv)["broker"]["connected"])


class ReusePort(unittest.TestCase):
    @timeout(15)
    def test_two_instances_share_a_port_with_reuse_port(self):
        port = free_port()
        with Server("--port", str(port), "--reuse-port", "--instance", "one",
                    name="cluster-reuse-1") as one, \
                Server("--port", str(port), "--reuse-port", "--instance", "two",
                       name="cluster-reuse-2") as two:
            self.assertEqual(one.port, port)
            self.assertEqual(two.port, port)
            self.assertEqual(get(one, b"/healthz")[0], 200)
            proc = subprocess.run([BINARY, "--port", str(port)], capture_output=True,
                                  text=True, timeout=10 * TIME_SCALE)
            self.assertEqual(proc.returncode, 1, "without --reuse-port the port is taken")
            self.assertIn("address already in use", proc.stderr)


if __name__ == "__main__":
    unittest.main()
