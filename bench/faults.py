#!/usr/bin/python3
"""bench/faults.py -- faults under load: does a bad client harm anybody else?

While wspulse (pinned to core 0) carries a chat fan-out to 1,000 subscribers
(`wspulse bench fanout`, on core 1; 100 messages/s of 4 KiB, so 400 MB/s
leave the server), it also holds:
  * 5,000 slow-header connections (slowloris): each sends a request line and
    then one header line every 2 s, never the blank line; the server closes
    them at --header-timeout and they come straight back;
  * one stalled reader: a /chat member with a tiny receive buffer that never
    reads, so its queue grows until --max-pending closes it.
Meanwhile a normal client connects to /echo every 200 ms, sends one message
and times the answer (connect + upgrade + echo), and the server's memory is
sampled every 250 ms.

--churn, --fds and --noread run other cases instead (see churn_main, fds_main,
noread_main).
Prints a Markdown section with the figures (and writes it between markers
into bench/RESULTS.md with --write). Usage:
    bench/faults.py [--duration 30] [--slow 5000] [--subscribers 1000] [--rate 100]
                    [--size 4096] [--write]
"""
import argparse
import asyncio
import json
import os
import platform
import re
import resource
import selectors
import socket
import subprocess
import sys
import multiprocessing
import threading
import time
import urllib.request

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, os.environ.get("WSPULSE", "wspulse"))
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def get_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


class Slowloris:
    """Keeps `count` connections sending a header line every 2 s. Runs in a
    process of its own, so that its busy loop does not slow the probe."""

    def __init__(self, port, count):
        self.port, self.count = port, count
        self.sel = selectors.DefaultSelector()
        self.opened = self.closed_by_server = self.answered_408 = 0

    def open_one(self):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, [False, 0.0])
        self.opened += 1

    def close_one(self, s, answered):
        self.sel.unregister(s)
        s.close()
        self.closed_by_server += 1
        self.answered_408 += answered

    def on_event(self, s, state, events, now):
        if events & selectors.EVENT_READ:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            self.close_one(s, data.startswith(b"HTTP/1.1 408"))
            self.open_one()              # the attacker comes straight back
        elif not state[0]:
            try:
                s.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
                state[0], state[1] = True, now
            except OSError:
                pass
            self.sel.modify(s, selectors.EVENT_READ, state)

    def trickle(self, now):
        for key in list(self.sel.get_map().values()):
            state = key.data
            if state[0] and now - state[1] >= 2.0:
                try:
                    key.fileobj.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass
                state[1] = now

    def run(self, stop, result):
        for _ in range(self.count):
            self.open_one()
        last_trickle = 0.0
        while not stop.is_set():
            now = time.monotonic()
            for key, events in self.sel.select(timeout=0.2):
                self.on_event(key.fileobj, key.data, events, now)
            if now - last_trickle >= 0.5:
                self.trickle(now)
                last_trickle = now
        result.put((self.opened, self.closed_by_server, self.answered_408))


def stalled_reader(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return s                                 # and never read again


async def probe(port, stop_at, samples, failures):
    while time.monotonic() < stop_at:
        start = time.monotonic()
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}/echo",
                                          open_timeout=5) as ws:
                await ws.send("probe")
                assert await asyncio.wait_for(ws.recv(), 5) == "probe"
            samples.append((time.monotonic() - start) * 1000)
        except Exception as e:              # a failure is a finding, not a crash
            failures.append(repr(e))
        await asyncio.sleep(0.2)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--slow", type=int, default=5000)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--churn", action="store_true", help="the join/leave churn case instead")
    ap.add_argument("--members", type=int, default=4000, help="--churn: /chat members")
    ap.add_argument("--fds", action="store_true",
                    help="the out-of-file-descriptors case instead")
    ap.add_argument("--nofile", type=int, default=1024, help="--fds: the server's limit")
    ap.add_argument("--noread", action="store_true",
                    help="the non-reading sender case instead (noread_main)")
    ap.add_argument("--before", metavar="BINARY",
                    help="--fds: also run this build (e.g. one without the fix)")
    args = ap.parse_args()
    if args.noread:
        return noread_main(args)
    if args.churn:
        return churn_main(args)
    if args.fds:
        return fds_main(args)

    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "0", BINARY, "--port", str(port),
                               "--log-level", "warn", "--max-pending", "1M"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server.stdout.readline()
    time.sleep(0.3)
    base_rss = rss_kib(server.pid)

    stop = threading.Event()
    rss = []
    sampler = threading.Thread(target=lambda: [rss.append(rss_kib(server.pid))
                                               or time.sleep(0.25)
                                               for _ in iter(stop.is_set, True)], daemon=True)
    sampler.start()
    loris_stop, loris_result = multiprocessing.Event(), multiprocessing.Queue()
    loris = multiprocessing.Process(target=Slowloris(port, args.slow).run,
                                    args=(loris_stop, loris_result), daemon=True)
    loris.start()
    stalled = stalled_reader(port)
    fanout = subprocess.Popen(["taskset", "-c", "1", BINARY, "bench", "fanout",
                               f"ws://127.0.0.1:{port}/chat", "--subscribers",
                               str(args.subscribers), "--rate", str(args.rate),
                               "--size", str(args.size), "-d",
                               str(args.duration), "--json", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)                            # joins and slowloris ramp-up
    samples, failures = [], []
    asyncio.run(probe(port, time.monotonic() + args.duration - 2, samples, failures))
    out, err = fanout.communicate(timeout=120)
    stats = get_stats(port)
    stop.set()
    loris_stop.set()
    opened, closed_by_server, answered_408 = loris_result.get(timeout=30)
    loris.join(5)
    stalled.close()
    end_rss = rss_kib(server.pid)
    server.terminate()
    server_rc = server.wait(15)
    log = server.stderr.read()

    fan = json.loads(out) if out.strip() else {"error": err.strip()}
    rows = [
        ("slow-header connections held", f"{args.slow} (opened {opened}, "
                                          f"closed by the server {closed_by_server}, "
                                          f"of which answered 408: {answered_408})"),
        ("server header_timeouts (/stats)", stats["header_timeouts"]),
        ("stalled /chat reader", "closed as slow consumer" if stats["slow_consumers_closed"]
         else "NOT closed"),
        ("fan-out deliveries/s", fan.get("deliveries_per_s", fan)),
        ("fan-out expected / received / lost",
         f"{fan.get('expected')} / {fan.get('received')} / {fan.get('lost')}"),
        ("fan-out delivery latency p50 / p99 (ms)",
         f"{fan.get('latency_ms', {}).get('p50')} / {fan.get('latency_ms', {}).get('p99')}"),
        ("normal client connect+echo, n", len(samples)),
        ("  p50 / p99 / max (ms)", f"{percentile(samples, 50):.2f} / "
                                   f"{percentile(samples, 99):.2f} / {max(samples or [0]):.2f}"),
        ("  failures", len(failures)),
        ("server RSS before / peak / after (MiB)",
         f"{base_rss / 1024:.1f} / {max(rss or [0]) / 1024:.1f} / {end_rss / 1024:.1f}"),
        ("server exit status after SIGTERM", server_rc),
    ]
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    section = [BEGIN, "## Faults under load (`bench/faults.py`)", "",
               f"Command: `bench/faults.py --duration {args.duration:g} --slow {args.slow} "
               f"--subscribers {args.subscribers} --rate {args.rate} --size {args.size} "
               "--write`  ",
               f"Machine: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}; "
               f"{time.strftime('%Y-%m-%d')}. Server on core 0 with --max-pending 1M, "
               "the fan-out load on core 1, the slow clients and the probe unpinned.", "",
               "| what | figure |", "|---|---|"]
    section += [f"| {k} | {v} |" for k, v in rows]
    if failures:
        section += ["", "Probe failures: " + "; ".join(sorted(set(failures))[:5])]
    if "slow consumer" in log:
        section += ["", "Server log: `" + next(l for l in log.splitlines()
                                                if "slow consumer" in l)[25:] + "`"]
    section.append(END)
    text = "\n".join(section) + "\n"
    print(text)
    if args.write:
        path = os.path.join(ROOT, "bench", "RESULTS.md")
        old = open(path).read() if os.path.exists(path) else ""
        if BEGIN in old:
            old = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END) + 1:]
        else:
            old = old + ("\n" if old else "") + text
        with open(path, "w") as f:
            f.write(old)
    ok = not failures and stats["slow_consumers_closed"] and server_rc == 0 \
        and fan.get("lost", 1) == 0
    return 0 if ok else 1


# --- churn: one client joining and leaving /chat in a loop (issue 15 item 1) ---

CHURN_BEGIN, CHURN_END = "<!-- faults-churn:begin -->", "<!-- faults-churn:end -->"
UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
PING = b"\x81\x8f\x00\x00\x00\x00" + b'{"type":"ping"}'   # masked with a zero key


CHURN_IP = "127.0.0.250"                     # an address of its own, apart from the members'


def churner(port, stop_at, result):
    """Connect, upgrade, read the 101, reset (SO_LINGER 0), again, as fast as
    the server answers; a 429 (past --max-conn-rate-per-ip) is counted and
    the loop goes on at once, as an abuser would."""
    os.sched_setaffinity(0, {1})             # off the server's core
    cycles = refused = errors = 0
    while time.monotonic() < stop_at:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            s.bind((CHURN_IP, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            s.sendall(UPGRADE)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            if head.startswith(b"HTTP/1.1 101"):
                cycles += 1
            elif head.startswith(b"HTTP/1.1 429"):
                refused += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        s.close()                            # SO_LINGER 0: a reset
    result.put((cycles, refused, errors))


def ws_frames(sock, buf):
    """Read one whole server frame's payload (unmasked, < 64 KiB) from sock."""
    while True:
        if len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126 and len(buf) >= 4:
                n, off = int.from_bytes(buf[2:4], "big"), 4
            if n != 126 and len(buf) >= off + n:
                payload = bytes(buf[off:off + n])
                del buf[:off + n]
                return payload
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the probe")
        buf += chunk


def member_probe(port, stop_at, every_s, result):
    """A /chat member that sends {"type":"ping"} every every_s and times the
    pong; the join and leave notices in between are read and counted. On
    core 1 in a session of its own at autogroup nice -15, so that what it
    measures is the server's delay, not its own wait for a core shared with
    the members and the churner (or with other jobs of a shared machine)."""
    os.sched_setaffinity(0, {1})
    try:                                     # as bench/isolate.py does
        os.setsid()
        with open("/proc/self/autogroup", "w", encoding="ascii") as f:
            f.write("-15")
    except OSError:
        pass
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(UPGRADE)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    buf = bytearray(head[head.index(b"\r\n\r\n") + 4:])
    samples, notices, counts_ok = [], 0, True
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        s.sendall(PING)
        while True:
            payload = ws_frames(s, buf)
            if b'"pong"' in payload:
                break
            notices += 1
        samples.append((time.perf_counter() - start) * 1000)
        time.sleep(every_s)
    s.close()
    result.put((samples, notices))


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def churn_run(members, duration, server_args):
    """One run; returns a dict of figures."""
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "0", "/usr/bin/python3",
                               os.path.join(ROOT, "bench", "isolate.py"), "-20", BINARY,
                               "--port", str(port), "--log-level", "warn", *server_args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server.stdout.readline()
    load = subprocess.Popen(["taskset", "-c", "1", BINARY, "bench", "conns",
                             f"ws://127.0.0.1:{port}/chat", "-c", str(members), "--hold",
                             str(duration + 30), "--source-ips", "200", "--json", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while get_stats(port)["chat_online"] < members and time.monotonic() < deadline:
        time.sleep(0.2)
    online = get_stats(port)["chat_online"]
    figures = {}
    for phase, churn in (("quiet", False), ("churn", True)):
        stop_at = time.monotonic() + duration
        probe_q, churn_q = multiprocessing.Queue(), multiprocessing.Queue()
        probe = multiprocessing.Process(target=member_probe, args=(port, stop_at, 0.005, probe_q))
        churn_p = multiprocessing.Process(target=churner, args=(port, stop_at, churn_q))
        cpu0, t0 = cpu_s(server.pid), time.monotonic()
        probe.start()
        if churn:
            churn_p.start()
        samples, notices = probe_q.get(timeout=duration + 60)
        cycles, refused, errors = churn_q.get(timeout=60) if churn else (0, 0, 0)
        cpu, wall = cpu_s(server.pid) - cpu0, time.monotonic() - t0
        probe.join(5)
        if churn:
            churn_p.join(5)
        figures[phase] = dict(samples=samples, notices=notices, cycles=cycles, refused=refused,
                              errors=errors, cpu_s=cpu, wall_s=wall)
    stats = get_stats(port)
    load.terminate()
    load.communicate(timeout=30)
    server.terminate()
    rc = server.wait(15)
    figures.update(online=online, stats=stats, rc=rc, log=server.stderr.read())
    return figures


def churn_rows(label, f):
    q, c = f["quiet"], f["churn"]
    per_cycle = (c["cpu_s"] - q["cpu_s"] * c["wall_s"] / q["wall_s"]) / c["cycles"] * 1000 \
        if c["cycles"] else float("nan")
    return [
        (f"{label}: /chat members held", f["online"]),
        (f"{label}: churn cycles (connect, upgrade, reset) / 429s / errors",
         f"{c['cycles']} ({c['cycles'] / c['wall_s']:.0f}/s) / {c['refused']} / {c['errors']}"),
        (f"{label}: server CPU, quiet / churning (% of a core)",
         f"{100 * q['cpu_s'] / q['wall_s']:.0f} / {100 * c['cpu_s'] / c['wall_s']:.0f}"),
        (f"{label}: server CPU per churn cycle (ms, over quiet)", f"{per_cycle:.2f}"),
        (f"{label}: notices the probe member read (churning)", c["notices"]),
        (f"{label}: member ping→pong, quiet: n, p50 / p99 (ms)",
         f"{len(q['samples'])}, {percentile(q['samples'], 50):.2f} / "
         f"{percentile(q['samples'], 99):.2f}"),
        (f"{label}: member ping→pong, churning: n, p50 / p99 / max (ms)",
         f"{len(c['samples'])}, {percentile(c['samples'], 50):.2f} / "
         f"{percentile(c['samples'], 99):.2f} / {max(c['samples'] or [0]):.2f}"),
        (f"{label}: conn_rate_limited (/stats), server exit status",
         f"{f['stats'].get('conn_rate_limited', 'n/a')}, {f['rc']}"),
    ]


def churn_main(args):
    """The churn case: --members reading /chat members (`wspulse bench conns`
    on core 1, from 16 source addresses), the server on core 0; a member
    probe times ping→pong every 5 ms for --duration seconds quiet, then as
    long again while one client (one address of its own) churns. First with
    the defaults, which leave loopback peers unlimited: the churner goes as
    fast as the server answers, the worst case for the notices; then with
    --max-conn-rate-per-ip 20 given, which binds loopback too (the members
    come from 200 addresses, 20 each, so they connect within the burst)."""
    runs = [("defaults", []), ("--max-conn-rate-per-ip 20",
                                ["--max-conn-rate-per-ip", "20"])]
    rows, ok = [], True
    for label, server_args in runs:
        f = churn_run(args.members, args.duration, server_args)
        rows += churn_rows(label, f)
        ok = ok and f["rc"] == 0 and percentile(f["churn"]["samples"], 99) < 5.0
        ok = ok and f["online"] == args.members
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    section = [CHURN_BEGIN, "### Join/leave churn (`bench/faults.py --churn`)", "",
               f"Command: `bench/faults.py --churn --members {args.members} "
               f"--duration {args.duration:g} --write`  ",
               f"Machine: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}; "
               f"{time.strftime('%Y-%m-%d')}. Server on core 0 at autogroup nice -20 "
               "(bench/isolate.py, as `make bench`); the members, the churning client and "
               "the probe member (autogroup nice -15) on core 1.", "",
               "| what | figure |", "|---|---|"]
    section += [f"| {k} | {v} |" for k, v in rows]
    section.append(CHURN_END)
    text = "\n".join(section) + "\n"
    print(text)
    if args.write:
        write_section(CHURN_BEGIN, CHURN_END, text)
    return 0 if ok else 1


# --- out of file descriptors (issue 14 item 3) ----------------------------------

FDS_BEGIN, FDS_END = "<!-- faults-fds:begin -->", "<!-- faults-fds:end -->"
ECHO_UPGRADE = UPGRADE.replace(b"/chat", b"/echo")
ECHO_FRAME = b"\x81\x90\x00\x00\x00\x00" + b"0123456789abcdef"   # masked, zero key


def echo_prober(port, stop, result):
    """A WebSocket client opened before the descriptors run out: one echo
    every 20 ms, each timed; a failure ends it (the server stopped serving)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(ECHO_UPGRADE)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    samples, failure = [], None
    s.settimeout(2)
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            s.sendall(ECHO_FRAME)
            got = b""
            while len(got) < 18:
                chunk = s.recv(64)
                if not chunk:
                    raise ConnectionError("closed")
                got += chunk
            samples.append((time.monotonic() - t0) * 1000)
        except OSError as e:
            failure = f"{type(e).__name__}: {e}"
            break
        time.sleep(0.02)
    s.close()
    result.update(samples=samples, failure=failure)


def handshake_storm(port, stop_at, inflight, result):
    """Handshakes as fast as they go, inflight at a time, each given 2 s:
    counted by answer (101, 503, other), timeout, or error."""
    sel = selectors.DefaultSelector()
    counts = {"101": 0, "503": 0, "other": 0, "timeout": 0, "error": 0}

    def open_one():
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, [time.monotonic(), b""])

    def finish(s, kind):
        sel.unregister(s)
        s.close()
        counts[kind] += 1
        if time.monotonic() < stop_at:
            open_one()
    for _ in range(inflight):
        open_one()
    while sel.get_map():
        now = time.monotonic()
        for key, events in sel.select(timeout=0.1):
            s, state = key.fileobj, key.data
            try:
                if events & selectors.EVENT_WRITE:
                    s.send(ECHO_UPGRADE)
                    sel.modify(s, selectors.EVENT_READ, state)
                    continue
                chunk = s.recv(4096)
            except OSError:
                finish(s, "error")
                continue
            state[1] += chunk
            if b"\r\n" in state[1] or not chunk:
                code = state[1][9:12].decode("latin-1")
                finish(s, code if code in ("101", "503") else "other")
        for key in list(sel.get_map().values()):
            if now - key.data[0] > 2:
                finish(key.fileobj, "timeout")
    result.update(counts)


def fds_run(binary, nofile, duration, inflight):
    """The server under an open-file limit of nofile, an echo client already
    connected, nofile + 100 idle TCP connections (more than it can hold),
    then a storm of handshakes for duration seconds."""
    port = free_port()

    def limit():                                 # soft and hard: it cannot raise it
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    server = subprocess.Popen(["taskset", "-c", "0", binary, "--port", str(port),
                               "--header-timeout", "600", "--log-level", "warn"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=limit)
    server.stdout.readline()
    log_lines = []
    reader = threading.Thread(target=lambda: log_lines.extend(server.stderr), daemon=True)
    reader.start()
    stop, probe = threading.Event(), {}
    prober = threading.Thread(target=echo_prober, args=(port, stop, probe), daemon=True)
    prober.start()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(nofile + 100)]
    time.sleep(1)
    storm = {}
    cpu0, t0 = cpu_s(server.pid), time.monotonic()
    handshake_storm(port, t0 + duration, inflight, storm)
    cpu = (cpu_s(server.pid) - cpu0) / (time.monotonic() - t0) * 100
    for s in idle[:200]:
        s.close()
    health, waited = None, time.monotonic()
    while time.monotonic() - waited < 10 and health != 200:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                health = r.status
        except Exception as e:                   # 503 refusals, timeouts
            health = getattr(e, "code", type(e).__name__)
    health_s = time.monotonic() - waited
    stop.set()
    prober.join(5)
    term = time.monotonic()
    server.terminate()
    try:
        rc = server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = f"none in 10 s (killed: {server.wait()})"
    term_s = time.monotonic() - term
    for s in idle[200:]:
        s.close()
    reader.join(5)
    fd_lines = sum("out of file descriptors" in line for line in log_lines)
    return dict(cpu=cpu, storm=storm, probe=probe, health=health, health_s=health_s,
                rc=rc, term_s=term_s, fd_lines=fd_lines,
                log_bytes=sum(len(line) for line in log_lines))


def fds_rows(label, f):
    st, samples = f["storm"], f["probe"].get("samples", [])
    return [
        (f"{label}: server CPU during the storm (% of a core)", f"{f['cpu']:.0f}"),
        (f"{label}: handshakes 101 / 503 / timed out / other, error",
         f"{st.get('101')} / {st.get('503')} / {st.get('timeout')} / "
         f"{st.get('other')}, {st.get('error')}"),
        (f"{label}: existing client's echoes, n / p99 / max (ms)",
         f"{len(samples)} / {percentile(samples, 99):.2f} / {max(samples or [0]):.2f}"),
        (f"{label}: existing client's failure", f["probe"].get("failure") or "none"),
        (f"{label}: /healthz after 200 descriptors freed", f"{f['health']} "
                                                          f"(within {f['health_s']:.1f} s)"),
        (f"{label}: 'out of file descriptors' log lines (log bytes)",
         f"{f['fd_lines']} ({f['log_bytes']})"),
        (f"{label}: exit status after SIGTERM (s)", f"{f['rc']} ({f['term_s']:.1f})"),
    ]


def fds_main(args):
    """The out-of-descriptors case: the server (core 0) under --nofile, an
    echo client connected first, nofile + 100 idle TCP connections, then a
    storm of handshakes (256 in flight) for --duration seconds."""
    duration = min(args.duration, 10)
    runs = [("fixed", BINARY)] + ([("before", args.before)] if args.before else [])
    rows, ok = [], True
    for label, binary in runs:
        f = fds_run(binary, args.nofile, duration, 256)
        rows += fds_rows(label, f)
        if label == "fixed":
            ok = f["rc"] == 0 and f["cpu"] < 50 and not f["probe"].get("failure") \
                and f["health"] == 200 and f["fd_lines"] <= duration + 15
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    section = [FDS_BEGIN, "### Out of file descriptors (`bench/faults.py --fds`)", "",
               f"Command: `bench/faults.py --fds --nofile {args.nofile} --duration {duration:g}"
               f"{' --before OLD' if args.before else ''} --write`  ",
               f"Machine: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}; "
               f"{time.strftime('%Y-%m-%d')}. Server on core 0 with its open-file limit at "
               f"{args.nofile} (soft and hard); an /echo client connected first echoes every "
               f"20 ms; {args.nofile + 100} idle TCP connections fill the descriptors; then "
               f"{duration:g} s of handshakes, 256 in flight, each given 2 s.", "",
               "| what | figure |", "|---|---|"]
    section += [f"| {k} | {v} |" for k, v in rows]
    section.append(FDS_END)
    text = "\n".join(section) + "\n"
    print(text)
    if args.write:
        write_section(FDS_BEGIN, FDS_END, text)
    return 0 if ok else 1


NOREAD_BEGIN, NOREAD_END = "<!-- faults-noread:begin -->", "<!-- faults-noread:end -->"
UPGRADE = (b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def masked(opcode, payload):
    """A client frame with a zero mask (the payload needs no change)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


NOREAD_CASES = [
    ("/echo, 1 KiB binary", b"/echo", masked(2, b"x" * 1024)),
    ("/echo, ping frames of 125 B", b"/echo", masked(9, b"p" * 125)),
    ("/chat, invalid JSON (error replies)", b"/chat", masked(1, b"x")),
    ("/rpc, 1,000 B text", b"/rpc", masked(1, b"y" * 1000)),
    ("pipelined GET /healthz", None, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
]


def noread_one(binary, path, unit, duration):
    """One client sends unit again and again for duration seconds, reading
    nothing; returns peak RSS growth (KiB), peak queued_bytes, the bytes it
    got in, and how the server ended it."""
    port = free_port()
    srv = subprocess.Popen(["taskset", "-c", "0", binary, "--port", str(port),
                            "--ping-interval", "2", "--log-level", "error"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    srv.stdout.readline()
    base = rss_kib(srv.pid)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if path:
        sock.sendall(UPGRADE % path)
        time.sleep(0.2)
    sock.setblocking(False)
    chunk, pending, sent, peak_rss, peak_q = unit * max(1, 65536 // len(unit)), b"", 0, 0, 0
    stop, ended = time.monotonic() + duration, "still open"
    next_probe = 0
    while time.monotonic() < stop:
        pending = pending or chunk
        try:
            n = sock.send(pending)
            pending, sent = pending[n:], sent + n
        except BlockingIOError:
            time.sleep(0.01)
        except OSError as e:
            ended = f"closed by the server ({e.strerror})"
            break
        if time.monotonic() > next_probe:
            next_probe = time.monotonic() + 0.25
            peak_rss = max(peak_rss, rss_kib(srv.pid) - base)
            peak_q = max(peak_q, get_stats(port)["queued_bytes"])
    closes = get_stats(port)["slow_consumers_closed"]
    sock.close()
    srv.terminate()
    srv.wait()
    return peak_rss, peak_q, sent, ended if not closes else "Close 1008 after the stall"


def noread_main(args):
    duration = min(args.duration, 10)
    rows = []
    for label, path, unit in NOREAD_CASES:
        rss, q, sent, ended = noread_one(BINARY, path, unit, duration)
        rows.append(f"| {label} | {sent / 1e6:.1f} | {q / 1048576:.2f} | {rss / 1024:.1f} | {ended} |")
    section = [NOREAD_BEGIN, "### A client that sends and never reads (`bench/faults.py --noread`)",
               "", f"Command: `bench/faults.py --noread --duration {duration:g} --write`; "
               f"{time.strftime('%Y-%m-%d')}. The server (core 0, default --max-pending 4 MiB, "
               "--ping-interval 2) and one client that sends the same thing for the duration "
               "with a 4 KiB receive buffer and never reads.", "",
               "| what it sends | MB sent (after the Close, read and dropped) "
               "| peak queued (MiB) | peak RSS growth (MiB) | how it ended |", "|---|---:|---:|---:|---|"] + rows + [NOREAD_END]
    text = "\n".join(section) + "\n"
    print(text)
    if args.write:
        write_section(NOREAD_BEGIN, NOREAD_END, text)
    return 0



def write_section(begin, end, text):
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    old = open(path).read() if os.path.exists(path) else ""
    if begin in old:
        old = old[:old.index(begin)] + text + old[old.index(end) + len(end) + 1:]
    else:
        old = old + ("\n" if old else "") + text
    with open(path, "w") as f:
        f.write(old)


if __name__ == "__main__":
    sys.exit(main())
