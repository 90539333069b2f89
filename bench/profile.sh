#!/usr/bin/env bash
# bench/profile.sh -- where a server's time goes, per workload of compare.sh:
# the share of its samples in the kernel, its top symbols (perf record -e
# cpu-clock: this machine has no hardware counters) and its system calls per
# message (perf stat on the syscall tracepoints), under the same load as
# `make bench`. The figures behind "Where the time goes" in bench/RESULTS.md.
#
#   bench/profile.sh [SERVER...]       wspulse, uws and/or tcp_echo (default: all three;
#                                      tcp_echo, the floor, for the echoes and the ticks)
#
# Environment: PROFILE_WORKLOADS="echo_deep ticks_10k" (default: all below),
# UWS_BIN (default build/peers/uws_server, from compare.sh's build), TCP_ECHO_BIN
# (default build/peers/tcp_echo, from compare.sh's build), WSPULSE
# (default ./wspulse). Server on core 0, load on core 1, both at autogroup
# nice -20 (bench/isolate.py), as in compare.sh. Needs perf and root (or
# perf_event_paranoid <= 1 and readable tracepoints). Writes
# bench/out/profile-RUN/ and prints one Markdown block per workload.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/serves.sh
. bench/serves.sh

PY=/usr/bin/python3
WSPULSE=${WSPULSE:-./wspulse}
UWS_BIN=${UWS_BIN:-build/peers/uws_server}
TCP_ECHO_BIN=${TCP_ECHO_BIN:-build/peers/tcp_echo}
ISOLATE=("$PY" bench/isolate.py -20)
read -r -a SERVERS <<<"${*:-wspulse uws tcp_echo}"
OUT=bench/out/profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

# id | mode | wspulse path | uws path | load options (12 s, no warm-up:
# system calls counted over the whole run, samples over 3 s in its middle).
WORKLOADS=(
  "echo_small|echo|/echo|/echo|-c 64 --in-flight 16 --size 16 --text"
  "echo_deep|echo|/echo|/echo|-c 64 --in-flight 64 --size 16 --text"
  "echo_latency|echo|/echo|/echo|-c 1 --in-flight 1 --size 16 --text"
  "echo_64k|echo|/echo|/echo|-c 16 --in-flight 4 --size 65536 --binary"
  "fanout_1k|fanout|/chat|/broadcast|--subscribers 1000 --rate 1000"
  "fanout_10k|fanout|/chat|/broadcast|--subscribers 10000 --rate 50"
  "fanout_10k_tick|fanout|/chat|/broadcast|--subscribers 10000 --rate 10"
  "handshakes|handshakes|/echo|/echo|-c 32"
  "ticks_10k|ticks|/ws||-c 10000"
)
SYSCALLS=(read recvfrom write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl
          accept4 close shutdown setsockopt getsockopt)

free_port()
{
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

profile_one()
{
    local id=$1 mode=$2 path=$3 opts=$4 name=$5 port pid load
    local base=$OUT/$id.$name
    port=$(free_port)
    case $name in
    wspulse) taskset -c 0 "${ISOLATE[@]}" "$WSPULSE" --port "$port" --log-level warn >"$base.log" 2>&1 & ;;
    uws)     taskset -c 0 "${ISOLATE[@]}" "$UWS_BIN" "$port" >"$base.log" 2>&1 & ;;
    tcp_echo) taskset -c 0 "${ISOLATE[@]}" "$TCP_ECHO_BIN" "$port" >"$base.log" 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    # System calls are counted over the whole load (no warm-up, so the
    # bench's messages are all of them; the set-up's few calls are noise);
    # samples are taken in the middle of it, once every client is in.
    local events=() s stat
    for s in "${SYSCALLS[@]}"; do events+=(-e "syscalls:sys_enter_$s"); done
    perf stat -x, "${events[@]}" -p "$pid" -o "$base.syscalls" >/dev/null 2>&1 &
    stat=$!
    # shellcheck disable=SC2086
    taskset -c 1 "${ISOLATE[@]}" "$WSPULSE" bench "$mode" "ws://127.0.0.1:$port$path" $opts \
        -d 12 --warmup 0 --pid "$pid" --json --quiet >"$base.json" 2>"$base.err" &
    load=$!
    # The 10,000 connections of ticks_10k and fanout_10k take a while.
    if [ "$mode" = ticks ] || [ "$mode" = fanout ]; then sleep 4; fi
    sleep 4
    perf record -q -e cpu-clock -g -p "$pid" -o "$base.perf" -- sleep 3 >/dev/null 2>&1
    wait "$load"
    kill -INT "$stat" 2>/dev/null
    wait "$stat" 2>/dev/null
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    perf report -i "$base.perf" --no-children --stdio -g none --percent-limit 1.5 2>/dev/null \
        | grep -E '^ +[0-9]' >"$base.top"
    perf report -i "$base.perf" --no-children --stdio -g none --sort dso 2>/dev/null \
        | grep -E '^ +[0-9]' >"$base.dso"
    $PY - "$base" "$mode" <<'SUMMARY'
import json, sys
base, mode = sys.argv[1], sys.argv[2]
try:
    lines = [l for l in open(base + ".json") if l.startswith("{")]
    d = json.loads(lines[-1])
except (OSError, ValueError, IndexError):
    print(f"  (no result: see {base}.err)")
    sys.exit()
rate = d.get("msg_per_s") or d.get("deliveries_per_s") or d.get("cycles_per_s")
if mode == "ticks":
    rate = d["messages"] / d["seconds"]
total = d.get("messages") or rate * d["seconds"]     # the whole run: no warm-up
unit = {"fanout": "delivery", "handshakes": "handshake"}.get(mode, "message")
cpu = d.get("server_cpu_pct")
kernel = 0.0
for l in open(base + ".dso"):
    pct, dso = l.split()[0], l.split()[1]
    if "kernel" in dso:
        kernel += float(pct.rstrip("%"))
calls = {}
for l in open(base + ".syscalls"):
    f = l.strip().split(",")
    if len(f) > 2 and f[0].isdigit() and int(f[0]) > 0:
        calls[f[2].split("sys_enter_")[-1]] = int(f[0])
per = ", ".join(f"{n} {c / total:.3g}" for n, c in sorted(calls.items(), key=lambda x: -x[1])
                if c / total >= 0.0005)
top = []
for l in open(base + ".top"):
    p = l.split()
    top.append(f"{p[-1]} {p[0]}")
plural = {"delivery": "deliveries"}.get(unit, unit + "s")
print(f"  {rate:,.0f} {plural}/s at {cpu}% server CPU = {cpu / 100 / rate * 1e6:.3g} µs per {unit};"
      f" kernel {kernel:.0f}% of samples")
print(f"  system calls per {unit}: {per or 'none counted'}")
print(f"  top: {'; '.join(top[:8])}")
SUMMARY
}

for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r id mode wpath upath opts <<<"$w"
    [ -n "${PROFILE_WORKLOADS:-}" ] && [[ " $PROFILE_WORKLOADS " != *" $id "* ]] && continue
    for name in "${SERVERS[@]}"; do
        path=$wpath
        [ "$name" = uws ] && path=$upath
        serves "$name" "$mode" || path=
        [ -z "$path" ] && continue          # the peer has no such endpoint
        echo "$id, $name:"
        profile_one "$id" "$mode" "$path" "$opts" "$name"
    done
done | tee "$OUT/summary.txt"
