#!/bin/sh
# deps.sh -- everything the tests need, and installing what is missing.
#
#   test/deps.sh          check; install what is missing (see below)
#   test/deps.sh --list   print the Debian packages, one line
#
# `make deps` runs it, `make test` runs `make deps` first, and .ci/run runs it
# on a fresh Debian 12 machine. PACKAGES is the one list of the tests' Debian
# packages; README.md "Tests" names them.
#
# Missing Debian packages: as root, `apt-get update` and one `apt-get install`
# of just those; otherwise the exact command is printed and the exit status
# is 1. Then `npm ci` in test/browser when its node_modules is missing or
# older than package-lock.json. With everything present it only asks dpkg
# (well under a second), never apt-get or npm.
set -eu
cd "$(dirname "$0")/.."

# build-essential pkg-config libssl-dev: make, make TLS=1 (wss:// tests)
# clang libclang-rt-14-dev: make fuzz (libFuzzer); valgrind: make valgrind
# musl-tools: make static
# python3 python3-websockets: test/int, test/conformance, test/clients
# tmux: test/clients drives `connect` in a terminal
# nodejs chromium: test/browser (playwright-core from npm drives Chromium)
# openssl: throwaway certificates for the TLS tests
# groff systemd: test_install.py renders the man page, systemd-analyze the unit
# util-linux iproute2: unshare, prlimit, ip for tests in their own namespaces
# curl ca-certificates: fetching from the npm registry and by hand
# redis-server haproxy nginx: the Redis and load-balancer tests
PACKAGES="build-essential pkg-config libssl-dev clang libclang-rt-14-dev valgrind
musl-tools python3 python3-websockets tmux nodejs chromium openssl groff systemd
util-linux iproute2 curl ca-certificates redis-server haproxy nginx"

if [ "${1:-}" = --list ]; then
    echo $PACKAGES
    exit 0
fi

# dpkg-query prints "PACKAGE ii" for an installed package, something else
# (or nothing, for a name it never saw) otherwise.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null \
            | awk '$2 == "ii" { print $1 }' || true)
missing=
for p in $PACKAGES; do
    case " $(echo $installed) " in
        *" $p "*) ;;
        *) missing="$missing $p" ;;
    esac
done
# Debian's nodejs comes without npm; NodeSource's has it built in.
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
    cmd="apt-get update -qq && apt-get install -y -qq --no-install-recommends$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "test/deps.sh: missing Debian packages:$missing" >&2
        echo "test/deps.sh: run as root, then make test again:" >&2
        echo "    $cmd" >&2
        exit 1
    fi
    echo "test/deps.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm writes node_modules/.package-lock.json last: missing or older than the
# lock means an install that never finished or a lock that changed since.
lock=test/browser/package-lock.json
done_lock=test/browser/node_modules/.package-lock.json
if [ ! -f "$done_lock" ] || [ "$lock" -nt "$done_lock" ] \
   || [ test/browser/package.json -nt "$done_lock" ]; then
    echo "test/deps.sh: npm ci in test/browser"
    (cd test/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
