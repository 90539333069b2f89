"""/sensor and /control: the mock data acquisition of README "Messages", seen by
independent clients (Debian's python3-websockets), and its --sensor-log
(JSON lines, every sample at full rate) checked against the server's own
count in /stats.

Waiting is by the messages themselves or by polling /stats (the sensor has
taken N samples); the one sleep is a quiet period in which nothing may
arrive.
"""
import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
import unittest

import websockets

from wspulse_test import TIME_SCALE, Server, http_request, parse_response, timeout

ACCEL_KEYS = {"type", "sensor", "t_ms", "x", "y", "z"}
TEMPERATURE_KEYS = {"type", "sensor", "t_ms", "value"}


def run(coro):
    return asyncio.run(coro)


def get_stats(server):
    status, _, body = parse_response(http_request(
        server.port, b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status == 200, status
    return json.loads(body)


async def open_ws(server, path):
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=5, max_queue=None)


async def recv_json(ws, timeout_s=5):
    text = await asyncio.wait_for(ws.recv(), timeout_s)
    if not isinstance(text, str):
        raise AssertionError(f"expected a text message, got {text!r}")
    return json.loads(text)


async def connected(server, path):
    """A client that has read the state sent on connect; (ws, state)."""
    ws = await open_ws(server, path)
    return ws, await recv_json(ws)


async def until_state(ws, samples=None):
    """Read to the next state message; samples before it go into samples
    (or fail the test if none are expected)."""
    while True:
        msg = await recv_json(ws)
        if msg.get("type") == "state":
            return msg
        if samples is None or msg.get("type") != "sample":
            raise AssertionError(f"expected a state message, got {msg}")
        samples.append(msg)


async def read_samples(ws, count, sensor=None):
    """The next count samples (of sensor, if given; others skipped)."""
    got = []
    while len(got) < count:
        msg = await recv_json(ws)
        if msg.get("type") != "sample":
            raise AssertionError(f"expected a sample, got {msg}")
        if sensor is None or msg["sensor"] == sensor:
            got.append(msg)
    return got


async def until_sampled(server, count, seconds=10):
    """Poll /stats until the sensor has taken count samples (it is running)."""
    deadline = time.monotonic() + seconds * TIME_SCALE
    while get_stats(server)["sensor"]["samples"] < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} samples after {seconds} s")
        await asyncio.sleep(0.02)


async def quiet(ws, seconds):
    """Fail if anything arrives within seconds (a timed scenario)."""
    try:
        msg = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"expected nothing, got {msg!r}")


def read_log(test, path):
    """Every line of a sensor log, parsed; the file ends with a whole line.
    Returns {sensor: [line, ...]} in file order."""
    with open(path, "rb") as f:
        data = f.read()
    test.assertTrue(data == b"" or data.endswith(b"\n"), f"{path}: last line incomplete")
    by_sensor = {"accel": [], "temperature": []}
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            sample = json.loads(line)
        except ValueError:
            test.fail(f"{path}:{number}: not JSON: {line!r}")
        keys = (ACCEL_KEYS if sample.get("sensor") == "accel" else TEMPERATURE_KEYS) - {"type"}
        test.assertEqual(set(sample) - {"type"}, keys, f"{path}:{number}: {line!r}")
        test.assertIsInstance(sample["t_ms"], int, f"{path}:{number}")
        by_sensor[sample["sensor"]].append(sample)
    return by_sensor


def assert_steps(test, samples, step_ms, what):
    """t_ms goes up by exactly step_ms from one sample to the next."""
    times = [s["t_ms"] for s in samples]
    bad = [(a, b) for a, b in zip(times, times[1:]) if b - a != step_ms]
    test.assertEqual(bad, [], f"{what}: steps other than {step_ms} ms (first few: {bad[:5]})")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class SensorCase(unittest.TestCase):
    def start(self, *args):
        srv = Server(*args, name="sensor-" + self._testMethodName.removeprefix("test_"))
        srv.start()
        self.addCleanup(self.stop_server, srv)
        return srv

    def stop_server(self, srv):
        if srv.proc.returncode is not None:
            return
        rc = srv.stop()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{srv.log_text()}")

    def log_path(self):
        folder = tempfile.mkdtemp(prefix="wspulse-sensor-")
        self.addCleanup(shutil.rmtree, folder, True)
        return os.path.join(folder, "samples.jsonl")


class StateTest(SensorCase):
    @timeout(10)
    def test_sensor_client_gets_the_state_on_connect(self):
        srv = self.start()

        async def go():
            ws, state = await connected(srv, "/sensor")
            self.assertEqual(state, {"type": "state", "running": False})
            await ws.close()
        run(go())

    @timeout(10)
    def test_control_client_gets_the_state_on_connect(self):
        srv = self.start()

        async def go():
            ws, state = await connected(srv, "/control")
            self.assertEqual(state, {"type": "state", "running": False})
            await ws.close()
        run(go())

    @timeout(10)
    def test_state_on_connect_while_running(self):
        srv = self.start()

        async def go():
            control, _ = await connected(srv, "/control")
            await control.send("START")
            await until_state(control)
            ws, state = await connected(srv, "/sensor")
            self.assertEqual(state, {"type": "state", "running": True})
            await ws.close()
            await control.close()
        run(go())

    @timeout(10)
    def test_start_from_control_reaches_every_client(self):
        srv = self.start()

        async def go():
            data, _ = await connected(srv, "/sensor")
            data2, _ = await connected(srv, "/sensor")
            control, _ = await connected(srv, "/control")
            control2, _ = await connected(srv, "/control")
            await control.send("START")
            for ws in (control, control2, data, data2):
                self.assertEqual(await recv_json(ws), {"type": "state", "running": True})
            for ws in (data, data2, control, control2):
                await ws.close()
        run(go())

    @timeout(10)
    def test_stop_from_sensor_reaches_every_client(self):
        srv = self.start()

        async def go():
            data, _ = await connected(srv, "/sensor")
            control, _ = await connected(srv, "/control")
            await control.send("START")
            await until_state(control)
            await until_state(data)
            await data.send("STOP")
            self.assertEqual(await until_state(data, []), {"type": "state", "running": False})
            self.assertEqual(await until_state(control), {"type": "state", "running": False})
            await data.close()
            await control.close()
        run(go())

    @timeout(10)
    def test_json_control_commands(self):
        srv = self.start()

        async def go():
            control, _ = await connected(srv, "/control")
            await control.send(json.dumps({"type": "control", "command": "start"}))
            self.assertEqual(await recv_json(control), {"type": "state", "running": True})
            await control.send(json.dumps({"type": "control", "command": "stop"}))
            self.assertEqual(await recv_json(control), {"type": "state", "running": False})
            await control.close()
        run(go())


class BadCommandTest(SensorCase):
    def check_error_then_alive(self, path, bad):
        srv = self.start()

        async def go():
            ws, _ = await connected(srv, path)
            await ws.send(bad)
            error = await recv_json(ws)
            self.assertEqual(error.get("type"), "error", error)
            self.assertIsInstance(error.get("message"), str)
            self.assertTrue(error["message"])
            await ws.send("START")                       # still open, still obeys
            self.assertEqual(await until_state(ws, []), {"type": "state", "running": True})
            await ws.close()
        run(go())

    @timeout(10)
    def test_unknown_word_on_sensor(self):
        self.check_error_then_alive("/sensor", "LAUNCH")

    @timeout(10)
    def test_unknown_word_on_control(self):
        self.check_error_then_alive("/control", "LAUNCH")

    @timeout(10)
    def test_unknown_json_command(self):
        self.check_error_then_alive("/control", json.dumps({"type": "control",
                                                            "command": "explode"}))

    @timeout(10)
    def test_json_of_another_type(self):
        self.check_error_then_alive("/control", json.dumps({"type": "chat",
                                                            "command": "start"}))

    def check_binary_closes_1003(self, path):
        srv = self.start()

        async def go():
            ws, _ = await connected(srv, path)
            await ws.send(b"START")
            with self.assertRaises(websockets.ConnectionClosed):
                got = await recv_json(ws)
                self.fail(f"answered a binary command: {got}")
            self.assertEqual(ws.close_code, 1003)
        run(go())
        self.assertFalse(get_stats(srv)["sensor"]["running"])

    @timeout(10)
    def test_binary_on_sensor_closes_1003(self):
        self.check_binary_closes_1003("/sensor")

    @timeout(10)
    def test_binary_on_control_closes_1003(self):
        self.check_binary_closes_1003("/control")


class SamplesTest(SensorCase):
    @timeout(10)
    def test_sample_shape(self):
        srv = self.start("--sensor-hz", "100", "--sensor-decimate", "1")

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            samples = await read_samples(ws, 10)
            await ws.close()
            return samples
        samples = run(go())
        now_ms = time.time() * 1000
        accel = [s for s in samples if s["sensor"] == "accel"]
        temperature = [s for s in samples if s["sensor"] == "temperature"]
        self.assertTrue(accel and temperature, samples)
        self.assertEqual(len(accel) + len(temperature), len(samples), samples)
        for s in accel:
            self.assertEqual(set(s), ACCEL_KEYS, s)
            self.assertEqual(s["type"], "sample")
            self.assertTrue(all(is_number(s[k]) for k in "xyz"), s)
        for s in temperature:
            self.assertEqual(set(s), TEMPERATURE_KEYS, s)
            self.assertEqual(s["type"], "sample")
            self.assertTrue(is_number(s["value"]), s)
        for s in samples:
            self.assertIsInstance(s["t_ms"], int, s)
            self.assertLess(abs(s["t_ms"] - now_ms), 60000, f"t_ms is not epoch ms: {s}")
        # Both sensors are sampled at the same instants.
        self.assertEqual([s["t_ms"] for s in accel][:len(temperature)],
                         [s["t_ms"] for s in temperature][:len(accel)])

    @timeout(10)
    def test_sent_samples_are_decimated(self):
        # 200 Hz, every 4th sample sent: accel t_ms goes up 20 ms at a time.
        srv = self.start("--sensor-hz", "200", "--sensor-decimate", "4")

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            accel = await read_samples(ws, 10, "accel")
            await ws.close()
            return accel
        assert_steps(self, run(go()), 20, "accel samples sent")

    @timeout(10)
    def test_default_rate_and_decimation(self):
        # Defaults: 100 Hz, every 5th sample sent: 50 ms apart.
        srv = self.start()

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            accel = await read_samples(ws, 5, "accel")
            await ws.close()
            return accel
        assert_steps(self, run(go()), 50, "accel samples sent")

    @timeout(10)
    def test_two_sensor_clients_get_the_same_samples(self):
        srv = self.start("--sensor-hz", "200", "--sensor-decimate", "2")

        async def go():
            a, _ = await connected(srv, "/sensor")
            b, _ = await connected(srv, "/sensor")
            await a.send("START")
            await until_state(a)
            await until_state(b)
            got_a = await read_samples(a, 20)
            got_b = await read_samples(b, 20)
            await a.close()
            await b.close()
            return got_a, got_b
        got_a, got_b = run(go())
        self.assertEqual(got_a, got_b)

    @timeout(10)
    def test_control_clients_get_no_samples(self):
        srv = self.start("--sensor-hz", "200", "--sensor-decimate", "1")

        async def go():
            data, _ = await connected(srv, "/sensor")
            control, _ = await connected(srv, "/control")
            await control.send("START")
            await until_state(control)
            await until_state(data)
            samples = await read_samples(data, 100)      # samples flow meanwhile
            await data.send("STOP")
            await until_state(data, samples)
            # The control socket's next message is the state: no sample before it.
            self.assertEqual(await recv_json(control), {"type": "state", "running": False})
            await data.close()
            await control.close()
        run(go())

    @timeout(10)
    def test_stop_stops_samples(self):
        srv = self.start("--sensor-hz", "500", "--sensor-decimate", "1")

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            await read_samples(ws, 10)
            await ws.send("STOP")
            self.assertEqual(await until_state(ws, []), {"type": "state", "running": False})
            before = get_stats(srv)["sensor"]
            await quiet(ws, 0.5)
            after = get_stats(srv)["sensor"]
            self.assertFalse(after["running"])
            self.assertEqual(after["samples"], before["samples"], "samples after STOP")
            await ws.close()
        run(go())

    @timeout(10)
    def test_restart_begins_a_new_acquisition(self):
        srv = self.start("--sensor-hz", "200", "--sensor-decimate", "1")

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            first = (await read_samples(ws, 4, "accel"))[-1]
            await ws.send("STOP")
            await until_state(ws, [])
            await ws.send("START")
            self.assertEqual(await until_state(ws), {"type": "state", "running": True})
            again = await read_samples(ws, 4, "accel")
            self.assertGreater(again[0]["t_ms"], first["t_ms"])
            assert_steps(self, again, 5, "accel samples after a restart")
            await ws.close()
        run(go())


class SensorLogTest(SensorCase):
    @timeout(20)
    def test_log_has_every_sample_counted_by_stats(self):
        # Issue 3, item 3: the log holds exactly what the server counted.
        path = self.log_path()
        srv = self.start("--sensor-hz", "1000", "--sensor-log", path)

        async def go():
            control, _ = await connected(srv, "/control")
            await control.send("START")
            await until_state(control)
            await until_sampled(srv, 2000)               # 1 s at 1000 Hz, both sensors
            await control.send("STOP")
            await until_state(control)
            await control.close()
        run(go())
        stats = get_stats(srv)["sensor"]
        self.assertEqual(srv.stop(), 0)
        log = read_log(self, path)
        lines = len(log["accel"]) + len(log["temperature"])
        self.assertGreater(lines, 0)
        self.assertEqual(stats["samples"], stats["samples_logged"])
        self.assertEqual(lines, stats["samples_logged"], "log lines vs /stats samples_logged")
        self.assertEqual(len(log["accel"]), len(log["temperature"]))
        assert_steps(self, log["accel"], 1, "accel log")
        assert_steps(self, log["temperature"], 1, "temperature log")

    @timeout(20)
    def test_log_is_whole_after_sigterm_while_running(self):
        path = self.log_path()
        srv = self.start("--sensor-hz", "1000", "--sensor-log", path)

        async def go():
            control, _ = await connected(srv, "/control")
            await control.send("START")
            await until_state(control)
            await until_sampled(srv, 2000)               # 1 s at 1000 Hz, both sensors
            counted = get_stats(srv)["sensor"]["samples"]
            srv.proc.send_signal(signal.SIGTERM)
            with self.assertRaises(websockets.ConnectionClosed):
                got = await recv_json(control)
                self.fail(f"unexpected message while shutting down: {got}")
            await control.wait_closed()
            return counted
        counted = run(go())
        self.assertEqual(srv.stop(), 0)
        log = read_log(self, path)
        lines = len(log["accel"]) + len(log["temperature"])
        self.assertGreaterEqual(lines, counted, "fewer log lines than samples counted before")
        self.assertEqual(len(log["accel"]), len(log["temperature"]))
        assert_steps(self, log["accel"], 1, "accel log")
        assert_steps(self, log["temperature"], 1, "temperature log")

    @timeout(20)
    def test_log_holds_the_sent_samples_and_all_between(self):
        path = self.log_path()
        srv = self.start("--sensor-hz", "500", "--sensor-decimate", "5", "--sensor-log", path)

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            sent = await read_samples(ws, 40)
            await ws.send("STOP")
            await until_state(ws, sent)
            await ws.close()
            return sent
        sent = run(go())
        self.assertEqual(srv.stop(), 0)
        log = read_log(self, path)
        for sample in sent:
            logged = dict(sample)
            del logged["type"]
            index = [s["t_ms"] for s in log[sample["sensor"]]].index(sample["t_ms"])
            self.assertEqual(log[sample["sensor"]][index], logged)
        times = [s["t_ms"] for s in sent if s["sensor"] == "accel"]
        logged_times = [s["t_ms"] for s in log["accel"]]
        between = [t for t in logged_times if times[0] <= t <= times[-1]]
        self.assertEqual(between, list(range(times[0], times[-1] + 1, 2)))

    @timeout(20)
    def test_sighup_reopens_the_log(self):
        path = self.log_path()
        srv = self.start("--sensor-hz", "200", "--sensor-decimate", "2", "--sensor-log", path)

        async def go():
            ws, _ = await connected(srv, "/sensor")
            await ws.send("START")
            await until_state(ws)
            await read_samples(ws, 4)
            os.rename(path, path + ".1")
            srv.proc.send_signal(signal.SIGHUP)
            # The signal is pending before the first probe arrives, so it is
            # handled in that batch at the latest; the second probe's answer
            # comes after it.
            for _ in range(2):
                await ws.send("PROBE")
                while (await recv_json(ws))["type"] != "error":
                    pass
            after = await read_samples(ws, 10)
            await ws.send("STOP")
            await until_state(ws, after)
            await ws.close()
            return after
        after = run(go())
        stats = get_stats(srv)["sensor"]
        self.assertEqual(srv.stop(), 0)
        self.assertTrue(os.path.exists(path), "no new log at the original path after SIGHUP")
        old = read_log(self, path + ".1")
        new = read_log(self, path)
        self.assertGreater(len(old["accel"]), 0)
        self.assertGreater(len(new["accel"]), 0)
        new_times = {s["t_ms"] for s in new["accel"]}
        for s in after:
            if s["sensor"] == "accel":
                self.assertIn(s["t_ms"], new_times, "a sample after SIGHUP not in the new log")
        both = {k: old[k] + new[k] for k in old}
        self.assertEqual(sum(map(len, both.values())), stats["samples_logged"])
        assert_steps(self, both["accel"], 5, "accel samples across the two files")
        assert_steps(self, both["temperature"], 5, "temperature samples across the two files")


if __name__ == "__main__":
    unittest.main()
