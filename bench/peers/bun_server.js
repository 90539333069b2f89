// bun_server.js -- the Bun peer for bench/compare.sh: /echo and /chat on one
// port, the same work as wspulse's endpoints. Bun.serve's websocket is
// uWebSockets underneath. Run: bun bun_server.js PORT
//
// /chat uses Bun's built-in pub/sub (ws.subscribe + server.publish), which is
// Bun's documented fastest broadcast path: the frame is built once in native
// code and written to every subscriber without a JavaScript loop over sockets.
// server.publish (unlike ws.publish) includes the sender, as wspulse does.
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: bun bun_server.js PORT');
    process.exit(2);
}

const MAX_MESSAGE = 16 * 1024 * 1024 + 1024;   // wspulse's --max-message, with room
const ROOM = 'chat';
let online = 0;

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
    server.publish(ROOM, out);
}

const server = Bun.serve({
    hostname: '127.0.0.1',
    port,
    fetch(req, srv) {
        const path = new URL(req.url).pathname;
        if (path === '/echo' || path === '/chat') {
            if (srv.upgrade(req, { data: { chat: path === '/chat' } }))
                return undefined;
            return new Response('WebSocket upgrade expected', { status: 400 });
        }
        return new Response('not found', { status: 404 });
    },
    websocket: {
        maxPayloadLength: MAX_MESSAGE,
        perMessageDeflate: false,
        idleTimeout: 0,                  // no idle close: the conns workload holds sockets
        backpressureLimit: 64 * 1024 * 1024,
        closeOnBackpressureLimit: false,
        open(ws) {
            if (!ws.data.chat)
                return;
            online++;
            ws.send(system('Welcome! You are now connected to the broadcast server. ' +
                `${online} client(s) online.`));
            ws.subscribe(ROOM);
        },
        message(ws, data) {
            if (ws.data.chat)
                onChat(ws, data);
            else
                ws.send(data);           // string → text frame, Buffer → binary frame
        },
        close(ws) {
            if (ws.data.chat)
                online--;
        },
    },
});
console.error(`bun peer listening on 127.0.0.1:${server.port}`);
