"""`wspulse connect` resumes by itself after every reconnect (README
"Resume"). Between it and the server stands a TCP relay the test controls
(relay.py): the test cuts it, a writer (python3-websockets, straight to the
server) talks meanwhile, the relay comes back, and connect must show every
message exactly once, in the room's order, and say what the resume
replayed -- or that some messages could not be recovered. A fake room that
replays what connect already showed checks that repeats are never shown."""
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import websockets

from wspulse_test import BINARY, OUT, TIME_SCALE, Server, timeout
from terminal import SANITIZER_MARKS, free_port
from relay import Relay

CHAT_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?P<sender>[^:]*): (?P<text>.*)$")
RESUMED = r"^\*\*\* \d\d:\d\d:\d\d resumed, (\d+) missed messages replayed$"
NOT_RECOVERED = (r"^\*\*\* \d\d:\d\d:\d\d some messages could not be recovered \(the "
                 r"server's history no longer holds them\); (\d+) missed messages replayed$")
ID = re.compile(r"^\d+-\d+$")


class Connect:
    """`wspulse connect URL --name reader` on pipes; a thread collects its
    stdout lines."""

    def __init__(self, url, name="reader"):
        self.proc = subprocess.Popen([BINARY, "connect", url, "--name", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, pattern, count=1, timeout_s=10):
        """Wait until count lines match pattern; returns the last match."""
        deadline = time.monotonic() + timeout_s * TIME_SCALE
        with self.changed:
            while True:
                found = [m for m in map(re.compile(pattern).search, self.lines) if m]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no {count} line(s) matching {pattern!r} in:\n"
                                         + "\n".join(self.lines[-60:]))
                self.changed.wait(min(left, 0.2))

    def chat(self, sender="writer"):
        """The texts of sender's messages shown, in order."""
        with self.changed:
            return [m["text"] for m in map(CHAT_LINE.match, self.lines)
                    if m and m["sender"] == sender]

    def quit(self):
        self.proc.stdin.write("/quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=10 * TIME_SCALE)
        self.reader.join(5)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        for mark in SANITIZER_MARKS:
            if mark in err:
                raise AssertionError(f"connect's stderr has a sanitizer report:\n{err}")
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def say(url, texts, sender="writer"):
    """Send texts to the room and wait until it relayed each one; returns
    their ids, in order."""
    async def run():
        async with websockets.connect(url) as ws:
            for text in texts:
                await ws.send(json.dumps({"type": "message", "message": text,
                                          "sender": sender}))
            ids = {}
            while len(ids) < len(texts):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10 * TIME_SCALE))
                if msg.get("type") == "message" and msg.get("sender") == sender:
                    ids[msg["message"]] = msg["id"]
            return [ids[t] for t in texts]
    return asyncio.run(run())


class Chatter(threading.Thread):
    """A writer that says "flow N" every few milliseconds until stop(), and
    records every message the room relays to it: the room's order."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.received = []           # (text, id)
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            asyncio.run(self._run())
        except Exception as e:       # reported by stop()
            self.error = e

    async def _run(self):
        async with websockets.connect(self.url) as ws:
            async def send():
                n = 0
                while not self.stopping.is_set():
                    await ws.send(json.dumps({"type": "message", "message": f"flow {n}",
                                              "sender": "writer"}))
                    n += 1
                    await asyncio.sleep(0.005)
                await ws.send(json.dumps({"type": "message", "message": "flow end",
                                          "sender": "writer"}))

            async def receive():
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10 * TIME_SCALE))
                    if msg.get("type") == "message":
                        self.received.append((msg["message"], msg["id"]))
                        if msg["message"] == "flow end":
                            return
            await asyncio.gather(send(), receive())

    def wait_for_more(self, n, timeout_s=10):
        """Wait until n more messages than now went through the room."""
        want = len(self.received) + n
        deadline = time.monotonic() + timeout_s * TIME_SCALE
        while len(self.received) < want:
            if time.monotonic() > deadline or not self.is_alive():
                raise AssertionError(f"the writer's messages stopped: {self.error}")
            time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        self.join(15 * TIME_SCALE)
        if self.error or self.is_alive():
            raise AssertionError(f"the writer failed: {self.error}")
        return [text for text, _ in self.received]


class ResumeCase(unittest.TestCase):
    def start_server(self, name, *args):
        server = Server(*args, name=name).start()
        self.addCleanup(self.stop_server, server)
        return server

    def stop_server(self, server):
        if server.proc.poll() is None or not server.log.closed:
            self.assertEqual(server.stop(), 0, server.log_text())
        self.assertNotIn("Sanitizer", server.log_text())
        self.assertNotIn("runtime error", server.log_text())

    def relay(self, server):
        relay = Relay(server.port)
        self.addCleanup(relay.close)
        return relay

    def connect(self, url):
        client = Connect(url)
        self.addCleanup(client.kill)
        client.wait_for(r"SYSTEM: Welcome!")
        return client

    def cut(self, relay, client, times=1):
        relay.cut()
        client.wait_for(r"^\*\*\* .* connection lost", count=times)

    def restore(self, relay, client, times=1):
        relay.restore()
        client.wait_for(r"^\*\*\* .* reconnected\.$", count=times)

    def assert_quits(self, client):
        self.assertEqual(client.quit(), 0)


class ConnectResumeTest(ResumeCase):
    @timeout(40)
    def test_missed_messages_are_replayed_once_in_order_after_the_reconnect(self):
        server = self.start_server("connect-resume")
        relay = self.relay(server)
        reader = self.connect(relay.url("/chat"))
        [first] = say(server.url("/chat"), ["before the cut"])
        reader.wait_for(r"writer: before the cut$")
        self.cut(relay, reader)
        missed = [f"missed {i}" for i in range(10)]
        say(server.url("/chat"), missed)
        self.restore(relay, reader)
        resumed = reader.wait_for(RESUMED)
        self.assertEqual(resumed.group(1), "10")
        say(server.url("/chat"), ["after the resume"])
        reader.wait_for(r"writer: after the resume$")
        self.assertEqual(reader.chat(), ["before the cut", *missed, "after the resume"])
        # The replay came before the line that ends it, the live message after.
        lines = reader.lines
        at = next(i for i, l in enumerate(lines) if re.search(RESUMED, l))
        self.assertRegex(lines[at - 1], r"writer: missed 9$")
        # It asked with the query, from the id of the last message it showed.
        self.assertIn(f"GET /chat?since={first} HTTP/1.1", relay.requests)
        self.assertEqual(relay.requests[0], "GET /chat HTTP/1.1")
        self.assert_quits(reader)

    @timeout(60)
    def test_no_gap_and_no_repeat_while_messages_keep_coming(self):
        # The writer never stops: messages arrive before, during and after
        # the cut, and while the replay is being sent.
        server = self.start_server("connect-resume-flow")
        relay = self.relay(server)
        reader = self.connect(relay.url("/chat"))
        chatter = Chatter(server.url("/chat"))
        chatter.start()
        self.addCleanup(chatter.stopping.set)
        chatter.wait_for_more(20)
        for round in (1, 2):
            self.cut(relay, reader, times=round)
            chatter.wait_for_more(30)
            self.restore(relay, reader, times=round)
            reader.wait_for(RESUMED, count=round)
            chatter.wait_for_more(20)
        said = chatter.stop()
        reader.wait_for(r"writer: flow end$")
        self.assertEqual(reader.chat(), said)
        self.assertGreater(len(said), 100)
        for m in [m for m in map(re.compile(RESUMED).search, reader.lines) if m]:
            self.assertGreater(int(m.group(1)), 0)
        self.assert_quits(reader)

    @timeout(40)
    def test_more_missed_than_the_history_holds_is_said(self):
        server = self.start_server("connect-resume-overflow", "--history", "5")
        relay = self.relay(server)
        reader = self.connect(relay.url("/chat"))
        say(server.url("/chat"), ["before the cut"])
        reader.wait_for(r"writer: before the cut$")
        self.cut(relay, reader)
        missed = [f"missed {i}" for i in range(20)]
        say(server.url("/chat"), missed)
        self.restore(relay, reader)
        self.assertEqual(reader.wait_for(NOT_RECOVERED).group(1), "5")
        self.assertEqual(reader.chat(), ["before the cut", *missed[-5:]])
        self.assertFalse([l for l in reader.lines if re.search(RESUMED, l)])
        say(server.url("/chat"), ["after the resume"])
        reader.wait_for(r"writer: after the resume$")
        self.assert_quits(reader)

    @timeout(40)
    def test_a_reconnect_before_any_message_resumes_too(self):
        # Nothing was said before the cut: connect knows where the room
        # stood from its answer to get_stats (asked quietly after the welcome).
        server = self.start_server("connect-resume-quiet")
        relay = self.relay(server)
        say(server.url("/chat"), ["before the reader came"])
        reader = self.connect(relay.url("/chat"))
        relay.wait_downstream(b'"type":"stats"')
        self.cut(relay, reader)
        say(server.url("/chat"), ["missed 1", "missed 2", "missed 3"])
        self.restore(relay, reader)
        self.assertEqual(reader.wait_for(RESUMED).group(1), "3")
        self.assertEqual(reader.chat(), ["missed 1", "missed 2", "missed 3"])
        self.assertFalse([l for l in reader.lines if "stats" in l or "unknown" in l])
        self.assert_quits(reader)

    @timeout(40)
    def test_a_restarted_server_without_redis_cannot_have_kept_the_history(self):
        port = free_port()
        first = self.start_server("connect-resume-restart-1", "--port", str(port))
        reader = self.connect(first.url("/chat"))
        say(first.url("/chat"), ["before the restart"])
        reader.wait_for(r"writer: before the restart$")
        self.stop_server(first)
        second = self.start_server("connect-resume-restart-2", "--port", str(port))
        self.assertEqual(reader.wait_for(NOT_RECOVERED).group(1), "0")
        say(second.url("/chat"), ["after the restart"])
        reader.wait_for(r"writer: after the restart$")
        self.assertEqual(reader.chat(), ["before the restart", "after the restart"])
        self.assert_quits(reader)

    @timeout(40)
    def test_a_since_in_the_url_is_replaced_by_the_last_id_shown(self):
        server = self.start_server("connect-resume-given")
        relay = self.relay(server)
        ids = say(server.url("/chat"), ["one", "two", "three"])
        reader = self.connect(relay.url(f"/chat?x=1&since={ids[0]}&y=2"))
        self.assertEqual(reader.wait_for(RESUMED).group(1), "2")
        self.assertEqual(reader.chat(), ["two", "three"])
        self.cut(relay, reader)
        self.restore(relay, reader)
        self.assertEqual(reader.wait_for(RESUMED, count=2).group(1), "0")
        self.assertEqual(relay.requests[-1], f"GET /chat?x=1&y=2&since={ids[2]} HTTP/1.1")
        self.assert_quits(reader)

    @timeout(40)
    def test_an_id_the_room_never_issued_is_refused_and_said(self):
        server = self.start_server("connect-resume-refused")
        reader = self.connect(server.url("/chat?since=99999999999999-0"))
        reader.wait_for(r"error from the server: unknown id")
        reader.wait_for(r"could not resume: messages sent while disconnected may be missing\.$")
        say(server.url("/chat"), ["live after the refusal"])
        reader.wait_for(r"writer: live after the refusal$")
        self.assertFalse([l for l in reader.lines if re.search(RESUMED, l)])
        self.assert_quits(reader)

    @timeout(40)
    def test_another_endpoint_is_never_asked_to_resume(self):
        server = self.start_server("connect-resume-echo")
        relay = self.relay(server)
        client = Connect(relay.url("/echo?x=1"))
        self.addCleanup(client.kill)
        client.wait_for(r"connected\. Type a message")
        client.proc.stdin.write("hello echo\n")
        client.proc.stdin.flush()
        client.wait_for(r"reader: hello echo$")
        self.cut(relay, client)
        self.restore(relay, client)
        client.proc.stdin.write("again\n")
        client.proc.stdin.flush()
        client.wait_for(r"reader: again$")
        self.assertEqual(relay.requests[-1], "GET /echo?x=1 HTTP/1.1")
        self.assertTrue(all("since" not in r for r in relay.requests), relay.requests)
        self.assertFalse([l for l in client.lines if "unknown message" in l
                          or "resumed" in l or "recovered" in l])
        self.assert_quits(client)


class Redis:
    """A redis-server of our own on a free loopback port (nothing saved)."""

    def __init__(self):
        self.port = free_port()
        os.makedirs(OUT, exist_ok=True)
        self.log = open(os.path.join(OUT, f"connect-resume-redis-{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 5 * TIME_SCALE
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"redis-server did not start on {self.port}")
                time.sleep(0.02)

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


@unittest.skipUnless(shutil.which("redis-server"), "needs redis-server (make deps)")
class ConnectResumeClusterTest(ResumeCase):
    @timeout(60)
    def test_resumes_on_another_instance_with_no_gap_and_no_repeat(self):
        # Two instances share the room through Redis; the relay's cut ends
        # the reader's connection to A, and it comes back on B, which
        # replays from the cluster's stream while the writer, on A, goes on.
        redis = Redis()
        self.addCleanup(redis.stop)
        prefix = f"connect-resume-{os.getpid()}"
        a, b = (self.start_server(f"connect-resume-{n}", "--redis", redis.url(),
                                  "--redis-prefix", prefix, "--instance", n) for n in "ab")
        relay = self.relay(a)
        reader = self.connect(relay.url("/chat"))
        chatter = Chatter(a.url("/chat"))
        chatter.start()
        self.addCleanup(chatter.stopping.set)
        chatter.wait_for_more(20)
        self.cut(relay, reader)
        relay.upstream = b.port
        chatter.wait_for_more(30)
        self.restore(relay, reader)
        reader.wait_for(RESUMED)
        chatter.wait_for_more(20)
        said = chatter.stop()
        reader.wait_for(r"writer: flow end$")
        self.assertEqual(reader.chat(), said)
        self.assertTrue([r for r in relay.requests if "/chat?since=" in r], relay.requests)
        self.assert_quits(reader)


class FakeRoom:
    """A room that sends what a script says, one connection after the
    other, then closes each but the last: to show what connect does with
    repeated ids and a refused resume, which our server never sends."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.paths = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            websockets.serve(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, ws, path):
        self.paths.append(path)
        script = self.scripts.pop(0) if self.scripts else []
        for msg in script:
            await ws.send(json.dumps(msg))
        if self.scripts:
            await ws.close()
        else:
            await ws.wait_closed()

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def message(i, ms=1000):
    return {"type": "message", "message": f"m{i}", "sender": "room", "id": f"{ms}-{i}",
            "timestamp": "2025-08-30T10:30:40.123456"}


WELCOME = {"type": "system", "message": "Welcome! 1 client(s) online."}


class ConnectRepeatsTest(unittest.TestCase):
    @timeout(30)
    def test_repeated_ids_are_not_shown_again_and_a_refusal_is_said(self):
        room = FakeRoom([
            [WELCOME, message(1), message(2), message(3)],
            # The replay repeats two, then the live stream repeats one more.
            [WELCOME, message(2), message(3), message(4),
             {"type": "resumed", "since": "1000-3", "replayed": 3, "complete": True},
             message(4), message(5)],
            # This room does not know the id: what follows is shown, even
            # with ids below the last one shown.
            [WELCOME, {"type": "error", "message": "unknown id: no message of this chat has it"},
             message(6, ms=7), message(7, ms=7)],
        ])
        self.addCleanup(room.close)
        reader = Connect(f"ws://127.0.0.1:{room.port}/chat")
        self.addCleanup(reader.kill)
        reader.wait_for(r"room: m7$")
        self.assertEqual(reader.chat("room"), ["m1", "m2", "m3", "m4", "m5", "m6", "m7"])
        reader.wait_for(r"resumed, 1 missed messages replayed, 2 already shown$")
        reader.wait_for(r"could not resume: messages sent while disconnected may be missing\.$")
        self.assertEqual(room.paths, ["/chat", "/chat?since=1000-3", "/chat?since=1000-5"])
        # A replayed message shows when it was said (its timestamp), not now.
        self.assertIn("[10:30:40] room: m4", reader.lines)
        self.assertEqual(reader.quit(), 0)


if __name__ == "__main__":
    unittest.main()
