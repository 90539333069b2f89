// The chat page resumes after a reconnect (README "Resume"): the page talks
// to the server through a relay the test cuts (relay.mjs); a writer (a
// WebSocket in another page, straight to the server) talks meanwhile; once
// the relay is back the page shows every message exactly once, in order,
// and "resumed, N missed messages replayed" -- or, when the server's
// history (--history 5) no longer holds them all, "some messages could not
// be recovered". The last id is kept in the page's memory, never in storage
// that other tabs share.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, startServer, screenshot, waitForState } from './helpers.mjs';
import { Relay } from './relay.mjs';

let env, writer;
before(async () => {
    env = await setup('chat-resume');
    writer = await env.page();         /* one writer page for every test and server */
    await writer.goto(env.url('/'));
});
after(async () => { await env?.close(); });

/* A reader page on server (a startServer() result) through a new relay. */
async function reader(server) {
    const relay = await new Relay(Number(new URL(server.url).port)).listen();
    const page = await env.page();
    await page.goto(server.url + '/chat');
    await page.fill('#server', `127.0.0.1:${relay.port}`);
    await page.fill('#username', 'Reader');
    await page.click('#join');
    await waitForState(page, '#conn', 'connected');
    await page.waitForFunction(() => /Welcome!/.test(document.querySelector('#messages').textContent));
    return { page, relay };
}

/* Send texts to the room from a WebSocket of writer (a page) and wait until
 * the room relayed each one; their ids, in order. */
function say(writer, server, texts) {
    const url = server.url.replace(/^http/, 'ws') + '/chat';
    return writer.evaluate(([url, texts]) => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const ids = new Map();
        const timer = setTimeout(() => reject(new Error(`${texts.length - ids.size} not relayed`)),
                                 10000);
        ws.onopen = () => {
            for (const message of texts)
                ws.send(JSON.stringify({ type: 'message', message, sender: 'Writer' }));
        };
        ws.onmessage = (ev) => {
            const msg = JSON.parse(ev.data);
            if (msg.type !== 'message' || msg.sender !== 'Writer' || !texts.includes(msg.message))
                return;
            ids.set(msg.message, msg.id);
            if (ids.size === texts.length) {
                clearTimeout(timer);
                ws.close();
                resolve(texts.map((t) => ids.get(t)));
            }
        };
        ws.onerror = () => reject(new Error('the writer could not connect'));
    }), [url, texts]);
}

/* The list as text: the writer's messages and the page's own notices. */
function shown(page) {
    return page.evaluate(() => [...document.querySelectorAll('#messages li')]
        .filter((li) => li.classList.contains('notice')
                        || li.querySelector('.sender')?.textContent === 'Writer:')
        .map((li) => (li.classList.contains('notice') ? '* ' : '')
                     + li.querySelector('.text').textContent));
}

function waitForText(page, text) {
    return page.waitForFunction((t) => [...document.querySelectorAll('#messages .text')]
        .some((s) => s.textContent === t), text);
}

async function cutAndSay(page, relay, writer, server, texts) {
    relay.cut();
    await waitForState(page, '#conn', 'reconnecting');
    await say(writer, server, texts);
    relay.restore();
    await waitForState(page, '#conn', 'connected');
}

test('chat resume: every missed message once, in order, then "resumed"', { timeout: 120000 },
     async () => {
    const { page, relay } = await reader(env.server);
    try {
        const [first] = await say(writer, env.server, ['before the cut']);
        await waitForText(page, 'before the cut');

        const missed = Array.from({ length: 10 }, (_, i) => `missed ${i}`);
        await cutAndSay(page, relay, writer, env.server, missed);
        await waitForText(page, 'resumed, 10 missed messages replayed');
        await say(writer, env.server, ['after the resume']);
        await waitForText(page, 'after the resume');
        assert.deepEqual(await shown(page), ['before the cut', ...missed,
                                             '* resumed, 10 missed messages replayed',
                                             'after the resume']);
        assert.ok(relay.requests.includes(`GET /chat?since=${first} HTTP/1.1`), relay.requests);
        assert.equal(relay.requests[0], 'GET /chat HTTP/1.1');

        // A second cut resumes from the newest message shown.
        const [last] = await say(writer, env.server, ['one more']);
        await waitForText(page, 'one more');
        await cutAndSay(page, relay, writer, env.server, ['missed again']);
        await page.waitForFunction(() => document.querySelectorAll('#messages li.notice').length === 2);
        assert.deepEqual((await shown(page)).slice(-3),
                         ['one more', 'missed again', '* resumed, 1 missed messages replayed']);
        assert.ok(relay.requests.includes(`GET /chat?since=${last} HTTP/1.1`), relay.requests);

        // The place in the room is this tab's alone: nothing in storage holds an id.
        const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage },
                                                                 { ...sessionStorage }]));
        assert.doesNotMatch(stored, /\d+-\d+/);
        await screenshot(page, 'chat-resumed');
        assert.deepEqual(env.errors, []);
    } finally {
        await page.context().close();        /* no retries into a closed relay */
        await relay.close();
    }
});

test('chat resume: more missed than --history holds says some could not be recovered',
     { timeout: 120000 }, async () => {
    const server = await startServer('chat-resume-history', ['--history', '5']);
    const { page, relay } = await reader(server);
    try {
        await say(writer, server, ['before the cut']);
        await waitForText(page, 'before the cut');
        const missed = Array.from({ length: 20 }, (_, i) => `missed ${i}`);
        await cutAndSay(page, relay, writer, server, missed);
        const line = "some messages could not be recovered (the server's history no longer "
                     + 'holds them); 5 missed messages replayed';
        await waitForText(page, line);
        assert.deepEqual(await shown(page), ['before the cut', ...missed.slice(-5), '* ' + line]);
        assert.equal(await page.locator('#messages li.notice.lost').count(), 1);
        await screenshot(page, 'chat-not-recovered');
        assert.deepEqual(env.errors, []);
    } finally {
        await page.context().close();
        await relay.close();
        assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }
});

test('chat resume: a page that has shown no message yet resumes too', { timeout: 120000 },
     async () => {
    await say(writer, env.server, ['before the reader came']);
    const { page, relay } = await reader(env.server);
    try {
        // The page asks the room for its last id after the welcome (a quiet
        // get_stats); the next connection will ask from there.
        await page.waitForFunction(() => /since=\d+-\d+$/.test(conn.path));
        await cutAndSay(page, relay, writer, env.server, ['missed 1', 'missed 2']);
        await waitForText(page, 'resumed, 2 missed messages replayed');
        assert.deepEqual(await shown(page), ['missed 1', 'missed 2',
                                             '* resumed, 2 missed messages replayed']);
        assert.deepEqual(env.errors, []);
    } finally {
        await page.context().close();
        await relay.close();
    }
});
