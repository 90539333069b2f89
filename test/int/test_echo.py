"""/echo: every message back exactly, as one message (README, RFC 6455 §5
and §7). An independent client (Debian's python3-websockets) checks the
round trips; raw sockets send what that client never would: fragments with
a ping between them, unmasked frames, invalid UTF-8, deep pipelines.
"""
import asyncio
import os
import unittest

import websockets

from wspulse_test import FrameReader, Server, frame, timeout, ws_connect_raw

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
NO_MASK = b"\x00\x00\x00\x00"


def run(coro):
    return asyncio.run(coro)


def close_payload(code, reason=b""):
    return code.to_bytes(2, "big") + reason


def big_frame(opcode, payload):
    """A masked frame whose mask is zero, so large payloads need no
    byte-by-byte masking in Python."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + NO_MASK + payload


async def round_trips(url, messages):
    """Send each message and return what came back for each, in order."""
    async with websockets.connect(url, max_size=None, compression=None,
                                  ping_interval=None) as ws:
        got = []
        for m in messages:
            await ws.send(m)
            got.append(await ws.recv())
        return got


class EchoCase(unittest.TestCase):
    """One server for the class, on the default options."""
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(*cls.server_args, name=f"echo-{cls.__name__}").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, f"server exited with {rc}; log:\n{cls.srv.log_text()}"

    def raw(self):
        """A raw WebSocket on /echo: (socket, FrameReader)."""
        s, rest = ws_connect_raw(self.srv.port)
        self.addCleanup(s.close)
        return s, FrameReader(s, rest)

    def assert_failed_with(self, s, reader, code, reason=None):
        """The server sent Close with code (and reason), then closed TCP."""
        got_code, got_reason = reader.read_close()
        self.assertEqual(got_code, code)
        if reason is not None:
            self.assertEqual(got_reason, reason)
        self.assertTrue(reader.at_eof(), "server did not close the connection")


class EchoTest(EchoCase):
    def echo(self, messages):
        return run(round_trips(self.srv.url("/echo"), messages))

    @timeout(10)
    def test_text_comes_back_exactly(self):
        msgs = ["hello", "ünïcödé ✓ 🎉", "  spaces\tand\nnewlines  ", '{"json": true}']
        self.assertEqual(self.echo(msgs), msgs)

    @timeout(10)
    def test_binary_comes_back_exactly(self):
        msgs = [bytes(range(256)), b"\x00" * 10, os.urandom(1000)]
        self.assertEqual(self.echo(msgs), msgs)

    @timeout(10)
    def test_empty_messages(self):
        self.assertEqual(self.echo(["", b""]), ["", b""])

    @timeout(20)
    def test_sizes_around_every_length_boundary(self):
        for size in (0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20):
            with self.subTest(size=size):
                data = os.urandom(size)
                text = "x" * size
                self.assertEqual(self.echo([data, text]), [data, text])

    @timeout(30)
    def test_16_mib_message_is_echoed(self):
        data = os.urandom(16 << 20)             # exactly the default --max-message
        got = self.echo([data])[0]
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "payload differs")

    @timeout(30)
    def test_over_16_mib_closes_1009_naming_the_limit(self):
        s, reader = self.raw()
        try:
            s.sendall(big_frame(OP_BINARY, bytes((16 << 20) + 1)))
        except (BrokenPipeError, ConnectionResetError):
            pass                                  # refused before it was all sent
        self.assert_failed_with(s, reader, 1009, "message exceeds 16777216 bytes")

    @timeout(10)
    def test_fragmented_message_with_a_ping_between_fragments(self):
        s, reader = self.raw()
        s.sendall(frame(OP_TEXT, b"Hel", fin=False) + frame(OP_PING, b"are you there")
                  + frame(OP_CONT, b"lo, ", fin=False) + frame(OP_CONT, b"world"))
        self.assertEqual(reader.read()[:3], (True, OP_PONG, b"are you there"))
        self.assertEqual(reader.read()[:3], (True, OP_TEXT, b"Hello, world"))

    @timeout(10)
    def test_utf8_split_across_fragments_is_valid(self):
        s, reader = self.raw()
        text = "€uro".encode()                    # € is 3 bytes: cut inside it
        s.sendall(frame(OP_TEXT, text[:1], fin=False) + frame(OP_CONT, text[1:2], fin=False)
                  + frame(OP_CONT, text[2:]))
        self.assertEqual(reader.read()[:3], (True, OP_TEXT, text))

    @timeout(10)
    def test_100_pipelined_messages_come_back_in_order(self):
        s, reader = self.raw()
        msgs = [f"message {i:03d}".encode() for i in range(100)]
        s.sendall(b"".join(frame(OP_TEXT, m) for m in msgs))
        got = [reader.read()[2] for _ in msgs]
        self.assertEqual(got, msgs)

    @timeout(20)
    def test_50_concurrent_clients_each_get_their_own_echoes(self):
        async def client(i):
            mine = [f"client {i} message {j}" for j in range(20)]
            async with websockets.connect(self.srv.url("/echo"), compression=None,
                                          ping_interval=None) as ws:
                for m in mine:                    # all in flight, then read
                    await ws.send(m)
                got = [await ws.recv() for _ in mine]
            return got == mine

        async def main():
            return await asyncio.gather(*(client(i) for i in range(50)))
        self.assertEqual(run(main()), [True] * 50)

    @timeout(10)
    def test_unmasked_frame_closes_1002(self):
        s, reader = self.raw()
        s.sendall(frame(OP_TEXT, b"no mask", mask=None))
        self.assert_failed_with(s, reader, 1002)

    @timeout(10)
    def test_invalid_utf8_text_closes_1007(self):
        for label, data in (("lone continuation", b"ab\x80cd"), ("bad pair", b"\xc3\x28"),
                            ("overlong", b"\xc0\xaf"), ("surrogate", b"\xed\xa0\x80"),
                            ("over U+10FFFF", b"\xf4\x90\x80\x80"), ("0xff", b"\xff")):
            with self.subTest(label):
                s, reader = self.raw()
                s.sendall(frame(OP_TEXT, data))
                self.assert_failed_with(s, reader, 1007)

    @timeout(10)
    def test_close_1000_is_answered_1000_then_tcp_closes(self):
        s, reader = self.raw()
        s.sendall(frame(OP_CLOSE, close_payload(1000, b"bye")))
        fin, op, payload, _, masked = reader.read()
        self.assertEqual((fin, op, masked), (True, OP_CLOSE, False))
        self.assertEqual(int.from_bytes(payload[:2], "big"), 1000)
        self.assertTrue(reader.at_eof(), "server did not close the connection")


class MaxMessageTest(EchoCase):
    server_args = ("--max-message", "1000")

    @timeout(10)
    def test_exactly_the_limit_is_echoed(self):
        s, reader = self.raw()
        s.sendall(frame(OP_BINARY, b"a" * 1000))
        self.assertEqual(reader.read()[:3], (True, OP_BINARY, b"a" * 1000))

    @timeout(10)
    def test_one_byte_over_closes_1009_naming_the_limit(self):
        s, reader = self.raw()
        s.sendall(frame(OP_BINARY, b"a" * 1001))
        self.assert_failed_with(s, reader, 1009, "message exceeds 1000 bytes")

    @timeout(10)
    def test_fragments_over_the_limit_together_close_1009(self):
        s, reader = self.raw()
        s.sendall(frame(OP_TEXT, b"a" * 600, fin=False) + frame(OP_CONT, b"a" * 600))
        self.assert_failed_with(s, reader, 1009, "message exceeds 1000 bytes")


if __name__ == "__main__":
    unittest.main()
