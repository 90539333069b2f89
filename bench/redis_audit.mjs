// redis_audit.mjs -- the auditor of bench/redis_bench.py: K more members of
// the /chat room, beside the N subscribers of `wspulse bench fanout`, that
// check every delivery by its ids, which the bench itself does not look at.
// Run: node bench/redis_audit.mjs URL K
//
// The bench's publisher sends "bench t=<monotonic ns> seq=<n>" as sender
// "bench-<pid>". For each auditor member and each message:
// - seq (the publisher's sequence number, relayed unchanged by every server):
//   a seq seen twice is a duplicate, one below the highest seen is out of
//   order, and at the end every seq below the published count that never
//   came is lost;
// - "id" (wspulse: the Redis stream id "<ms>-<seq>", or the in-memory
//   history's id of the same form; the peers send none): it must be well
//   formed and strictly increasing for each member, and every member must see
//   the same id for the same seq (one global order).
// Protocol on stdin/stdout (one JSON object a line): prints {"ready":true}
// once every member has its welcome, {"first_ns":T} (process.hrtime, the
// same CLOCK_MONOTONIC as the bench's and Python's clocks) when the first
// bench message arrives; reads "end N" (N: the published count from the
// bench's summary), waits until every member has seq N-1 or 15 s pass,
// then prints the summary and exits. With "end N FILE" it also writes the
// seq → id map of the last 2,000 seqs to FILE, for the check against the
// Redis stream (XRANGE).
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import readline from 'node:readline';

const require = createRequire(new URL('./peers/package.json', import.meta.url));
const WebSocket = require('ws');

const url = process.argv[2];
const K = Number(process.argv[3] || 10);
if (!url || !Number.isInteger(K) || K < 1) {
    console.error('usage: node bench/redis_audit.mjs URL K');
    process.exit(2);
}

const ID = /^(\d+)-(\d+)$/;
const TAG = 'bench t=';
const members = [];
const idOfSeq = new Map();      // seq -> the id the first member saw
let firstSeen = false;
let ready = 0;
const totals = { bad_seq: 0, bad_id: 0, id_not_increasing: 0, id_mismatch: 0,
    duplicates: 0, out_of_order: 0, with_id: 0, without_id: 0, closed_early: 0 };

function say(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

// "a-b" > "c-d" as stream ids: by ms, then by seq (both exact as Numbers).
function idAfter(a, b) {
    return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
}

// The fields are read with string searches, not JSON.parse: at 100,000
// messages a second a parse per message would make this auditor, not the
// server, the slow member (and the server rightly closes a slow member).
const FIELD_TYPE = '"type":"message"';
const FIELD_TAG = '"message":"' + TAG;
const FIELD_ID = '"id":"';

function onMessage(m, data) {
    if (!m.welcomed) {
        if (data.includes('"type":"system"') && data.includes('Welcome!')) {
            m.welcomed = true;
            if (++ready === K)
                say({ ready: true });
        }
        return;
    }
    const tag = data.indexOf(FIELD_TAG);
    if (tag < 0 || !data.includes(FIELD_TYPE) || !data.includes('"sender":"bench-'))
        return;                 // joins, leaves, other people
    const at = data.indexOf(' seq=', tag);
    const seq = at < 0 ? NaN : Number.parseInt(data.slice(at + 5, at + 25), 10);
    if (!Number.isInteger(seq)) {
        totals.bad_seq++;
        return;
    }
    if (!firstSeen) {
        firstSeen = true;
        say({ first_ns: process.hrtime.bigint().toString() });
    }
    if (m.seen.has(seq)) {
        totals.duplicates++;
        return;
    }
    if (seq < m.maxSeq)
        totals.out_of_order++;
    m.seen.add(seq);
    if (seq > m.maxSeq)
        m.maxSeq = seq;
    m.received++;
    const f = data.indexOf(FIELD_ID);
    if (f < 0) {
        totals.without_id++;
        return;
    }
    totals.with_id++;
    const idText = data.slice(f + FIELD_ID.length, data.indexOf('"', f + FIELD_ID.length));
    const p = ID.exec(idText);
    if (!p) {
        totals.bad_id++;
        return;
    }
    const id = [Number(p[1]), Number(p[2])];
    if (m.lastId && !idAfter(id, m.lastId))
        totals.id_not_increasing++;
    m.lastId = id;
    const known = idOfSeq.get(seq);
    if (known === undefined)
        idOfSeq.set(seq, idText);
    else if (known !== idText)
        totals.id_mismatch++;
}

for (let i = 0; i < K; i++) {
    const m = { ws: new WebSocket(url, { perMessageDeflate: false }), welcomed: false,
        seen: new Set(), maxSeq: -1, received: 0, lastId: null, open: false };
    m.ws.on('open', () => { m.open = true; });
    m.ws.on('message', (data) => onMessage(m, data.toString()));
    m.ws.on('close', () => { if (m.open) m.open = false; });
    m.ws.on('error', (e) => {
        console.error(`redis_audit: member ${i}: ${e.message}`);
        if (!m.welcomed)
            process.exit(1);
    });
    members.push(m);
}

function finish(published, file) {
    let lost = 0, received = 0;
    for (const m of members) {
        received += m.received;
        let have = 0;
        for (const s of m.seen)
            if (s < published)
                have++;
        lost += published - have;
        if (!m.open)
            totals.closed_early++;
    }
    if (file) {
        const map = {};
        for (const [seq, id] of idOfSeq)
            if (seq >= published - 2000)
                map[seq] = id;
        writeFileSync(file, JSON.stringify(map));
    }
    say({ members: K, published, expected: published * K, received, lost, ...totals,
        distinct_ids: idOfSeq.size });
    for (const m of members)
        m.ws.terminate();
    process.exit(0);
}

function drained(published) {
    return members.every((m) => !m.open || m.maxSeq >= published - 1);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
    const [word, n, file] = line.trim().split(/\s+/);
    if (word !== 'end')
        return;
    const published = Number(n);
    const deadline = Date.now() + 15000;
    const poll = () => {
        if (drained(published) || Date.now() > deadline)
            finish(published, file);
        else
            setTimeout(poll, 20);
    };
    poll();
});
