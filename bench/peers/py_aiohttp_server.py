#!/usr/bin/python3
"""py_aiohttp_server.py -- the Python `aiohttp` (3.8, asyncio) peer for
bench/compare.sh: /echo and /chat on one port, the same work as wspulse's.
Run: /usr/bin/python3 py_aiohttp_server.py PORT

/chat keeps a set of open WebSocketResponses and awaits send_str on each, as
aiohttp's documentation does; aiohttp has no broadcast helper.
"""
import datetime
import json
import sys

from aiohttp import WSMsgType, web

# Compact JSON, as wspulse, Bun and Node write it (and as `wspulse bench`
# fanout looks for it: "message":"bench t=...").
def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


MAX_MESSAGE = 16 * 1024 * 1024 + 1024    # wspulse's --max-message, with room
members = set()


def timestamp():
    """Local time as 2025-08-30T10:30:40.123456, like wspulse."""
    return datetime.datetime.now().isoformat(timespec="microseconds")


def new_socket():
    return web.WebSocketResponse(max_msg_size=MAX_MESSAGE, compress=False)


async def echo(request):
    ws = new_socket()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def on_chat(ws, data):
    try:
        m = json.loads(data)
    except ValueError:
        await ws.send_str(dumps({"type": "error", "message": "invalid JSON"}))
        return
    if not isinstance(m, dict) or m.get("type") != "message" \
            or not isinstance(m.get("message"), str):
        await ws.send_str(dumps({"type": "error", "message": "unknown message type"}))
        return
    sender = m.get("sender")
    out = dumps({"type": "message", "message": m["message"],
                      "sender": sender if isinstance(sender, str) else "anonymous",
                      "timestamp": timestamp()})
    for peer in list(members):           # a send may yield: members can change
        if not peer.closed:
            try:
                await peer.send_str(out)
            except ConnectionError:
                pass


async def chat(request):
    ws = new_socket()
    await ws.prepare(request)
    members.add(ws)
    try:
        await ws.send_str(dumps({
            "type": "system",
            "message": "Welcome! You are now connected to the broadcast server. "
                       f"{len(members)} client(s) online.",
            "timestamp": timestamp()}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await on_chat(ws, msg.data)
    finally:
        members.discard(ws)
    return ws


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: py_aiohttp_server.py PORT")
    app = web.Application()
    app.add_routes([web.get("/echo", echo), web.get("/chat", chat)])
    print(f"python aiohttp peer listening on 127.0.0.1:{sys.argv[1]}", file=sys.stderr)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
                print=None, backlog=4096)


if __name__ == "__main__":
    main()
