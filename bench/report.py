#!/usr/bin/python3
"""report.py -- turn one bench/compare.sh run (bench/out/RUN/) into the
Markdown of bench/RESULTS.md, on stdout.
Run: /usr/bin/python3 bench/report.py bench/out/RUN SERVER...

Reads versions.txt (machine, versions, date), workloads.txt (id|label|order),
and per workload and server WORKLOAD.SERVER.meta (key=value: status, reason,
server CPU, pinning, command) and WORKLOAD.SERVER.json (the --json summary
of `wspulse bench`). Ratios are wspulse / peer, within this one run; when
uWebSockets C++ (uws) is in the run it is the anchor, and every other
server's figure is also given as a ratio to its figure.
"""
import json
import os
import sys

NAMES = {"wspulse": "wspulse", "uws": "uWebSockets C++", "tcp_echo": "TCP echo (floor)",
         "bun": "Bun", "node_ws": "Node ws",
         "py_websockets": "Py websockets", "py_aiohttp": "Py aiohttp"}
# The reference every server is also measured against, when in the run.
ANCHOR = "uws"
ANCHOR_SHORT = "uWS"

# The figures per workload: (label, better, JSON field, unit kind). better:
# "higher" or "lower". Fields are those of `wspulse bench --json`; "a.b" is
# member b of object a.
ECHO_RATE = ("messages/s", "higher", "msg_per_s", "rate")
LAT_P50 = ("latency p50", "lower", "latency_ms.p50", "ms")
LAT_P99 = ("latency p99", "lower", "latency_ms.p99", "ms")
FAN_RATE = ("deliveries/s", "higher", "deliveries_per_s", "rate")
# The whole load command: connecting every subscriber (and, for wspulse, the
# join announcements to the members already in), the run, the backlog.
FAN_WALL = ("wall time, set-up and drain included", "lower", "meta:wall_s", "s")
# When several servers keep up, or the load generator is the bottleneck, the
# CPU each server spent per unit of work still tells them apart: "calc:cpu_per:
# RATE" is its CPU% over the measured interval divided by the rate field RATE.
FAN_CPU = ("server CPU per delivery", "lower", "calc:cpu_per:deliveries_per_s", "us")
FIGURES = {
    "echo_small": [ECHO_RATE, LAT_P99],
    "echo_deep": [ECHO_RATE, LAT_P99],
    "echo_latency": [("round trips/s", "higher", "msg_per_s", "rate"), LAT_P50, LAT_P99],
    "echo_64k": [ECHO_RATE, ("MB/s echoed", "higher", "mb_per_s", "plain")],
    "fanout_1k_light": [FAN_RATE, LAT_P50, LAT_P99, FAN_CPU, FAN_WALL],
    "fanout_1k": [FAN_RATE, LAT_P50, LAT_P99, FAN_CPU, FAN_WALL],
    "fanout_10k": [FAN_RATE, LAT_P50, LAT_P99, FAN_CPU, FAN_WALL],
    "fanout_10k_tick": [FAN_RATE, LAT_P50, LAT_P99, FAN_CPU, FAN_WALL],
    "conns_10k": [("server bytes per idle connection", "lower", "server_bytes_per_conn",
                   "bytes")],
    "handshakes": [("handshakes/s", "higher", "cycles_per_s", "rate"),
                   ("server CPU per handshake", "lower", "calc:cpu_per:cycles_per_s", "us")],
    # wspulse's own /ws (no peer has it): what a tick costs per client, and
    # how its arrival strays from the 100 ms schedule and from its stamp.
    "ticks_10k": [("tick messages/s", "higher", "calc:per_s:messages", "rate"),
                  ("server CPU per tick message", "lower", "calc:cpu_per:calc:per_s:messages",
                   "us"),
                  ("jitter p50", "lower", "jitter_ms.p50", "ms"),
                  ("jitter p99", "lower", "jitter_ms.p99", "ms"),
                  ("lateness p50", "lower", "late_ms.p50", "ms"),
                  ("lateness p99", "lower", "late_ms.p99", "ms"),
                  ("gaps over 150 ms", "lower", "gaps", "plain"),
                  ("ticks lost", "lower", "lost", "plain")],
}
LOAD_CPU_FIELD = "client_cpu_pct"      # the load generator's CPU%, 100 = one core
SERVER_CPU_FIELD = "server_cpu_pct"    # the server's, over the measured interval (--pid)
# Counts that make a finished run suspect: shown beside its figures.
PROBLEMS = ("errors", "lost", "connect_failures", "dropped")


def read_kv(path):
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    out[key] = value
    except OSError:
        pass
    return out


def read_summary(path):
    """The last JSON object the bench printed, or None."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def field(summary, name):
    """summary[name], where "a.b" is summary["a"]["b"]; None if absent."""
    value = summary
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def fmt(value, kind):
    if value is None:
        return "–"
    value = float(value)
    if kind == "rate":
        for div, suffix in ((1e6, " M"), (1e3, " k")):
            if value >= div * 0.9995:            # 999,800 is "1 M", not "1e+03 k"
                return f"{value / div:.3g}{suffix}"
        return f"{value:.3g}"
    if kind == "ms":
        if value >= 1000:
            return f"{value / 1000:.3g} s"
        if value >= 1:
            return f"{value:.3g} ms"
        return f"{value * 1000:.3g} µs"
    if kind == "us":
        return f"{value:.3g} µs"
    if kind == "s":
        return f"{value:.3g} s"
    if kind == "bytes":
        if value >= 10240:
            return f"{value / 1024:.1f} KiB"
        return f"{value:.0f} B"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def ratio(ours, theirs):
    if ours is None or theirs is None or float(theirs) == 0:
        return None
    return float(ours) / float(theirs)


def fmt_ratio(r):
    return f"{r:.2f}×" if r >= 0.01 else f"{r:.1g}×"


class Run:
    def __init__(self, folder, servers):
        self.folder = folder
        self.servers = servers
        self.info = read_kv(os.path.join(folder, "versions.txt"))
        self.workloads = []
        with open(os.path.join(folder, "workloads.txt"), encoding="utf-8") as f:
            for line in f:
                wid, label, order = line.rstrip("\n").split("|")
                self.workloads.append((wid, label, order.split()))

    def meta(self, wid, server):
        return read_kv(os.path.join(self.folder, f"{wid}.{server}.meta"))

    def status(self, wid, server):
        """ok; warn (finished, but with errors, losses or failures); failed;
        na (the server has no such endpoint)."""
        return self.meta(wid, server).get("status", "failed")

    def figure(self, wid, server, key):
        """A figure of the bench summary, or "meta:KEY" from compare.sh's facts."""
        if self.status(wid, server) in ("failed", "na"):
            return None
        if key.startswith("meta:"):
            return self.meta(wid, server).get(key[5:])
        summary = self.summary(wid, server)
        if summary is None:
            return None
        if key.startswith("calc:cpu_per:"):
            cpu, rate = field(summary, SERVER_CPU_FIELD), self.figure(wid, server, key[13:])
            if cpu is None or cpu < 0 or not rate:
                return None
            return float(cpu) / 100 / float(rate) * 1e6          # µs
        if key.startswith("calc:per_s:"):                        # a count over the run
            count, seconds = field(summary, key[11:]), field(summary, "seconds")
            return float(count) / float(seconds) if count is not None and seconds else None
        return field(summary, key)

    def summary(self, wid, server):
        if self.status(wid, server) in ("failed", "na"):
            return None
        return read_summary(os.path.join(self.folder, f"{wid}.{server}.json"))


def kept_up(summary):
    """Did the server deliver (nearly) all that was offered during the run?"""
    offered = (field(summary, "rate") or 0) * (field(summary, "subscribers") or 0)
    got = field(summary, "deliveries_per_s")
    return bool(offered and got and float(got) >= 0.97 * offered)


def peers_line(run):
    """The peers of this run, with their versions."""
    i = run.info
    about = {
        "uws": f"uWebSockets C++ ({i.get('uws', '?')}; one thread, epoll, the anchor)",
        "tcp_echo": "the TCP echo floor (bench/peers/tcp_echo.c: one read, each frame"
                    " written back unmasked, one send; no checks at all; on /ws one"
                    " send of the tick per client every 100 ms; the echo and tick"
                    " workloads only)",
        "bun": f"Bun {i.get('bun', '?')} (Bun.serve, uWebSockets)",
        "node_ws": f"Node {i.get('node', '?')} with ws {i.get('ws', '?')}",
        "py_websockets": f"Python {i.get('python', '?')} with websockets"
                         f" {i.get('websockets', '?')}",
        "py_aiohttp": f"Python {i.get('python', '?')} with aiohttp {i.get('aiohttp', '?')}",
    }
    peers = [about.get(s, NAMES.get(s, s)) for s in run.servers if s != "wspulse"]
    line = "- Peers: " + ", ".join(peers) + "; each one process, one event loop, no compression."
    if i.get("uws_skipped"):
        line += (" uWebSockets C++ was not in this run: " + i["uws_skipped"] +
                 " (see README.md).")
    return line


def header(run):
    i = run.info
    return [
        "# wspulse against its peers",
        "",
        f"Generated by `{i.get('command', 'bench/compare.sh')}` on {i.get('started', '?')},"
        f" wspulse at commit {i.get('commit', '?')}. How to run and read this: "
        "[README.md](README.md).",
        "",
        f"- Machine: {i.get('cpu', '?')}, {i.get('cores', '?')} cores, {i.get('kernel', '?')}.",
        "- Each server alone, pinned to core 0 (`taskset -c 0`, every thread checked);"
        " the load, `wspulse bench`, pinned to core 1. Both ran in sessions of their own"
        f" with scheduler autogroup nice {i.get('nice', '?')} (`bench/isolate.py`), so other"
        " jobs on the shared machine took little of their cores.",
        peers_line(run),
        f"- Each workload ran once per server in this one run ({i.get('warmup', '?')} s warm-up,"
        f" then {i.get('duration', '?')} s measured, less for the saturating fan-outs: see"
        " Commands), on a freshly started server, in alternating server order. The machine is"
        " shared: compare ratios within the run, not figures across runs.",
        f"- Load average (1, 5, 15 min) at the start: {i.get('loadavg_start', '?')};"
        f" at the end: {i.get('loadavg_end', '?')}.",
        "",
    ]


def section_head(title, intro, label_columns, servers):
    """A section's title and intro, then the head of its table: the label
    columns, left-aligned, and one right-aligned column per server."""
    names = label_columns + [NAMES.get(s, s) for s in servers]
    return [f"## {title}", "", intro, "",
            "| " + " | ".join(names) + " |",
            "|" + "---|" * len(label_columns) + "---:|" * len(servers)]


def results_table(run):
    cols = run.servers
    anchor = ANCHOR if ANCHOR in cols else None
    about_anchor = (
        f" Against the anchor, {NAMES[ANCHOR]} (the library Bun's WebSockets are built"
        f" on, in C++ without a JavaScript engine): after the \";\" each other server's"
        f" figure ÷ {NAMES[ANCHOR]}'s, as \"0.80× {ANCHOR_SHORT}\" (for a \"higher\""
        f" figure, below 1 is behind {NAMES[ANCHOR]}; for a \"lower\" one, below 1 is"
        f" ahead of it). The {NAMES[ANCHOR]} column is the reference and has no"
        f" bracket: wspulse ÷ {NAMES[ANCHOR]} is the \"× {ANCHOR_SHORT}\" of the wspulse"
        f" column." if anchor else "")
    lines = section_head(
             "Results",
             "Each cell: the figure, and in brackets wspulse ÷ that server. For a"
             " \"higher\" figure a ratio above 1 means wspulse is ahead; for a \"lower\" one"
             " (latency, memory) a ratio below 1 means wspulse is ahead." + about_anchor +
             " ⚠: the run"
             " finished with errors, losses or failed connections (listed below)."
             " ✓: the server delivered all the fan-out offered, so it could do more than"
             " its figure shows; without ✓ it fell behind, and its latency is mostly the"
             " backlog growing during the run.",
             ["workload", "figure", "better"], cols)
    for wid, label, _order in run.workloads:
        for name, better, key, kind in FIGURES.get(wid, []):
            ours = run.figure(wid, "wspulse", key)
            ref = run.figure(wid, anchor, key) if anchor else None
            cells = []
            for s in cols:
                if run.status(wid, s) in ("failed", "na"):
                    cells.append("failed" if run.status(wid, s) == "failed" else "n/a")
                    continue
                value = run.figure(wid, s, key)
                cell = fmt(value, kind) + (" ⚠" if run.status(wid, s) == "warn" else "")
                if key == "deliveries_per_s" and kept_up(run.summary(wid, s)):
                    cell += " ✓"
                notes = []
                r = ratio(ours, value)
                if s != "wspulse" and r is not None:
                    notes.append(fmt_ratio(r))
                r = ratio(value, ref)
                if s == anchor:
                    notes = []          # the reference; wspulse's cell has the ratio
                elif anchor and r is not None:
                    notes.append(f"{fmt_ratio(r)} {ANCHOR_SHORT}")
                if notes:
                    cell += f" ({'; '.join(notes)})"
                cells.append(cell)
            lines.append(f"| {label} | {name} | {better} | " + " | ".join(cells) + " |")
    return lines + [""]


def cpu_table(run):
    cols = run.servers
    lines = section_head(
             "Who was the bottleneck",
             "Each cell: CPU% of the load generator (its own summary; 100% = one core)"
             " / CPU% of the server over the measured interval (`--pid`; 100% = its one"
             " core). A server near 100% with the load well below it is server-bound,"
             " which is what the comparison needs.",
             ["workload"], cols)
    for wid, label, _order in run.workloads:
        cells = []
        for s in cols:
            meta = run.meta(wid, s)
            if run.status(wid, s) in ("failed", "na"):
                cells.append("failed" if run.status(wid, s) == "failed" else "n/a")
                continue
            summary = run.summary(wid, s)
            load = field(summary, LOAD_CPU_FIELD)
            server = field(summary, SERVER_CPU_FIELD)
            if server is None:                  # compare.sh's own, over the whole command
                server = meta.get("server_cpu_pct")
            pct = ["?" if v is None else f"{float(v):.0f}%" for v in (load, server)]
            pin = "" if meta.get("pinned") == "yes" else f" (not pinned: {meta.get('pinned')})"
            if "nice" in run.info and not meta.get("autogroup", "").endswith(
                    f"nice {run.info['nice']}"):
                pin += " (no priority)"
            cells.append(f"{pct[0]} / {pct[1]}{pin}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def failures(run):
    out = []
    for wid, label, _order in run.workloads:
        for s in run.servers:
            status = run.status(wid, s)
            if status in ("ok", "na"):
                continue
            meta = run.meta(wid, s)
            what = meta.get("reason", "no result")
            if status == "warn":
                summary = run.summary(wid, s)
                counts = [f"{k.replace('_', ' ')} {field(summary, k)}" for k in PROBLEMS
                          if field(summary, k)]
                what = "finished with " + (", ".join(counts) or "exit status 1") + \
                       (f" ({meta['reason']})" if meta.get("reason") else "")
            out.append(f"- {label}, {NAMES.get(s, s)}: {status}: {what}"
                       f" (logs: `bench/out/{os.path.basename(run.folder)}/{wid}.{s}.*`)")
    if not out:
        return []
    return ["## Failed and suspect runs", ""] + out + [""]


def commands(run):
    lines = ["## Commands", "",
             "Each server, started as `taskset -c 0 /usr/bin/python3 bench/isolate.py NICE"
             " COMMAND` (PORT: a free port per run):", ""]
    for s in run.servers:
        lines.append(f"- {NAMES.get(s, s)}: `{run.info.get('server_' + s, '?')}`")
    lines += ["", "Each workload: the server order, then the load command (PID: the server's).",
              ""]
    for wid, label, order in run.workloads:
        cmd = next((run.meta(wid, s).get("command") for s in order
                    if run.meta(wid, s).get("command")), None)
        lines.append(f"- {label} ({' → '.join(NAMES.get(s, s) for s in order)}):"
                     f" `{cmd or '(no load ran)'}`")
    return lines + [""]


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: report.py RUN_FOLDER SERVER...")
    run = Run(sys.argv[1], sys.argv[2:])
    lines = header(run) + results_table(run) + cpu_table(run) + failures(run) + commands(run)
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
