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
    args = ap.parse_args()

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


if __name__ == "__main__":
    sys.exit(main())
