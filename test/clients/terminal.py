"""Helpers for the client tests: a program in a tmux pane, driven the way a
person drives it (keys in, screen out), and a free port to restart a server
on. Every pane lives on a tmux server of its own socket, so the tests never
touch anybody else's tmux sessions; kill_tmux_server() ends it.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import time

from wspulse_test import BINARY, OUT

SOCKET = f"wspulse-clients-{os.getpid()}"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


# Panes show UTF-8 whatever the caller's locale (the tmux server inherits it).
ENV = dict(os.environ, LC_ALL="C.UTF-8")


def tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", SOCKET, *args], check=check, capture_output=True,
                          text=True, env=ENV)


def kill_tmux_server():
    tmux("kill-server", check=False)


def free_port():
    """A port nothing listens on now (for a server we stop and start again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_stderr_clean(path):
    """A client's stderr must hold no sanitizer report."""
    if not os.path.exists(path):
        return
    with open(path, errors="replace") as f:
        text = f.read()
    for mark in SANITIZER_MARKS:
        if mark in text:
            raise AssertionError(f"{path} has a sanitizer report:\n{text}")


class Pane:
    """`wspulse ARGS` in a tmux pane of its own session. The pane's shell
    prints "[exit N]" when the program ends, and then stays open so that the
    screen can still be read. The program's stderr goes to test/out/NAME.err."""

    def __init__(self, name, *args):
        self.session = f"{name}-{os.getpid()}"
        os.makedirs(OUT, exist_ok=True)
        self.err_path = os.path.join(OUT, f"{name}.err")
        cmd = " ".join(shlex.quote(a) for a in [BINARY, *args])
        # The inner shell shows its pid, then becomes the program.
        inner = shlex.quote(f'echo "[pid $$]"; exec {cmd}')
        shell = f'sh -c {inner} 2>{shlex.quote(self.err_path)}; echo "[exit $?]"; sleep 600'
        tmux("new-session", "-d", "-s", self.session, "-x", "200", "-y", "50", shell)

    def type(self, text):
        """Type text literally, then Enter."""
        tmux("send-keys", "-t", self.session, "-l", text)
        tmux("send-keys", "-t", self.session, "Enter")

    def key(self, name):
        tmux("send-keys", "-t", self.session, name)

    def screen(self):
        """What the pane shows, with its scrollback; wrapped lines joined."""
        return tmux("capture-pane", "-p", "-J", "-S", "-2000", "-t", self.session).stdout

    def wait_for(self, pattern, count=1, timeout_s=10):
        """Wait until pattern (a regular expression) is on the screen count
        times; returns the screen. Fails with the screen shown."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.screen()
            if len(re.findall(pattern, text, re.M)) >= count:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} (x{count}) not on the screen of "
                                     f"{self.session} within {timeout_s} s:\n{text}")
            time.sleep(0.05)

    def exit_status(self, timeout_s=10):
        text = self.wait_for(r"^\[exit \d+\]", timeout_s=timeout_s)
        return int(re.search(r"^\[exit (\d+)\]", text, re.M).group(1))

    def close(self):
        """End the program with Ctrl+C as a person would, then the session.
        Killing the session under a running program would hang up its
        terminal; a SAN=1 build's LeakSanitizer, stopping the process at exit
        just then, was seen to hang for good on this machine's kernel, leaving
        a spinning orphan. A program that ignores Ctrl+C fails the test."""
        text = self.screen()
        pid = re.search(r"^\[pid (\d+)\]", text, re.M)
        if pid and not re.search(r"^\[exit \d+\]", text, re.M):
            self.key("C-c")
            try:
                self.wait_for(r"^(\^C)?\[exit \d+\]", timeout_s=15)   # the tty echoes ^C
            except AssertionError:
                try:
                    os.kill(int(pid.group(1)), signal.SIGKILL)
                except ProcessLookupError:
                    pass
                tmux("kill-session", "-t", self.session, check=False)
                raise AssertionError(f"{self.session}: the program did not exit on Ctrl+C")
        tmux("kill-session", "-t", self.session, check=False)
        check_stderr_clean(self.err_path)
