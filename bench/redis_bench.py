#!/usr/bin/python3
"""redis_bench.py -- /chat fan-out through Redis: wspulse with --redis against
the same wspulse without it, and against the peers people build for this
(Node ws + ioredis pub/sub, Bun.serve + Bun's RedisClient pub/sub). Writes
the section "Through Redis" of bench/RESULTS.md (between its markers; the
rest of the file is left alone). Run by `make bench-redis`; see bench/README.md.

Run: /usr/bin/python3 bench/redis_bench.py
     /usr/bin/python3 bench/redis_bench.py --report bench/out/redis-RUN   (the section again)

One run: for each workload, each server once, in alternating order, each on
a fresh server and (for the servers that use it) a fresh, empty redis-server.
- the server is pinned to core 0; the load (`wspulse bench fanout`: N
  subscribers, one publisher at --rate) and the auditor (bench/redis_audit.mjs:
  K more members that check every delivery's seq and id) to core 1; Redis to
  REDIS_CORE (default 1, beside the load, so that core 0 is the server's
  alone and the server's CPU figure is its own). Each runs in a session of
  its own with autogroup nice BENCH_NICE (bench/isolate.py), as compare.sh.
- CPU: the server's over the bench's measured interval (the bench's --pid);
  Redis's, the auditor's and the bench's own from /proc/PID/stat, sampled by
  this script every 100 ms and cut to the same interval, which starts at the
  first published message (seen by the auditor, on the shared
  CLOCK_MONOTONIC) plus the warm-up.
- loss: the bench checks the publisher's sequence number at each of its N
  subscribers (a gap is lost, a repeat or step back is an error); the
  auditor checks the same for its K members, and the ids: wspulse's
  "<ms>-<seq>" ids strictly increasing per member and the same for a seq at
  every member. With --redis, the stream is then read back: XINFO STREAM's
  entries-added must equal the published count, and every entry XRANGE still
  holds must carry the id the members saw for its seq.

Environment (all optional):
  BENCH_SERVERS="wspulse wspulse_redis bun_redis node_redis"   a subset
  BENCH_WORKLOADS="light"      a subset of the workload ids below
  BENCH_DURATION=5 BENCH_WARMUP=2   seconds measured / warm-up
  BENCH_RESULTS=bench/RESULTS.md    where the section goes ("-": stdout only)
  BENCH_NICE=-20                    autogroup nice (isolate.py)
  REDIS_CORE=1                      the core of redis-server
  WSPULSE=./wspulse                 the wspulse binary (server and load)
  WSPULSE_ARGS=""                   more options for both wspulse servers
  WSPULSE_COMMIT=abc1234            the commit a WSPULSE binary was built from (for the report)
  BENCH_NOISY_PCT=25                repeat a run (2 in all at most) when other jobs took
                                    more than this % of the server's core
  BENCH_PERF="wspulse_redis"        profile these servers over the measured seconds
                                    (perf record -e cpu-clock; BASE.perf.txt in the run's folder)
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
PY = "/usr/bin/python3"
WSPULSE = os.environ.get("WSPULSE", "./wspulse")   # another build: WSPULSE=PATH
PEERS = "bench/peers"
BUN = f"{PEERS}/node_modules/.bin/bun"
WSPULSE_ARGS = os.environ.get("WSPULSE_ARGS", "").split()   # e.g. "--history 100000"
# Other jobs above this share of the server's core: the run is repeated, up to
# NOISY_TRIES runs in all (the last one counts, with its share shown).
NOISY_PCT = float(os.environ.get("BENCH_NOISY_PCT", "25"))
NOISY_TRIES = 2
PERF = os.environ.get("BENCH_PERF", "").split()   # servers to profile (perf record)
DURATION = int(os.environ.get("BENCH_DURATION", "5"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
RESULTS = os.environ.get("BENCH_RESULTS", "bench/RESULTS.md")
NICE = os.environ.get("BENCH_NICE", "-20")
SERVER_CORE, LOAD_CORE = "0", "1"
REDIS_CORE = os.environ.get("REDIS_CORE", "1")
HZ = os.sysconf("SC_CLK_TCK")
BEGIN, END = "<!-- redis:begin -->", "<!-- redis:end -->"

NAMES = {"wspulse": "wspulse", "wspulse_redis": "wspulse --redis",
         "bun_redis": "Bun + Redis", "node_redis": "Node ws + ioredis"}
ALL_SERVERS = ["wspulse", "wspulse_redis", "bun_redis", "node_redis"]
USES_REDIS = {"wspulse_redis", "bun_redis", "node_redis"}

# id, label, subscribers N, messages/s, auditor members K. K keeps the
# auditor (Node, JSON.parse per message) near 20 k messages/s at most.
WORKLOADS = [
    ("light", "1,000 subscribers × 100 msg/s (100 k deliveries/s offered)", 1000, 100, 20),
    ("heavy", "1,000 subscribers × 500 msg/s (500 k deliveries/s offered)", 1000, 500, 20),
    ("broker", "50 subscribers × 5,000 msg/s (250 k deliveries/s, 5 k msg/s through Redis)",
     50, 5000, 4),
    ("broker_max", "10 subscribers × 40,000 msg/s (400 k deliveries/s, 40 k msg/s through Redis)",
     10, 40000, 1),
    ("saturate", "10 subscribers × 100,000 msg/s (1 M deliveries/s, 100 k msg/s through Redis)",
     10, 100000, 1),
]


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def isolated(core, argv):
    return ["taskset", "-c", core, PY, "bench/isolate.py", NICE] + argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of every thread of PID, in clock ticks; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def core_busy_ticks():
    """{"core0": ticks of processes (user, nice, system), "core0_irq": irq and
    softirq, "core0_steal": steal, ...} from /proc/stat. Softirq is kept
    apart: on loopback much of the server's own packet work runs there, and it
    is in no process's figure (neither the server's nor anyone else's)."""
    out = {}
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, *v = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in v[:8]]
                core = "core" + name[3:]
                out[core] = v[0] + v[1] + v[2]
                out[core + "_irq"] = v[5] + v[6]
                out[core + "_steal"] = v[7]
    return out


def wait_port(port, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


PROCS = []                       # every child process alive, for the signal handler


def on_signal(signum, _frame):
    """Stop our children (each in a session of its own: no signal reaches them
    from a terminal) by their PIDs, then leave."""
    for p in PROCS:
        if p.poll() is None:
            p.kill()
    os._exit(128 + signum)


def stop(proc):
    """SIGTERM, then SIGKILL after 5 s: only the processes this script started."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pinned(pid, core):
    out = subprocess.run(["taskset", "-a", "-c", "-p", str(pid)], capture_output=True,
                         text=True).stdout
    lists = sorted({line.rsplit(":", 1)[1].strip() for line in out.splitlines() if ":" in line})
    return "yes" if lists == [core] else f"no ({','.join(lists)})"


# --- a minimal RESP reader, for reading the stream back -----------------------

def resp_command(port, *args):
    """One command to the Redis on PORT; its reply as Python values."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        req = f"*{len(args)}\r\n".encode()
        for a in args:
            a = str(a).encode()
            req += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(req)
        f = s.makefile("rb")
        return resp_read(f)


def resp_read(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise ValueError(f"unexpected RESP reply {line!r}")


def wspulse_stats(port):
    """What the instance itself counted (GET /stats): its broker counters
    (accepted, refused, delivered from the stream) and its chat figures."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
            stats = json.load(r)
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    broker = stats.get("broker") or {}
    keep = ("chat_published", "chat_publish_failed", "chat_delivered", "chat_lag_ms",
            "reconnects", "rtt_ms")
    out = {k: broker[k] for k in keep if k in broker}
    out["chat"] = stats.get("chat")
    return out


def stream_check(port, prefix, published, seq_ids):
    """With --redis: the stream holds each published message once, with the
    id the members saw."""
    out = {}
    info = resp_command(port, "XINFO", "STREAM", f"{prefix}:chat")
    if not isinstance(info, list):
        return {"stream_error": str(info)}
    info = dict(zip(info[0::2], info[1::2]))
    out["stream_entries_added"] = info.get("entries-added")
    entries = resp_command(port, "XRANGE", f"{prefix}:chat", "-", "+")
    checked = mismatched = 0
    for entry_id, fields in entries:
        fields = dict(zip(fields[0::2], fields[1::2]))
        m = re.search(r"bench t=\d+ seq=(\d+)", fields.get("json", ""))
        if not m or m.group(1) not in seq_ids:
            continue
        checked += 1
        if seq_ids[m.group(1)] != entry_id:
            mismatched += 1
    out["stream_ids_checked"] = checked
    out["stream_ids_mismatched"] = mismatched
    out["stream_ok"] = (out["stream_entries_added"] == published and checked > 0
                        and mismatched == 0)
    return out


# --- one server, one workload ----------------------------------------------------

class Sampler(threading.Thread):
    """(monotonic s, {name: ticks}) every 100 ms for the watched PIDs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.pids = {}
        self.samples = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            now = time.monotonic()
            ticks = {n: cpu_ticks(p) for n, p in list(self.pids.items())}
            ticks.update(core_busy_ticks())
            self.samples.append((now, ticks))
            self.done.wait(0.1)

    def cpu_pct(self, name, t0, t1):
        """CPU% of NAME between t0 and t1 (the nearest samples inside)."""
        inside = [(t, s[name]) for t, s in self.samples
                  if t0 <= t <= t1 and s.get(name) is not None]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.5:
            return None
        (ta, a), (tb, b) = inside[0], inside[-1]
        return (b - a) / HZ / (tb - ta) * 100


def server_argv(name, port, redis_url):
    if name == "wspulse":
        return [WSPULSE, "--port", str(port), "--log-level", "warn"] + WSPULSE_ARGS
    if name == "wspulse_redis":
        return [WSPULSE, "--port", str(port), "--log-level", "warn", "--redis",
                redis_url] + WSPULSE_ARGS
    if name == "bun_redis":
        return [BUN, f"{PEERS}/bun_redis.js", str(port), redis_url]
    return ["node", f"{PEERS}/node_ws_redis.mjs", str(port), redis_url]


def run_one(out, wid, subs, rate, k, name):
    base = f"{out}/{wid}.{name}"
    res = {"status": "failed"}
    procs = []
    sampler = Sampler()
    try:
        redis_port = None
        if name in USES_REDIS:
            redis_port = free_port()
            redis = subprocess.Popen(
                isolated(REDIS_CORE, ["redis-server", "--port", str(redis_port), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no"]),
                stdout=open(f"{base}.redis.log", "w"), stderr=subprocess.STDOUT)
            procs.append(redis)
            PROCS.append(redis)
            if not wait_port(redis_port, redis):
                res["reason"] = "redis-server did not start"
                return res
            sampler.pids["redis"] = redis.pid
        port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}"
        server = subprocess.Popen(isolated(SERVER_CORE, server_argv(name, port, redis_url)),
                                  stdout=open(f"{base}.server.log", "w"),
                                  stderr=subprocess.STDOUT)
        procs.append(server)
        PROCS.append(server)
        if not wait_port(port, server):
            res["reason"] = "server did not listen: " + tail(f"{base}.server.log")
            return res
        res["pinned"] = pinned(server.pid, SERVER_CORE)
        sampler.pids["server"] = server.pid
        url = f"ws://127.0.0.1:{port}/chat"

        audit = subprocess.Popen(isolated(LOAD_CORE, ["node", "bench/redis_audit.mjs", url,
                                                      str(k)]),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=open(f"{base}.audit.err", "w"), text=True)
        procs.append(audit)
        PROCS.append(audit)
        lines = LineReader(audit.stdout)
        if not lines.get(lambda o: o.get("ready"), 20):
            res["reason"] = "auditor not ready: " + tail(f"{base}.audit.err")
            return res
        sampler.pids["audit"] = audit.pid
        sampler.start()

        cmd = [WSPULSE, "bench", "fanout", url, "--subscribers", str(subs), "--rate",
               str(rate), "-d", str(DURATION), "--warmup", str(WARMUP), "--pid",
               str(server.pid), "--json", "--quiet"]
        res["command"] = " ".join(shlex.quote(c) for c in ["taskset", "-c", LOAD_CORE] + cmd)
        res["command"] = res["command"].replace(f":{port}/", ":PORT/").replace(
            f"--pid {server.pid}", "--pid PID")
        t_start = time.monotonic()
        bench = subprocess.Popen(isolated(LOAD_CORE, cmd), stdout=subprocess.PIPE,
                                 stderr=open(f"{base}.err", "w"), text=True)
        sampler.pids["bench"] = bench.pid
        PROCS.append(bench)
        perf = start_perf(name, base, server.pid, lines)
        try:
            stdout, _ = bench.communicate(timeout=DURATION + WARMUP + 240)
        except subprocess.TimeoutExpired:
            bench.kill()
            bench.communicate()
            res["reason"] = "the load timed out"
            return res
        res["wall_s"] = time.monotonic() - t_start
        with open(f"{base}.json", "w") as f:
            f.write(stdout)
        try:
            summary = json.loads(stdout)
        except ValueError:
            res["reason"] = f"exit {bench.returncode}: " + tail(f"{base}.err")
            return res
        res["bench"] = summary
        if perf:
            perf.join()
            res["perf"] = f"{base}.perf.txt"
            msgs = summary.get("deliveries_per_s", 0) / subs * DURATION
            res["syscalls_per_message"] = syscalls_per_message(base, msgs)
        res["bench_rc"] = bench.returncode
        if server.poll() is not None:
            res["reason"] = "the server died during the load"
            return res

        mapfile = f"{base}.ids.json"
        audit.stdin.write(f"end {summary['published']} {os.path.abspath(mapfile)}\n")
        audit.stdin.flush()
        report = lines.get(lambda o: "members" in o, 30)
        res["audit"] = report or {}
        first = lines.seen(lambda o: "first_ns" in o)
        sampler.done.set()
        sampler.join()
        if first:
            t0 = int(first["first_ns"]) / 1e9 + WARMUP
            t1 = t0 + DURATION
            for who in ("redis", "audit", "bench", "server", "core0", "core1", "core0_irq",
                        "core1_irq", "core0_steal", "core1_steal"):
                res[f"{who}_cpu_pct"] = sampler.cpu_pct(who, t0, t1)
            # Whatever else ran on each core meanwhile (other jobs of a shared
            # machine): the noise of this run's figures.
            mine = {SERVER_CORE: ["server"], LOAD_CORE: ["bench", "audit"]}
            mine.setdefault(REDIS_CORE, []).append("redis")
            for core, names in mine.items():
                busy = res.get(f"core{core}_cpu_pct")
                parts = [res.get(f"{n}_cpu_pct") for n in names]
                if busy is not None and None not in parts[:1]:
                    res[f"core{core}_others_pct"] = max(0.0, busy - sum(p or 0 for p in parts))
        if name.startswith("wspulse"):
            res["stats"] = wspulse_stats(port)
        if redis_port:
            # Redis closes a subscriber whose output passes the pub/sub limit
            # (client-output-buffer-limit pubsub 32mb 8mb 60): what it had not
            # yet sent, and what is published until it subscribes again, is lost.
            res["redis_closed_clients"] = 0
        if name == "wspulse_redis" and report:
            with open(mapfile) as f:
                seq_ids = json.load(f)
            res.update(stream_check(redis_port, "wspulse", summary["published"], seq_ids))
        res["status"] = "ok"
        return res
    except Exception as e:             # noqa: BLE001 -- recorded, the run goes on
        res["reason"] = f"{type(e).__name__}: {e}"
        return res
    finally:
        sampler.done.set()
        for p in reversed(procs):
            stop(p)
        PROCS.clear()
        if "redis_closed_clients" in res:
            with open(f"{base}.redis.log", errors="replace") as f:
                res["redis_closed_clients"] = sum("overcoming of output buffer limits" in l
                                                  for l in f)
        with open(f"{base}.result.json", "w") as f:
            json.dump(res, f, indent=1)


def start_perf(name, base, pid, lines):
    """With BENCH_PERF naming this server: `perf record -e cpu-clock` of it over
    the measured seconds, its top symbols into BASE.perf.txt (a diagnosis
    run: the sampling costs the server a few per cent)."""
    if name not in PERF:
        return None

    def profile():
        first = lines.get(lambda o: "first_ns" in o, 60)
        if not first:
            return
        delay = int(first["first_ns"]) / 1e9 + WARMUP - time.monotonic()
        time.sleep(max(0.0, delay))
        # The system calls, counted beside the samples: on loopback most of a
        # fan-out's time is the kernel's, so calls per message tell the story.
        calls = ",".join(f"syscalls:sys_enter_{c}" for c in SYSCALLS)
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", calls, "-p", str(pid), "-o",
                                 f"{base}.syscalls.csv", "--", "sleep", str(DURATION)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-p", str(pid), "-o",
                        f"{base}.perf.data", "--", "sleep", str(DURATION)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stat.wait()
        with open(f"{base}.perf.txt", "w") as f:
            for sort in ("dso", "dso,symbol"):
                f.flush()
                subprocess.run(["perf", "report", "-i", f"{base}.perf.data", "--no-children",
                                "--sort", sort, "--stdio", "--percent-limit", "0.7"],
                               stdout=f, stderr=subprocess.DEVNULL)

    t = threading.Thread(target=profile, daemon=True)
    t.start()
    return t


SYSCALLS = ("sendmsg", "sendto", "writev", "write", "recvfrom", "read", "epoll_wait")


def syscalls_per_message(base, messages):
    """{call: calls per published message} from BASE.syscalls.csv."""
    out = {}
    try:
        with open(f"{base}.syscalls.csv", encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_"):
                    if parts[0].isdigit() and messages:
                        out[parts[2][19:]] = round(int(parts[0]) / messages, 2)
    except OSError:
        pass
    return out


class LineReader:
    """JSON lines of a child's stdout, read by a thread."""

    def __init__(self, stream):
        self.objs = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.objs.append(obj)
                self.cond.notify_all()

    def seen(self, pred):
        with self.cond:
            return next((o for o in self.objs if pred(o)), None)

    def get(self, pred, seconds):
        deadline = time.monotonic() + seconds
        with self.cond:
            while True:
                o = next((o for o in self.objs if pred(o)), None)
                left = deadline - time.monotonic()
                if o is not None or left <= 0:
                    return o
                self.cond.wait(left)


def tail(path):
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        return lines[-1][:160] if lines else "(no output)"
    except OSError:
        return "(no output)"


# --- the report ------------------------------------------------------------------------

def fmt_rate(v):
    if v is None:
        return "–"
    for div, suffix in ((1e6, " M"), (1e3, " k")):
        if v >= div * 0.9995:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def fmt_ms(v):
    if v is None:
        return "–"
    if v >= 1000:
        return f"{v / 1000:.3g} s"
    return f"{v:.3g} ms" if v >= 1 else f"{v * 1000:.3g} µs"


def fmt_us(v):
    return "–" if v is None else f"{v:.3g} µs"


def fmt_pct(v):
    return "–" if v is None else f"{v:.0f}%"


def figures(res, subs, rate, k):
    """The figures of one result, or None when it failed."""
    if res.get("status") != "ok":
        return None
    b, a = res["bench"], res.get("audit", {})
    f = {}
    f["deliveries"] = b.get("deliveries_per_s")
    f["kept_up"] = bool(f["deliveries"] and f["deliveries"] >= 0.97 * subs * rate)
    f["p50"], f["p99"] = b["latency_ms"]["p50"], b["latency_ms"]["p99"]
    f["lost"] = b.get("lost", 0) + a.get("lost", 0)
    f["expected"] = b.get("expected", 0) + a.get("expected", 0)
    f["bench_lost"] = b.get("lost", 0)
    f["audit_lost"] = a.get("lost", 0)
    f["audit_closed"] = a.get("closed_early", 0)
    # What the targets count: the auditor's loss only while the server kept it.
    f["server_lost"] = f["lost"] - (f["audit_lost"] if f["audit_closed"] else 0)
    f["errors"] = (b.get("errors", 0) + a.get("duplicates", 0) + a.get("out_of_order", 0)
                   + a.get("id_not_increasing", 0) + a.get("id_mismatch", 0)
                   + a.get("bad_id", 0))
    f["server_cpu"] = b.get("server_cpu_pct")
    # Every member the server writes each message to: the N subscribers, the
    # K auditor members and the publisher's own copy.
    msgs = f["deliveries"] / subs if f["deliveries"] else 0
    writes = msgs * (subs + k + 1)
    f["cpu_per"] = f["server_cpu"] / 100 / writes * 1e6 if writes and f["server_cpu"] else None
    f["redis_cpu"] = res.get("redis_cpu_pct")
    f["redis_per_msg"] = (f["redis_cpu"] / 100 / msgs * 1e6
                          if f["redis_cpu"] is not None and msgs else None)
    f["total_per"] = (f["cpu_per"] + (f["redis_cpu"] / 100 / writes * 1e6)
                      if f["cpu_per"] is not None and f["redis_cpu"] is not None else f["cpu_per"])
    f["load_cpu"] = b.get("client_cpu_pct")
    f["audit_cpu"] = res.get("audit_cpu_pct")
    f["ids"] = a.get("with_id", 0)
    return f


def ratio_cell(ours, theirs):
    if ours is None or not theirs:
        return ""
    r = ours / theirs
    return f" ({r:.2f}×)" if r >= 0.01 else f" ({r:.1g}×)"


def render(run, results):
    servers, info = run["servers"], run["info"]
    lines = [BEGIN, "## Through Redis (`make bench-redis`)", ""]
    lines += [
        f"Generated by `{info['command']}` on {info['started']}, wspulse at commit"
        f" {info['commit']}" + (" (WSPULSE: a clean build of that commit)"
                                if "WSPULSE=" in info["command"] else "") +
        ". How to run and read this: [README.md](README.md#through-redis).",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['kernel']}.",
        "- One instance of each server, pinned to core 0; the load (`wspulse bench fanout`: N"
        " subscribers and one publisher at a fixed rate) and the auditor"
        " (`bench/redis_audit.mjs`: K more members checking every delivery's seq and id) pinned"
        f" to core 1; redis-server {info['redis']} (fresh and empty for each run, no"
        f" persistence) pinned to core {REDIS_CORE}, beside the load. Autogroup nice"
        f" {NICE} for all of them (`bench/isolate.py`).",
        f"- Servers: wspulse alone (its in-memory room, no broker); wspulse `--redis` (every"
        " message XADDed to the stream `wspulse:chat` and delivered from it, with its stream id);"
        f" Bun {info['bun']} (`Bun.serve` + Bun's built-in `RedisClient`, PUBLISH /"
        f" SUBSCRIBE, `bench/peers/bun_redis.js`); Node {info['node']} with ws {info['ws']}"
        f" + ioredis {info['ioredis']} (PUBLISH / SUBSCRIBE, `bench/peers/node_ws_redis.mjs`).",
        "- Ids: wspulse's deliveries carry the stream id; the peers', as usually written, carry"
        " none. Loss is counted at every member of every server by the publisher's own sequence"
        " number, which each server relays unchanged; for wspulse --redis the auditor also"
        " checks that the ids increase at each member and are the same for a message at every"
        " member, and the stream is read back (entries added = messages published, and every"
        " entry still held has the id the members saw).",
        f"- {WARMUP} s warm-up, then {DURATION} s measured, once per server, alternating order."
        f" Load average at the start: {info['loadavg_start']}; at the end:"
        f" {info['loadavg_end']}. Shared machine: compare within the run.",
        "",
        "Each cell: the figure, and in brackets wspulse --redis ÷ that server. ✓: the server"
        " delivered (at least 97% of) the offered rate; without ✓ it fell behind. Server CPU per"
        " delivery: its CPU over the measured seconds ÷ every frame it wrote (N subscribers, K"
        " auditor members, the publisher's own copy). Redis CPU per message: redis-server's CPU"
        " ÷ messages published (at low rates mostly Redis's own timers, about 1% of a core)."
        " Loss: deliveries missing at the end, over all N + K members. Others on core 0: CPU"
        " that other processes of the shared machine took on the server's core (softirq, in"
        " no process's figure, is shown apart: on loopback it is mostly the packets of the"
        " server and its clients); a run where other processes"
        f" took more than {NOISY_PCT:.0f}% is repeated once (the second run is shown)."
        " The load side is not the limit where wspulse alone delivers the offered rate (✓)"
        " with the same bench, auditor and Redis on core 1.",
    ]
    rows = [
        ("deliveries/s", "higher", "deliveries", fmt_rate),
        ("lost / expected deliveries (errors)", "lower", None, None),
        ("latency p50", "lower", "p50", fmt_ms),
        ("latency p99", "lower", "p99", fmt_ms),
        ("server CPU per delivery", "lower", "cpu_per", fmt_us),
        ("Redis CPU per message", "lower", "redis_per_msg", fmt_us),
        ("server + Redis CPU per delivery", "lower", "total_per", fmt_us),
        ("CPU: server / Redis / bench / auditor / others, softirq on core 0", "–", None, None),
    ]
    verdicts = []
    for wid, label, subs, rate, k in run["workloads"]:
        figs = {s: figures(results[wid][s], subs, rate, k) for s in servers}
        ours = figs.get("wspulse_redis")
        lines += ["", f"### {label}", "", f"N = {subs:,} subscribers, K = {k} auditor member{'s' if k > 1 else ''}.",
                  "", "| figure | better | " + " | ".join(NAMES[s] for s in servers) + " |",
                  "|---|---|" + "---:|" * len(servers)]
        for title, better, key, fmt in rows:
            cells = []
            for s in servers:
                f = figs[s]
                if f is None:
                    cells.append("failed")
                elif title.startswith("lost"):
                    cell = f"{f['lost']:,} / {f['expected']:,} ({f['errors']})"
                    if f["audit_closed"]:
                        cell += f" ⚠ auditor too slow, closed: {f['audit_lost']:,} of these"
                    cells.append(cell)
                elif title.startswith("CPU:"):
                    res = results[wid][s]
                    cells.append(" / ".join(fmt_pct(v) for v in (
                        f["server_cpu"], f["redis_cpu"], f["load_cpu"], f["audit_cpu"]))
                        + ", " + fmt_pct(res.get(f"core{SERVER_CORE}_others_pct"))
                        + ", " + fmt_pct(res.get(f"core{SERVER_CORE}_irq_cpu_pct")))
                else:
                    cell = fmt(f[key])
                    if key == "deliveries" and f["kept_up"]:
                        cell += " ✓"
                    if s != "wspulse_redis" and ours and ours[key] is not None \
                            and f[key] is not None:
                        cell += ratio_cell(ours[key], f[key])
                    cells.append(cell)
            lines.append(f"| {title} | {better} | " + " | ".join(cells) + " |")
        verdicts.append(verdict(label, figs, results[wid]))
    lines += ["", "Targets (issue 11): wspulse --redis ≥ 1.0× Bun + Redis on deliveries/s at"
              " equal or lower loss, and under 2× the CPU per delivery of wspulse alone.", ""]
    lines += verdicts
    fails = [(wid, s, results[wid][s].get("reason", "?")) for wid, *_ in run["workloads"]
             for s in servers if results[wid][s].get("status") != "ok"]
    if fails:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {wid}, {NAMES[s]}: {why}" for wid, s, why in fails]
    lines += ["", "Commands (PORT: a free port per run; REDIS: the fresh redis-server of the run,"
              f" `taskset -c {REDIS_CORE} redis-server --port P --bind 127.0.0.1 --save ''"
              " --appendonly no`), each under `taskset -c CORE bench/isolate.py NICE`:", ""]
    lines += [f"- {NAMES[s]}: `{' '.join(server_argv(s, 'PORT', 'redis://127.0.0.1:REDIS'))}`"
              for s in servers]
    for wid, label, subs, rate, k in run["workloads"]:
        cmd = next((results[wid][s].get("command") for s in servers
                    if results[wid][s].get("command")), "?")
        order = " → ".join(NAMES[s] for s in run["orders"][wid])
        lines.append(f"- {label} ({order}): `{cmd}`, auditor `node bench/redis_audit.mjs"
                     f" ws://127.0.0.1:PORT/chat {k}`")
    lines += [END]
    return "\n".join(lines) + "\n"


def verdict(label, figs, results):
    ours, bun, alone = figs.get("wspulse_redis"), figs.get("bun_redis"), figs.get("wspulse")
    if ours is None:
        return f"- {label}: wspulse --redis failed: {results['wspulse_redis'].get('reason')}"
    parts = []
    if bun is not None:
        # Both kept up: the same deliveries (a server that fell behind in the
        # warm-up can deliver more than the offered rate while it catches up).
        if ours["kept_up"] and bun["kept_up"]:
            r, how = 1.0, "both delivered the offered rate"
        else:
            r = ours["deliveries"] / bun["deliveries"] if bun["deliveries"] else float("inf")
            how = f"{r:.2f}× Bun + Redis on deliveries/s"
        ok = r >= 0.995 and ours["server_lost"] <= bun["server_lost"]
        parts.append(f"{how}, loss {ours['server_lost']:,} vs {bun['server_lost']:,}:"
                     f" {'met' if ok else 'MISSED'}")
    if ours["server_lost"] or ours["errors"]:
        parts.append(f"**wspulse --redis lost {ours['server_lost']:,} deliveries"
                     f" ({ours['errors']} errors)**")
    for s, f in figs.items():
        closed = results[s].get("redis_closed_clients")
        if f is not None and closed:
            parts.append(f"Redis closed {NAMES[s]}'s connection {closed} time(s) for"
                         " passing its output buffer limit")
    if alone is not None and alone["cpu_per"] and ours["cpu_per"]:
        r = ours["cpu_per"] / alone["cpu_per"]
        parts.append(f"CPU per delivery {r:.2f}× wspulse alone: {'met' if r < 2 else 'MISSED'}")
    st = results["wspulse_redis"]
    counts = st.get("stats") or {}
    if "chat_published" in counts:
        parts.append(f"the instance counted {counts['chat_published']:,} messages accepted,"
                     f" {counts.get('chat_publish_failed', 0):,} refused with an error reply,"
                     f" {counts.get('chat_delivered', 0):,} delivered from the stream")
    if "stream_ok" in st:
        parts.append(f"stream read back: {st['stream_entries_added']:,} entries added for"
                     f" {st['bench']['published']:,} messages published,"
                     f" {st['stream_ids_checked']} ids checked,"
                     f" {st['stream_ids_mismatched']} mismatched"
                     f" ({'ok' if st['stream_ok'] else 'NOT OK'})")
    return f"- {label}: " + "; ".join(parts) + "."


def write_section(text):
    if RESULTS == "-":
        sys.stdout.write(text)
        return
    try:
        with open(RESULTS, encoding="utf-8") as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = (old.rstrip("\n") + "\n\n" if old else "") + text
    tmp = RESULTS + ".redis.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, RESULTS)


# --- the run ---------------------------------------------------------------------------

def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def prepare(servers):
    if not os.access(WSPULSE, os.X_OK):
        subprocess.run(["make", "-s", "all"], check=True)
    if not os.path.exists(f"{PEERS}/node_modules/ioredis") or \
            not os.path.exists(f"{PEERS}/node_modules/ws") or sh(f"{BUN} --version") == "":
        say(f"installing the npm peers in {PEERS}")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=PEERS, check=True)
    for tool in ("redis-server", "node", "taskset"):
        if not sh(f"command -v {tool}"):
            sys.exit(f"redis_bench.py: {tool} is not installed")
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        # Render the section again from a finished run's bench/out/redis-*/run.json.
        with open(os.path.join(sys.argv[2], "run.json"), encoding="utf-8") as f:
            saved = json.load(f)
        write_section(render(saved["run"], saved["results"]))
        return
    servers = os.environ.get("BENCH_SERVERS", " ".join(ALL_SERVERS)).split()
    for s in servers:
        if s not in NAMES:
            sys.exit(f"redis_bench.py: unknown server {s} (one of {' '.join(ALL_SERVERS)})")
    keep = os.environ.get("BENCH_WORKLOADS", "").split()
    workloads = [w for w in WORKLOADS if not keep or w[0] in keep]
    prepare(servers)
    out = f"bench/out/redis-{time.strftime('%Y%m%d-%H%M%S')}"
    os.makedirs(out, exist_ok=True)
    command = "bench/redis_bench.py" if not os.environ.get("MAKELEVEL") else "make bench-redis"
    for v in ("BENCH_SERVERS", "BENCH_WORKLOADS", "BENCH_DURATION", "BENCH_WARMUP",
              "REDIS_CORE", "WSPULSE", "WSPULSE_ARGS"):
        if os.environ.get(v):
            command = f'{v}="{os.environ[v]}" {command}'
    src_dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src"]).returncode
    info = {
        "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        # WSPULSE_COMMIT: the commit a WSPULSE binary from elsewhere was built from.
        "commit": os.environ.get("WSPULSE_COMMIT") or (
            sh("git rev-parse --short HEAD") + (" (src modified)" if src_dirty else "")),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p' | head -1"),
        "cores": sh("nproc"), "kernel": sh("uname -sr"),
        "redis": sh("redis-server --version | sed 's/.*v=\\([0-9.]*\\).*/\\1/'"),
        "bun": sh(f"{BUN} --version"), "node": sh("node --version"),
        "ws": sh(f"node -p \"require('./{PEERS}/node_modules/ws/package.json').version\""),
        "ioredis": sh(f"node -p \"require('./{PEERS}/node_modules/ioredis/package.json')"
                      ".version\""),
        "loadavg_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    }
    say(f"results of this run go to {out}")
    results, orders = {}, {}
    for n, (wid, label, subs, rate, k) in enumerate(workloads):
        order = servers if n % 2 == 0 else servers[::-1]
        orders[wid] = order
        results[wid] = {}
        for s in order:
            # A run during which other jobs took a real share of the server's
            # core says more about them than about the server: run it again.
            for attempt in range(1, NOISY_TRIES + 1):
                say(f"{wid}: {NAMES[s]}" + (f" (again: {attempt})" if attempt > 1 else ""))
                res = run_one(out, wid, subs, rate, k, s)
                res["attempt"] = attempt
                others = res.get(f"core{SERVER_CORE}_others_pct")
                if res.get("status") != "ok" or others is None or others <= NOISY_PCT:
                    break
                say(f"  other jobs took {others:.0f}% of core {SERVER_CORE}")
            results[wid][s] = res
            f = figures(res, subs, rate, k)
            if f is None:
                say(f"  failed: {res.get('reason')}")
            else:
                say(f"  {fmt_rate(f['deliveries'])} deliveries/s, lost {f['lost']}, errors"
                    f" {f['errors']}, p50 {fmt_ms(f['p50'])} p99 {fmt_ms(f['p99'])}, server"
                    f" {fmt_pct(f['server_cpu'])} ({fmt_us(f['cpu_per'])}/delivery), redis"
                    f" {fmt_pct(f['redis_cpu'])}, load {fmt_pct(f['load_cpu'])} / auditor"
                    f" {fmt_pct(f['audit_cpu'])}, pinned {res.get('pinned')}")
                if res.get("perf"):
                    say(f"  profile: {res['perf']}; system calls per message:"
                        f" {res.get('syscalls_per_message')}")
    info["loadavg_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    run = {"servers": servers, "workloads": workloads, "orders": orders, "info": info}
    with open(f"{out}/run.json", "w") as f:
        json.dump({"run": run, "results": results}, f, indent=1)
    text = render(run, results)
    write_section(text)
    say(f"wrote the section to {RESULTS}" if RESULTS != "-" else "done")


if __name__ == "__main__":
    main()
