"""/rpc: request and response on plain text (README "Messages"). GET_TIME answers the
current time, GREET_ME a greeting, anything else comes back with " - N"
appended, N a random number. Driven by Debian's python3-websockets.
"""
import asyncio
import datetime
import os
import re
import unittest

import websockets

from wspulse_test import Server, timeout


def run(coro):
    return asyncio.run(coro)


async def open_ws(server):
    return await websockets.connect(server.url("/rpc"), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=5, max_queue=None)


async def ask(ws, text, timeout_s=5):
    await ws.send(text)
    answer = await asyncio.wait_for(ws.recv(), timeout_s)
    if not isinstance(answer, str):
        raise AssertionError(f"expected a text answer, got {answer!r}")
    return answer


def suffix_number(test, request, answer):
    """N of "request - N", failing the test if the answer has another shape."""
    m = re.fullmatch(re.escape(request) + r" - (\d+)", answer, re.DOTALL)
    test.assertIsNotNone(m, f"{answer!r} is not {request!r} + ' - N'")
    return int(m.group(1))


class RpcTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(name="rpc-" + self._testMethodName.removeprefix("test_")).start()
        self.addCleanup(self.stop_server)

    def stop_server(self):
        rc = self.srv.stop()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{self.srv.log_text()}")

    def with_client(self, body):
        async def go():
            ws = await open_ws(self.srv)
            await body(ws)
            await ws.close()
        run(go())

    @timeout(10)
    def test_get_time_is_the_current_local_time(self):
        async def body(ws):
            answer = await ask(ws, "GET_TIME")
            try:
                when = datetime.datetime.fromisoformat(answer)
            except ValueError:
                self.fail(f"GET_TIME answered {answer!r}, not an ISO 8601 time")
            now = datetime.datetime.now(when.tzinfo)
            self.assertLess(abs((now - when).total_seconds()), 5,
                            f"{answer!r} is not the local time (now {now})")
        self.with_client(body)

    @timeout(10)
    def test_get_time_follows_the_server_time_zone(self):
        # A POSIX TZ rule needs no zone files: local time is UTC+05:45 here,
        # so an answer in UTC (or in the test machine's zone) cannot pass.
        env = dict(os.environ, TZ="XST-5:45")
        with Server(name="rpc-time-zone", env=env) as srv:
            async def go():
                ws = await open_ws(srv)
                answer = await ask(ws, "GET_TIME")
                await ws.close()
                return answer
            answer = run(go())
        when = datetime.datetime.fromisoformat(answer)
        if when.tzinfo is not None:
            self.assertEqual(when.utcoffset(), datetime.timedelta(hours=5, minutes=45))
            when = when.replace(tzinfo=None)
        now = (datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
               + datetime.timedelta(hours=5, minutes=45))
        self.assertLess(abs((now - when).total_seconds()), 5,
                        f"{answer!r} is not the time at UTC+05:45 (now {now})")

    @timeout(10)
    def test_greet_me_answers_a_greeting(self):
        async def body(ws):
            answer = await ask(ws, "GREET_ME")
            self.assertRegex(answer, r"(?i)\b(hello|hi|welcome|greetings)\b")
            self.assertNotRegex(answer, r"^GREET_ME - \d+$")
        self.with_client(body)

    @timeout(10)
    def test_other_text_comes_back_with_a_number(self):
        async def body(ws):
            for text in ("hello", "get_time", "GET_TIME ", "GREET_ME!", "42", "a - 7"):
                suffix_number(self, text, await ask(ws, text))
        self.with_client(body)

    @timeout(10)
    def test_empty_text_comes_back_with_a_number(self):
        async def body(ws):
            suffix_number(self, "", await ask(ws, ""))
        self.with_client(body)

    @timeout(10)
    def test_the_number_varies(self):
        async def body(ws):
            numbers = [suffix_number(self, "same", await ask(ws, "same")) for _ in range(100)]
            self.assertGreater(len(set(numbers)), 50, f"hardly random: {sorted(numbers)}")
        self.with_client(body)

    @timeout(10)
    def test_unicode_text_round_trips(self):
        async def body(ws):
            text = ("h\u00e9llo \u4e16\u754c \U0001F600\U0001F389 \u2028 "
                    "\"quoted\" \\ \x01\t\n end")
            suffix_number(self, text, await ask(ws, text))
        self.with_client(body)

    @timeout(10)
    def test_largest_message_round_trips(self):
        async def body(ws):
            text = "r" * 65536
            suffix_number(self, text, await ask(ws, text))
        self.with_client(body)

    @timeout(30)
    def test_ten_thousand_pipelined_requests_answered_in_order(self):
        count = 10000

        async def body(ws):
            async def send_all():
                for i in range(count):
                    await ws.send(f"request {i}")
            sender = asyncio.create_task(send_all())
            for i in range(count):
                answer = await asyncio.wait_for(ws.recv(), 10)
                suffix_number(self, f"request {i}", answer)
            await sender
        self.with_client(body)

    @timeout(10)
    def test_binary_closes_1003(self):
        async def body(ws):
            await ws.send(b"GET_TIME")
            with self.assertRaises(websockets.ConnectionClosed):
                got = await asyncio.wait_for(ws.recv(), 5)
                self.fail(f"answered a binary message: {got!r}")
            self.assertEqual(ws.close_code, 1003)
        self.with_client(body)


if __name__ == "__main__":
    unittest.main()
