#!/usr/bin/env bash
# bench/peers/build_uws.sh -- build the uWebSockets C++ peer (uws_server.cpp)
# from the sources of uNetworking/uWebSockets and uNetworking/uSockets, which
# are not part of this repository (nor is anything built from them).
#
#   bench/peers/build_uws.sh UWEBSOCKETS_DIR USOCKETS_DIR [OUTPUT]
#
# UWEBSOCKETS_DIR holds src/App.h, USOCKETS_DIR holds src/libusockets.h.
# OUTPUT defaults to build/peers/uws_server (git-ignored, like all of build/);
# the objects go to OUTPUT's folder, in uws-obj/. Prints OUTPUT when done.
#
# The build is the one of uWebSockets' own Makefiles, minus what the peer does
# not use: uSockets' C files with -DLIBUS_NO_SSL (no TLS library) on its
# default Linux backend, plain epoll (not io_uring, not libuv); the app with
# -DUWS_NO_ZLIB (permessage-deflate is off in every peer, so no zlib); both
# -O3 -flto -march=native as upstream builds them. Needs gcc and g++ with
# C++20 (Debian 12's g++ 12 will do). Extra flags: CFLAGS, CXXFLAGS, LDFLAGS.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 UWEBSOCKETS_DIR USOCKETS_DIR [OUTPUT]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
uws=$(cd "$1" && pwd)
usockets=$(cd "$2" && pwd)
out=${3:-$root/build/peers/uws_server}
case $out in /*) ;; *) out=$PWD/$out ;; esac

[ -f "$uws/src/App.h" ] || { echo "$0: $uws/src/App.h not found (not uWebSockets?)" >&2; exit 1; }
[ -f "$usockets/src/libusockets.h" ] ||
    { echo "$0: $usockets/src/libusockets.h not found (not uSockets?)" >&2; exit 1; }

CC=${CC:-gcc}
CXX=${CXX:-g++}
OPT="-O3 -flto=auto -march=native"
obj=$(dirname "$out")/uws-obj
rm -rf "$obj"
mkdir -p "$obj"

# uSockets: every C file of src/, src/eventing/ and src/crypto/, as its
# Makefile compiles them; without LIBUS_USE_* the epoll backend is chosen,
# and without SSL the crypto files compile to nothing.
for f in "$usockets"/src/*.c "$usockets"/src/eventing/*.c "$usockets"/src/crypto/*.c; do
    # shellcheck disable=SC2086
    "$CC" $OPT -std=c11 -DLIBUS_NO_SSL -I"$usockets/src" ${CFLAGS:-} \
        -c "$f" -o "$obj/$(basename "${f%.c}").o"
done

# shellcheck disable=SC2086
"$CXX" $OPT -std=c++20 -DLIBUS_NO_SSL -DUWS_NO_ZLIB -I"$uws/src" -I"$usockets/src" ${CXXFLAGS:-} \
    "$here/uws_server.cpp" "$obj"/*.o ${LDFLAGS:-} -o "$out"

# Which sources, for the record (compare.sh's versions.txt): the commit of a
# git checkout, or the first line of a file .commit in the folder (write it
# when extracting an archive), else "unknown commit".
describe()
{
    if git -C "$1" rev-parse --short HEAD >/dev/null 2>&1; then
        git -C "$1" rev-parse --short HEAD
    elif [ -s "$1/.commit" ]; then
        head -c 12 "$1/.commit"; echo
    else
        echo "unknown commit"
    fi
}
printf 'uWebSockets %s, uSockets %s\n' "$(describe "$uws")" "$(describe "$usockets")" >"$out.version"
echo "$out"
