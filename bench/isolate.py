#!/usr/bin/python3
"""isolate.py -- run a command of bench/compare.sh (a server or the load) in
a session of its own whose scheduler autogroup has the given nice value,
then exec it: the PID stays the same, so the caller can still pin, watch and
stop it by PID.
Run: /usr/bin/python3 bench/isolate.py NICE COMMAND [ARG...]

Why: with kernel.sched_autogroup_enabled (Debian's default), CPU time is
shared first between sessions, so a plain `nice` does nothing against busy
jobs of other sessions (a terminal, a test run, a stray process) on a shared
machine. A session of its own, with its autogroup's nice lowered, keeps the
pinned core for the benchmark. When this is not possible (no permission, no
autogroup), the command runs as it is and one line on stderr says so.
"""
import os
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: isolate.py NICE COMMAND [ARG...]")
    nice = int(sys.argv[1])
    try:
        os.setsid()
        # Only after setsid: the autogroup is now ours alone, never the caller's.
        with open("/proc/self/autogroup", "w", encoding="ascii") as f:
            f.write(str(nice))
    except OSError as e:
        print(f"isolate.py: running without priority ({e.strerror})", file=sys.stderr)
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
