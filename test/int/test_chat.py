"""/chat: the broadcast room of README "Messages", every message type, seen by
independent clients (Debian's python3-websockets) and, for broken bytes and
dropped connections, raw sockets.

Each test starts its own server, so the online counts start from zero.
Ordering is the synchronisation: a server that sends to one connection in
order lets a follow-up message prove that nothing came before it.
"""
import asyncio
import json
import re
import socket
import unittest

import websockets

from wspulse_test import FrameReader, Server, timeout, ws_connect_raw

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
WELCOME = "Welcome! You are now connected to the broadcast server. {} client(s) online."
JOINED = "A new client has joined the chat. {} client(s) online."
LEFT = "A client has left the chat. {} client(s) online."
LIMIT = 65536                    # README: the JSON endpoints take at most 64 KiB


def run(coro):
    return asyncio.run(coro)


async def open_ws(server, path="/chat"):
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=5)


async def recv_json(ws, timeout_s=5):
    """The next message, parsed strictly (a raw control character fails)."""
    text = await asyncio.wait_for(ws.recv(), timeout_s)
    if not isinstance(text, str):
        raise AssertionError(f"expected a text message, got {text!r}")
    return json.loads(text)


async def join(server):
    """A client that has read its welcome; returns (ws, welcome)."""
    ws = await open_ws(server)
    return ws, await recv_json(ws)


def message(text, sender="Alice"):
    return json.dumps({"type": "message", "message": text, "sender": sender})


class ChatCase(unittest.TestCase):
    """A fresh server per test, stopped (exit 0 expected) afterwards."""

    def setUp(self):
        self.srv = Server(name="chat-" + self._testMethodName.removeprefix("test_")).start()
        self.addCleanup(self.stop_server)

    def stop_server(self):
        rc = self.srv.stop()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{self.srv.log_text()}")

    def assertSystem(self, msg, text):
        self.assertEqual(set(msg), {"type", "message", "timestamp"}, msg)
        self.assertEqual(msg["type"], "system")
        self.assertEqual(msg["message"], text)
        self.assertRegex(msg["timestamp"], STAMP)

    def assertChat(self, msg, text, sender):
        self.assertEqual(set(msg), {"type", "message", "sender", "timestamp", "id"}, msg)
        self.assertRegex(msg["id"], r"^[0-9]+-[0-9]+$")
        self.assertEqual(msg["type"], "message")
        self.assertEqual(msg["message"], text)
        self.assertEqual(msg["sender"], sender)
        self.assertRegex(msg["timestamp"], STAMP)


class SystemMessagesTest(ChatCase):
    @timeout(10)
    def test_welcome_names_the_online_count(self):
        async def go():
            a, welcome_a = await join(self.srv)
            self.assertSystem(welcome_a, WELCOME.format(1))
            b, welcome_b = await join(self.srv)
            self.assertSystem(welcome_b, WELCOME.format(2))
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_join_notice_goes_to_the_others(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            self.assertSystem(await recv_json(a), JOINED.format(2))
            c, _ = await join(self.srv)
            self.assertSystem(await recv_json(a), JOINED.format(3))
            self.assertSystem(await recv_json(b), JOINED.format(3))
            for ws in (a, b, c):
                await ws.close()
        run(go())

    @timeout(10)
    def test_newcomer_gets_no_join_notice(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)                                   # b joined
            await a.send(message("after the join"))
            # b's next message is a's: nothing (no notice of its own join) before it.
            self.assertChat(await recv_json(b), "after the join", "Alice")
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_leave_notice_after_a_close(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            c, _ = await join(self.srv)
            await recv_json(a), await recv_json(a), await recv_json(b)   # the joins
            await c.close()
            self.assertSystem(await recv_json(a), LEFT.format(2))
            self.assertSystem(await recv_json(b), LEFT.format(2))
            await b.close()
            self.assertSystem(await recv_json(a), LEFT.format(1))
            await a.close()
        run(go())

    @timeout(10)
    def test_leave_notice_after_a_drop(self):
        async def go():
            a, _ = await join(self.srv)
            raw, rest = ws_connect_raw(self.srv.port, b"/chat")
            FrameReader(raw, rest).read()      # the welcome: nothing unread, so a FIN
            self.assertSystem(await recv_json(a), JOINED.format(2))
            raw.close()                                          # no Close frame
            self.assertSystem(await recv_json(a), LEFT.format(1))
            await a.close()
        run(go())

    @timeout(10)
    def test_leave_notice_after_a_reset(self):
        async def go():
            a, _ = await join(self.srv)
            raw, _ = ws_connect_raw(self.srv.port, b"/chat")
            self.assertSystem(await recv_json(a), JOINED.format(2))
            # SO_LINGER 0: close() sends a RST instead of a FIN.
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            raw.close()
            self.assertSystem(await recv_json(a), LEFT.format(1))
            await a.close()
        run(go())


class MessageTypesTest(ChatCase):
    @timeout(10)
    def test_message_goes_to_everyone_including_the_sender(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await a.send(json.dumps({"type": "message", "message": "Hi", "sender": "Alice"}))
            for ws in (a, b):
                self.assertChat(await recv_json(ws), "Hi", "Alice")
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_chat_type_uses_username_as_sender(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await b.send(json.dumps({"type": "chat", "message": "Hi", "username": "Bob"}))
            for ws in (a, b):
                self.assertChat(await recv_json(ws), "Hi", "Bob")
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_broadcast_type_has_sender_broadcast(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await a.send(json.dumps({"type": "broadcast", "message": "to all"}))
            for ws in (a, b):
                self.assertChat(await recv_json(ws), "to all", "broadcast")
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_ping_answers_pong_to_the_sender_only(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await a.send(json.dumps({"type": "ping"}))
            pong = await recv_json(a)
            self.assertEqual(set(pong), {"type", "timestamp"}, pong)
            self.assertEqual(pong["type"], "pong")
            self.assertRegex(pong["timestamp"], STAMP)
            await a.send(message("after the ping"))
            self.assertChat(await recv_json(a), "after the ping", "Alice")
            self.assertChat(await recv_json(b), "after the ping", "Alice")   # no pong first
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_get_stats_answers_the_sender_only(self):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await a.send(json.dumps({"type": "custom", "action": "get_stats"}))
            answer = await recv_json(a)
            self.assertEqual(answer["type"], "stats", answer)
            self.assertGreater(len(answer), 1, "stats with no figures")
            await a.send(message("after the stats"))
            self.assertChat(await recv_json(a), "after the stats", "Alice")
            self.assertChat(await recv_json(b), "after the stats", "Alice")  # no stats first
            await a.close()
            await b.close()
        run(go())


class BadInputTest(ChatCase):
    """Each bad message gets {"type":"error"} and the connection stays open."""

    def check_error_then_alive(self, bad):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await a.send(bad)
            error = await recv_json(a)
            self.assertEqual(set(error), {"type", "message"}, error)
            self.assertEqual(error["type"], "error")
            self.assertIsInstance(error["message"], str)
            self.assertTrue(error["message"])
            await a.send(message("still here"))
            self.assertChat(await recv_json(a), "still here", "Alice")
            self.assertChat(await recv_json(b), "still here", "Alice")   # no error to b
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_invalid_json(self):
        self.check_error_then_alive('{"type":"message","message":"unterminated')

    @timeout(10)
    def test_not_json_at_all(self):
        self.check_error_then_alive("hello there")

    @timeout(10)
    def test_json_array(self):
        self.check_error_then_alive('[{"type":"message","message":"Hi","sender":"A"}]')

    @timeout(10)
    def test_unknown_type(self):
        self.check_error_then_alive('{"type":"teleport","message":"Hi"}')

    @timeout(10)
    def test_type_not_a_string(self):
        self.check_error_then_alive('{"type":42,"message":"Hi"}')

    @timeout(10)
    def test_missing_type(self):
        self.check_error_then_alive('{"message":"Hi","sender":"Alice"}')

    @timeout(10)
    def test_missing_message_field(self):
        self.check_error_then_alive('{"type":"message","sender":"Alice"}')

    @timeout(10)
    def test_unknown_custom_action(self):
        self.check_error_then_alive('{"type":"custom","action":"reboot"}')

    @timeout(10)
    def test_raw_control_character_in_a_string(self):
        self.check_error_then_alive('{"type":"message","message":"a\x01b","sender":"A"}')

    @timeout(10)
    def test_binary_message(self):
        self.check_error_then_alive(message("as binary").encode())


class EscapingTest(ChatCase):
    """What comes back, parsed by Python's json, equals what was sent."""

    TEXT = ('say "hi" \\o/ C:\\path\\ ' + "".join(map(chr, range(1, 32)))
            + " \u2028\u2029 \x7f \u00e9 \u4e16\u754c \U0001F600\U0001F389 \ufeff end")
    SENDER = 'Ali"ce\\ \t\n \u2028 \U0001F600'

    def round_trip(self, raw_request, text, sender):
        async def go():
            a, _ = await join(self.srv)
            b, _ = await join(self.srv)
            await recv_json(a)
            await a.send(raw_request)
            for ws in (a, b):
                self.assertChat(await recv_json(ws), text, sender)
            await a.close()
            await b.close()
        run(go())

    @timeout(10)
    def test_utf8_text_with_every_control_character(self):
        request = json.dumps({"type": "message", "message": self.TEXT, "sender": self.SENDER},
                             ensure_ascii=False)
        self.round_trip(request, self.TEXT, self.SENDER)

    @timeout(10)
    def test_u_escapes_with_surrogate_pairs(self):
        request = json.dumps({"type": "message", "message": self.TEXT, "sender": self.SENDER},
                             ensure_ascii=True)
        self.assertIn("\\ud83d\\ude00", request)
        self.round_trip(request, self.TEXT, self.SENDER)

    @timeout(10)
    def test_every_escape_form(self):
        request = ('{"type":"chat","username":"\\u0041l\\u0069ce",'
                   '"message":"\\"\\\\\\/\\b\\f\\n\\r\\t \\u00E9\\u00e9 \\uD83D\\uDE00 \\u2028"}')
        self.round_trip(request, '"\\/\b\f\n\r\t \u00e9\u00e9 \U0001F600 \u2028', "Alice")

    @timeout(10)
    def test_nul_character(self):
        text = "before\x00after"
        self.round_trip(json.dumps({"type": "message", "message": text, "sender": "A"}),
                        text, "A")

    @timeout(10)
    def test_chat_type_escapes_the_username(self):
        request = json.dumps({"type": "chat", "message": self.TEXT, "username": self.SENDER})
        self.round_trip(request, self.TEXT, self.SENDER)


class LimitsTest(ChatCase):
    def check_too_big(self, payload):
        async def go():
            a, _ = await join(self.srv)
            await a.send(payload)
            with self.assertRaises(websockets.ConnectionClosed):
                got = await asyncio.wait_for(a.recv(), 5)    # nothing before the Close
                self.fail(f"unexpected message {got!r}")
            await a.wait_closed()
            self.assertEqual(a.close_code, 1009)
            self.assertEqual(a.close_reason, f"message exceeds {LIMIT} bytes")
        run(go())

    @timeout(10)
    def test_one_byte_over_the_limit_closes_1009(self):
        body = message("x")
        self.check_too_big(body[:-2] + "x" * (LIMIT + 1 - len(body)) + body[-2:])

    @timeout(10)
    def test_fragments_over_the_limit_close_1009(self):
        body = message("x" * (LIMIT - 40))
        self.check_too_big([body[:40000], body[40000:], "y" * 41])

    @timeout(10)
    def test_exactly_the_limit_is_relayed(self):
        async def go():
            a, _ = await join(self.srv)
            empty = message("")
            text = "z" * (LIMIT - len(empty))
            body = message(text)
            self.assertEqual(len(body.encode()), LIMIT)
            await a.send(body)
            self.assertChat(await recv_json(a), text, "Alice")
            await a.close()
        run(go())


class ManyClientsTest(ChatCase):
    CLIENTS = 20
    MESSAGES = 50

    @timeout(30)
    def test_every_client_gets_every_message_once_in_order(self):
        async def go():
            clients = [await open_ws(self.srv) for _ in range(self.CLIENTS)]
            want = self.CLIENTS * self.MESSAGES

            async def talk(i, ws):
                async def send():
                    for j in range(self.MESSAGES):
                        await ws.send(message(f"{i}:{j}", sender=f"client{i}"))
                sender = asyncio.create_task(send())
                got = []
                while len(got) < want:
                    msg = await recv_json(ws, 15)
                    if msg["type"] == "system":
                        continue
                    self.assertEqual(msg["type"], "message", msg)
                    got.append((msg["sender"], msg["message"]))
                await sender
                return got

            results = await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(clients)))
            for i, got in enumerate(results):
                self.assertEqual(len(got), len(set(got)), f"client {i}: duplicates")
                for k in range(self.CLIENTS):
                    mine = [text for sender, text in got if sender == f"client{k}"]
                    self.assertEqual(mine, [f"{k}:{j}" for j in range(self.MESSAGES)],
                                     f"client {i}, messages of client {k}")
            for ws in clients:
                await ws.close()
        run(go())


if __name__ == "__main__":
    unittest.main()
