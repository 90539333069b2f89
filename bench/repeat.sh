#!/usr/bin/env bash
# bench/repeat.sh -- settle a ratio that sits near 1.0x: one workload, wspulse
# and one peer, N short bench/compare.sh runs with the two servers in
# alternating order (wspulse first on odd runs, the peer first on even ones),
# then bench/runs.py --summary over them. Each run is a fair comparison in
# itself; their median moves far less than one run does.
#
#   bench/repeat.sh WORKLOAD [PEER] [N]      e.g.  bench/repeat.sh echo_deep uws 20
#
# PEER defaults to uws (then UWS_SRC and USOCKETS_SRC are needed, as for
# compare.sh), N to 20. The rest of compare.sh's environment applies
# (WSPULSE, BENCH_DURATION, ...). The runs' folders are listed in
# bench/out/repeat-<first run>.txt; RESULTS.md is not touched (each run's
# table goes to a scratch file).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
    echo "usage: $0 WORKLOAD [PEER] [N]" >&2
    exit 2
fi
workload=$1 peer=${2:-uws} n=${3:-20}
scratch=$(mktemp)
trap 'rm -f "$scratch"' EXIT

runs=()
for ((i = 1; i <= n; i++)); do
    order="wspulse $peer"
    ((i % 2 == 0)) && order="$peer wspulse"
    log=$(BENCH_SERVERS="$order" BENCH_WORKLOADS="$workload" BENCH_RESULTS="$scratch" \
          bench/compare.sh 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }
    run=$(printf '%s\n' "$log" | sed -n 's|.*results of this run go to \(bench/out/[0-9-]*\).*|\1|p')
    [ -n "$run" ] || { printf '%s\n' "$log" >&2; exit 1; }
    runs+=("$run")
    printf '[%s] run %d of %d (%s): %s\n' "$(date +%T)" "$i" "$n" "$order" "$run" >&2
done
printf '%s\n' "${runs[@]}" >"bench/out/repeat-$(basename "${runs[0]}").txt"
/usr/bin/python3 bench/runs.py --summary "${runs[@]}"
