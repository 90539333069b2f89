// bun_redis.js -- the Bun + Redis peer for bench/redis_bench.py: a /chat room
// shared by every instance through Redis pub/sub, as Bun users write it.
// Run: bun bun_redis.js PORT [REDIS_URL]   (default redis://127.0.0.1:6379)
//
// Bun.serve (uWebSockets underneath) with Bun's built-in RedisClient, which
// has pub/sub since 1.3 (checked with 1.4.5): one connection publishes, a
// second one (a subscribed connection can do nothing else) subscribes.
// Each chat message received from a client is parsed, built into the room's
// JSON and PUBLISHed to the channel; every message that arrives on the
// channel, from this instance or any other, goes to the local members with
// Bun's own pub/sub (server.publish: encoded once, written by native code).
// No server-side id: loss is checked by the publisher's own sequence number
// in the text, which every instance relays unchanged. A client connected
// while the publish fails gets an error reply, not silence.
const port = Number(process.argv[2]);
const redisUrl = process.argv[3] || 'redis://127.0.0.1:6379';
if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: bun bun_redis.js PORT [REDIS_URL]');
    process.exit(2);
}

const MAX_MESSAGE = 16 * 1024 * 1024 + 1024;   // wspulse's --max-message, with room
const ROOM = 'chat';
const CHANNEL = 'bench:chat';
let online = 0;

const pub = new Bun.RedisClient(redisUrl);
const sub = new Bun.RedisClient(redisUrl);

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

function system(text) {
    return JSON.stringify({ type: 'system', message: text, timestamp: timestamp() });
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

// Subscribed before the port opens: no client can publish before we listen.
let server = null;
await sub.subscribe(CHANNEL, (message) => server.publish(ROOM, message));

server = Bun.serve({
    hostname: '127.0.0.1',
    port,
    fetch(req, srv) {
        const path = new URL(req.url).pathname;
        if (path === '/chat') {
            if (srv.upgrade(req))
                return undefined;
            return new Response('WebSocket upgrade expected', { status: 400 });
        }
        return new Response('not found', { status: 404 });
    },
    websocket: {
        maxPayloadLength: MAX_MESSAGE,
        perMessageDeflate: false,
        idleTimeout: 0,
        backpressureLimit: 64 * 1024 * 1024,
        closeOnBackpressureLimit: false,
        open(ws) {
            online++;
            ws.send(system('Welcome! You are now connected to the broadcast server. ' +
                `${online} client(s) online.`));
            ws.subscribe(ROOM);
        },
        message(ws, data) {
            onChat(ws, data);
        },
        close() {
            online--;
        },
    },
});
console.error(`bun redis peer listening on 127.0.0.1:${server.port}, broker ${redisUrl}`);
