"""/chat across instances (README "Several instances"): a real redis-server
and two or three real wspulse instances with --redis. A message sent on
one instance reaches the clients of all, in one order, with the stream's
ids; the online count is the cluster's and corrects itself after a
SIGKILL; a client resumes on another instance; and the broker's faults get
their answers: an error reply while Redis is away, a new history (and
"complete":false) when it comes back empty, nothing lost when it comes
back with its data.

Each test has its own --redis-prefix; the tests that stop Redis have one
of their own. Waiting is by messages or by polling, never a bare sleep.
"""
import asyncio
import json
import os
import signal
import subprocess
import unittest

import websockets

from test_cluster_sensor import ClusterCase, Redis, get_stats, poll, recv_json, run
from wspulse_test import timeout


async def open_ws(server, path):
    # A connection left open at the end of a scenario is not waited for.
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=0.5, max_queue=None)


async def until(ws, kind, timeout_s=5):
    """The next message of type kind, and the ones before it."""
    seen = []
    while True:
        msg = await recv_json(ws, timeout_s)
        if msg["type"] == kind:
            return msg, seen
        seen.append(msg)


async def say(ws, text, sender="w"):
    await ws.send(json.dumps({"type": "message", "message": text, "sender": sender}))


async def messages(ws, n, timeout_s=10):
    """The next n chat messages (others skipped)."""
    got = []
    while len(got) < n:
        msg = await recv_json(ws, timeout_s)
        if msg["type"] == "message":
            got.append(msg)
    return got


def id_key(text):
    ms, seq = text.split("-")
    return int(ms), int(seq)


async def chat_stats(ws):
    await ws.send(json.dumps({"type": "custom", "action": "get_stats"}))
    msg, _ = await until(ws, "stats")
    return msg


def redis_cli(redis, *args):
    return subprocess.run(["redis-cli", "-p", str(redis.port), *args], capture_output=True,
                          text=True, check=True, timeout=10).stdout


class ChatCluster(ClusterCase):
    def start(self, name, *args, **kw):
        # Clients left open are closed at once when an instance stops.
        return super().start(name, "--drain-timeout", "0", *args, **kw)


class OneRoom(ChatCluster):
    @timeout(30)
    def test_every_client_of_every_instance_sees_every_message_in_one_order(self):
        a, b, c = self.start("A"), self.start("B"), self.start("C")

        async def scenario():
            clients = [await open_ws(s, "/chat") for s in (a, a, b, c)]
            per_sender = 40
            senders = [say(ws, f"{i}:{n}", sender=str(i))
                       for n in range(per_sender) for i, ws in enumerate(clients)]
            await asyncio.gather(*senders)
            total = per_sender * len(clients)
            seen = [await messages(ws, total) for ws in clients]
            order = [m["id"] for m in seen[0]]
            self.assertEqual(len(set(order)), total, "an id repeats")
            self.assertEqual(order, sorted(order, key=id_key), "ids out of order")
            for i, got in enumerate(seen[1:], 1):
                self.assertEqual([(m["id"], m["message"]) for m in got],
                                 [(m["id"], m["message"]) for m in seen[0]],
                                 f"client {i} saw another order")
            for i in range(len(clients)):            # each sender's own order kept
                mine = [m["message"] for m in seen[0] if m["sender"] == str(i)]
                self.assertEqual(mine, [f"{i}:{n}" for n in range(per_sender)])
            # The stream holds exactly what was delivered: each message once.
            entries = redis_cli(self.redis, "XLEN", f"{self.prefix()}:chat")
            self.assertEqual(int(entries), total)
            for ws in clients:
                await ws.close()
        run(scenario())

    @timeout(30)
    def test_the_online_count_is_the_clusters_and_forgets_a_killed_instance(self):
        a, b = self.start("A"), self.start("B")

        async def scenario():
            on_a = await open_ws(a, "/chat")
            on_b = [await open_ws(b, "/chat") for _ in range(3)]

            async def online_is(n):
                deadline = asyncio.get_running_loop().time() + 3.5
                while True:
                    stats = await chat_stats(on_a)
                    if stats["online"] == n:
                        return stats
                    if asyncio.get_running_loop().time() > deadline:
                        raise AssertionError(f"online {stats['online']}, not {n}, in 3.5 s")
                    await asyncio.sleep(0.05)
            stats = await online_is(4)
            self.assertEqual(stats["online_here"], 1)
            # A new client on A is welcomed with the cluster's count.
            late = await open_ws(a, "/chat")
            welcome = await recv_json(late)
            self.assertIn("5 client(s) online.", welcome["message"])
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait(timeout=10)
            await online_is(2)
            for ws in (on_a, late):
                await ws.close()
        run(scenario())


class ResumeAnywhere(ChatCluster):
    @timeout(30)
    def test_a_client_resumes_on_another_instance(self):
        a, b = self.start("A"), self.start("B")

        async def scenario():
            writer = await open_ws(b, "/chat")
            away = await open_ws(a, "/chat")
            await say(writer, "seen")
            last = (await messages(away, 1))[0]["id"]
            await away.close()
            for n in range(5):
                await say(writer, f"missed {n}")
            sent = await messages(writer, 6)
            back = await open_ws(b, f"/chat?since={last}")
            resumed, before = await until(back, "resumed")
            replay = [m for m in before if m["type"] == "message"]
            self.assertEqual([m["id"] for m in replay], [m["id"] for m in sent[1:]])
            self.assertEqual((resumed["replayed"], resumed["complete"]), (5, True))
        run(scenario())

    @timeout(30)
    def test_an_instance_started_later_replays_from_the_stream(self):
        a = self.start("A")

        async def before():
            writer = await open_ws(a, "/chat")
            for n in range(8):
                await say(writer, f"old {n}")
            return [m["id"] for m in await messages(writer, 8)]
        ids = run(before())
        late = self.start("LATE")

        async def after():
            back = await open_ws(late, f"/chat?since={ids[1]}")
            resumed, before = await until(back, "resumed")
            self.assertEqual([m["id"] for m in before if m["type"] == "message"], ids[2:])
            self.assertEqual((resumed["replayed"], resumed["complete"]), (6, True))
            unknown = await open_ws(late, f"/chat?since={ids[1].split('-')[0]}-999")
            error, _ = await until(unknown, "error")
            self.assertIn("unknown", error["message"])
            future = await open_ws(late, f"/chat?since={id_key(ids[-1])[0] + 3600_000}-0")
            error, _ = await until(future, "error")
            self.assertIn("unknown", error["message"])
            ancient = await open_ws(late, "/chat?since=1-0")
            resumed, before = await until(ancient, "resumed")
            self.assertEqual([m["id"] for m in before if m["type"] == "message"], ids)
            self.assertEqual((resumed["replayed"], resumed["complete"]), (8, False))
        run(after())

    @timeout(30)
    def test_an_id_trimmed_from_the_stream_is_incomplete(self):
        a = self.start("A", "--history", "5")

        async def scenario():
            writer = await open_ws(a, "/chat")
            for n in range(30):
                await say(writer, f"m{n}")
            ids = [m["id"] for m in await messages(writer, 30)]
            # The stream keeps a margin beyond --history (for instances behind
            # a burst): trim it as a long run would have.
            redis_cli(self.redis, "XTRIM", f"{self.prefix()}:chat", "MAXLEN", "5")
            late = self.start("LATE", "--history", "5")
            back = await open_ws(late, f"/chat?since={ids[0]}")
            resumed, before = await until(back, "resumed")
            replay = [m["id"] for m in before if m["type"] == "message"]
            self.assertFalse(resumed["complete"])
            self.assertEqual(replay, ids[-5:])
        run(scenario())


class BrokerFaults(ChatCluster):
    def own_redis(self, *extra):
        redis = Redis(*extra).start()
        self.addCleanup(redis.stop)
        return redis

    @timeout(40)
    def test_redis_gone_then_back_empty(self):
        redis = self.own_redis()
        a, b = self.start("A", redis=redis), self.start("B", redis=redis)

        async def scenario():
            on_a, on_b = await open_ws(a, "/chat"), await open_ws(b, "/chat")
            await say(on_a, "before")
            old = (await messages(on_b, 1))[0]["id"]
            redis.stop()
            poll("A sees Redis gone", lambda: not get_stats(a)["broker"]["connected"], 10)
            await say(on_a, "while away")
            error, _ = await until(on_a, "error")
            self.assertEqual(error["message"], "broker unavailable: message not delivered")
            redis.start()                        # the same port, nothing saved: empty
            poll("A back", lambda: get_stats(a)["broker"]["connected"], 15)
            poll("B back", lambda: get_stats(b)["broker"]["connected"], 15)
            await say(on_a, "after")
            msg, _ = await until(on_b, "message", 10)
            self.assertEqual(msg["message"], "after")
            self.assertGreater(id_key(msg["id"]), id_key(old))
            back = await open_ws(a, f"/chat?since={old}")
            resumed, _ = await until(back, "resumed")
            self.assertFalse(resumed["complete"], "a history from before an empty Redis")
        run(scenario())

    @timeout(40)
    def test_redis_restarted_with_its_data_loses_nothing(self):
        data = self.tmpdir()
        redis = self.own_redis("--dir", data, "--appendonly", "yes", "--appendfsync", "always")
        a, b = self.start("A", redis=redis), self.start("B", redis=redis)

        async def scenario():
            on_a, on_b = await open_ws(a, "/chat"), await open_ws(b, "/chat")
            for n in range(5):
                await say(on_a, f"before {n}")
            before = await messages(on_b, 5)
            redis.stop()
            poll("B sees Redis gone", lambda: not get_stats(b)["broker"]["connected"], 10)
            redis.start()
            poll("A back", lambda: get_stats(a)["broker"]["connected"], 15)
            for n in range(5):
                await say(on_a, f"after {n}")
            after = await messages(on_b, 5, 15)
            self.assertEqual([m["message"] for m in after], [f"after {n}" for n in range(5)])
            back = await open_ws(b, f"/chat?since={before[0]['id']}")
            resumed, replay = await until(back, "resumed")
            self.assertTrue(resumed["complete"])
            self.assertEqual([m["message"] for m in replay if m["type"] == "message"],
                             [m["message"] for m in before[1:] + after])
            # B's own link (not the stream's, which brought "after") may still
            # be in its backoff (up to 5 s): wait for it rather than race it.
            poll("B's link back", lambda: get_stats(b)["broker"]["reconnects"] >= 1, 15)
            self.assertEqual(get_stats(b)["broker"]["chat_delivered"], 10)
        run(scenario())


class BlackHole(ChatCluster):
    @timeout(60)
    def test_a_redis_that_stops_answering_stalls_nothing_else(self):
        redis = Redis().start()
        self.addCleanup(redis.stop)
        self.addCleanup(lambda: redis.proc.send_signal(signal.SIGCONT))
        a = self.start("A", "--tick-ms", "50", redis=redis)

        async def scenario():
            chat = await open_ws(a, "/chat")
            ticks = await open_ws(a, "/ws")
            echo = await open_ws(a, "/echo")
            redis.proc.send_signal(signal.SIGSTOP)      # connections open, no answers
            loop = asyncio.get_running_loop()
            await say(chat, "into the void")
            counts, gaps, last = [], [], loop.time()
            end = last + 4.5                             # past the 3 s command timeout
            while loop.time() < end:
                tick = await recv_json(ticks, 2)
                now = loop.time()
                gaps.append(now - last)
                last = now
                counts.append(tick["message_count"])
                await echo.send("still here")
                self.assertEqual(await asyncio.wait_for(echo.recv(), 2), "still here")
            self.assertEqual(counts, list(range(counts[0], counts[0] + len(counts))))
            self.assertLess(max(gaps[1:]), 1.0, "the ticks stalled")
            status = await loop.run_in_executor(None, lambda: get_stats(a)["broker"])
            self.assertFalse(status["connected"])
            error, _ = await until(chat, "error")
            self.assertIn("not", error["message"])      # never silence
            redis.proc.send_signal(signal.SIGCONT)
            await loop.run_in_executor(
                None, lambda: poll("A back", lambda: get_stats(a)["broker"]["connected"], 15))
            await say(chat, "back")
            got = [m["message"] for m in await messages(chat, 1, 10)]
            if got == ["into the void"]:                # Redis had it in its socket:
                self.assertIn("may not have been", error["message"])   # as the error said
                got = [m["message"] for m in await messages(chat, 1, 10)]
            self.assertEqual(got, ["back"])
        run(scenario())


if __name__ == "__main__":
    unittest.main()
