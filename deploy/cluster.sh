#!/usr/bin/env bash
# cluster.sh -- a wspulse cluster on this machine: Redis, N instances and a
# load balancer (HAProxy or nginx) in front of them, all on loopback.
#
#   deploy/cluster.sh start [-n N] [--port PORT] [--lb haproxy|nginx] [--dir DIR] [-- OPTIONS]
#   deploy/cluster.sh status [--dir DIR]
#   deploy/cluster.sh stop [--dir DIR]
#
# start: Redis on a free port (127.0.0.1 only, nothing saved to disk), N
#   instances of ./wspulse named ws1..wsN on free ports (--redis to that Redis
#   when the binary has the option; OPTIONS after -- go to every instance), and
#   the load balancer on 127.0.0.1:PORT (default 8970, N default 2, --lb
#   default haproxy) with its configuration made from deploy/haproxy.cfg.in or
#   deploy/nginx.conf.in. It returns once every instance answers /readyz and
#   the load balancer passes it on; on any failure it stops what it started.
# status: each process, its port, its /readyz; exit 0 when all run, 1 when
#   some died, 3 when no cluster runs.
# stop: SIGTERM to the instances (they drain: Close 1001 to their clients),
#   then to the load balancer, then to Redis; whatever is still there after a
#   timeout gets SIGKILL. Processes that already died are fine. Every process
#   is stopped by the PID recorded at start (after checking the PID still is
#   that program), never by name. The logs stay in DIR, the rest goes.
#
# DIR (default build/cluster) holds the state: "state" (one line per process:
# NAME PID PORT PROGRAM), the generated configuration and each process's log.
# $WSPULSE picks another binary (relative to the repository, like make's).
set -eu
PATH=$PATH:/usr/sbin:/sbin

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPLOY=$ROOT/deploy
WSPULSE=${WSPULSE:-wspulse}
case $WSPULSE in /*) ;; *) WSPULSE=$ROOT/$WSPULSE ;; esac
DIR=$ROOT/build/cluster
N=2
PORT=8970
LB=haproxy
EXTRA=()

usage() {
    sed -n '4,6s/^# *//p' "$0" >&2
    exit 2
}
say() { printf '%s\n' "$*"; }
warn() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# --- small helpers -------------------------------------------------------

# alive PID PROGRAM: the process exists, is not a zombie, and is PROGRAM (a
# PID the kernel gave to something else since is not ours to signal).
alive() {
    local stat cmd
    [ -n "$1" ] && [ "$1" != - ] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || return 1
    cmd=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
    case $cmd in *"$2"*) return 0 ;; *) return 1 ;; esac
}

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT.
listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# http_status PORT PATH: prints the status code of GET PATH (HTTP/1.1).
http_status() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" >&3
        read -r -t 3 _ code _ <&3 || exit 1
        printf '%s\n' "$code"
    ) 2>/dev/null
}

redis_ping() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        read -r -t 3 line <&3 || exit 1
        [ "${line%$'\r'}" = +PONG ]
    ) 2>/dev/null
}

# children PID: the PIDs whose parent is PID.
children() {
    local f stat rest
    for f in /proc/[0-9]*/stat; do
        stat=$(cat "$f" 2>/dev/null) || continue
        rest=${stat##*) }            # STATE PPID ...
        rest=${rest#* }
        [ "${rest%% *}" = "$1" ] && { f=${f#/proc/}; printf '%s\n' "${f%/stat}"; }
    done
    return 0
}

record() {   # record NAME PID PORT PROGRAM
    printf '%s %s %s %s\n' "$@" >>"$DIR/state"
}

tail_log() {
    [ -f "$1" ] && sed 's/^/    /' "$1" | tail -n 8 >&2
    return 0
}

# --- stop ----------------------------------------------------------------

# stop_group SECONDS NAME... : SIGTERM to those still alive, wait, SIGKILL.
declare -A PID_OF PROG_OF PORT_OF
stop_group() {
    local wait=$1 name pid left t=0
    shift
    left=()
    for name in "$@"; do
        pid=${PID_OF[$name]}
        if alive "$pid" "${PROG_OF[$name]}"; then
            kill -TERM "$pid" 2>/dev/null || true
            left+=("$name")
        else
            # (nginx's workers go with their master: no news)
            case $name in nginx-worker-*) ;; *) say "  $name (pid $pid): already gone" ;; esac
        fi
    done
    while [ ${#left[@]} -gt 0 ]; do
        local still=()
        for name in "${left[@]}"; do
            if alive "${PID_OF[$name]}" "${PROG_OF[$name]}"; then
                still+=("$name")
            else
                say "  $name (pid ${PID_OF[$name]}): stopped"
            fi
        done
        left=("${still[@]+"${still[@]}"}")
        [ ${#left[@]} -gt 0 ] || break
        if [ "$t" -ge $((wait * 10)) ]; then
            for name in "${left[@]}"; do
                kill -KILL "${PID_OF[$name]}" 2>/dev/null || true
                say "  $name (pid ${PID_OF[$name]}): killed (SIGKILL) after ${wait} s"
            done
            t=0
            wait=2
            while [ "$t" -lt 20 ]; do
                still=()
                for name in "${left[@]}"; do
                    alive "${PID_OF[$name]}" "${PROG_OF[$name]}" && still+=("$name")
                done
                [ ${#still[@]} -gt 0 ] || return 0
                sleep 0.1
                t=$((t + 1))
            done
            warn "still running after SIGKILL: ${still[*]}"
            return 1
        fi
        sleep 0.1
        t=$((t + 1))
    done
    return 0
}

do_stop() {
    local name pid port prog instances=() lb=() workers=() redis=() rc=0 w
    if [ ! -f "$DIR/state" ]; then
        say "no cluster in $DIR"
        return 0
    fi
    while read -r name pid port prog; do
        PID_OF[$name]=$pid
        PORT_OF[$name]=$port
        PROG_OF[$name]=$prog
        case $name in
            redis) redis+=("$name") ;;
            ws*) instances+=("$name") ;;
            nginx-worker-*) workers+=("$name") ;;
            *) lb+=("$name") ;;
        esac
    done <"$DIR/state"
    # nginx's workers: those recorded at start and any the master has now.
    if [ -n "${PID_OF[nginx]:-}" ] && alive "${PID_OF[nginx]}" nginx; then
        for w in $(children "${PID_OF[nginx]}"); do
            if [ -z "${PID_OF[nginx-worker-$w]:-}" ]; then
                PID_OF[nginx-worker-$w]=$w
                PROG_OF[nginx-worker-$w]=nginx
                workers+=("nginx-worker-$w")
            fi
        done
    fi
    say "stopping the cluster in $DIR"
    [ ${#instances[@]} -eq 0 ] || stop_group 10 "${instances[@]}" || rc=1
    # The load balancer, then (nginx) any worker its master left behind.
    [ ${#lb[@]} -eq 0 ] || stop_group 5 "${lb[@]}" || rc=1
    [ ${#workers[@]} -eq 0 ] || stop_group 2 "${workers[@]}" || rc=1
    [ ${#redis[@]} -eq 0 ] || stop_group 5 "${redis[@]}" || rc=1
    if [ "$rc" = 0 ]; then
        rm -rf "$DIR/state" "$DIR/haproxy.cfg" "$DIR/haproxy.sock" "$DIR/nginx.conf" \
               "$DIR/nginx.pid" "$DIR/nginx-tmp" "$DIR"/ws*.out "$DIR/dump.rdb"
        say "stopped; logs kept in $DIR"
    fi
    return "$rc"
}

# --- start ---------------------------------------------------------------

start_redis() {
    local port pid t
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 12000))
        listening "$port" && continue
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --dir "$DIR" </dev/null >"$DIR/redis.log" 2>&1 &
        pid=$!
        for t in $(seq 100); do
            redis_ping "$port" && { record redis "$pid" "$port" redis-server; REDIS_PORT=$port; return 0; }
            alive "$pid" redis-server || break
            sleep 0.1
        done
        if alive "$pid" redis-server; then
            record redis "$pid" "$port" redis-server
            tail_log "$DIR/redis.log"
            die "redis-server (pid $pid) did not answer PING on port $port within 10 s (log above)"
        fi
        grep -q 'Address already in use' "$DIR/redis.log" 2>/dev/null && continue
        tail_log "$DIR/redis.log"
        die "redis-server failed to start (log above, $DIR/redis.log)"
    done
    die "no free port found for Redis"
}

start_instance() {   # start_instance NAME
    local name=$1 pid port line t
    local opts=(--port 0 --instance "$name")
    [ -n "$REDIS_OPT" ] && opts+=(--redis "redis://127.0.0.1:$REDIS_PORT")
    "$WSPULSE" "${opts[@]}" "${EXTRA[@]+"${EXTRA[@]}"}" \
        </dev/null >"$DIR/$name.out" 2>"$DIR/$name.log" &
    pid=$!
    # The first line on stdout: "wspulse X.Y.Z listening on http://HOST:PORT/".
    for t in $(seq 50); do
        line=$(head -n 1 "$DIR/$name.out" 2>/dev/null) || true
        case $line in
            *listening*) break ;;
        esac
        alive "$pid" wspulse || break
        sleep 0.1
    done
    port=${line%/}
    port=${port##*:}
    case $port in
        '' | *[!0-9]*)
            record "$name" "$pid" - wspulse
            tail_log "$DIR/$name.log"
            die "$name did not start (log above, $DIR/$name.log)" ;;
    esac
    record "$name" "$pid" "$port" wspulse
    PID_OF[$name]=$pid
    PORT_OF[$name]=$port
}

# servers_lines KIND: the backend lines for the @SERVERS@ line.
servers_lines() {
    local i
    for i in $(seq "$N"); do
        if [ "$1" = haproxy ]; then
            printf '    server ws%s 127.0.0.1:%s\n' "$i" "${PORT_OF[ws$i]}"
        else
            printf '        server 127.0.0.1:%s max_fails=1 fail_timeout=5s;\n' "${PORT_OF[ws$i]}"
        fi
    done
}

# make_config TEMPLATE OUT: fill in @ADDR@ (127.0.0.1), @PORT@, @SSL@ (no TLS
# here), @DIR@ and the @SERVERS@ line.
make_config() {
    local servers
    servers=$(servers_lines "$LB")
    SERVERS=$servers awk -v port="$PORT" -v dir="$DIR" '
        /^[ \t]*@SERVERS@[ \t]*$/ { print ENVIRON["SERVERS"]; next }
        { gsub(/@ADDR@/, "127.0.0.1"); gsub(/@PORT@/, port); gsub(/@SSL@/, "");
          gsub(/@DIR@/, dir); print }' "$1" >"$2"
}

start_lb() {
    local pid t code w
    if [ "$LB" = haproxy ]; then
        make_config "$DEPLOY/haproxy.cfg.in" "$DIR/haproxy.cfg"
        haproxy -db -f "$DIR/haproxy.cfg" </dev/null >"$DIR/haproxy.log" 2>&1 &
        pid=$!
    else
        make_config "$DEPLOY/nginx.conf.in" "$DIR/nginx.conf"
        mkdir -p "$DIR/nginx-tmp"
        nginx -e stderr -p "$DIR/" -c "$DIR/nginx.conf" </dev/null >"$DIR/nginx.log" 2>&1 &
        pid=$!
    fi
    record "$LB" "$pid" "$PORT" "$LB"
    PID_OF[$LB]=$pid
    for t in $(seq 100); do
        alive "$pid" "$LB" || break
        code=$(http_status "$PORT" /readyz) || true
        [ "$code" = 200 ] && break
        sleep 0.1
    done
    if ! alive "$pid" "$LB" || [ "${code:-}" != 200 ]; then
        tail_log "$DIR/$LB.log"
        die "$LB did not pass /readyz on 127.0.0.1:$PORT within 10 s (log above, $DIR/$LB.log)"
    fi
    if [ "$LB" = nginx ]; then
        for w in $(children "$pid"); do
            record "nginx-worker-$w" "$w" - nginx
        done
    fi
}

running_any() {   # some process of the recorded cluster still runs
    local name pid port prog
    [ -f "$DIR/state" ] || return 1
    while read -r name pid port prog; do
        alive "$pid" "$prog" && return 0
    done <"$DIR/state"
    return 1
}

do_start() {
    local i code t name
    case $N in '' | *[!0-9]* | 0) die "-n: a number of instances, 1 or more" ;; esac
    case $PORT in '' | *[!0-9]*) die "--port: a TCP port number" ;; esac
    case $LB in haproxy | nginx) ;; *) die "--lb: haproxy or nginx" ;; esac
    command -v "$LB" >/dev/null || die "$LB is not installed (apt-get install $LB)"
    command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
    [ -x "$WSPULSE" ] || die "$WSPULSE does not exist: run make first"
    if running_any; then
        die "a cluster already runs in $DIR: deploy/cluster.sh stop${DIR_ARG:+ --dir $DIR} first"
    fi
    listening "$PORT" && die "port $PORT is in use on 127.0.0.1 (--port to pick another)"
    mkdir -p "$DIR"
    rm -f "$DIR/state"
    : >"$DIR/state"
    # From here on, a failure stops whatever already started.
    trap 'rc=$?; if [ $rc != 0 ]; then warn "start failed; stopping what started"; do_stop >&2 || true; fi' EXIT

    REDIS_OPT=
    if "$WSPULSE" --help 2>&1 | grep -Eq -- '^[[:space:]]*--redis([[:space:]=]|$)'; then
        REDIS_OPT=yes
    fi
    start_redis
    for i in $(seq "$N"); do
        start_instance "ws$i"
    done
    # Ready: every instance answers /readyz 200 (with --redis, once it
    # reached Redis).
    for i in $(seq "$N"); do
        name=ws$i
        for t in $(seq 100); do
            code=$(http_status "${PORT_OF[$name]}" /readyz) || true
            [ "$code" = 200 ] && break
            alive "${PID_OF[$name]}" wspulse || break
            sleep 0.1
        done
        if [ "${code:-}" != 200 ]; then
            tail_log "$DIR/$name.log"
            die "$name is not ready (/readyz: ${code:-no answer}; log above, $DIR/$name.log)"
        fi
    done
    start_lb
    trap - EXIT

    say "wspulse cluster: http://127.0.0.1:$PORT/ ($LB in front of $N instances)"
    while read -r name pid port _; do
        case $name in
            nginx-worker-*) continue ;;
            redis) say "  $(printf '%-8s pid %-8s 127.0.0.1:%-6s' "$name" "$pid" "$port") redis://127.0.0.1:$port${REDIS_OPT:+ (--redis of every instance)}" ;;
            *) say "  $(printf '%-8s pid %-8s 127.0.0.1:%-6s' "$name" "$pid" "$port") log $DIR/$name.log" ;;
        esac
    done <"$DIR/state"
    [ -n "$REDIS_OPT" ] || say "  (this wspulse has no --redis: the instances do not use Redis)"
    say "stop it with: deploy/cluster.sh stop${DIR_ARG:+ --dir $DIR}"
}

# --- status --------------------------------------------------------------

do_status() {
    local name pid port prog state ready dead=0
    if [ ! -f "$DIR/state" ]; then
        say "no cluster in $DIR"
        return 3
    fi
    while read -r name pid port prog; do
        if alive "$pid" "$prog"; then
            state=running
            ready=
            case $name in
                ws* | haproxy | nginx) ready=" /readyz $(http_status "$port" /readyz || echo 'no answer')" ;;
                redis) redis_ping "$port" && ready=" PING ok" || ready=" no PONG" ;;
            esac
        else
            state=DEAD
            ready=
            dead=1
        fi
        say "$(printf '%-16s pid %-8s port %-6s %s' "$name" "$pid" "$port" "$state")$ready"
    done <"$DIR/state"
    return "$dead"
}

# --- command line ----------------------------------------------------------

[ $# -ge 1 ] || usage
CMD=$1
shift
DIR_ARG=
while [ $# -gt 0 ]; do
    case $1 in
        -n) [ $# -ge 2 ] || usage; N=$2; shift 2 ;;
        --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
        --lb) [ $# -ge 2 ] || usage; LB=$2; shift 2 ;;
        --dir) [ $# -ge 2 ] || usage; DIR_ARG=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) warn "unknown argument: $1"; usage ;;
    esac
done
if [ -n "$DIR_ARG" ]; then
    [ "$CMD" != start ] || mkdir -p "$DIR_ARG"
    if [ -d "$DIR_ARG" ]; then DIR=$(cd "$DIR_ARG" && pwd); else DIR=$DIR_ARG; fi
fi
case $CMD in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) usage ;;
esac
