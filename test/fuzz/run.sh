#!/bin/sh
# run.sh -- build each libFuzzer harness and run it for a bounded time.
#
#   test/fuzz/run.sh [SECONDS [NAME...]]   (default 20 s; every harness: http frames json resp)
#
# `make fuzz` passes FUZZ_SECONDS.
#
# Each harness is built with clang into build/fuzz/, linked with only the
# parser modules it tests, and run for SECONDS on a working corpus
# build/fuzz/corpus_<name>/ seeded from the committed test/fuzz/corpus_<name>/,
# so what the fuzzer finds stays out of the tree. Harnesses run one after
# another (the machines have two cores). Prints one line per harness:
# executions, exec/s, coverage, and whether it crashed. Exits 1 if any
# harness crashed (the input is kept as build/fuzz/fuzz_<name>-crash-<sha1>,
# the output in build/fuzz/fuzz_<name>.log), 2 on a usage or build error.
set -u

cd "$(dirname "$0")/../.." || exit 2
secs=${1:-20}
case $secs in
    '' | *[!0-9]*) echo "usage: test/fuzz/run.sh SECONDS [http|frames|json|resp ...]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
names=${*:-http frames json resp}
for name in $names; do
    case $name in
        http | frames | json | resp) ;;
        *) echo "run.sh: no harness called $name" >&2; exit 2 ;;
    esac
done

CC=${FUZZ_CC:-clang}
OUT=build/fuzz
# UBSan findings must stop the run like ASan's do, or they would only be
# printed and the input lost.
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc"
mkdir -p "$OUT" || exit 2

# name, then the modules it links; fuzz_http also gets heads past the
# 8 KiB limit, which the default 4 KiB max_len would never reach.
modules() {
    case $1 in
        http)   echo src/http.c ;;
        frames) echo src/wsframe.c src/utf8.c ;;
        json)   echo src/json.c src/utf8.c ;;
        resp)   echo src/resp.c ;;
    esac
}
options() {
    case $1 in
        http)   echo -max_len=9000 -dict=test/fuzz/http.dict ;;
        frames) echo -max_len=4096 ;;
        json)   echo -max_len=4096 -dict=test/fuzz/json.dict ;;
        resp)   echo -max_len=4096 ;;
    esac
}

count() {
    find "$1" -type f | wc -l
}

# The value of the last "name: value" libFuzzer printed in a log.
last_stat() {
    grep -o "$1 *[0-9]*" "$2" | tail -n 1 | grep -o '[0-9]*$'
}

status=0
for name in $names; do
    bin=$OUT/fuzz_$name
    log=$OUT/fuzz_$name.log
    corpus=$OUT/corpus_$name
    # shellcheck disable=SC2086,SC2046  # $CFLAGS and the modules are word lists
    if ! $CC $CFLAGS -o "$bin" test/fuzz/fuzz_"$name".c $(modules "$name"); then
        echo "fuzz_$name: build failed" >&2
        exit 2
    fi
    mkdir -p "$corpus" && cp test/fuzz/corpus_"$name"/* "$corpus"/ || exit 2
    before=$(count "$corpus")

    # shellcheck disable=SC2046
    "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$OUT/fuzz_$name-" $(options "$name") "$corpus" >"$log" 2>&1
    rc=$?

    execs=$(last_stat 'stat::number_of_executed_units:' "$log")
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    rate=$(last_stat 'stat::average_exec_per_sec:' "$log")
    [ -n "$rate" ] || rate=$(last_stat 'exec/s:' "$log")
    cov=$(last_stat 'cov:' "$log")
    grown=$(( $(count "$corpus") - before ))
    if [ $rc -eq 0 ]; then
        verdict="no crash; $grown new corpus inputs"
    else
        artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
        verdict="CRASHED (exit $rc): input ${artifact:-not written}, log $log"
        status=1
    fi
    printf 'fuzz_%-7s %10s execs %7s exec/s  cov %5s  %s\n' \
        "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$verdict"
done
exit $status
