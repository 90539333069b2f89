"""Issue 14, items 1 and 7: JSON objects with more members than an endpoint
reads, and NUL (\\u0000) inside strings, on /chat, /sensor and /control.

A message object may have at most 16 members on /chat and 8 on /sensor and
/control; more gets an error reply naming the limit (never a search of part
of the object, which once read past the server's array and crashed it). A
type, key, action or command holding a NUL matches nothing. Either way the
connection stays open and everybody else carries on: each test ends with the
same client sending a good message that another client receives, and the
server must exit 0 with no sanitizer report.

Ordering is the synchronisation: a server that sends to one connection in
order lets a follow-up message prove that nothing came before it.
"""
import asyncio
import json
import unittest

import websockets

from wspulse_test import Server, timeout

CHAT_TOO_MANY = {"type": "error", "message": "too many members: at most 16 in a message object"}
SENSOR_TOO_MANY = {"type": "error", "message": "too many members: at most 8 in a command object"}
UNKNOWN_TYPE = {"type": "error", "message": "unknown message type"}
MISSING_TYPE = {"type": "error", "message": "missing \"type\""}
UNKNOWN_ACTION = {"type": "error", "message": "unknown custom action (known: get_stats)"}
INVALID = {"type": "error", "message": "invalid JSON: expected one JSON object"}
UNKNOWN_COMMAND = {"type": "error", "message": "unknown command: send START or STOP, "
                                               "or {\"type\":\"control\",\"command\":\"start\"}"}


def run(coro):
    return asyncio.run(coro)


def padded(head, total, last=False):
    """json.dumps of an object of total members: head's, and "kI":I filler
    before them (last=True) or after them."""
    filler = [(f"k{i}", i) for i in range(total - len(head))]
    items = filler + list(head.items()) if last else list(head.items()) + filler
    return json.dumps(dict(items), separators=(",", ":"))


async def open_ws(server, path):
    return await websockets.connect(server.url(path), compression=None, max_size=None,
                                    ping_interval=None, close_timeout=5)


async def recv_json(ws, timeout_s=5):
    text = await asyncio.wait_for(ws.recv(), timeout_s)
    if not isinstance(text, str):
        raise AssertionError(f"expected a text message, got {text!r}")
    return json.loads(text)


class LimitsCase(unittest.TestCase):
    """A fresh server per test; it must exit 0 and log no sanitizer report."""

    def setUp(self):
        self.srv = Server(name="json-limits-" + self._testMethodName.removeprefix("test_"))
        self.srv.start()
        self.addCleanup(self.stop_server)

    def stop_server(self):
        rc = self.srv.stop()
        log = self.srv.log_text()
        self.assertEqual(rc, 0, f"server exited with {rc}; log:\n{log}")
        self.assertNotIn("Sanitizer", log)
        self.assertNotIn("runtime error", log)


class ChatLimitsTest(LimitsCase):
    async def two_members(self):
        """alice and bob in the room, alice past bob's join notice."""
        alice = await open_ws(self.srv, "/chat")
        await recv_json(alice)                               # welcome
        bob = await open_ws(self.srv, "/chat")
        await recv_json(bob)
        self.assertEqual((await recv_json(alice))["type"], "system")   # bob joined
        return alice, bob

    async def still_chatting(self, alice, bob):
        """alice's next message reaches both: nothing was relayed before it."""
        await alice.send(json.dumps({"type": "message", "message": "still here",
                                     "sender": "alice"}))
        for ws in (alice, bob):
            got = await recv_json(ws)
            self.assertEqual((got["type"], got["message"], got["sender"]),
                             ("message", "still here", "alice"), got)

    def check_reply(self, text, want):
        async def go():
            alice, bob = await self.two_members()
            await alice.send(text)
            self.assertEqual(await recv_json(alice), want)
            await self.still_chatting(alice, bob)
            await alice.close()
            await bob.close()
        run(go())

    def check_too_many(self, total, last):
        head = {"type": "message", "message": "x", "sender": "mallory"}
        self.check_reply(padded(head, total, last), CHAT_TOO_MANY)

    @timeout(10)
    def test_16_members_are_relayed(self):
        async def go():
            alice, bob = await self.two_members()
            head = {"type": "message", "message": "sixteen", "sender": "alice"}
            await alice.send(padded(head, 16, last=True))
            for ws in (alice, bob):
                self.assertEqual((await recv_json(ws))["message"], "sixteen")
            await self.still_chatting(alice, bob)
            await alice.close()
            await bob.close()
        run(go())

    @timeout(10)
    def test_17_members_type_first(self):
        self.check_too_many(17, last=False)

    @timeout(10)
    def test_17_members_type_last(self):
        self.check_too_many(17, last=True)

    @timeout(10)
    def test_300_members_type_first(self):
        self.check_too_many(300, last=False)

    @timeout(10)
    def test_300_members_type_last(self):
        self.check_too_many(300, last=True)

    @timeout(10)
    def test_3000_members_type_first(self):
        self.check_too_many(3000, last=False)

    @timeout(10)
    def test_3000_members_type_last(self):
        text = padded({"type": "message", "message": "x"}, 3000, last=True)
        self.assertGreater(len(text), 30000)
        self.assertLess(len(text), 65536)                    # under the 64 KiB limit
        self.check_reply(text, CHAT_TOO_MANY)

    @timeout(10)
    def test_too_many_members_but_invalid_is_invalid_json(self):
        text = padded({"type": "message", "message": "x"}, 300)
        self.check_reply(text[:-1] + ",}", INVALID)

    @timeout(10)
    def test_nul_inside_type_matches_no_type(self):
        self.check_reply(json.dumps({"type": "message\0junk", "message": "x"}), UNKNOWN_TYPE)

    @timeout(10)
    def test_nul_after_ping_is_no_ping(self):
        self.check_reply(json.dumps({"type": "ping\0"}), UNKNOWN_TYPE)

    @timeout(10)
    def test_nul_in_key_is_not_the_key(self):
        self.check_reply(json.dumps({"type\0": "ping"}), MISSING_TYPE)

    @timeout(10)
    def test_nul_in_custom_action(self):
        self.check_reply(json.dumps({"type": "custom", "action": "get_stats\0"}),
                         UNKNOWN_ACTION)

    @timeout(10)
    def test_nul_in_type_of_a_chat_message_is_not_relayed(self):
        self.check_reply(json.dumps({"type": "chat\0", "message": "x", "username": "m"}),
                         UNKNOWN_TYPE)


class SensorLimitsTest(LimitsCase):
    def check_reply(self, path, text, want):
        """want from path; then START from the same client reaches another."""
        async def go():
            ws = await open_ws(self.srv, path)
            other = await open_ws(self.srv, "/sensor")
            for c in (ws, other):
                self.assertEqual(await recv_json(c), {"type": "state", "running": False})
            await ws.send(text)
            self.assertEqual(await recv_json(ws), want)
            await ws.send("START")
            for c in (ws, other):
                while (got := await recv_json(c))["type"] != "state":
                    pass                                     # samples on /sensor
                self.assertEqual(got, {"type": "state", "running": True})
            await ws.close()
            await other.close()
        run(go())

    def check_too_many(self, path, total, last):
        head = {"type": "control", "command": "start"}
        self.check_reply(path, padded(head, total, last), SENSOR_TOO_MANY)

    @timeout(10)
    def test_8_members_are_a_command(self):
        async def go():
            ws = await open_ws(self.srv, "/control")
            await recv_json(ws)
            await ws.send(padded({"type": "control", "command": "start"}, 8, last=True))
            self.assertEqual(await recv_json(ws), {"type": "state", "running": True})
            await ws.close()
        run(go())

    @timeout(10)
    def test_9_members_on_control(self):
        self.check_too_many("/control", 9, last=False)

    @timeout(10)
    def test_17_members_on_sensor_command_first(self):
        self.check_too_many("/sensor", 17, last=False)

    @timeout(10)
    def test_17_members_on_control_command_last(self):
        self.check_too_many("/control", 17, last=True)

    @timeout(10)
    def test_300_members_on_sensor_command_last(self):
        self.check_too_many("/sensor", 300, last=True)

    @timeout(10)
    def test_300_members_on_control_command_first(self):
        self.check_too_many("/control", 300, last=False)

    @timeout(10)
    def test_3000_members_on_sensor_command_last(self):
        self.check_too_many("/sensor", 3000, last=True)

    @timeout(10)
    def test_3000_members_on_control_command_first(self):
        self.check_too_many("/control", 3000, last=False)

    @timeout(10)
    def test_nul_after_start_is_no_command(self):
        self.check_reply("/control", json.dumps({"type": "control", "command": "start\0"}),
                         UNKNOWN_COMMAND)

    @timeout(10)
    def test_nul_inside_type_is_no_command(self):
        self.check_reply("/sensor", json.dumps({"type": "control\0x", "command": "start"}),
                         UNKNOWN_COMMAND)

    @timeout(10)
    def test_nul_in_key_is_no_command(self):
        self.check_reply("/control", json.dumps({"type": "control", "command\0": "start"}),
                         UNKNOWN_COMMAND)


if __name__ == "__main__":
    unittest.main()
