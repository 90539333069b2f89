"""Resume on one process, without --redis (README "Resume"): every chat
message has an id; a client that comes back with /chat?since=ID, or with
{"type":"resume","since":ID} as its first message, gets every message after
ID that the history holds, in order with the original ids, then
{"type":"resumed",...}, then the live ones: no gap and no duplicate at the
seam, even while messages keep coming. Bad ids get an error, and a replay
is sent under the same output bound as everything else.

Real peers: Python websockets clients, and a raw socket for the client that
does not read.
"""
import asyncio
import json
import time
import unittest

import websockets

from wspulse_test import TIME_SCALE, Server, http_request, parse_response, \
    timeout, ws_connect_raw


def run(coro):
    return asyncio.run(coro)


async def open_ws(server, path="/chat"):
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=0.5, max_queue=None)


async def recv_json(ws, timeout_s=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s * TIME_SCALE))


async def until(ws, kind):
    """The next message of type kind; the others before it are returned too."""
    seen = []
    while True:
        msg = await recv_json(ws)
        if msg["type"] == kind:
            return msg, seen
        seen.append(msg)


async def say(ws, text):
    await ws.send(json.dumps({"type": "message", "message": text, "sender": "w"}))


async def said(ws, texts):
    """Send each text and return the id each came back with, in order."""
    ids = []
    for text in texts:
        await say(ws, text)
        msg, _ = await until(ws, "message")
        assert msg["message"] == text, msg
        ids.append(msg["id"])
    return ids


def id_key(text):
    ms, seq = text.split("-")
    return int(ms), int(seq)


class Frames:
    """Unmasked server frames from a raw socket, read in big pieces (60 MB
    here: FrameReader's byte-string appends would take quadratic time)."""

    def __init__(self, sock, initial):
        self.buf, self.pos, self.sock = bytearray(initial), 0, sock

    def _need(self, n):
        while len(self.buf) - self.pos < n:
            del self.buf[:self.pos]
            self.pos = 0
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def payload(self):
        self._need(2)
        n, head = self.buf[self.pos + 1] & 0x7F, 2
        if n >= 126:
            head = 4 if n == 126 else 10
            self._need(head)
            n = int.from_bytes(self.buf[self.pos + 2:self.pos + head], "big")
        self._need(head + n)
        start = self.pos + head
        self.pos = start + n
        return bytes(self.buf[start:start + n])


def stats(server):
    status, _, body = parse_response(http_request(
        server.port, b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status == 200, status
    return json.loads(body)


def queued_bytes(server):
    return stats(server)["queued_bytes"]


class ResumeCase(unittest.TestCase):
    history = 1000

    def setUp(self):
        # Clients left open are closed at once when the server stops.
        self.srv = Server("--history", str(self.history), "--drain-timeout", "0",
                          name="resume-" + self._testMethodName.removeprefix("test_")).start()
        self.addCleanup(self.stop_server)

    def stop_server(self):
        rc = self.srv.stop()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{self.srv.log_text()}")


class Replay(ResumeCase):
    @timeout(15)
    def test_since_in_the_url_replays_the_missed_in_order_then_resumed_then_live(self):
        async def scenario():
            writer = await open_ws(self.srv)
            ids = await said(writer, [f"m{i}" for i in range(10)])
            self.assertEqual(ids, sorted(ids, key=id_key))
            self.assertEqual(len(set(ids)), 10)
            back = await open_ws(self.srv, f"/chat?since={ids[3]}")
            welcome = await recv_json(back)
            self.assertEqual(welcome["type"], "system")
            resumed, replay = await until(back, "resumed")
            self.assertEqual([m["id"] for m in replay], ids[4:])
            self.assertEqual([m["message"] for m in replay], [f"m{i}" for i in range(4, 10)])
            self.assertEqual(resumed, {"type": "resumed", "since": ids[3], "replayed": 6,
                                       "complete": True})
            await said(writer, ["live"])
            msg, _ = await until(back, "message")
            self.assertEqual(msg["message"], "live")
            await writer.close()
            await back.close()
        run(scenario())

    @timeout(15)
    def test_resume_as_the_first_message(self):
        async def scenario():
            writer = await open_ws(self.srv)
            ids = await said(writer, ["a", "b", "c"])
            back = await open_ws(self.srv)
            await recv_json(back)                   # the welcome
            await back.send(json.dumps({"type": "resume", "since": ids[0]}))
            resumed, replay = await until(back, "resumed")
            self.assertEqual([m["message"] for m in replay if m["type"] == "message"],
                             ["b", "c"])
            self.assertEqual(resumed["replayed"], 2)
            self.assertTrue(resumed["complete"])
            # Only the first message may ask: a second resume is an error.
            await back.send(json.dumps({"type": "resume", "since": ids[0]}))
            error, _ = await until(back, "error")
            self.assertIn("first message", error["message"])
        run(scenario())

    @timeout(15)
    def test_the_newest_id_replays_nothing_and_is_complete(self):
        async def scenario():
            writer = await open_ws(self.srv)
            ids = await said(writer, ["only"])
            back = await open_ws(self.srv, f"/chat?since={ids[0]}")
            resumed, replay = await until(back, "resumed")
            self.assertEqual([m for m in replay if m["type"] == "message"], [])
            self.assertEqual((resumed["replayed"], resumed["complete"]), (0, True))
            chat = stats(self.srv)["chat"]
            self.assertEqual((chat["last_id"], chat["history"], chat["online"]),
                             (ids[0], 1, 2))
        run(scenario())


class BadIds(ResumeCase):
    def check_error_then_live(self, path, first=None, words="id"):
        async def scenario():
            writer = await open_ws(self.srv)
            await said(writer, ["before"])
            back = await open_ws(self.srv, path)
            if first:
                await back.send(first)
            error, _ = await until(back, "error")
            self.assertIn(words, error["message"])
            await said(writer, ["after"])
            msg, seen = await until(back, "message")
            self.assertEqual(msg["message"], "after")
            self.assertNotIn("resumed", [m["type"] for m in seen])
            await writer.close()
            await back.close()
        run(scenario())

    @timeout(30)
    def test_malformed_ids_get_an_error_and_the_room_goes_on(self):
        for bad in ["abc", "12", "-1-0", "1-", "1-2-3", "99999999999999999999999-0", ""]:
            with self.subTest(bad=bad):
                self.check_error_then_live(f"/chat?since={bad}", words="malformed")
        self.check_error_then_live("/chat", json.dumps({"type": "resume", "since": 42}))

    @timeout(15)
    def test_an_id_newer_than_any_issued_is_unknown(self):
        far = f"{int(time.time() * 1000) + 3600_000}-0"
        self.check_error_then_live(f"/chat?since={far}", words="unknown")

    @timeout(15)
    def test_an_id_between_two_messages_is_unknown(self):
        async def scenario():
            writer = await open_ws(self.srv)
            ids = await said(writer, ["a", "b"])
            ms, seq = id_key(ids[1])
            return f"{ms}-{seq + 7}" if ids[1] != ids[0] else None
        between = run(scenario())
        self.check_error_then_live(f"/chat?since={between}", words="unknown")


class History(ResumeCase):
    history = 5

    @timeout(20)
    def test_an_id_older_than_the_history_is_incomplete_with_what_is_held(self):
        async def scenario():
            writer = await open_ws(self.srv)
            ids = await said(writer, [f"m{i}" for i in range(20)])
            back = await open_ws(self.srv, f"/chat?since={ids[0]}")
            resumed, replay = await until(back, "resumed")
            self.assertEqual([m["id"] for m in replay if m["type"] == "message"], ids[15:])
            self.assertEqual((resumed["replayed"], resumed["complete"]), (5, False))
            # The newest dropped one is the history's edge: complete from there.
            edge = await open_ws(self.srv, f"/chat?since={ids[14]}")
            resumed, replay = await until(edge, "resumed")
            self.assertEqual((resumed["replayed"], resumed["complete"]), (5, True))
        run(scenario())

    @timeout(20)
    def test_an_id_from_before_a_restart_is_incomplete(self):
        async def before():
            writer = await open_ws(self.srv)
            return (await said(writer, ["old"]))[0]
        old = run(before())
        self.srv.stop()
        self.srv.start()

        async def after():
            writer = await open_ws(self.srv)
            await said(writer, ["new"])
            back = await open_ws(self.srv, f"/chat?since={old}")
            resumed, replay = await until(back, "resumed")
            self.assertEqual([m["message"] for m in replay if m["type"] == "message"], ["new"])
            self.assertEqual(resumed["complete"], False)
        run(after())


class Seam(ResumeCase):
    history = 5000

    @timeout(40)
    def test_no_gap_and_no_duplicate_while_messages_keep_coming(self):
        total = 1000

        async def writer_task(writer, ids):
            for i in range(total):
                await say(writer, f"s{i}")
            while len(ids) < total:
                msg, _ = await until(writer, "message")
                ids.append(msg["id"])

        async def scenario():
            writer = await open_ws(self.srv)
            ids = await said(writer, ["first"])
            rest = []
            task = asyncio.ensure_future(writer_task(writer, rest))
            while len(rest) < 200:                  # well under way
                await asyncio.sleep(0.005)
            back = await open_ws(self.srv, f"/chat?since={ids[0]}")
            got, resumed = [], None
            while len(got) < total or resumed is None:
                msg = await recv_json(back, 20)
                if msg["type"] == "message":
                    got.append(msg["id"])
                elif msg["type"] == "resumed":
                    resumed = msg
            await task
            self.assertIsNotNone(resumed)
            self.assertTrue(resumed["complete"])
            self.assertEqual(got, rest, "the resumed client's messages differ from the writer's")
        run(scenario())


class Bound(ResumeCase):
    history = 1000

    @timeout(60)
    def test_a_replay_to_a_client_that_does_not_read_stays_bounded(self):
        body = "x" * 20000                      # 500 of them: 10 MB of replay
        async def fill():
            writer = await open_ws(self.srv)
            ids = await said(writer, ["start"])
            for i in range(500):
                await say(writer, body)
            while True:                          # all delivered: the last came back
                msg, _ = await until(writer, "message")
                if msg["message"] == body:
                    fill.count += 1
                    if fill.count == 500:
                        return ids[0]
        fill.count = 0
        since = run(fill())
        sock, rest = ws_connect_raw(self.srv.port, f"/chat?since={since}".encode())
        try:
            highest = 0
            for _ in range(20):                  # it does not read for a while
                highest = max(highest, queued_bytes(self.srv))
                time.sleep(0.02)
            self.assertLess(highest, 2 << 20, "the replay was queued all at once")
            stream = Frames(sock, rest)
            replayed, resumed = 0, None
            while resumed is None:
                msg = json.loads(stream.payload())
                if msg["type"] == "message":
                    replayed += 1
                elif msg["type"] == "resumed":
                    resumed = msg
            self.assertEqual(replayed, 500)
            self.assertEqual((resumed["replayed"], resumed["complete"]), (500, True))
        finally:
            sock.close()


if __name__ == "__main__":
    unittest.main()
