#!/usr/bin/python3
"""runs.py -- several bench/compare.sh runs side by side: for each figure
of RATIOS, wspulse ÷ a peer in each run and the median, as Markdown on
stdout. One run moves by ±15-20 % on a shared machine; the median of a few
runs, each a fair comparison in itself, moves less.
Run: /usr/bin/python3 bench/runs.py [--summary] bench/out/RUN1 bench/out/RUN2 ...
--summary: instead of a column per run, how many runs had the figure, its
median, its range (for many runs, some of a subset of the workloads) and in
how many of them wspulse was ahead (a ratio under 1 where less is better, over
1 where more is).
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import NAMES, Run, ratio  # noqa: E402

# (workload, figure label, key, peer): the ratios issue 10 set targets for.
# Which way is better follows from the key: per-unit CPU and bytes are less
# is better, rates more is better.
CPU = "calc:cpu_per:"
RATIOS = [
    ("echo_deep", "server CPU per message", CPU + "msg_per_s", "uws"),
    ("echo_deep", "messages/s", "msg_per_s", "tcp_echo"),
    ("echo_small", "server CPU per message", CPU + "msg_per_s", "uws"),
    ("echo_small", "messages/s", "msg_per_s", "tcp_echo"),
    ("echo_latency", "round trips/s", "msg_per_s", "tcp_echo"),
    ("echo_latency", "round trips/s", "msg_per_s", "uws"),
    ("echo_64k", "server CPU per message", CPU + "msg_per_s", "uws"),
    ("fanout_1k", "server CPU per delivery", CPU + "deliveries_per_s", "uws"),
    ("fanout_10k", "server CPU per delivery", CPU + "deliveries_per_s", "uws"),
    ("fanout_10k_tick", "server CPU per delivery", CPU + "deliveries_per_s", "uws"),
    ("handshakes", "server CPU per handshake", CPU + "cycles_per_s", "uws"),
    ("conns_10k", "server bytes per idle connection", "server_bytes_per_conn", "uws"),
]


# Ticks have no peer: a tick's CPU per client against a delivery of the same
# traffic (fanout_10k_tick) and of a faster fan-out that shares writes
# (fanout_10k), with (workload, server, key) on either side.
TICK_CPU = ("ticks_10k", "wspulse", CPU + "calc:per_s:messages")
TICK_RATIOS = [
    ("ticks_10k", "server CPU per tick ÷ per delivery of the ticks' traffic, same server",
     TICK_CPU, ("fanout_10k_tick", "wspulse", CPU + "deliveries_per_s")),
    ("ticks_10k", "server CPU per tick ÷ uWS's per delivery of the ticks' traffic",
     TICK_CPU, ("fanout_10k_tick", "uws", CPU + "deliveries_per_s")),
    ("ticks_10k", "server CPU per tick ÷ per delivery at 10,000 × 50 msg/s",
     TICK_CPU, ("fanout_10k", "wspulse", CPU + "deliveries_per_s")),
    ("ticks_10k", "server CPU per tick ÷ the TCP floor's per tick",
     TICK_CPU, ("ticks_10k", "tcp_echo", CPU + "calc:per_s:messages")),
    ("ticks_10k", "lateness p99 ÷ the TCP floor's",
     ("ticks_10k", "wspulse", "late_ms.p99"), ("ticks_10k", "tcp_echo", "late_ms.p99")),
    ("ticks_10k", "jitter p99 ÷ the TCP floor's",
     ("ticks_10k", "wspulse", "jitter_ms.p99"), ("ticks_10k", "tcp_echo", "jitter_ms.p99")),
]


def less_is_better(key):
    return key.startswith(CPU) or key.startswith("server_bytes") or key.endswith("_ms.p99")


def label(runs, wid):
    """The workload's description, from the first run that has it."""
    return next((lab for r in runs for w, lab, _order in r.workloads if w == wid), wid)


def wspulse_figure(run, wid, key):
    value = run.figure(wid, "wspulse", key)
    return None if value is None else float(value)


def ahead(known, key):
    """In how many of the runs wspulse was ahead; blank for a plain figure."""
    if key is None:
        return ""
    wins = sum(v < 1 if less_is_better(key) else v > 1 for v in known)
    return f"{wins} of {len(known)}"


def row(workload, figure, peer, values, unit, summary, key=None):
    known = [v for v in values if v is not None]
    median = f"{statistics.median(known):.2f}{unit}" if known else "–"
    if not summary:
        cells = ["–" if v is None else f"{v:.2f}{unit}" for v in values]
        print(f"| {workload} | {figure} | {peer} | " + " | ".join(cells) + f" | {median} |")
    elif known:
        spread = f"{min(known):.2f}-{max(known):.2f}{unit}"
        print(f"| {workload} | {figure} | {peer} | {len(known)} | {median} | {spread} "
              f"| {ahead(known, key)} |")


def main():
    summary = "--summary" in sys.argv[1:]
    folders = [a for a in sys.argv[1:] if a != "--summary"]
    if not folders:
        sys.exit("usage: runs.py [--summary] RUN_FOLDER...")
    runs = [Run(f, ["wspulse", "uws", "tcp_echo"]) for f in folders]
    if summary:
        print("| workload | figure | wspulse ÷ | runs | median | range | wspulse ahead |")
        print("|---|---|---|---:|---:|---:|---:|")
    else:
        names = [os.path.basename(f.rstrip("/")) for f in folders]
        print("| workload | figure | wspulse ÷ | " + " | ".join(names) + " | median |")
        print("|---|---|---|" + "---:|" * (len(runs) + 1))
    for wid, figure, key, peer in RATIOS:
        values = [ratio(r.figure(wid, "wspulse", key), r.figure(wid, peer, key)) for r in runs]
        row(label(runs, wid), figure, NAMES[peer], values, "×", summary, key)
    for wid, figure, ours, theirs in TICK_RATIOS:
        values = [ratio(r.figure(*ours), r.figure(*theirs)) for r in runs]
        row(label(runs, wid), figure, "", values, "×", summary, ours[2])
    for key, figure in (("jitter_ms.p99", "jitter p99 (ms, not a ratio)"),
                        ("late_ms.p99", "lateness p99 (ms, not a ratio)")):
        values = [wspulse_figure(r, "ticks_10k", key) for r in runs]
        row(label(runs, "ticks_10k"), figure, "", values, "", summary)


if __name__ == "__main__":
    main()
