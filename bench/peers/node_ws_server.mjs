// node_ws_server.mjs -- the Node.js `ws` peer for bench/compare.sh: /echo and
// /chat on one port, the same work as wspulse's endpoints.
// Run: node node_ws_server.mjs PORT
//
// /chat keeps a Set of open sockets and sends to each (ws's own broadcast
// idiom); the JSON is encoded to a Buffer once so each send only frames it.
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: node node_ws_server.mjs PORT');
    process.exit(2);
}

const MAX_MESSAGE = 16 * 1024 * 1024 + 1024;   // wspulse's --max-message, with room
const members = new Set();

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
    broadcast(JSON.stringify({
        type: 'message', message: m.message,
        sender: typeof m.sender === 'string' ? m.sender : 'anonymous',
        timestamp: timestamp(),
    }));
}

const server = http.createServer((req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
});
const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE,
    clientTracking: false,               // /chat keeps its own Set
});

wss.on('connection', (ws, req) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/echo') {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    } else if (path === '/chat') {
        members.add(ws);
        ws.send(JSON.stringify({
            type: 'system',
            message: 'Welcome! You are now connected to the broadcast server. ' +
                `${members.size} client(s) online.`,
            timestamp: timestamp(),
        }));
        ws.on('message', (data) => onChat(ws, data));
        ws.on('close', () => members.delete(ws));
    } else {
        ws.close(1008, 'unknown path');
    }
    ws.on('error', () => {});            // a reset peer: the close event cleans up
});

// The same accept backlog as wspulse (4096), for the handshake and conns bursts.
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () =>
    console.error(`node ws peer listening on 127.0.0.1:${port}`));
