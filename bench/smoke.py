#!/usr/bin/python3
"""smoke.py -- check that a server under bench/compare.sh does the work the
workloads assume, before any load: /echo returns text and binary (small and
64 KiB) exactly, and /chat welcomes a new member with a JSON message, then
broadcasts a chat message, with its text, sender and a timestamp added, to
every member including the sender.
Run: /usr/bin/python3 bench/smoke.py PORT [--floor]   (exit 0 = fine; else one line why)
--floor: the TCP floor (bench/peers/tcp_echo.c), which has no /chat: /echo, and
/ws sends ticks numbered from 1.
"""
import asyncio
import json
import sys

import websockets

TIMEOUT_S = 5


async def recv_json(ws):
    """The next JSON object, skipping system messages (joins of others)."""
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
        if m.get("type") != "system":
            return m


async def check_echo(base):
    async with websockets.connect(base + "/echo", max_size=None, compression=None) as ws:
        for message in ("hello", "ünïcode ✓", b"\x00\x01\xff", b"x" * 65536, "y" * 65536):
            await ws.send(message)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT_S)
            if got != message:
                raise AssertionError(f"/echo returned {got[:40]!r} for {message[:40]!r}")


async def check_chat(base):
    async with websockets.connect(base + "/chat", compression=None) as a:
        first = json.loads(await asyncio.wait_for(a.recv(), TIMEOUT_S))
        if first.get("type") != "system":
            raise AssertionError(f"/chat: first message is not a system welcome: {first}")
        async with websockets.connect(base + "/chat", compression=None) as b:
            await asyncio.wait_for(b.recv(), TIMEOUT_S)          # b's welcome
            await a.send(json.dumps({"type": "message", "message": "t=12345 \"q\"",
                                     "sender": "smoke"}))
            for ws in (a, b):
                m = await recv_json(ws)
                if m.get("type") != "message" or m.get("message") != "t=12345 \"q\"" \
                        or m.get("sender") != "smoke" or len(m.get("timestamp", "")) != 26:
                    raise AssertionError(f"/chat broadcast is not as expected: {m}")


async def check_ticks(base):
    async with websockets.connect(base + "/ws", compression=None) as ws:
        for count in (1, 2):
            t = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            if t.get("type") != "timestamp" or t.get("message_count") != count \
                    or not isinstance(t.get("timestamp_ms"), int):
                raise AssertionError(f"/ws tick {count} is not as expected: {t}")


async def main(port, floor):
    base = f"ws://127.0.0.1:{port}"
    await check_echo(base)
    if floor:
        await check_ticks(base)
    else:
        await check_chat(base)


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]), "--floor" in sys.argv[2:]))
    except Exception as e:      # any failure: one line, for the results table
        print(f"smoke test failed: {type(e).__name__}: {e}")
        sys.exit(1)
