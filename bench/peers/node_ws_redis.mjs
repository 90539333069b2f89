// node_ws_redis.mjs -- the Node.js `ws` + `ioredis` peer for
// bench/redis_bench.py: a /chat room shared by every instance through Redis
// pub/sub, as ws users write it (the "scaling ws with Redis" recipe).
// Run: node node_ws_redis.mjs PORT [REDIS_URL]   (default redis://127.0.0.1:6379)
//
// Two ioredis connections: one publishes, one subscribes (a subscribed
// connection can do nothing else). Each chat message received from a client
// is parsed, built into the room's JSON and PUBLISHed to the channel; every
// message that arrives on the channel, from this instance or any other, is
// sent to the local members by a loop over a Set, encoded to a Buffer once.
// No server-side id: loss is checked by the publisher's own sequence number
// in the text, which every instance relays unchanged. When the publish
// fails, the sender gets an error reply, not silence.
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import Redis from 'ioredis';

const port = Number(process.argv[2]);
const redisUrl = process.argv[3] || 'redis://127.0.0.1:6379';
if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: node node_ws_redis.mjs PORT [REDIS_URL]');
    process.exit(2);
}

const MAX_MESSAGE = 16 * 1024 * 1024 + 1024;   // wspulse's --max-message, with room
const CHANNEL = 'bench:chat';
const members = new Set();

const pub = new Redis(redisUrl);
const sub = new Redis(redisUrl);

function pad(n, width) {
    return String(n).padStart(width, '0');
}

// Local time as 2025-08-30T10:30:40.123456, like wspulse and Python's isoformat.
function timestamp() {
    const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    const d = new Date(Math.floor(us / 1000));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)}` +
        `T${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}` +
        `.${pad(us % 1000000, 6)}`;
}

function broadcast(json) {
    const data = Buffer.from(json);
    for (const peer of members)
        if (peer.readyState === WebSocket.OPEN)
            peer.send(data, { binary: false });
}

function onChat(ws, data) {
    let m;
    try {
        m = JSON.parse(data);
    } catch {
        ws.send(JSON.stringify({ type: 'error', message: 'invalid JSON' }));
        return;
    }
    if (m === null || typeof m !== 'object' || m.type !== 'message' ||
        typeof m.message !== 'string') {
        ws.send(JSON.stringify({ type: 'error', message: 'unknown message type' }));
        return;
    }
    const out = JSON.stringify({
        type: 'message', message: m.message,
        sender: typeof m.sender === 'string' ? m.sender : 'anonymous',
        timestamp: timestamp(),
    });
    pub.publish(CHANNEL, out).catch(() => {
        ws.send(JSON.stringify({ type: 'error', message: 'broker unavailable: message not delivered' }));
    });
}

sub.on('message', (channel, message) => broadcast(message));
// Subscribed before the port opens: no client can publish before we listen.
await sub.subscribe(CHANNEL);

const server = http.createServer((req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
});
const wss = new WebSocketServer({
    server,
    path: '/chat',
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE,
    clientTracking: false,               // the room keeps its own Set
});

wss.on('connection', (ws) => {
    members.add(ws);
    ws.send(JSON.stringify({
        type: 'system',
        message: 'Welcome! You are now connected to the broadcast server. ' +
            `${members.size} client(s) online.`,
        timestamp: timestamp(),
    }));
    ws.on('message', (data) => onChat(ws, data));
    ws.on('close', () => members.delete(ws));
    ws.on('error', () => {});            // a reset peer: the close event cleans up
});

// The same accept backlog as wspulse (4096).
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () =>
    console.error(`node ws redis peer listening on 127.0.0.1:${port}, broker ${redisUrl}`));
