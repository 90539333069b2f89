#!/usr/bin/env bash
# bench/compare.sh -- wspulse against its peers (uWebSockets C++, Bun, Node ws,
# Python websockets, Python aiohttp, and the TCP echo floor for the echo
# workloads) under identical load from `wspulse bench`;
# writes its part of bench/RESULTS.md (between <!-- compare:begin/end -->).
# Run by `make bench`; see bench/README.md for the workloads and the table.
#
# Each server runs alone, pinned to core 0, the load pinned to core 1. Every
# workload starts a fresh server (the memory figure needs a clean baseline,
# and no run inherits another's heap), waits until it listens, loads it once,
# and stops it by its PID. The server order alternates from one workload to
# the next so slow drift of a shared machine does not favour one server.
# A workload that fails is recorded with its reason; the run goes on.
#
# Environment (all optional):
#   BENCH_SERVERS="wspulse bun"      a subset of: wspulse uws tcp_echo bun node_ws py_websockets
#                                    py_aiohttp (tcp_echo: bench/peers/tcp_echo.c, built here;
#                                    the echo and tick workloads only)
#   UWS_SRC=DIR USOCKETS_SRC=DIR     the sources of uNetworking/uWebSockets and uNetworking/uSockets:
#                                    with both, the uWebSockets C++ peer (uws) is built into
#                                    build/peers/ by bench/peers/build_uws.sh and is the anchor
#                                    of the report; without them it is skipped (and said so)
#   BENCH_WORKLOADS="echo_small"     a subset of the workload ids below
#   BENCH_DURATION=5 BENCH_WARMUP=2  seconds measured / warm-up seconds per timed workload
#   BENCH_RESULTS=bench/RESULTS.md   where the table goes
#   BENCH_NICE=-20                   autogroup nice of the server and the load (isolate.py)
#   WSPULSE=./wspulse BENCH_COMMIT=  the binary measured (and the load generator), and what
#                                    the report calls it (default: the commit, and whether
#                                    src/ differs from it): for a binary built elsewhere, e.g.
#                                    from a clean checkout while the tree has edits in progress
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/serves.sh
. bench/serves.sh

PY=/usr/bin/python3
WSPULSE=${WSPULSE:-./wspulse}
PEERS=bench/peers
BUN=$PEERS/node_modules/.bin/bun
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-2}
RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
NICE=${BENCH_NICE:--20}
# Server and load each run in a session of their own with a raised priority,
# so busy jobs of other sessions on a shared machine stay off their cores.
ISOLATE=("$PY" bench/isolate.py "$NICE")
UWS_BIN=build/peers/uws_server
TCP_ECHO_BIN=build/peers/tcp_echo
read -r -a SERVERS <<<"${BENCH_SERVERS:-wspulse uws tcp_echo bun node_ws py_websockets py_aiohttp}"
SERVER_CORE=0
LOAD_CORE=1

RUN_ID=$(date +%Y%m%d-%H%M%S)
OUT=bench/out/$RUN_ID
mkdir -p "$OUT"
STARTED=$(date '+%Y-%m-%d %H:%M:%S %Z')
COMMAND=bench/compare.sh
[ -n "${MAKELEVEL:-}" ] && COMMAND="make bench"
for v in BENCH_SERVERS BENCH_WORKLOADS BENCH_DURATION BENCH_WARMUP UWS_SRC USOCKETS_SRC WSPULSE; do
    [ -n "${!v:-}" ] && COMMAND="$v=\"${!v}\" $COMMAND"
done

# --- the workloads ------------------------------------------------------------
# id | what it measures (for the table) | bench mode | path | options [| servers].
# The optional last field names the only servers that have the endpoint
# (the ticks of /ws are wspulse's own, and the TCP floor's); the others get "n/a". fanout_10k_tick
# is the ticks' traffic for every server: one message to each of 10,000
# clients every 100 ms, so no write carries more than one message.
# D and W are the measured and warm-up seconds. Every load also gets --pid
# (the server's CPU%, and its memory for conns), --json and --quiet.
# The saturating fan-outs measure for less time: a server that cannot keep up
# has a backlog to deliver after the measurement, which the bench waits for.
D=$DURATION W=$WARMUP FD=$(((DURATION + 1) / 2))
WORKLOADS=(
  "echo_small|echo 64 conns × 16 in flight × 16 B|echo|/echo|-c 64 --in-flight 16 --size 16 --text -d $D --warmup $W"
  "echo_deep|echo 64 conns × 64 in flight × 16 B|echo|/echo|-c 64 --in-flight 64 --size 16 --text -d $D --warmup $W"
  "echo_latency|echo 1 conn × 1 in flight × 16 B (latency)|echo|/echo|-c 1 --in-flight 1 --size 16 --text -d $D --warmup $W"
  "echo_64k|echo 16 conns × 4 in flight × 64 KiB binary|echo|/echo|-c 16 --in-flight 4 --size 65536 --binary -d $D --warmup $W"
  "fanout_1k_light|fan-out to 1,000 subscribers, 100 msg/s (100 k deliveries/s offered)|fanout|/chat|--subscribers 1000 --rate 100 -d $D --warmup $W"
  "fanout_1k|fan-out to 1,000 subscribers, 1,000 msg/s (1 M deliveries/s offered)|fanout|/chat|--subscribers 1000 --rate 1000 -d $FD --warmup $W"
  "fanout_10k|fan-out to 10,000 subscribers, 50 msg/s (500 k deliveries/s offered)|fanout|/chat|--subscribers 10000 --rate 50 -d $FD --warmup $W"
  "conns_10k|10,000 idle connections: server memory|conns|/echo|-c 10000 --hold 2"
  "handshakes|handshakes (connect, upgrade, close), 32 at a time|handshakes|/echo|-c 32 -d $D --warmup $W"
  "fanout_10k_tick|fan-out to 10,000 subscribers, 10 msg/s (100 k deliveries/s offered, the ticks' pattern)|fanout|/chat|--subscribers 10000 --rate 10 -d $D --warmup $W"
  "ticks_10k|ticks to 10,000 clients, every 100 ms (100 k messages/s)|ticks|/ws|-c 10000 -d $((DURATION * 2))|wspulse tcp_echo"
)
if [ -n "${BENCH_WORKLOADS:-}" ]; then
    keep=()
    for w in "${WORKLOADS[@]}"; do
        case " $BENCH_WORKLOADS " in *" ${w%%|*} "*) keep+=("$w");; esac
    done
    WORKLOADS=("${keep[@]}")
fi

say() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# --- prerequisites --------------------------------------------------------------
# Anything missing is installed here, so `make bench` works on a fresh machine
# that ran .ci/run's apt packages. A peer that still cannot run is reported
# as failed in every row rather than stopping the run.
declare -A BROKEN=()
UWS_SKIPPED=

has_server()
{
    local s
    for s in "${SERVERS[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# The uWebSockets C++ peer is built from sources that are not in this
# repository. Without them it is left out of a default run (one line says
# so), or reported as failed when BENCH_SERVERS asked for it by name.
prepare_uws()
{
    has_server uws || return 0
    if [ -z "${UWS_SRC:-}" ] || [ -z "${USOCKETS_SRC:-}" ]; then
        local why="uWebSockets C++ skipped: set UWS_SRC and USOCKETS_SRC to the sources of uNetworking/uWebSockets and uNetworking/uSockets (bench/README.md)"
        if [ -n "${BENCH_SERVERS:-}" ]; then
            BROKEN[uws]="sources not given (UWS_SRC, USOCKETS_SRC)"
            say "$why; it is asked for in BENCH_SERVERS, so it is reported as failed"
        else
            local keep=() s
            for s in "${SERVERS[@]}"; do [ "$s" = uws ] || keep+=("$s"); done
            SERVERS=("${keep[@]}")
            UWS_SKIPPED="sources not given (UWS_SRC, USOCKETS_SRC)"
            say "$why"
        fi
        return 0
    fi
    say "building the uWebSockets C++ peer from $UWS_SRC and $USOCKETS_SRC"
    if ! bench/peers/build_uws.sh "$UWS_SRC" "$USOCKETS_SRC" "$UWS_BIN" >"$OUT/uws-build.log" 2>&1; then
        BROKEN[uws]="build failed (see $OUT/uws-build.log)"
        say "uws: ${BROKEN[uws]}"
    fi
}

# The TCP echo floor: a C file of bench/peers built with wspulse's SHA-1 and
# base64 (for the handshake) and wspulse's optimisation.
prepare_tcp_echo()
{
    has_server tcp_echo || return 0
    mkdir -p "$(dirname "$TCP_ECHO_BIN")"
    if ! ${CC:-gcc} -O2 -Wall -Isrc $PEERS/tcp_echo.c src/sha1.c src/base64.c \
            -o "$TCP_ECHO_BIN" >"$OUT/tcp_echo-build.log" 2>&1; then
        BROKEN[tcp_echo]="build failed (see $OUT/tcp_echo-build.log)"
        say "tcp_echo: ${BROKEN[tcp_echo]}"
    fi
}

prepare()
{
    [ -x "$WSPULSE" ] || make -s all || { say "cannot build wspulse"; exit 1; }
    if ! "$WSPULSE" bench --help >/dev/null 2>&1; then
        say "this wspulse has no 'bench' subcommand: nothing to load the servers with"
        exit 1
    fi
    # The npm peers only when one of them is in the run.
    if has_server bun || has_server node_ws; then
        prepare_npm
    fi
    command -v node >/dev/null || BROKEN[node_ws]="node is not installed"
    [ -d "$PEERS/node_modules/ws" ] || BROKEN[node_ws]="npm package ws is not installed"
    $PY -c 'import websockets' 2>/dev/null || BROKEN[py_websockets]="python3-websockets missing"
    $PY -c 'import aiohttp' 2>/dev/null || BROKEN[py_aiohttp]="python3-aiohttp missing"
    prepare_uws
    prepare_tcp_echo
    # The soft limit follows the hard one (20,000 here) for every child.
    ulimit -n "$(ulimit -Hn)"
}

prepare_npm()
{
    if ! "$BUN" --version >/dev/null 2>&1 || [ ! -d "$PEERS/node_modules/ws" ]; then
        say "installing the npm peers (bun, ws) in $PEERS"
        (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error) \
            >"$OUT/npm-ci.log" 2>&1 || say "npm ci failed: see $OUT/npm-ci.log"
    fi
    # bun's postinstall falls back to the baseline (no AVX2) build by itself;
    # this catches an install that ran with scripts disabled.
    if ! "$BUN" --version >/dev/null 2>&1; then
        local v; v=$(sed -n 's/.*"bun": *"\([0-9.]*\)".*/\1/p' "$PEERS/package.json")
        local pkg=bun-linux-x64; grep -qw avx2 /proc/cpuinfo || pkg=bun-linux-x64-baseline
        (cd "$PEERS" && npm install --no-save --no-audit --no-fund "@oven/$pkg@$v") \
            >>"$OUT/npm-ci.log" 2>&1
        [ -x "$PEERS/node_modules/@oven/$pkg/bin/bun" ] && BUN=$PEERS/node_modules/@oven/$pkg/bin/bun
    fi
    "$BUN" --version >/dev/null 2>&1 || BROKEN[bun]="bun does not run (see $OUT/npm-ci.log)"
}

# The command line of server $1 on port $2.
server_cmd()
{
    case $1 in
    wspulse)       echo "$WSPULSE --port $2 --log-level warn" ;;
    uws)           echo "$UWS_BIN $2" ;;
    tcp_echo)      echo "$TCP_ECHO_BIN $2" ;;
    bun)           echo "$BUN $PEERS/bun_server.js $2" ;;
    node_ws)       echo "node $PEERS/node_ws_server.mjs $2" ;;
    py_websockets) echo "$PY $PEERS/py_websockets_server.py $2" ;;
    py_aiohttp)    echo "$PY $PEERS/py_aiohttp_server.py $2" ;;
    esac
}

versions()
{
    {
        echo "wspulse=$("$WSPULSE" --version 2>&1 | head -1)"
        has_server uws && echo "uws=$(cat "$UWS_BIN.version" 2>/dev/null || echo '?')"
        [ -n "$UWS_SKIPPED" ] && echo "uws_skipped=$UWS_SKIPPED"
        # Only the peers of this run: a missing one would leave an error here.
        has_server bun && echo "bun=$("$BUN" --version 2>&1 | head -1)"
        has_server node_ws && echo "node=$(node --version 2>&1)"
        has_server node_ws &&
            echo "ws=$(node -p "require('./$PEERS/node_modules/ws/package.json').version" 2>&1)"
        has_server py_websockets &&
            echo "websockets=$($PY -c 'import websockets; print(websockets.__version__)' 2>&1)"
        has_server py_aiohttp &&
            echo "aiohttp=$($PY -c 'import aiohttp; print(aiohttp.__version__)' 2>&1)"
        echo "python=$($PY -c 'import sys; print(sys.version.split()[0])' 2>&1)"
        echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
        echo "cores=$(nproc)"
        echo "kernel=$(uname -sr)"
        echo "command=$COMMAND"
        echo "started=$STARTED"
        echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')}"
        echo "duration=$DURATION"
        echo "warmup=$WARMUP"
        echo "nice=$NICE"
        local s
        for s in "${SERVERS[@]}"; do echo "server_$s=$(server_cmd "$s" PORT)"; done
    } >"$OUT/versions.txt"
}

# --- one server -----------------------------------------------------------------
SERVER_PID=''
SERVER_PORT=''

free_port()
{
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start server $1 on core 0 with its output in $2; wait until it accepts.
# Returns non-zero, with the reason in START_ERR, if it does not listen in 15 s.
# (Not to be called in $(...): SERVER_PID must be set in this shell.)
START_ERR=
start_server()
{
    local name=$1 log=$2 i
    START_ERR=
    SERVER_PORT=$(free_port)
    # shellcheck disable=SC2046
    taskset -c $SERVER_CORE "${ISOLATE[@]}" $(server_cmd "$name" "$SERVER_PORT") >"$log" 2>&1 &
    SERVER_PID=$!
    for ((i = 0; i < 150; i++)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            START_ERR="server exited at start-up: $(tail -1 "$log")"
            SERVER_PID=
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    START_ERR="server did not listen within 15 s"
    stop_server
    return 1
}

# Stop the server we started, by its PID: SIGTERM, then SIGKILL after 5 s.
stop_server()
{
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}
trap 'stop_server; exit 130' INT TERM

# Every thread of the server must be allowed on core 0 alone.
pinned()
{
    local lists
    lists=$(taskset -a -c -p "$SERVER_PID" 2>/dev/null | sed 's/.*: //' | sort -u)
    [ "$lists" = "$SERVER_CORE" ] && echo yes || echo "no ($lists)"
}

# utime + stime of the whole server process (every thread), in clock ticks.
cpu_ticks()
{
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0
}

# --- one workload against one server ----------------------------------------------
# Writes $OUT/<workload>.<server>.{json,err,meta,server.log}: the bench's JSON
# summary, its stderr, and key=value facts (status, reason, server CPU, pinning).
run_one()
{
    local id=$1 mode=$2 path=$3 opts=$4 name=$5 only=$6
    local base=$OUT/$id.$name meta=$OUT/$id.$name.meta
    : >"$meta"
    if { [ -n "$only" ] && [[ " $only " != *" $name "* ]]; } || ! serves "$name" "$mode"; then
        printf 'status=na\nreason=no such endpoint\n' >"$meta"
        return
    fi
    if [ -n "${BROKEN[$name]:-}" ]; then
        printf 'status=failed\nreason=%s\n' "${BROKEN[$name]}" >"$meta"
        return
    fi
    if ! start_server "$name" "$base.server.log"; then
        printf 'status=failed\nreason=%s\n' "$START_ERR" >"$meta"
        return
    fi
    local pin group t0 c0 t1 c1 rc limit pid=$SERVER_PID port=$SERVER_PORT
    pin=$(pinned)
    group=$(cat "/proc/$pid/autogroup" 2>/dev/null)
    local url=ws://127.0.0.1:$SERVER_PORT$path
    local cmd="$WSPULSE bench $mode $url $opts --pid $SERVER_PID --json --quiet"
    limit=$((DURATION + WARMUP + 300))      # a slow set-up (10,000 joins) and drain
    t0=$(date +%s.%N) c0=$(cpu_ticks)
    # shellcheck disable=SC2086
    timeout -k 5 $limit taskset -c $LOAD_CORE "${ISOLATE[@]}" $cmd >"$base.json" 2>"$base.err"
    rc=$?
    t1=$(date +%s.%N) c1=$(cpu_ticks)
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        [ $rc -eq 0 ] && rc=99
        echo "the server died during the load" >>"$base.err"
    fi
    stop_server
    {
        echo "command=taskset -c $LOAD_CORE $(sed "s|:$port/|:PORT/|; s|--pid $pid |--pid PID |" <<<"$cmd")"
        echo "pinned=$pin"
        echo "autogroup=$group"
        echo "server_cpu_pct=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf "%.0f", (b - a) / hz / (t1 - t0) * 100 }')"
        echo "wall_s=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", t1 - t0 }')"
        if [ $rc -eq 0 ] && [ -s "$base.json" ]; then
            echo "status=ok"
        elif [ $rc -eq 1 ] && grep -q '^{' "$base.json"; then
            echo "status=warn"              # finished: errors, losses or connect failures
            echo "reason=$(grep -v '^\s*$' "$base.err" | tail -1 | tr -d '\r' | cut -c1-160)"
        else
            echo "status=failed"
            if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
                echo "reason=timed out after ${limit} s"
            else
                echo "reason=exit $rc: $(grep -v '^\s*$' "$base.err" | tail -1 | tr -d '\r' | cut -c1-160)"
            fi
        fi
    } >>"$meta"
}

# --- the run -------------------------------------------------------------------------
prepare
versions
say "results of this run go to $OUT"

# Check every server once before any load: it must do the work we measure.
for name in "${SERVERS[@]}"; do
    [ -n "${BROKEN[$name]:-}" ] && continue
    if start_server "$name" "$OUT/smoke.$name.server.log"; then
        floor=; serves "$name" fanout || floor=--floor
        if ! why=$($PY bench/smoke.py "$SERVER_PORT" $floor); then
            BROKEN[$name]=$why
        fi
        stop_server
    else
        BROKEN[$name]=$START_ERR
    fi
    [ -n "${BROKEN[$name]:-}" ] && say "$name: ${BROKEN[$name]}"
done

n=0
for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r id label mode path opts only <<<"$w"
    order=("${SERVERS[@]}")
    if ((n % 2 == 1)); then                 # alternate the order against drift
        order=()
        for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[i]}"); done
    fi
    for name in "${order[@]}"; do
        say "$id: $name"
        run_one "$id" "$mode" "$path" "$opts" "$name" "$only"
        sed -n 's/^status=\(warn\|failed\)$/  \1:/p; s/^reason=/  /p' "$OUT/$id.$name.meta" \
            | paste -sd' ' | grep . >&2
    done
    printf '%s|%s|%s\n' "$id" "$label" "${order[*]}" >>"$OUT/workloads.txt"
    n=$((n + 1))
done

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/versions.txt"
# The report is this script's part of RESULTS.md, between its markers; the
# sections other tools write there (bench/faults.py, bench/redis_bench.py,
# drills, profiles) stay as they are, wherever they are.
if $PY bench/report.py "$OUT" "${SERVERS[@]}" >"$OUT/report.md"; then
    $PY - "$RESULTS" "$OUT/report.md" <<'SPLICE'
import os, sys
results, part = sys.argv[1], open(sys.argv[2], encoding="utf-8").read().rstrip("\n")
begin, end = "<!-- compare:begin -->", "<!-- compare:end -->"
block = f"{begin}\n{part}\n{end}"
old = open(results, encoding="utf-8").read() if os.path.exists(results) else ""
if begin in old and end in old:
    new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
else:                       # the first run: on top of whatever is there
    new = block + "\n" + ("\n" + old if old else "")
with open(results + ".tmp", "w", encoding="utf-8") as f:
    f.write(new)
os.replace(results + ".tmp", results)
SPLICE
    say "wrote its part of $RESULTS"
else
    say "report failed: the raw results are in $OUT"
    exit 1
fi
