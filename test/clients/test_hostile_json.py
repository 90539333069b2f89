"""Issue 14, items 1 and 7, from the client side: `wspulse connect` and
`wspulse monitor` against a hostile server (a tiny websockets server in this
process) that sends objects of 17, 25 and 3,000 members, and types holding
a NUL (\\u0000). The clients once searched 3,000 members in an array of 24
(connect) or 16 (monitor) and crashed. Now an object over the array is shown
as such (connect) or ignored (monitor), a type with a NUL is no type, and the
good messages after them still arrive.

The clients run with pipes, not in tmux: both flush each line, so the test
reads their output as it comes, and a crash shows in the exit status and in
stderr (a sanitizer report in a SAN=1 build).
"""
import asyncio
import json
import os
import re
import subprocess
import threading
import time
import unittest

import websockets

from wspulse_test import BINARY, OUT, timeout
from terminal import check_stderr_clean

RELAYED = r"^\[\d\d:\d\d:\d\d\] "


def padded(head, total, last=False):
    """json.dumps of an object of total members: head's, and "kI":I filler
    before them (last=True) or after them."""
    filler = [(f"k{i}", i) for i in range(total - len(head))]
    items = filler + list(head.items()) if last else list(head.items()) + filler
    return json.dumps(dict(items), separators=(",", ":"))


class HostileServer:
    """Sends its messages to each client that connects, then waits for the
    client to leave. Runs its own event loop in a thread."""

    def __init__(self, messages):
        self.messages = messages
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self.run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("hostile server did not start")

    async def handler(self, ws, path):
        for text in self.messages:
            await ws.send(text)
        await ws.wait_closed()

    def run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            websockets.serve(self.handler, "127.0.0.1", 0, compression=None,
                             ping_interval=None))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Client:
    """`wspulse ARGS` with pipes; stderr kept in test/out/NAME.err."""

    def __init__(self, name, *args):
        os.makedirs(OUT, exist_ok=True)
        self.err_path = os.path.join(OUT, f"{name}.err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([BINARY, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)

    def read_until(self, pattern):
        """Lines up to one matching pattern; fails if the program ends first."""
        seen = []
        for line in self.proc.stdout:
            seen.append(line)
            if re.search(pattern, line):
                return seen
        self.proc.wait(10)
        raise AssertionError(f"exit {self.proc.returncode} before {pattern!r}:\n"
                             + "".join(seen)[-3000:] + open(self.err_path).read())

    def finish(self, timeout_s=15):
        """Close stdin (end of input) and wait; returns the exit status."""
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        rc = self.proc.wait(timeout_s)
        self.proc.stdout.close()
        self.err.close()
        check_stderr_clean(self.err_path)
        return rc, rest

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.err):
            f.close()


class HostileJsonTest(unittest.TestCase):
    def serve(self, messages):
        server = HostileServer(messages)
        self.addCleanup(server.stop)
        return server

    def client(self, name, *args):
        c = Client(name, *args)
        self.addCleanup(c.kill)
        return c

    @timeout(30)
    def test_connect_shows_too_many_members_and_no_nul_type(self):
        big = padded({"type": "message", "message": "hidden", "sender": "m"}, 3000, last=True)
        self.assertGreater(len(big), 30000)
        server = self.serve([
            big,
            padded({"type": "message", "message": "hidden", "sender": "m"}, 25),
            padded({"type": "message", "message": "seventeen", "sender": "m"}, 17, last=True),
            json.dumps({"type": "message\0junk", "message": "hidden", "sender": "m"}),
            json.dumps({"type": "ping\0"}),
            json.dumps({"type": "message", "message": "done", "sender": "srv"}),
        ])
        c = self.client("hostile-json-connect", "connect", server.url("/chat"),
                        "--name", "bob")
        lines = "".join(c.read_until(RELAYED + r"srv: done$"))
        self.assertEqual(len(re.findall(RELAYED + r"\(too many members\) \{",
                                        lines, re.M)), 2, lines[-2000:])
        self.assertEqual(len(re.findall(RELAYED + r'\(unknown message\) \{"type": '
                                        r'"(message|ping)\\u0000', lines, re.M)), 2,
                         lines[-2000:])
        self.assertRegex(lines, "(?m)" + RELAYED + r"m: seventeen$")      # connect reads 24
        self.assertNotRegex(lines, RELAYED + r"m: hidden")
        self.assertNotIn("pong", lines)
        rc, rest = c.finish()
        self.assertEqual(rc, 0, rest)

    @timeout(30)
    def test_monitor_ignores_too_many_members_and_counts_the_ticks(self):
        now_ms = int(time.time() * 1000)
        ticks = [json.dumps({"message_count": i, "timestamp_ms": now_ms + 100 * i,
                             "server": "s"}) for i in range(1, 4)]
        server = self.serve([
            padded({"message_count": 0, "timestamp_ms": now_ms}, 3000, last=True),
            padded({"message_count": 0, "timestamp_ms": now_ms}, 17),
            json.dumps({"message_count": 0, "timestamp_ms": now_ms, "server": "a\0b"}),
            *ticks,
        ])
        c = self.client("hostile-json-monitor", "monitor", server.url("/ws"),
                        "--duration", "3", "--gap-ms", "10000")
        rc, out = c.finish()
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^  messages +4$")        # the NUL-named one, 3 ticks
        self.assertRegex(out, r"(?m)^  ignored +2 ")
        self.assertNotIn("a\0b", out)


if __name__ == "__main__":
    unittest.main()
