"""deploy/: HAProxy and nginx in front of two wspulse instances and Redis,
started and stopped by deploy/cluster.sh, driven through the load balancer
with Debian's python3-websockets.

For each load balancer: the generated configuration (health checks on
/readyz over HTTP/1.1, WebSocket timeouts of an hour, no stickiness, maxconn
within the open-file limit), the hub page and /readyz through it, ticks named
by the instance that serves them, new connections spread over both
instances, an idle /echo that stays open, an instance killed with SIGKILL
(HAProxy's health check marks it down; new connections and a reconnecting
client land on the survivor), and `cluster.sh stop` leaving no process
behind. A missing haproxy, nginx or redis-server fails the tests (test/deps.sh
installs them).
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import websockets

from wspulse_test import BINARY, ROOT, TIME_SCALE, http_request, parse_response, timeout

SCRIPT = os.path.join(ROOT, "deploy", "cluster.sh")
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
IDLE_S = 6          # an idle WebSocket through the load balancer, then an echo


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == str(pid):
                out.append(int(d))
    return out


def seconds(value):
    """'1h', '30s', '500ms', '3600' (seconds) as seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    if not m:
        raise AssertionError(f"not a duration: {value!r}")
    unit = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return int(m.group(1)) * unit


def http_get(port, path):
    raw = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Connection: close\r\n\r\n").encode()
    return parse_response(http_request(port, raw))


def ws_connect(url):
    """websockets.connect without client pings (an idle client stays silent)."""
    return websockets.connect(url, ping_interval=None, open_timeout=5 * TIME_SCALE,
                              close_timeout=2)


async def ws_open(url):
    return await ws_connect(url)


async def first_tick(ws):
    msg = json.loads(await asyncio.wait_for(ws.recv(), 5 * TIME_SCALE))
    assert msg["type"] == "timestamp", msg
    return msg


async def servers_of_new_connections(url, count):
    """Open count /ws connections at once (each held while the next opens)
    and return the instance named by each one's first tick."""
    conns = []
    try:
        for _ in range(count):
            conns.append(await ws_open(url))
        return [(await first_tick(ws))["server"] for ws in conns]
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


class ClusterTests:
    """Mixed into one TestCase per load balancer. The tests run in the order
    of their names: the last ones kill an instance and stop the cluster."""
    LB = None

    @classmethod
    def setUpClass(cls):
        missing = [p for p in (cls.LB, "redis-server") if not shutil.which(p, path=SBIN_PATH)]
        if missing:
            raise AssertionError(f"not installed: {' '.join(missing)} (test/deps.sh installs them)")
        cls.dir = tempfile.mkdtemp(prefix=f"wsp-{cls.LB}-")
        cls.port = free_port()
        cls.stopped = False
        cls.procs = {}
        t0 = time.monotonic()
        r = cls.cluster("start", "-n", "2", "--port", str(cls.port), "--lb", cls.LB)
        cls.start_s = time.monotonic() - t0
        cls.start_out = r.stdout
        cls.procs = cls.state()
        if r.returncode != 0:
            cls.cleanup()
            raise AssertionError(f"cluster.sh start exited {r.returncode}:\n{r.stdout}{r.stderr}")

    @classmethod
    def cluster(cls, *args):
        env = dict(os.environ, WSPULSE=BINARY)
        return subprocess.run([SCRIPT, *args, "--dir", cls.dir], env=env, text=True,
                              capture_output=True, timeout=60 * TIME_SCALE)

    @classmethod
    def state(cls):
        """{name: (pid, port, program)} from the run folder's state file."""
        procs = {}
        try:
            with open(os.path.join(cls.dir, "state")) as f:
                for line in f:
                    name, pid, port, prog = line.split()
                    procs[name] = (int(pid), None if port == "-" else int(port), prog)
        except FileNotFoundError:
            pass
        return procs

    @classmethod
    def cleanup(cls):
        """After a failure: stop through the script, then SIGKILL by PID
        whatever recorded process is still there."""
        if not cls.stopped:
            cls.cluster("stop")
            cls.stopped = True
        for pid, _, prog in cls.procs.values():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    mine = prog.encode() in f.read()
            except OSError:
                continue
            if mine and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def config(self):
        name = "haproxy.cfg" if self.LB == "haproxy" else "nginx.conf"
        with open(os.path.join(self.dir, name)) as f:
            return f.read()

    # --- the cluster as started ----------------------------------------

    def test_1_started(self):
        self.assertEqual(sorted(self.procs), sorted(
            ["redis", "ws1", "ws2", self.LB]
            + [n for n in self.procs if n.startswith("nginx-worker-")]))
        for name, (pid, port, prog) in self.procs.items():
            self.assertTrue(pid_alive(pid), name)
        self.assertIn(f"http://127.0.0.1:{self.port}/", self.start_out)
        self.assertEqual(self.procs[self.LB][1], self.port)
        self.assertLess(self.start_s, 15)
        r = self.cluster("status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"ws1 .* running /readyz 200")
        self.assertRegex(r.stdout, r"ws2 .* running /readyz 200")

    def test_2_hub_and_readyz_through_lb(self):
        status, headers, body = http_get(self.port, "/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers.get("content-type", ""))
        for page in (b'href="monitor"', b'href="chat"', b'href="echo"', b'href="dashboard"'):
            self.assertIn(page, body)
        status, _, body = http_get(self.port, "/readyz")
        self.assertEqual((status, body.strip()), (200, b"ready"))

    @timeout(20)
    def test_3_ticks_name_the_instance(self):
        async def run():
            async with ws_connect(self.url("/ws")) as ws:
                ticks = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
            return ticks
        ticks = asyncio.run(run())
        self.assertIn(ticks[0]["server"], ("ws1", "ws2"))
        self.assertEqual({t["server"] for t in ticks}, {ticks[0]["server"]})
        counts = [t["message_count"] for t in ticks]
        self.assertEqual(counts, list(range(counts[0], counts[0] + 5)))

    @timeout(20)
    def test_4_no_stickiness(self):
        servers = asyncio.run(servers_of_new_connections(self.url("/ws"), 10))
        self.assertEqual(set(servers), {"ws1", "ws2"}, servers)
        # least connections: the ten are shared out evenly.
        self.assertGreaterEqual(min(servers.count("ws1"), servers.count("ws2")), 4, servers)

    @timeout(IDLE_S + 15)
    def test_5_idle_websocket_stays_open(self):
        # The configuration keeps an upgraded connection for an hour each way
        # (HAProxy: timeout tunnel; nginx: proxy_read/send_timeout, default
        # 60 s); test_6 checks that. Here: idle for IDLE_S (no ping from us,
        # none from the server before 30 s), then it still echoes.
        async def run():
            async with ws_connect(self.url("/echo")) as ws:
                await ws.send("before")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "before")
                await asyncio.sleep(IDLE_S)
                self.assertTrue(ws.open)
                await ws.send("after %d s idle" % IDLE_S)
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "after %d s idle" % IDLE_S)
        asyncio.run(run())

    def test_6_configuration(self):
        cfg = self.config()
        self.assertIn(f"127.0.0.1:{self.port}", cfg)
        self.assertNotIn("@", re.sub(r"#.*", "", cfg))     # every placeholder filled in
        for name in ("ws1", "ws2"):
            self.assertIn(f"127.0.0.1:{self.procs[name][1]}", cfg)
        lowered = cfg.lower()
        for sticky in ("cookie", "stick", "ip_hash", "hash ", "balance source"):
            self.assertNotIn(sticky, re.sub(r"#.*", "", lowered), "sticky sessions")
        if self.LB == "haproxy":
            self.assertIn("http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost", cfg)
            self.assertRegex(cfg, r"\n\s*option httpchk\b")
            self.assertRegex(cfg, r"\n\s*balance (roundrobin|leastconn)\b")
            timeouts = dict(re.findall(r"\n\s*timeout (\S+) (\S+)", cfg))
            self.assertGreaterEqual(seconds(timeouts["tunnel"]), 3600)
            self.assertGreaterEqual(seconds(timeouts["client"]), 30)   # the handshake
            self.assertGreaterEqual(seconds(timeouts["server"]), 30)
            maxconn = [int(v) for v in re.findall(r"\n\s*maxconn (\d+)", cfg)]
            self.assertTrue(maxconn and max(maxconn) <= 9000, maxconn)
            self.assertIn("log stderr", cfg)
            # The checks pass: HTTP/1.1 answered 200 by each instance.
            stat = haproxy_stat(self.dir)
            for name in ("ws1", "ws2"):
                self.assertEqual((stat[name]["status"], stat[name]["check_status"],
                                  stat[name]["check_code"]), ("UP", "L7OK", "200"), name)
        else:
            self.assertRegex(cfg, r"proxy_http_version 1\.1;")
            self.assertIn("proxy_set_header Upgrade $http_upgrade;", cfg)
            self.assertIn("proxy_set_header Connection $connection_upgrade;", cfg)
            self.assertRegex(cfg, r"\n\s*least_conn;")
            self.assertGreaterEqual(seconds(re.search(r"proxy_read_timeout (\S+);", cfg).group(1)), 3600)
            self.assertGreaterEqual(seconds(re.search(r"proxy_send_timeout (\S+);", cfg).group(1)), 3600)
            self.assertLessEqual(int(re.search(r"worker_connections (\d+);", cfg).group(1)), 9000)
            self.assertEqual(len(re.findall(r"max_fails=\d+ fail_timeout=\d+s;", cfg)), 2)
            self.assertIn("error_log stderr", cfg)

    # --- an instance killed ----------------------------------------------

    @timeout(40)
    def test_7_failover(self):
        victim, survivor = "ws2", "ws1"

        async def run():
            # A monitor-like client on the victim, through the load balancer.
            held, monitor = [], None
            for _ in range(6):
                ws = await ws_open(self.url("/ws"))
                if (await first_tick(ws))["server"] == victim:
                    monitor = ws
                    break
                held.append(ws)
            for ws in held:
                await ws.close()
            self.assertIsNotNone(monitor, f"no connection reached {victim}")

            os.kill(self.procs[victim][0], signal.SIGKILL)
            killed = time.monotonic()

            # The monitor sees its connection end, then reconnects through
            # the load balancer (every 100 ms, like `wspulse monitor`).
            with self.assertRaises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(monitor.recv(), 5)
            while True:
                try:
                    ws = await ws_open(self.url("/ws"))
                    tick = await first_tick(ws)
                    break
                except (OSError, websockets.InvalidStatusCode, websockets.ConnectionClosed):
                    self.assertLess(time.monotonic() - killed, 5, "no reconnect within 5 s")
                    await asyncio.sleep(0.1)
            reconnected = time.monotonic() - killed
            self.assertEqual(tick["server"], survivor)
            await ws.close()

            # HAProxy's checks mark the victim down within about 1 s (2 failed
            # checks 500 ms apart); nginx's passive checks mark it on the first
            # refused connection. Either way, new clients land on the survivor.
            if self.LB == "haproxy":
                while haproxy_stat(self.dir)[victim]["status"] != "DOWN":
                    self.assertLess(time.monotonic() - killed, 3,
                                    f"{victim} still {haproxy_stat(self.dir)[victim]['status']}")
                    await asyncio.sleep(0.05)
                down = time.monotonic() - killed
                self.assertEqual(haproxy_stat(self.dir)[survivor]["status"], "UP")
            else:
                down = None
            while True:
                servers = await servers_of_new_connections(self.url("/ws"), 10)
                if set(servers) == {survivor}:
                    break
                self.assertLess(time.monotonic() - killed, 5,
                                f"new connections still reach {victim}: {servers}")
                await asyncio.sleep(0.1)
            return reconnected, down

        reconnected, down = asyncio.run(run())
        self.assertLess(reconnected, 3)
        if down is not None:
            self.assertLess(down, 3)
        status, _, body = http_get(self.port, "/readyz")
        self.assertEqual((status, body.strip()), (200, b"ready"))
        r = self.cluster("status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, rf"{victim} .* DEAD")

    @timeout(40)
    def test_8_stop_leaves_nothing(self):
        pids = {name: pid for name, (pid, _, _) in self.procs.items()}
        if self.LB == "nginx":           # the workers the master has now
            for w in children(pids["nginx"]):
                pids[f"worker {w}"] = w
        self.assertTrue(pid_alive(pids["ws1"]))
        r = self.cluster("stop")
        type(self).stopped = True
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"ws2 \(pid \d+\): already gone")
        self.assertRegex(r.stdout, r"ws1 \(pid \d+\): stopped")
        deadline = time.monotonic() + 3
        while [n for n, p in pids.items() if pid_alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)      # gone, and reaped by whoever is their parent now
        self.assertEqual([n for n, p in pids.items() if pid_alive(p)], [])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "state")))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        r = self.cluster("status")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        r = self.cluster("stop")             # stopping twice is fine
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


def haproxy_stat(run_dir):
    """HAProxy's "show stat" from the stats socket: {svname: {field: value}}
    for the backend's servers."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(3)
        s.connect(os.path.join(run_dir, "haproxy.sock"))
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        if line:
            row = dict(zip(header, line.split(",")))
            if row["pxname"] == "wspulse" and row["svname"] not in ("FRONTEND", "BACKEND"):
                out[row["svname"]] = row
    return out


class HAProxyCluster(ClusterTests, unittest.TestCase):
    LB = "haproxy"


class NginxCluster(ClusterTests, unittest.TestCase):
    LB = "nginx"


if __name__ == "__main__":
    unittest.main()
