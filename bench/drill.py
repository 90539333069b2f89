#!/usr/bin/python3
"""drill.py -- the failover drill (issue 12 items 4-6): a real cluster (Redis
with its data on disk, three wspulse instances, HAProxy in front with
deploy/haproxy.cfg.in), a `wspulse monitor` and K resuming chat clients
through HAProxy while a publisher sends R chat messages a second and the
sensor runs; then, one after the other:

  (a) SIGKILL of the instance serving the most clients (from each one's
      /stats; a tie goes to the monitor's instance)
  (b) that instance started again
  (c) SIGTERM of another one, a graceful drain (the sensor's holder unless
      that is the restarted one, so that the lease's takeover shows), then
      started again
  (d) Redis restarted (SIGTERM: it writes its append-only file; it comes back
      with its data)
  --netns only:
  (e) an instance's link cut (ip link set eth0 down) until HAProxy marked it
      down and it noticed Redis gone, then restored
  (f) the monitor's instance's link slowed to a trickle (tbf 64 kbit both
      ways), then cleared

Between two events the drill waits for the state the next one needs, by
polling with a deadline: HAProxy sees the instances up (or down) as expected,
every client is connected, has resumed and has every message Redis accepted
so far, the monitor receives ticks again, the sensor has a holder.

    /usr/bin/python3 bench/drill.py [--json] [--short] [--tls] [--netns]
                                    [--clients K] [--rate R] [--results [FILE]]

--short: one event (the SIGKILL, of the monitor's instance so that the
monitor has exactly one gap), 4 clients, a few seconds (test/int/test_drill.py).
--tls: HAProxy terminates TLS (a self-signed certificate made with openssl in
the run's folder); the chat clients and the monitor (the TLS build,
build/tls/wspulse, or $WSPULSE_TLS) use wss:// and trust it with --cacert.
--results: the run's table into the drill's section of bench/RESULTS.md
(between its markers; nothing else in the file changes).
--netns: every instance, Redis, HAProxy and the clients in a network
namespace of their own (bench/netns.py), joined by veth pairs and a bridge;
torn down at the end, also on failure or Ctrl+C. Needs root.

Ground truth for the chat is the Redis stream (XRANGE wspulse:chat): an
entry there is a message the cluster accepted, and every instance delivers
exactly those entries, in that order, to its clients; it outlives every
instance, and survives the Redis restart on disk. The publisher's own
acknowledgements (its message coming back with an id) are a cross-check, not
the truth: an ack dies with the connection that would carry it (a SIGKILL
right after the XADD), so "accepted" can only be read from the stream. Each
acked id must be in the stream with the same text, and each client must have
received every entry from the start marker on exactly once, in order.

Output: the report on stdout (text, or JSON with --json); exit status 0 when
the targets are met (0 lost, 0 duplicated, 0 out of order, every monitor gap
explained by an event), 1 when not, 2 when the drill itself could not run.
The run's logs are in a temporary folder, kept (and named) on failure or
with --logs DIR.
"""
import argparse
import asyncio
import collections
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import netns  # noqa: E402

TICK_MS = 20            # --tick-ms of the instances: the monitor sees 50 ticks a second
GAP_MS = 120            # monitor --gap-ms: under the clients' 125 ms minimum backoff, so
                        # every reconnect shows, and 100 ms over the tick for a busy machine
SENSOR_HZ = 100
LB_PORT = 8970
STREAM = "wspulse:chat"
# The servers and the monitor each run in a session of their own whose
# scheduler autogroup has a raised priority, as the benchmarks do
# (bench/isolate.py; it execs, so the PID stays the program's): the drill
# measures failovers to 120 ms, not the other jobs of a shared machine.
ISOLATE = ["/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
           os.path.join(HERE, "isolate.py"), "-10"]
PUBLISHER = "drill-publisher"


class DrillError(Exception):
    """The drill could not run (not: the cluster missed a target)."""


def now():
    return time.time()


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def id_key(text):
    """A stream id "MS-SEQ" as a comparable tuple."""
    ms, seq = text.split("-")
    return int(ms), int(seq)


def percentile(values, pct):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(pct / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Interrupted(Exception):
    """Ctrl+C or SIGTERM, seen at a safe point."""


# SIGINT and SIGTERM only set this; the drill stops at its next wait (every
# step waits through wait_for or pause). An exception raised by the signal
# itself could land inside subprocess.Popen, between the fork and the
# return, and leave a process behind that the drill never heard of.
INTERRUPTED = threading.Event()


def check_interrupted():
    if INTERRUPTED.is_set():
        raise Interrupted()


def wait_for(what, fn, timeout_s, interval=0.05):
    """Poll fn() until it returns something true; that value. DrillError
    after timeout_s (what names the state waited for)."""
    deadline = time.monotonic() + timeout_s
    while True:
        check_interrupted()
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DrillError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval)


def pause(seconds):
    """A set length of time (an event's duration, never a synchronisation),
    cut short by an interruption."""
    if INTERRUPTED.wait(seconds):
        raise Interrupted()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- small protocol clients ----------------------------------------------------


def http_get(addr, port, path, timeout_s=2.0):
    """(status, body) of GET path over HTTP/1.1; (None, error text) on failure."""
    try:
        with socket.create_connection((addr, port), timeout=timeout_s) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                      .encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return None, str(e)
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    return (int(m.group(1)) if m else None), body.decode("utf-8", "replace")


class Resp:
    """Just enough of RESP to read the stream: one command, one reply."""

    def __init__(self, addr, port, timeout_s=5.0):
        self.sock = socket.create_connection((addr, port), timeout=timeout_s)
        self.buf = b""

    def close(self):
        self.sock.close()

    def command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"redis: unexpected reply {line[:40]!r}")


def redis_call(addr, port, *args):
    r = Resp(addr, port)
    try:
        return r.command(*args)
    finally:
        r.close()


def redis_ping(addr, port):
    try:
        return redis_call(addr, port, "PING") == "PONG"
    except (OSError, RuntimeError, ConnectionError):
        return False


def stream_last_id(addr, port):
    entries = redis_call(addr, port, "XREVRANGE", STREAM, "+", "-", "COUNT", "1")
    return entries[0][0] if entries else None


def stream_entries(addr, port):
    """Every entry of the stream: [(id, fields dict)], read in pages."""
    out, start = [], "-"
    while True:
        page = redis_call(addr, port, "XRANGE", STREAM, start, "+", "COUNT", "5000")
        if start != "-" and page and page[0][0] == start:
            page = page[1:]
        if not page:
            return out
        for eid, fields in page:
            out.append((eid, dict(zip(fields[0::2], fields[1::2]))))
        start = page[-1][0]


def haproxy_states(sock_path):
    """{server name: status} of the backend, from HAProxy's stats socket."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(sock_path)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return {}
    lines = data.decode().splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    cols = lines[0][2:].split(",")
    states = {}
    for line in lines[1:]:
        row = dict(zip(cols, line.split(",")))
        if row.get("pxname") == "wspulse" and row.get("svname", "").startswith("ws"):
            states[row["svname"]] = row.get("status", "")
    return states


# --- the chat clients (an asyncio loop in a thread) --------------------------------


def backoff_s(attempt):
    """The wait before reconnect attempt `attempt`: the same "equal jitter"
    schedule as wspulse's own clients (net_backoff_ms: 250 ms doubling, a
    random point in the upper half), capped at 1 s like the monitor's."""
    ceiling = min(250 << min(attempt, 10), 1000)
    return (ceiling / 2 + random.uniform(0, ceiling / 2)) / 1000.0


class ChatClient:
    """One member of /chat through the load balancer that reconnects by
    itself and resumes with ?since=<last id> every time (CHAT_PROTOCOL.md).
    Every message id it gets is kept with its arrival time."""

    def __init__(self, name, url, ssl_ctx, stop):
        self.name = name
        self.url = url
        self.ssl = ssl_ctx
        self.stop = stop
        self.ws = None
        self.connected = False
        self.last_id = None          # the newest id received (string)
        self.last_key = None
        self.received = collections.Counter()
        self.seq_of = {}             # id -> seq in its text (first receipt)
        self.dups = []               # (id, time) of every repeat
        self.out_of_order = []       # ids received after a newer one
        self.sessions = []           # one dict per connection
        self.errors = []             # (time, text) of error messages
        self.failed_connects = 0
        self.marker_id = None

    def ready(self):
        """Connected, and the last connection's resume (if any) is done."""
        if not self.connected or not self.sessions:
            return False
        s = self.sessions[-1]
        return s["since"] is None or s["resumed"] is not None or s["resume_error"]

    async def run(self):
        attempt = 0
        while not self.stop.is_set():
            since = self.last_id
            url = self.url + (f"?since={since}" if since else "")
            try:
                ws = await websockets.connect(
                    url, ssl=self.ssl, open_timeout=5, close_timeout=1, ping_interval=2,
                    ping_timeout=4, max_queue=None, max_size=None, compression=None)
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                self.failed_connects += 1
                await self._pause(backoff_s(attempt))
                attempt += 1
                continue
            session = {"open": now(), "since": since, "welcome": None, "resumed": None,
                       "replayed": None, "complete": None, "resume_error": None, "drop": None,
                       "before_resumed": 0, "resume_mismatch": None,
                       "close": None}
            self.sessions.append(session)
            self.ws = ws
            self.connected = True
            try:
                async for raw in ws:
                    self.on_message(raw, session)
            except websockets.exceptions.ConnectionClosed:
                pass
            finally:
                self.connected = False
                self.ws = None
                session["drop"] = now()
                session["close"] = f"{ws.close_code} {ws.close_reason}".strip()
            if self.stop.is_set():
                break
            if session["drop"] - session["open"] >= 5:
                attempt = 0           # a connection that lasted resets the backoff
            await self._pause(backoff_s(attempt))
            attempt += 1

    async def _pause(self, seconds):
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def on_message(self, raw, session):
        t = now()
        try:
            msg = json.loads(raw)
        except ValueError:
            self.errors.append((t, f"not JSON: {raw[:80]!r}"))
            return
        kind = msg.get("type")
        if kind == "message" and "id" in msg:
            if session["since"] is not None and session["resumed"] is None:
                session["before_resumed"] += 1    # the replay
            self.on_chat(msg, t)
        elif kind == "resumed":
            session["resumed"] = t
            session["replayed"] = msg.get("replayed")
            session["complete"] = msg.get("complete")
            # The replay is what came before "resumed": its count and its
            # starting point must be what the server says.
            if msg.get("since") != session["since"] or \
                    msg.get("replayed") != session["before_resumed"]:
                session["resume_mismatch"] = (f"asked since {session['since']}, got {msg}; "
                                              f"{session['before_resumed']} replayed before it")
        elif kind == "system" and session["welcome"] is None:
            session["welcome"] = t
        elif kind == "error":
            text = str(msg.get("message"))
            self.errors.append((t, text))
            if session["since"] is not None and session["resumed"] is None:
                session["resume_error"] = text
            self.on_error(text, t)

    def on_chat(self, msg, t):
        mid = msg["id"]
        key = id_key(mid)
        text = str(msg.get("message", ""))
        m = re.search(r"seq=(\d+)", text)
        seq = int(m.group(1)) if m else None
        if self.received[mid]:
            self.dups.append((mid, t))
        elif self.last_key is not None and key < self.last_key:
            self.out_of_order.append(mid)
        self.received[mid] += 1
        self.seq_of.setdefault(mid, seq)
        if self.marker_id is None and text.endswith(" start"):
            self.marker_id = mid
        if self.last_key is None or key > self.last_key:
            self.last_key, self.last_id = key, mid

    def on_error(self, text, t):
        pass


class Publisher(ChatClient):
    """A chat client that also sends: R messages a second on a fixed
    schedule, each with a unique seq in its text. Its own message coming
    back with an id is its acknowledgement; a "broker unavailable" error is
    a refusal. While it is disconnected, the beats due are not sent (counted
    as skipped): a message is never sent twice."""

    def __init__(self, name, url, ssl_ctx, stop, run_tag, rate):
        super().__init__(name, url, ssl_ctx, stop)
        self.run_tag = run_tag
        self.rate = rate
        self.sending = asyncio.Event()
        self.seq = 0
        self.sent = {}               # seq -> send time
        self.acked = {}              # seq -> id
        self.refused = []            # times of "broker unavailable: ... not delivered"
        self.uncertain = []          # times of "broker connection lost: ... may not have been"
        self.skipped = 0
        self.send_failed = 0

    def text(self, seq):
        return f"drill {self.run_tag} seq={seq}"

    def on_chat(self, msg, t):
        super().on_chat(msg, t)
        if msg.get("sender") == PUBLISHER:
            m = re.search(r"seq=(\d+)", str(msg.get("message", "")))
            if m:
                self.acked.setdefault(int(m.group(1)), msg["id"])

    def on_error(self, text, t):
        if "broker unavailable" in text:
            self.refused.append(t)
        elif "broker connection lost" in text:
            # The XADD was on its way when the connection to Redis died: it
            # may or may not be in the stream (the stream tells).
            self.uncertain.append(t)

    async def send_marker(self):
        await self.ws.send(json.dumps({"type": "message", "sender": PUBLISHER,
                                       "message": f"drill {self.run_tag} start"}))

    async def beat(self):
        """Send on a fixed schedule once .sending is set, until it clears."""
        await self.sending.wait()
        period = 1.0 / self.rate
        due = time.monotonic()
        while not self.stop.is_set():
            if not self.sending.is_set():
                await self.sending.wait()
                due = time.monotonic()
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            due += period
            if self.stop.is_set() or not self.sending.is_set():
                continue
            ws = self.ws
            if ws is None or not self.connected:
                self.skipped += 1
                continue
            self.seq += 1
            seq = self.seq
            try:
                self.sent[seq] = now()
                await ws.send(json.dumps({"type": "message", "sender": PUBLISHER,
                                          "message": self.text(seq)}))
            except websockets.exceptions.ConnectionClosed:
                self.send_failed += 1


class ClientLoop:
    """The asyncio loop of the clients, in a thread of its own so that the
    drill's blocking steps never delay a delivery."""

    def __init__(self, url, ssl_ctx, k, run_tag, rate):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="clients", daemon=True)
        self.url, self.ssl, self.k, self.run_tag, self.rate = url, ssl_ctx, k, run_tag, rate
        self.clients = []
        self.publisher = None
        self.tasks = []
        self.started = threading.Event()

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.stop = asyncio.Event()
        self.clients = [ChatClient(f"c{i + 1:02d}", self.url, self.ssl, self.stop)
                        for i in range(self.k)]
        self.publisher = Publisher(PUBLISHER, self.url, self.ssl, self.stop, self.run_tag,
                                   self.rate)
        self.started.set()
        self.loop.run_forever()

    def start(self):
        self.thread.start()
        self.started.wait()

    def call(self, coro, timeout_s=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start_members(self):
        async def go():
            for c in self.clients:
                self.tasks.append(asyncio.ensure_future(c.run()))
        self.call(go())

    def start_publisher(self):
        async def go():
            self.tasks.append(asyncio.ensure_future(self.publisher.run()))
            self.tasks.append(asyncio.ensure_future(self.publisher.beat()))
        self.call(go())

    def send_marker(self):
        self.call(self.publisher.send_marker())

    def sending(self, on):
        async def go():
            (self.publisher.sending.set if on else self.publisher.sending.clear)()
        self.call(go())

    def finish(self):
        if not self.thread.is_alive():
            return

        async def go():
            self.stop.set()
            for c in self.clients + [self.publisher]:
                ws = c.ws
                if ws is not None:
                    await ws.close()
            self.publisher.sending.set()      # let the sender see the stop
            _, pending = await asyncio.wait(self.tasks, timeout=5)
            # Then whatever else runs (websockets' keepalive pings): the loop
            # stops with no task pending.
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in set(pending) | set(rest):
                task.cancel()
            if pending or rest:
                await asyncio.wait(set(pending) | set(rest), timeout=2)
        try:
            self.call(go(), timeout_s=15)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def everyone(self):
        return self.clients + [self.publisher]


# --- the monitor -------------------------------------------------------------------


class Monitor:
    """`wspulse monitor` through the load balancer; each line it prints is
    stamped on arrival (it flushes every event line)."""

    GAP = re.compile(r"gap ([\d.]+) s (?:\(message_count \d+ -> \d+\): (\d+) missed"
                     r"|across a reconnect(?:: ~(\d+) missed)?|still open at the end)")
    SERVED = re.compile(r"(?:now )?served by server (\S+)")

    def __init__(self, argv, log_path):
        self.err = open(log_path + ".err", "w")
        self.out = open(log_path + ".out", "w")      # each line with its arrival time
        self.proc = subprocess.Popen(ISOLATE + argv, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True)
        self.lines = []              # (time, text)
        self.gaps = []               # dicts: start, end, ms, missed, server, text
        self.servers = []            # (time, name)
        self.connected = False
        self.last_open = None
        self.summary = []
        self.thread = threading.Thread(target=self._read, name="monitor", daemon=True)
        self.thread.start()

    def _read(self):
        in_summary = False
        for line in self.proc.stdout:
            t = now()
            line = line.rstrip("\n")
            self.lines.append((t, line))
            self.out.write(f"{t:.3f} {line}\n")
            self.out.flush()
            if line.startswith("summary of "):
                in_summary = True
            if in_summary:
                self.summary.append(line)
                continue
            body = re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line)
            if body.startswith(("connected to", "reconnected to")):
                self.connected = True
                self.last_open = t
            elif body.startswith(("connection lost", "cannot connect")):
                self.connected = False
            g = self.GAP.search(body)
            if g:
                ms = float(g.group(1)) * 1000
                missed = g.group(2) or g.group(3)
                self.gaps.append({"start": t - ms / 1000, "end": t, "ms": round(ms),
                                  "missed": int(missed) if missed is not None else None,
                                  "server": self.server_at(t), "text": body})
            s = self.SERVED.search(body)
            if s:
                self.servers.append((t, s.group(1)))

    def server_at(self, t):
        name = None
        for ts, n in self.servers:
            if ts <= t:
                name = n
        return name

    def server(self):
        return self.servers[-1][1] if self.servers else None

    def settled_since(self, t):
        """Ticks flow again after t: connected, and if the connection was
        lost after t, the first tick since came (its gap line: a reconnect
        always shows as a gap, the backoff alone being over --gap-ms)."""
        if not self.connected:
            return False
        lost = [ts for ts, line in self.lines if ts >= t and "connection lost" in line]
        if not lost:
            return True
        return any(g["end"] > lost[-1] for g in self.gaps)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(5)
        self.err.close()
        self.out.close()

    def summary_fields(self):
        out = {}
        for line in self.summary:
            m = re.match(r"\s+(messages|gaps|reconnects)\s+(\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2))
            m = re.match(r"\s+longest gap ([\d.]+) s", line)
            if m:
                out["longest_gap_ms"] = round(float(m.group(1)) * 1000)
            m = re.search(r"p50 (\d+) ms, p90 (\d+) ms, p99 (\d+) ms, max (\d+) ms", line)
            if m:
                out["latency_ms"] = dict(zip(("p50", "p90", "p99", "max"),
                                             map(int, m.groups())))
        return out


# --- the cluster ------------------------------------------------------------------


def fill_haproxy_template(template_path, port, addr, run_dir, ssl_opt, servers):
    """deploy/haproxy.cfg.in with its placeholders filled in, the same
    substitutions deploy/cluster.sh makes (servers: [(name, addr, port)])."""
    out = []
    with open(template_path) as f:
        for line in f:
            if line.strip() == "@SERVERS@":
                out.extend(f"    server {n} {a}:{p}\n" for n, a, p in servers)
                continue
            for key, value in (("@PORT@", str(port)), ("@DIR@", run_dir),
                               ("@ADDR@", addr), ("@SSL@", ssl_opt)):
                line = line.replace(key, value)
            out.append(line)
    text = "".join(out)
    left = re.findall(r"@[A-Z]+@", re.sub(r"#.*", "", text))
    if left:
        raise DrillError(f"{template_path}: placeholders the drill does not know: {left}")
    return text


class Cluster:
    """Redis, the instances ws1..wsN and HAProxy, on loopback (free ports)
    or each in its namespace (bench/netns.py, fixed ports on their own
    addresses). Every process is ours, signalled by its Popen object."""

    def __init__(self, run_dir, binary, n, net=None):
        self.dir = run_dir
        self.binary = binary
        self.names = [f"ws{i + 1}" for i in range(n)]
        self.net = net
        self.procs = {}
        self.logs = {}
        if net:
            self.addr = dict(net.addr)
            self.port = {name: (6379 if name == "redis" else LB_PORT)
                         for name in self.names + ["redis", "lb"]}
        else:
            self.addr = collections.defaultdict(lambda: "127.0.0.1")
            self.port = {name: free_port() for name in self.names + ["redis", "lb"]}
        self.haproxy_sock = os.path.join(run_dir, "haproxy.sock")
        self.redis_dir = os.path.join(run_dir, "redis")
        os.makedirs(self.redis_dir, exist_ok=True)

    def popen(self, node, argv, log_name):
        log = open(os.path.join(self.dir, log_name), "a")
        self.logs[node] = log
        kwargs = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        argv = ISOLATE + argv
        if self.net:
            return self.net.popen(node, argv, **kwargs)
        return subprocess.Popen(argv, **kwargs)

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    # --- Redis ---

    def start_redis(self):
        argv = ["redis-server", "--port", str(self.port["redis"]), "--bind", self.addr["redis"],
                "--protected-mode", "no", "--save", "", "--appendonly", "yes",
                "--appendfsync", "everysec", "--dir", self.redis_dir, "--daemonize", "no"]
        self.procs["redis"] = self.popen("redis", argv, "redis.log")
        wait_for("Redis to answer PING",
                 lambda: self._check_alive("redis") and redis_ping(self.addr["redis"],
                                                                    self.port["redis"]), 15)

    def redis_url(self):
        return f"redis://{self.addr['redis']}:{self.port['redis']}"

    def redis(self, *args):
        return redis_call(self.addr["redis"], self.port["redis"], *args)

    # --- instances ---

    def start_instance(self, name):
        argv = [self.binary, "--host", self.addr[name], "--port", str(self.port[name]),
                "--instance", name, "--redis", self.redis_url(),
                "--sensor-log", self.sensor_log(name), "--sensor-hz", str(SENSOR_HZ),
                "--tick-ms", str(TICK_MS), "--history", "100000",
                # Behind a load balancer every client has its address:
                # a per-IP rate would count them all as one.
                "--max-conn-rate-per-ip", "0"]
        self.procs[name] = self.popen(name, argv, f"{name}.log")
        wait_for(f"{name} to answer /readyz 200",
                 lambda: self._check_alive(name) and self.readyz(name) == 200, 15)

    def sensor_log(self, name):
        return os.path.join(self.dir, f"{name}.sensor.jsonl")

    def log_path(self, name):
        return os.path.join(self.dir, f"{name}.log")

    def log_count(self, name, text):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return f.read().count(text)
        except OSError:
            return 0

    def _check_alive(self, name):
        if not self.alive(name):
            raise DrillError(f"{name} exited (status {self.procs[name].returncode}); "
                             f"log: {os.path.join(self.dir, name + '.log')}")
        return True

    def readyz(self, name):
        return http_get(self.addr[name], self.port[name], "/readyz")[0]

    def stats(self, name):
        if not self.alive(name):
            return None
        status, body = http_get(self.addr[name], self.port[name], "/stats")
        if status != 200:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def ws_clients(self, name):
        """WebSocket connections the instance serves now (/stats)."""
        st = self.stats(name)
        if not st:
            return None
        return sum(e.get("connections", 0) for e in st.get("endpoints", {}).values())

    def holder(self):
        for name in self.names:
            st = self.stats(name)
            if st and st.get("sensor", {}).get("holder"):
                return name
        return None

    def signal(self, name, sig):
        self.procs[name].send_signal(sig)

    def wait_exit(self, name, timeout_s):
        try:
            return self.procs[name].wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise DrillError(f"{name} did not exit within {timeout_s} s")

    # --- HAProxy ---

    def start_haproxy(self, crt=None):
        cfg = fill_haproxy_template(
            os.path.join(ROOT, "deploy", "haproxy.cfg.in"), self.port["lb"], self.addr["lb"],
            self.dir, f"ssl crt {crt}" if crt else "",
            [(n, self.addr[n], self.port[n]) for n in self.names])
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.procs["lb"] = self.popen("lb", ["haproxy", "-db", "-f", path], "haproxy.log")
        wait_for("HAProxy to see every instance UP",
                 lambda: self._check_alive("lb") and self.lb_up(self.names), 20)

    def lb_states(self):
        return haproxy_states(self.haproxy_sock)

    def lb_up(self, names):
        st = self.lb_states()
        return bool(st) and all(st.get(n, "").startswith("UP") for n in names)

    def lb_down(self, names):
        st = self.lb_states()
        return bool(st) and all(st.get(n, "").startswith(("DOWN", "MAINT")) for n in names)

    # --- the end ---

    def stop_all(self):
        """Instances (SIGTERM: they drain), HAProxy, Redis; SIGKILL for
        whatever is still there after a while."""
        order = [n for n in self.names if n in self.procs] + \
                [n for n in ("lb", "redis") if n in self.procs]
        for name in order:
            p = self.procs[name]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs.values():
            log.close()


# --- TLS ---------------------------------------------------------------------------


def make_certificate(directory, names, ips):
    """A self-signed certificate for HAProxy (cert.pem, key.pem and both in
    combined.pem for its crt) that the clients trust with --cacert."""
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", f"subjectAltName={san}",
                    "-keyout", "key.pem", "-out", "cert.pem"],
                   cwd=directory, check=True, capture_output=True)
    combined = os.path.join(directory, "combined.pem")
    with open(combined, "w") as out:
        for name in ("cert.pem", "key.pem"):
            with open(os.path.join(directory, name)) as f:
                out.write(f.read())
    return os.path.join(directory, "cert.pem"), combined


# --- the sensor log -------------------------------------------------------------------


def sensor_lines(path):
    """The accel samples of a --sensor-log, in file order: (t_ms, instance)."""
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return out
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            s = json.loads(line)
        except ValueError:
            continue             # the last line, half written
        if s.get("sensor") == "accel" and "t_ms" in s:
            out.append((s["t_ms"], s.get("instance")))
    return out


# --- the drill ------------------------------------------------------------------------


class Drill:
    def __init__(self, args):
        self.args = args
        self.variant = "netns" if args.netns else "loopback"
        self.run_tag = f"{os.getpid()}-{int(now())}"
        self.events = []
        self.problems = []
        self.net = None
        self.cluster = None
        self.clients = None
        self.monitor = None
        self.keep = bool(args.logs)
        if args.logs and os.path.isdir(args.logs) and os.listdir(args.logs):
            raise DrillError(f"--logs {args.logs}: not empty (a run's Redis data and logs "
                             "must not mix with another's)")
        self.dir = os.path.abspath(args.logs) if args.logs else \
            tempfile.mkdtemp(prefix="wspulse-drill-")
        os.makedirs(self.dir, exist_ok=True)
        self.settle_s = args.settle_timeout

    # --- setting up ---

    def binaries(self):
        """Copies of the binaries, so that a rebuild in the tree during the
        run changes nothing (restarted instances run the same program)."""
        src = os.path.join(ROOT, os.environ.get("WSPULSE", "wspulse"))
        if not os.path.exists(src):
            raise DrillError(f"{src} does not exist: run make first")
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir, exist_ok=True)
        self.binary = shutil.copy(src, os.path.join(bindir, "wspulse"))
        self.monitor_binary = self.binary
        if self.args.tls:
            tls = os.path.join(ROOT, os.environ.get("WSPULSE_TLS", "build/tls/wspulse"))
            if not os.path.exists(tls):
                raise DrillError(f"{tls} does not exist: the monitor needs the TLS build "
                                 "(make TLS=1, or make tls-build)")
            self.monitor_binary = shutil.copy(tls, os.path.join(bindir, "wspulse-tls"))

    def setup(self):
        a = self.args
        for prog in ("redis-server", "haproxy") + (("openssl",) if a.tls else ()):
            if not shutil.which(prog):
                raise DrillError(f"{prog} is not installed")
        self.binaries()
        if a.netns:
            if os.geteuid() != 0:
                raise DrillError("--netns needs root (network namespaces)")
            netns.sweep_stale()
            self.net = netns.Netns(["lb", "redis"] + [f"ws{i + 1}" for i in range(a.instances)]
                                   + ["cli"])
            self.net.setup()
            # From here on this thread, the client thread and the monitor
            # live in the clients' namespace: everything they reach goes
            # over the veths.
            self.net.enter("cli")
        c = self.cluster = Cluster(self.dir, self.binary, a.instances, self.net)
        c.start_redis()
        for name in c.names:
            c.start_instance(name)
        crt = None
        self.ssl = None
        scheme = "ws"
        host = c.addr["lb"]
        if a.tls:
            certdir = os.path.join(self.dir, "tls")
            os.makedirs(certdir, exist_ok=True)
            self.cacert, crt = make_certificate(certdir, ["localhost"],
                                                sorted({"127.0.0.1", c.addr["lb"]}))
            self.ssl = ssl.create_default_context(cafile=self.cacert)
            scheme = "wss"
            host = "localhost" if host == "127.0.0.1" else host
        c.start_haproxy(crt)
        self.base = f"{scheme}://{host}:{c.port['lb']}"
        self.start_sensor()

    def start_sensor(self):
        async def go():
            async with websockets.connect(self.base + "/control", ssl=self.ssl,
                                          open_timeout=5, compression=None) as ws:
                state = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if state.get("running"):
                    return
                await ws.send("START")
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if msg.get("type") == "state" and msg.get("running"):
                        return
        asyncio.run(go())
        wait_for("a sensor lease holder", self.cluster.holder, 10)
        wait_for("sensor samples in every log", lambda: all(
            len(sensor_lines(self.cluster.sensor_log(n))) > 20 for n in self.cluster.names), 10)

    def start_clients(self):
        a = self.args
        cl = self.clients = ClientLoop(self.base + "/chat", self.ssl, a.clients, self.run_tag,
                                       a.rate)
        cl.start()
        cl.start_members()
        wait_for(f"{a.clients} chat clients connected",
                 lambda: all(c.ready() for c in cl.clients), self.settle_s)
        argv = [self.monitor_binary, "monitor", self.base + "/ws", "--gap-ms", str(GAP_MS),
                "--max-gaps", "1000000"]
        if a.tls:
            argv += ["--cacert", self.cacert]
        self.monitor = Monitor(argv, os.path.join(self.dir, "monitor"))
        wait_for("the monitor's first tick", self.monitor.server, 10)
        cl.start_publisher()
        wait_for("the publisher connected", cl.publisher.ready, 10)
        cl.send_marker()
        wait_for("the start marker at every client",
                 lambda: all(c.marker_id for c in cl.everyone()), self.settle_s)
        self.t_start = now()
        cl.sending(True)
        # Steady state: a second of messages accepted and delivered.
        wait_for("the first second of messages accepted",
                 lambda: len(cl.publisher.acked) >= a.rate, 10)
        self.caught_up("the first second of messages delivered")

    # --- state between events ---

    def caught_up(self, what):
        """Every client (and the publisher) has the newest entry the stream
        had when this was called: nothing accepted is missing anywhere."""
        target = id_key(wait_for("the stream's last id", lambda: self._last_id(), 10))
        wait_for(what, lambda: all(c.last_key is not None and c.last_key >= target
                                   for c in self.clients.everyone()), self.settle_s)

    def _last_id(self):
        try:
            return stream_last_id(self.cluster.addr["redis"], self.cluster.port["redis"])
        except (OSError, RuntimeError, ConnectionError):
            return None

    def settle(self, ev, up, down=()):
        """Wait for the state the next event needs; record how long it took:
        HAProxy's view of the instances; every connection (the clients, the
        publisher, the monitor) open again on an instance that runs; each
        resumed; a message accepted after the event and delivered to all;
        the monitor ticking; a sensor holder."""
        c = self.cluster
        t = ev["t"]
        if down:
            wait_for(f"HAProxy to mark {', '.join(down)} DOWN", lambda: c.lb_down(down),
                     self.settle_s)
        wait_for(f"HAProxy to see {', '.join(up)} UP", lambda: c.lb_up(up), self.settle_s)
        if ev["before"]["monitor"] == ev["target"] and ev["key"] in ("a", "c"):
            wait_for("the monitor back (its gap reported)",
                     lambda: any(g["end"] > t for g in self.monitor.gaps), self.settle_s)
        everyone = self.clients.everyone()
        total = len(everyone) + 1            # and the monitor
        wait_for(f"all {total} WebSockets open on running instances",
                 lambda: self.connections() == total, self.settle_s)
        wait_for("every client connected and resumed",
                 lambda: all(x.ready() for x in everyone), self.settle_s)
        done = now()
        wait_for("a message accepted after the event",
                 lambda: id_key(self._last_id() or "0-0")[0] / 1000.0 > done, self.settle_s)
        self.caught_up("every client caught up with the stream")
        wait_for("the monitor's ticks again", lambda: self.monitor.settled_since(t),
                 self.settle_s)
        wait_for("a sensor lease holder", c.holder, self.settle_s)
        ev["settled_s"] = round(now() - t, 2)

    def connections(self):
        """WebSockets open on the running instances (their /stats)."""
        counts = [self.cluster.ws_clients(n) for n in self.cluster.names
                  if self.cluster.alive(n)]
        return None if None in counts else sum(counts)

    def snapshot(self):
        c = self.cluster
        return {
            "t": now(),
            "clients": {n: c.ws_clients(n) for n in c.names if c.alive(n)},
            "holder": c.holder(),
            "monitor": self.monitor.server(),
            "sensor_lines": {n: len(sensor_lines(c.sensor_log(n))) for n in c.names},
            "lb": c.lb_states(),
        }

    def busiest(self, among):
        """The instance serving the most WebSocket clients (monitor and
        publisher included); ties go to the monitor's instance."""
        counts = {n: (self.cluster.ws_clients(n) or 0) for n in among}
        mon = self.monitor.server()
        return max(sorted(among), key=lambda n: (counts[n], n == mon)), counts

    def event(self, key, label, target, action, settle):
        before = self.snapshot()
        ev = {"key": key, "label": label, "target": target, "t": now(), "before": before}
        self.events.append(ev)
        action(ev)
        ev["action_s"] = round(now() - ev["t"], 2)
        settle(ev)
        ev["after"] = self.snapshot()
        return ev

    # --- the events ---

    def run_events(self):
        a, c = self.args, self.cluster
        names = c.names
        if a.short:
            target = self.monitor.server()
            counts = {n: c.ws_clients(n) for n in names}
            why = "the monitor's instance (--short)"
        else:
            target, counts = self.busiest(names)
            why = "the most clients"
        others = [n for n in names if n != target]

        def kill(ev):
            ev["why"] = f"{why}: {counts}"
            c.signal(target, signal.SIGKILL)
            c.wait_exit(target, 10)
        self.event("a", f"SIGKILL {target}", target, kill,
                   lambda ev: self.settle(ev, others, down=[target]))
        if a.short:
            return

        def restart(name):
            def go(ev):
                c.start_instance(name)
            return go
        self.event("b", f"{target} started again", target, restart(target),
                   lambda ev: self.settle(ev, names))

        # (c): another instance: the sensor's holder if it is not the one just
        # restarted (so that the drain shows the lease's takeover), else the
        # monitor's (so that it shows in the monitor).
        mon, holder = self.monitor.server(), c.holder()
        drain = next(n for n in [holder, mon] + sorted(names) if n in names and n != target)
        others = [n for n in names if n != drain]

        def term(ev):
            ev["why"] = (f"another instance, the sensor's holder if it can be (holder {holder}, "
                         f"monitor on {mon})")
            c.signal(drain, signal.SIGTERM)
            ev["exit_status"] = c.wait_exit(drain, 20)
            ev["drain_s"] = round(now() - ev["t"], 2)
        self.event("c", f"SIGTERM {drain} (drain)", drain, term,
                   lambda ev: self.settle(ev, others, down=[drain]))
        self.event("c2", f"{drain} started again", drain, restart(drain),
                   lambda ev: self.settle(ev, names))

        def redis_restart(ev):
            connects = {n: c.stats(n)["broker"]["connects"] for n in names}
            ev["last_id_before"] = self._last_id()
            ev["xlen_before"] = c.redis("XLEN", STREAM)
            c.signal("redis", signal.SIGTERM)
            ev["exit_status"] = c.wait_exit("redis", 20)
            ev["down_at"] = now()
            c.start_redis()
            ev["down_s"] = round(now() - ev["down_at"], 3)
            # Every instance saw Redis go and reconnected to the new one.
            wait_for("every instance reconnected to Redis", lambda: all(
                (c.stats(n) or {}).get("broker", {}).get("connects", 0) > connects[n]
                and c.stats(n)["broker"].get("connected") for n in names), self.settle_s)
            ev["reconnected_s"] = round(now() - ev["t"], 2)
            ev["xlen_after_start"] = c.redis("XLEN", STREAM)
            kept = c.redis("XRANGE", STREAM, ev["last_id_before"], ev["last_id_before"])
            ev["data_kept"] = bool(kept) and ev["xlen_after_start"] >= ev["xlen_before"]
            if not ev["data_kept"]:
                self.problems.append("Redis came back without its data")
        self.event("d", "Redis restarted (SIGTERM, then started on its append-only file)", "redis",
                   redis_restart, lambda ev: self.settle(ev, names))

        if not a.netns:
            return
        target, counts = self.busiest(names)
        others = [n for n in names if n != target]

        def cut(ev):
            ev["why"] = f"the most clients: {counts}"
            lost = c.log_count(target, "broker: lost")
            self.connected_before = c.log_count(target, "broker: connected")
            self.net.link_down(target)
            wait_for(f"HAProxy to mark {target} DOWN", lambda: c.lb_down([target]),
                     self.settle_s)
            ev["lb_down_s"] = round(now() - ev["t"], 2)
            wait_for(f"{target} to notice Redis is gone",
                     lambda: c.log_count(target, "broker: lost") > lost, self.settle_s)
            ev["broker_lost_s"] = round(now() - ev["t"], 2)
            self.net.link_up(target)
            ev["restored_at_s"] = round(now() - ev["t"], 2)

        def cut_settle(ev):
            wait_for(f"{target} back with Redis",
                     lambda: c.log_count(target, "broker: connected") > self.connected_before,
                     self.settle_s)
            self.settle(ev, names)
        self.event("e", f"{target}'s link cut, then restored", target, cut, cut_settle)

        slow = self.monitor.server()

        def trickle(ev):
            ev["why"] = "the monitor's instance, so that it sees the degraded path"
            self.net.slow(slow)
            ev["qdisc"] = self.net.qdisc(slow).strip()
            # The length of the event itself, not a wait for a state.
            pause(a.slow_s)
            ev["qdisc"] = self.net.qdisc(slow).strip()
            self.net.clear(slow)
            ev["cleared_at_s"] = round(now() - ev["t"], 2)
        self.event("f", f"{slow}'s link slowed (tbf 64kbit both ways) for {a.slow_s:g} s",
                   slow, trickle, lambda ev: self.settle(ev, names))

    # --- the end ---

    def finish_traffic(self):
        cl = self.clients
        cl.sending(False)
        pub = cl.publisher
        # What was sent is acknowledged or refused, or its connection died.
        # Every message sent has its answer (an ack or a refusal) unless its
        # connection died; what is still unanswered is in the report.
        def answered():
            since = pub.sessions[-1]["open"]
            sent = [q for q, t in pub.sent.items() if t >= since]
            return all(q in pub.acked for q in sent) or \
                len(sent) <= sum(1 for q in sent if q in pub.acked) + \
                sum(1 for t in pub.refused + pub.uncertain if t >= since)
        try:
            wait_for("the last messages answered", answered, 10)
        except DrillError:
            pass
        last = None
        while True:
            self.caught_up("every client caught up at the end")
            cur = self._last_id()
            if cur == last:
                break
            last = cur
        self.t_end = now()
        self.monitor.stop()
        cl.finish()

    def run(self):
        t0 = now()
        self.setup()
        self.start_clients()
        self.run_events()
        self.finish_traffic()
        self.entries = stream_entries(self.cluster.addr["redis"], self.cluster.port["redis"])
        self.final_lines = {n: len(sensor_lines(self.cluster.sensor_log(n)))
                            for n in self.cluster.names}
        self.versions = {
            "haproxy": subprocess.run(["haproxy", "-v"], capture_output=True, text=True)
            .stdout.split("\n")[0].split(" ")[2],
            "redis": self.cluster.redis("INFO", "server").split("redis_version:")[1].split()[0],
        }
        self.duration = now() - t0
        return self.analyse()

    def leftovers(self):
        """PIDs of processes whose command line names this run's folder
        (its copies of the binaries, Redis's --dir, HAProxy's -f): ours,
        whether or not a Popen object came back for them."""
        mark = self.dir + "/"
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if mark in cmd:
                found.append(int(pid))
        return found

    def sweep(self):
        for pid in self.leftovers():
            print(f"drill: cleanup: SIGKILL to leftover process {pid}", file=sys.stderr)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def cleanup(self):
        for step in (lambda: self.monitor and self.monitor.stop(),
                     lambda: self.clients and self.clients.finish(),
                     lambda: self.cluster and self.cluster.stop_all(),
                     self.sweep,
                     lambda: self.net and self.net.teardown()):
            try:
                step()
            except Exception as e:       # go on: the rest must still be stopped
                print(f"drill: cleanup: {e}", file=sys.stderr)

    # --- analysis ---

    def windows(self):
        """Each event's window: from its start to the next one's (the last
        to the end of traffic); before them, the steady start."""
        out = [("start", self.t_start, self.events[0]["t"] if self.events else self.t_end)]
        for i, ev in enumerate(self.events):
            end = self.events[i + 1]["t"] if i + 1 < len(self.events) else self.t_end
            out.append((ev["key"], ev["t"], end))
        return out

    def window_of(self, t, slack=0.0):
        """The window t falls in; slack moves each start that much earlier
        (events are at least the settling apart, far more than slack)."""
        key = "start"
        for k, start, _ in self.windows():
            if t >= start - slack:
                key = k
        return key

    def truth(self):
        """The stream from the start marker on: [(id, seq)], and problems
        at the source (a message XADDed twice would be the same seq twice)."""
        prefix = f"drill {self.run_tag} "
        ours, marker = [], None
        for eid, fields in self.entries:
            try:
                msg = json.loads(fields.get("json", "{}"))
            except ValueError:
                continue
            text = str(msg.get("message", ""))
            if not text.startswith(prefix):
                continue
            if text == prefix + "start":
                marker = eid
                continue
            m = re.search(r"seq=(\d+)$", text)
            ours.append((eid, int(m.group(1)) if m else None, fields.get("from")))
        if marker is None:
            raise DrillError("the start marker is not in the stream")
        ours = [e for e in ours if id_key(e[0]) > id_key(marker)]
        return marker, ours

    def analyse(self):
        cl = self.clients
        pub = cl.publisher
        marker, truth = self.truth()
        truth_ids = [eid for eid, _, _ in truth]
        truth_seq = {eid: seq for eid, seq, _ in truth}
        expected = set(truth_ids) | {marker}
        seqs = collections.Counter(seq for _, seq, _ in truth)
        source_dups = sorted(s for s, n in seqs.items() if n > 1)
        by_instance = collections.Counter(frm for _, _, frm in truth)

        acked = pub.acked
        in_stream = set(truth_seq.values())
        acked_missing = sorted(s for s, eid in acked.items() if truth_seq.get(eid) != s)
        ack_lost = sorted(s for s in in_stream if s not in acked)
        not_accepted = sorted(s for s in pub.sent if s not in in_stream)
        ground = {
            "source": f"Redis stream {STREAM} (XRANGE), from the start marker {marker} on",
            "why": "an entry in the stream is a message the cluster accepted: every instance "
                   "delivers exactly the stream, in its order, and it outlives every instance "
                   "(and the Redis restart, on disk); the publisher's acks are a cross-check "
                   "only, since an ack dies with the connection that would carry it",
            "accepted": len(truth),
            "accepted_by_instance": dict(sorted(by_instance.items())),
            "publisher": {
                "sent": len(pub.sent),
                "acked": len(acked),
                "refused_broker_unavailable": len(pub.refused),
                "answered_may_not_have_been_delivered": len(pub.uncertain),
                "accepted_ack_lost": len(ack_lost),
                "not_accepted": len(not_accepted),
                "acked_not_in_stream": len(acked_missing),
                "skipped_while_disconnected": pub.skipped,
                "send_failed": pub.send_failed,
            },
            "source_duplicates": len(source_dups),
        }
        if acked_missing:
            self.problems.append(f"{len(acked_missing)} acked message(s) not in the stream "
                                 f"with their id: seq {acked_missing[:10]}")
        if source_dups:
            self.problems.append(f"{len(source_dups)} message(s) in the stream twice: "
                                 f"seq {source_dups[:10]}")
        unaccounted = len(pub.sent) - len(in_stream) - len(pub.refused) - len(pub.uncertain)
        # The messages not accepted, as runs of seq with their send times:
        # refused ones, and ones that went down with their connection.
        runs = []
        for seq in not_accepted:
            if runs and runs[-1][1] == seq - 1:
                runs[-1][1] = seq
            else:
                runs.append([seq, seq])
        ground["publisher"]["not_accepted_runs"] = [
            {"seq": f"{a_}-{b_}", "sent": f"{iso(pub.sent[a_])} .. {iso(pub.sent[b_])}"}
            for a_, b_ in runs]
        ground["publisher"]["refused_at"] = (f"{iso(pub.refused[0])} .. {iso(pub.refused[-1])}"
                                             if pub.refused else None)
        # Per connection of the publisher: what it sent, what the stream has
        # of it, what was refused. The rest went down with a connection that
        # died (the sender cannot know, and does not resend); on a connection
        # that stayed up, an unanswered message would be a silent drop.
        in_flight, silent, silent_seqs = 0, 0, []
        for s in pub.sessions:
            end = s["drop"] or float("inf")
            sent = [q for q, t in pub.sent.items() if s["open"] <= t < end]
            acc = sum(1 for q in sent if q in in_stream)
            ref = sum(1 for t in pub.refused + pub.uncertain if s["open"] <= t < end)
            unanswered = max(0, len(sent) - acc - ref)
            if s["drop"] is None or s["drop"] >= self.t_end:
                silent += unanswered
                if unanswered:
                    silent_seqs += [f"{q} sent {iso(pub.sent[q])}" for q in sent
                                    if q not in in_stream]
            else:
                in_flight += unanswered
        ground["publisher"]["lost_in_flight_with_a_connection"] = in_flight
        ground["publisher"]["unanswered_on_a_live_connection"] = silent
        ground["publisher"]["not_accepted_on_a_live_connection"] = silent_seqs
        if silent:
            self.problems.append(f"{silent} message(s) of the publisher neither accepted nor "
                                 "refused on a connection that stayed open")

        clients = []
        per_event = collections.defaultdict(lambda: {"lost": 0, "duplicated": 0,
                                                     "lost_clients": set(), "reconnect_ms": [],
                                                     "outage_ms": [], "reconnected": set(),
                                                     "incomplete": 0, "resume_errors": 0})
        for c in cl.everyone():
            lost = [eid for eid in truth_ids if not c.received[eid]]
            dup = sum(n - 1 for eid, n in c.received.items() if n > 1)
            unknown = [eid for eid in c.received if eid not in expected]
            mismatch = [eid for eid in c.received
                        if eid in truth_seq and c.seq_of.get(eid) != truth_seq[eid]]
            incomplete = [s for s in c.sessions if s["complete"] is False]
            resume_errors = [s["resume_error"] for s in c.sessions if s["resume_error"]]
            for s in c.sessions:
                if s["resume_mismatch"]:
                    self.problems.append(f"client {c.name}: resumed message: "
                                         f"{s['resume_mismatch']}")
            row = {"name": c.name, "received": sum(c.received.values()),
                   "distinct": len([e for e in c.received if e in expected]),
                   "lost": len(lost), "duplicated": dup, "out_of_order": len(c.out_of_order),
                   "unknown_ids": len(unknown), "text_mismatch": len(mismatch),
                   "connections": len(c.sessions), "failed_connects": c.failed_connects,
                   "incomplete_resumes": len(incomplete), "resume_errors": resume_errors,
                   "replayed": sum(s["replayed"] or 0 for s in c.sessions),
                   "errors": dict(collections.Counter(text for _, text in c.errors)),
                   "drops": [{"at": iso(s["drop"]), "close": s["close"]}
                             for s in c.sessions if s["drop"] and s["drop"] < self.t_end]}
            clients.append(row)
            for eid in lost:
                w = per_event[self.window_of(id_key(eid)[0] / 1000.0)]
                w["lost"] += 1
                w["lost_clients"].add(c.name)
            for eid, t in c.dups:
                per_event[self.window_of(t)]["duplicated"] += 1
            if c is pub:
                continue
            for prev, s in zip(c.sessions, c.sessions[1:]):
                w = per_event[self.window_of(prev["drop"])]
                ready = s["resumed"] or s["welcome"]
                w["reconnected"].add(c.name)
                if ready is None:
                    continue
                w["reconnect_ms"].append((ready - prev["drop"]) * 1000)
                w["incomplete"] += s["complete"] is False
                w["resume_errors"] += bool(s["resume_error"])
        for row in clients:
            for k in ("lost", "duplicated", "out_of_order", "unknown_ids", "text_mismatch",
                      "incomplete_resumes"):
                if row[k]:
                    self.problems.append(f"client {row['name']}: {row[k]} {k.replace('_', ' ')}")
            # "broker unavailable: cannot resume now" comes with a Close 1013
            # (try again later) and the client resumes on its next connection;
            # any other refusal of a resume is the protocol failing.
            bad = [e for e in row["resume_errors"] if not e.startswith("broker unavailable")]
            if bad:
                self.problems.append(f"client {row['name']}: resume refused: {bad[:3]}")

        # The monitor: every gap in the window of an event that took its instance away.
        gaps_by = collections.defaultdict(list)
        unexplained = []
        explaining = {"a", "c", "e", "f"}
        for g in self.monitor.gaps:
            # An event explains a gap that began at most a tick or two
            # before it (the last tick before the kill) and ended after it.
            key = self.window_of(g["start"], slack=0.25)
            ev = next((e for e in self.events if e["key"] == key), None)
            g["explained"] = bool(ev and key in explaining and g["server"] == ev["target"]
                                  and g["end"] >= ev["t"])
            gaps_by[key].append(g)
            if not g["explained"]:
                unexplained.append(g)
        for g in unexplained:
            self.problems.append(f"monitor gap not explained by an event: {g['text']} "
                                 f"(served by {g['server']}, at {iso(g['start'])})")

        events = []
        for i, ev in enumerate(self.events):
            w = per_event[ev["key"]]
            end = self.events[i + 1]["t"] if i + 1 < len(self.events) else self.t_end
            next_lines = (self.events[i + 1]["before"]["sensor_lines"] if i + 1 < len(self.events)
                          else self.final_lines)
            rms = w["reconnect_ms"]
            gaps = gaps_by.get(ev["key"], [])
            served = [n for t, n in self.monitor.servers if ev["t"] <= t < end]
            out = {
                "key": ev["key"], "event": ev["label"], "target": ev["target"],
                "why": ev.get("why"), "at": iso(ev["t"]),
                "action_s": ev["action_s"], "settled_s": ev["settled_s"],
                "monitor": {
                    "gaps": len(gaps), "gap_ms": [g["ms"] for g in gaps],
                    "missed_ticks": sum(g["missed"] or 0 for g in gaps),
                    "served_by_before": ev["before"]["monitor"],
                    "served_by_after": served[-1] if served else ev["before"]["monitor"],
                    "lines": [g["text"] for g in gaps],
                },
                "reconnect_ms": {
                    "clients": len(w["reconnected"]),
                    "p50": r(percentile(rms, 50)), "p99": r(percentile(rms, 99)),
                    "max": r(max(rms) if rms else None),
                },
                "clients_per_instance": {"before": ev["before"]["clients"],
                                         "after": ev["after"]["clients"]},
                "chat": {"lost": w["lost"], "duplicated": w["duplicated"],
                         "clients_with_loss": sorted(w["lost_clients"]),
                         "incomplete_resumes": w["incomplete"],
                         "resume_errors": w["resume_errors"]},
                "sensor": self.sensor_hole(ev, ev["before"]["sensor_lines"], next_lines),
            }
            for k in ("exit_status", "drain_s", "down_s", "reconnected_s", "data_kept", "xlen_before",
                      "xlen_after_start", "lb_down_s", "broker_lost_s", "restored_at_s",
                      "cleared_at_s", "qdisc"):
                if k in ev:
                    out[k] = ev[k]
            events.append(out)

        mon_summary = self.monitor.summary_fields()
        totals = {
            "lost": sum(x["lost"] for x in clients),
            "duplicated": sum(x["duplicated"] for x in clients),
            "out_of_order": sum(x["out_of_order"] for x in clients),
            "monitor_gaps": len(self.monitor.gaps),
            "unexplained_gaps": len(unexplained),
        }
        if self.monitor.proc.returncode not in (0, 1):
            self.problems.append(f"the monitor exited with {self.monitor.proc.returncode}")
        a = self.args
        return {
            "drill": {
                "variant": self.variant, "tls": a.tls, "short": a.short,
                "command": "/usr/bin/python3 bench/drill.py" + "".join(
                    f" --{f}" for f in ("json", "short", "tls", "netns") if getattr(a, f)),
                "date": iso(self.t_start), "machine": machine(),
                "instances": a.instances, "clients": a.clients, "rate": a.rate,
                "load_balancer": f"HAProxy {self.versions['haproxy']} (deploy/haproxy.cfg.in)"
                                 + (", terminating TLS" if a.tls else ""),
                "redis": f"Redis {self.versions['redis']} (appendonly yes, appendfsync everysec)",
                "monitor": f"wspulse monitor {self.base}/ws --gap-ms {GAP_MS}, ticks every "
                           f"{TICK_MS} ms",
                "duration_s": round(self.duration, 1),
                "logs": self.dir,
            },
            "ground_truth": ground,
            "unaccounted_sends": unaccounted,
            "events": events,
            "clients": clients,
            "monitor": {"summary": mon_summary, "gaps": [
                {"at": iso(g["start"]), "ms": g["ms"], "missed": g["missed"],
                 "served_by": g["server"], "explained": g["explained"]}
                for g in self.monitor.gaps]},
            "totals": totals,
            "ok": not self.problems,
            "problems": self.problems,
        }

    def sensor_hole(self, ev, lines_before, lines_after):
        """The largest hole in the sensor's samples during the event, read
        from the log of an instance that ran throughout (not the target)."""
        c = self.cluster
        witness = next(n for n in c.names if n != ev["target"])
        lines = sensor_lines(c.sensor_log(witness))
        part = lines[max(0, lines_before[witness] - 1):lines_after[witness]]
        if len(part) < 2:
            return {"witness": witness, "hole_ms": None}
        steps = collections.Counter(b[0] - a[0] for a, b in zip(part, part[1:]))
        step = steps.most_common(1)[0][0]
        holes = [(b[0] - a[0], a[1], b[1]) for a, b in zip(part, part[1:]) if b[0] - a[0] > step]
        if not holes:
            return {"witness": witness, "hole_ms": 0, "holes": 0, "holder": part[-1][1],
                    "step_ms": step}
        big = max(holes)
        return {"witness": witness, "hole_ms": big[0], "holes": len(holes),
                "holder_before": big[1], "holder_after": big[2], "step_ms": step}


def r(x):
    return None if x is None else round(x)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


# --- the report ------------------------------------------------------------------------


def fmt_ms(x):
    return "-" if x is None else f"{x:,} ms"


def text_report(rep):
    d, g = rep["drill"], rep["ground_truth"]
    p = g["publisher"]
    out = [f"wspulse failover drill: {d['variant']}{' + TLS' if d['tls'] else ''}"
           f"{' (short)' if d['short'] else ''}, {d['date']}",
           f"  machine     {d['machine']}",
           f"  command     {d['command']}",
           f"  cluster     {d['instances']} instances behind {d['load_balancer']}; {d['redis']}",
           f"  load        {d['clients']} resuming chat clients, a publisher at {d['rate']} msg/s, "
           f"the sensor, {d['monitor']}",
           f"  truth       {g['source']}: {g['accepted']} accepted "
           f"(by instance {g['accepted_by_instance']})",
           f"  publisher   {p['sent']} sent, {p['acked']} acked, "
           f"{p['accepted_ack_lost']} accepted without an ack (it died with a connection), "
           f"{p['refused_broker_unavailable']} refused (broker unavailable), "
           f"{p['answered_may_not_have_been_delivered']} answered \"may not have been "
           "delivered\" (connection to Redis lost with the XADD on its way), "
           f"{p['not_accepted']} not accepted ({p['lost_in_flight_with_a_connection']} in flight "
           f"when their connection died, {p['unanswered_on_a_live_connection']} unanswered on a "
           f"live one), {p['acked_not_in_stream']} acked but not in the stream; "
           f"{p['skipped_while_disconnected']} beats skipped while disconnected",
           ""]
    for ev in rep["events"]:
        m, rc, ch, se = ev["monitor"], ev["reconnect_ms"], ev["chat"], ev["sensor"]
        out.append(f"({ev['key']}) {ev['event']} at {ev['at']}"
                   + (f" -- {ev['why']}" if ev.get("why") else ""))
        gaps = ", ".join(f"{x / 1000:.3f} s" for x in m["gap_ms"]) or "none"
        out.append(f"  monitor      gaps: {gaps}; {m['missed_ticks']} ticks missed; served by "
                   f"{m['served_by_before']} -> {m['served_by_after']}")
        out.append(f"  reconnects   {rc['clients']} client(s): p50 {fmt_ms(rc['p50'])}, "
                   f"p99 {fmt_ms(rc['p99'])}, max {fmt_ms(rc['max'])} (drop -> resumed)")
        cpi = ev["clients_per_instance"]
        out.append(f"  clients on   before {cpi['before']}, after {cpi['after']}")
        out.append(f"  chat         {ch['lost']} lost, {ch['duplicated']} duplicated, "
                   f"{ch['incomplete_resumes']} incomplete resumes, "
                   f"{ch['resume_errors']} refused resumes")
        if se.get("hole_ms"):
            out.append(f"  sensor       hole {se['hole_ms']:,} ms ({se['holder_before']} -> "
                       f"{se['holder_after']}) in {se['witness']}'s log")
        else:
            out.append(f"  sensor       no hole in {se['witness']}'s log"
                       f"{' (holder ' + str(se.get('holder')) + ')' if se.get('holder') else ''}")
        extra = {k: ev[k] for k in ("exit_status", "drain_s", "down_s", "reconnected_s", "data_kept",
                                    "lb_down_s", "broker_lost_s", "restored_at_s",
                                    "cleared_at_s") if k in ev}
        if extra:
            out.append("  details      " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        out.append(f"  settled in   {ev['settled_s']} s")
        out.append("")
    out.append("clients: name received lost duplicated out-of-order connections replayed")
    for c in rep["clients"]:
        out.append(f"  {c['name']:<16} {c['distinct']:>6} {c['lost']:>4} {c['duplicated']:>4} "
                   f"{c['out_of_order']:>4} {c['connections']:>4} {c['replayed']:>6}")
    ms = rep["monitor"]["summary"]
    out.append(f"monitor: {ms.get('messages')} ticks, {ms.get('gaps')} gap(s), longest "
               f"{fmt_ms(ms.get('longest_gap_ms'))}, {ms.get('reconnects')} reconnect(s), "
               f"latency {ms.get('latency_ms')}")
    t = rep["totals"]
    out.append(f"totals: {t['lost']} lost, {t['duplicated']} duplicated, {t['out_of_order']} "
               f"out of order, {t['monitor_gaps']} monitor gap(s), {t['unexplained_gaps']} "
               "unexplained")
    out.append("result: " + ("OK" if rep["ok"] else "FAIL: " + "; ".join(rep["problems"])))
    return "\n".join(out) + "\n"


# --- bench/RESULTS.md ------------------------------------------------------------------

SECTION = "## Failover drill (`bench/drill.py`)"
SECTION_INTRO = """\
One command runs a real cluster on this machine -- Redis with its append-only file, three
instances (`--redis`, `--instance ws1..ws3`, `--sensor-log`), HAProxy in front with
`deploy/haproxy.cfg.in` -- and sends through HAProxy a `wspulse monitor` (ticks every
20 ms, gaps over 120 ms reported), 30 chat clients that resume with `?since=<last id>` after
every reconnect, and a publisher at 20 messages/s, with the sensor running. Then: (a)
SIGKILL of the instance serving the most clients, (b) it starts again, (c) SIGTERM of another
(a drain: the sensor's holder, unless that is the restarted one), which then starts again,
(d) Redis restarted with its data; with `--netns`, every
process in its own network namespace joined by veth pairs, and (e) an instance's link cut
until HAProxy marked it down and it saw Redis gone, then restored, (f) the monitor's
instance's link slowed to 64 kbit/s both ways (tbf) for 8 s. Between events the drill waits
for the state the next one needs (HAProxy's view, every connection back and resumed, a
message accepted after the event and delivered to every client, the monitor ticking, a
sensor holder), never a fixed time.

Lost and duplicated are counted per client by id against the Redis stream (`XRANGE
wspulse:chat`): an entry there is a message the cluster accepted, every instance delivers
exactly the stream, and it outlives every instance; the publisher's acknowledgements are
only a cross-check, since an ack dies with the connection that would carry it. A monitor
gap is explained when it began at an event that took the monitor's instance away or slowed
it. Reconnect: from a client's drop to its `resumed` message. Sensor hole: the largest step
between consecutive samples (10 ms apart) in the log of an instance that ran throughout.
The publisher's messages that are not in the stream were either refused ("broker
unavailable: message not delivered", or "broker connection lost: message may not have been
delivered" for an XADD on its way when the connection to Redis died), or went down with a
connection of the publisher that died before an answer. `--json` gives all of it per event
and per client. Redis, the instances, HAProxy and the monitor run in sessions of their own
with a raised scheduler priority (`bench/isolate.py -10`, as for the benchmarks). Each
variant below is one run on a shared 2-core machine: the times vary from run to run by a few
hundred ms, the counts of lost and duplicated do not.
"""
TITLES = {("loopback", False): "Loopback", ("loopback", True): "HAProxy terminating TLS",
          ("netns", False): "Network namespaces", ("netns", True): "Network namespaces, TLS"}


def markdown(rep):
    d, g, t = rep["drill"], rep["ground_truth"], rep["totals"]
    p = g["publisher"]
    title = TITLES[(d["variant"], d["tls"])] + (" (short)" if d["short"] else "")
    out = [f"### {title}", "",
           f"`{d['command']}`, {d['date'][:16]} UTC, {d['machine']}; {d['load_balancer']}, "
           f"{d['redis']}; {d['clients']} clients, {d['rate']} msg/s; {d['duration_s']} s.", "",
           "| event | monitor gap (ticks missed) | monitor served by | clients reconnected | "
           "reconnect p50 / p99 / max | lost | duplicated | sensor hole | settled in |",
           "|---|---|---|---:|---|---:|---:|---|---:|"]
    for ev in rep["events"]:
        m, rc, ch, se = ev["monitor"], ev["reconnect_ms"], ev["chat"], ev["sensor"]
        gaps = ", ".join(f"{x / 1000:.2f} s" for x in m["gap_ms"]) or "none"
        if m["gap_ms"]:
            gaps += f" ({m['missed_ticks']})"
        served = (m["served_by_before"] if m["served_by_before"] == m["served_by_after"]
                  else f"{m['served_by_before']} → {m['served_by_after']}")
        rec = (f"{rc['p50']} / {rc['p99']} / {rc['max']} ms" if rc["clients"] else "–")
        hole = (f"{se['hole_ms']:,} ms ({se['holder_before']} → {se['holder_after']})"
                if se.get("hole_ms") else "none")
        notes = []
        if "drain_s" in ev:
            notes.append(f"exited {ev['drain_s']} s after SIGTERM")
        if "down_s" in ev:
            notes.append(f"down {ev['down_s']} s, every instance back on it after "
                         f"{ev['reconnected_s']} s, "
                         + ("its data kept" if ev.get("data_kept") else "its data LOST"))
        if "lb_down_s" in ev:
            notes.append(f"HAProxy marked it down after {ev['lb_down_s']} s, it saw Redis gone "
                         f"after {ev['broker_lost_s']} s, link restored then")
        label = ev["event"] + (f": {'; '.join(notes)}" if notes else "")
        out.append(f"| ({ev['key']}) {label} | {gaps} | {served} | {rc['clients']} | "
                   f"{rec} | {ch['lost']} | {ch['duplicated']} | {hole} | {ev['settled_s']} s |")
    out += ["",
            f"Accepted (in the stream): {g['accepted']} of {p['sent']} sent; {p['acked']} acked, "
            f"{p['accepted_ack_lost']} accepted with the ack lost, "
            f"{p['refused_broker_unavailable']} refused \"broker unavailable\", "
            f"{p['answered_may_not_have_been_delivered']} answered \"may not have been "
            "delivered\", "
            f"{p['lost_in_flight_with_a_connection']} in flight when the publisher's "
            f"connection died, {p['acked_not_in_stream']} acked but not in the stream. Totals "
            f"over {d['clients']} clients and the publisher: {t['lost']} lost, "
            f"{t['duplicated']} duplicated, {t['out_of_order']} out of order; "
            f"{t['monitor_gaps']} monitor gaps, {t['unexplained_gaps']} unexplained. "
            f"Result: {'OK' if rep['ok'] else 'FAIL: ' + '; '.join(rep['problems'])}.", ""]
    return title, "\n".join(out)


def marked(name, body):
    return f"<!-- {name}:begin -->\n{body.strip(chr(10))}\n<!-- {name}:end -->"


def replace_marked(text, name, body, where):
    """text with the block between name's markers replaced by body, or
    body inserted at where(text) when there is no such block yet."""
    m = re.search(rf"<!-- {re.escape(name)}:begin -->.*?<!-- {re.escape(name)}:end -->", text,
                  re.S)
    block = marked(name, body)
    if m:
        return text[:m.start()] + block + text[m.end():]
    at = where(text)
    return text[:at].rstrip("\n") + "\n\n" + block + "\n" + text[at:]


def write_results(path, rep):
    """Insert or replace this variant's table in the drill's section of
    RESULTS.md, each between markers like the other sections'
    (<!-- drill:begin -->, <!-- drill-loopback:begin -->, ...); the rest of
    the file is left as it is, read and written back at once."""
    title, block = markdown(rep)
    key = "drill-" + re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
    with open(path) as f:
        text = f.read()
    if "<!-- drill:begin -->" not in text:
        text = replace_marked(text, "drill", f"{SECTION}\n\n{SECTION_INTRO}", len)
    m = re.search(r"<!-- drill:begin -->(.*?)<!-- drill:end -->", text, re.S)
    inner = m.group(1)
    first = inner.find("<!-- drill-")          # the heading and intro: as this file has them
    inner = f"{SECTION}\n\n{SECTION_INTRO}\n" + (inner[first:] if first >= 0 else "")
    order = ["drill-" + re.sub(r"[^a-z]+", "-", t.lower()).strip("-") for t in TITLES.values()]

    def where(section):
        # Before the first variant that comes later in the order, else at the end.
        rest = order[order.index(key) + 1:] if key in order else []
        later = [section.index(f"<!-- {k}:begin -->") for k in rest
                 if f"<!-- {k}:begin -->" in section]
        return min(later) if later else len(section)
    inner = replace_marked(inner, key, block, where)
    text = text[:m.start(1)] + "\n" + inner.strip("\n") + "\n" + text[m.end(1):]
    with open(path, "w") as f:
        f.write(text)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="the report as JSON")
    ap.add_argument("--short", action="store_true",
                    help="one SIGKILL, 4 clients, a few seconds (the test)")
    ap.add_argument("--tls", action="store_true", help="HAProxy terminates TLS; wss:// clients")
    ap.add_argument("--netns", action="store_true",
                    help="every process in its own network namespace (root)")
    ap.add_argument("--clients", type=int, help="chat clients K (default 30, --short 4)")
    ap.add_argument("--rate", type=int, default=20, help="publisher messages/s R (default 20)")
    ap.add_argument("--instances", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--slow-s", type=float, default=8, help="how long the link is slow (--netns)")
    ap.add_argument("--settle-timeout", type=float, default=45,
                    help="longest wait for a state between events (s)")
    ap.add_argument("--logs", help="keep the run's logs in this folder")
    ap.add_argument("--results", nargs="?", const=os.path.join(HERE, "RESULTS.md"),
                    help="put this run's table into the drill's section of RESULTS.md "
                         "(default bench/RESULTS.md)")
    a = ap.parse_args(argv)
    if a.clients is None:
        a.clients = 4 if a.short else 30
    return a


def main(argv=None):
    args = parse_args(argv)

    def stop(signo, frame):
        INTERRUPTED.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        drill = Drill(args)
    except DrillError as e:
        print(f"drill: {e}", file=sys.stderr)
        return 2
    rep = None
    try:
        rep = drill.run()
    except DrillError as e:
        print(f"drill: {e}", file=sys.stderr)
    except Interrupted:
        print("drill: interrupted; stopping everything", file=sys.stderr)
    finally:
        drill.cleanup()
    if rep is None:
        print(f"drill: logs kept in {drill.dir}", file=sys.stderr)
        return 2
    if not rep["ok"] or drill.keep:
        print(f"drill: logs kept in {drill.dir}", file=sys.stderr)
    else:
        shutil.rmtree(drill.dir, ignore_errors=True)
        rep["drill"]["logs"] = None
    sys.stdout.write(json.dumps(rep, indent=2) + "\n" if args.json else text_report(rep))
    if args.results:
        write_results(args.results, rep)
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
