#!/usr/bin/python3
"""tick_send.py -- how long wspulse takes to send one tick to every client:
its /metrics histogram wspulse_tick_send_seconds (from the tick's firing until
the last client's frame was handed to the kernel), read before and after S
seconds with N clients on /ws. With thousands of clients that time is what
spreads their arrivals (the jitter and lateness of `wspulse bench ticks`).

The clients are either raw sockets of this script that never read (--idle:
no reader to wake, nothing in the server's time but the sends; 10 ticks a
second of ~150 B stay within their socket buffers for a minute), or
`wspulse bench ticks` (the default: reading, as compare.sh's ticks_10k).
The server runs pinned to core 0, the clients to core 1, each in a session
of its own at autogroup nice -20 (bench/isolate.py), as in compare.sh.

Run: /usr/bin/python3 bench/tick_send.py [--idle] [--clients N] [--seconds S]
"""
import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ISOLATE = [sys.executable, os.path.join(HERE, "isolate.py"), "-20"]
FAMILY = "wspulse_tick_send_seconds"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(wspulse, port):
    server = subprocess.Popen(["taskset", "-c", "0", *ISOLATE, wspulse, "--port", str(port),
                               "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("tick_send.py: the server did not listen within 15 s")


def histogram(port):
    """{upper bound in s (inf for +Inf): cumulative count}, and the sum."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    buckets = {float(le): int(v) for le, v in
               re.findall(FAMILY + r'_bucket\{le="([^"]+)"\} (\d+)', text)}
    total = float(re.search(FAMILY + r"_sum (\S+)", text).group(1))
    if not buckets:
        sys.exit(f"tick_send.py: no {FAMILY} in /metrics (a wspulse without it?)")
    return buckets, total


def idle_clients(port, n):
    """n WebSocket clients on /ws that never read after the 101."""
    request = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    clients = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("tick_send.py: the server closed a client during its handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            sys.exit(f"tick_send.py: {head.splitlines()[0]!r}")
        clients.append(s)
    return clients


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def report(before, after, clients, seconds_cpu):
    (b0, s0), (b1, s1) = before, after
    ticks = b1[float("inf")] - b0[float("inf")]
    if ticks <= 0:
        sys.exit("tick_send.py: no tick went out")
    mean = (s1 - s0) / ticks
    print(f"{clients} clients, {ticks} ticks: a tick took {mean * 1e3:.1f} ms to go out "
          f"({mean / clients * 1e6:.2f} µs per client); server CPU {seconds_cpu:.2f} s")
    below = 0
    for bound in sorted(b1):
        count = (b1[bound] - b0[bound]) - below
        below += count
        if count:
            label = "+Inf" if bound == float("inf") else f"{bound * 1e3:g} ms"
            print(f"  up to {label:>8}: {count:5d} ticks ({100 * count / ticks:.0f} %)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", action="store_true", help="clients that never read")
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--wspulse", default=os.path.join(ROOT, "wspulse"))
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {1})
    port = free_port()
    server = start_server(args.wspulse, port)
    try:
        if args.idle:
            clients = idle_clients(port, args.clients)
            before, c0 = histogram(port), cpu_ticks(server.pid)
            time.sleep(args.seconds)
            after, c1 = histogram(port), cpu_ticks(server.pid)
            for s in clients:
                s.close()
        else:
            load = subprocess.Popen([*ISOLATE, args.wspulse, "bench", "ticks",
                                     f"ws://127.0.0.1:{port}/ws", "-c", str(args.clients),
                                     "-d", str(args.seconds + 4), "--quiet"])
            time.sleep(2)                # well after the clients connected (a second)
            while len(os.listdir(f"/proc/{server.pid}/fd")) < args.clients:
                time.sleep(0.1)
            before, c0 = histogram(port), cpu_ticks(server.pid)
            time.sleep(args.seconds)
            after, c1 = histogram(port), cpu_ticks(server.pid)
            if load.wait() != 0:
                sys.exit("tick_send.py: wspulse bench ticks failed")
        report(before, after, args.clients, (c1 - c0) / os.sysconf("SC_CLK_TCK"))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
