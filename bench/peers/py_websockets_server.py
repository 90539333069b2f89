#!/usr/bin/python3
"""py_websockets_server.py -- the Python `websockets` (10.4, asyncio) peer for
bench/compare.sh: /echo and /chat on one port, the same work as wspulse's.
Run: /usr/bin/python3 py_websockets_server.py PORT

/chat sends with websockets.broadcast(), the library's fast path since 10.0:
it writes the frame to every open connection without awaiting each one.
"""
import asyncio
import datetime
import json
import sys

import websockets

# Compact JSON, as wspulse, Bun and Node write it (and as `wspulse bench`
# fanout looks for it: "message":"bench t=...").
def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


MAX_MESSAGE = 16 * 1024 * 1024 + 1024    # wspulse's --max-message, with room
members = set()


def timestamp():
    """Local time as 2025-08-30T10:30:40.123456, like wspulse."""
    return datetime.datetime.now().isoformat(timespec="microseconds")


async def echo(ws):
    async for message in ws:             # str for text, bytes for binary
        await ws.send(message)


def on_chat(ws, data):
    try:
        m = json.loads(data)
    except ValueError:
        return dumps({"type": "error", "message": "invalid JSON"})
    if not isinstance(m, dict) or m.get("type") != "message" \
            or not isinstance(m.get("message"), str):
        return dumps({"type": "error", "message": "unknown message type"})
    sender = m.get("sender")
    out = dumps({"type": "message", "message": m["message"],
                      "sender": sender if isinstance(sender, str) else "anonymous",
                      "timestamp": timestamp()})
    websockets.broadcast(members, out)
    return None


async def chat(ws):
    members.add(ws)
    try:
        await ws.send(dumps({
            "type": "system",
            "message": "Welcome! You are now connected to the broadcast server. "
                       f"{len(members)} client(s) online.",
            "timestamp": timestamp()}))
        async for data in ws:
            error = on_chat(ws, data)
            if error:
                await ws.send(error)
    finally:
        members.discard(ws)


async def handler(ws, path):
    if path == "/echo":
        await echo(ws)
    elif path == "/chat":
        await chat(ws)
    else:
        await ws.close(1008, "unknown path")


async def main(port):
    # No keepalive pings: under a fan-out backlog a pong waits behind the
    # queue and the library would close the publisher with 1011 (runs are
    # shorter than any sensible ping interval anyway).
    async with websockets.serve(handler, "127.0.0.1", port, max_size=MAX_MESSAGE,
                                compression=None, ping_interval=None, backlog=4096):
        print(f"python websockets peer listening on 127.0.0.1:{port}", file=sys.stderr)
        await asyncio.Future()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: py_websockets_server.py PORT")
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
