// The monitor page: the stream runs, a stalled server shows up as a gap,
// and the page stays connected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { setup, startServer, newPage, screenshot, numberOf, waitForState, waitForNumberAbove }
    from './helpers.mjs';

let env;
before(async () => { env = await setup('monitor'); });
after(async () => { await env?.close(); });

test('monitor: stream, a 400 ms server stall listed as a gap, still connected',
     { timeout: 60000 }, async () => {
    const page = await env.page();
    const response = await page.goto(env.url('/monitor'));
    assert.equal(response.status(), 200);
    assert.equal(await page.inputValue('#server'), new URL(env.server.url).host);

    await page.click('#start');
    await waitForNumberAbove(page, '#count', 5);
    await waitForState(page, '#state', 'connected');
    assert.match(await page.textContent('#latest'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);

    // The only fixed pause: the length of the stall we want to see.
    env.server.proc.kill('SIGSTOP');
    try {
        await sleep(400);
    } finally {
        env.server.proc.kill('SIGCONT');
    }
    await page.waitForFunction(() => [...document.querySelectorAll('#gaps li[data-ms]')]
        .some((li) => Number(li.dataset.ms) >= 350));
    assert.ok(await numberOf(page, '#gap-count') >= 1);
    const before = await numberOf(page, '#count');
    await waitForNumberAbove(page, '#count', before);
    assert.equal(await page.getAttribute('#state', 'data-state'), 'connected');
    assert.equal(await page.textContent('#state'), 'connected');
    assert.equal(await numberOf(page, '#reconnects'), 0);

    await screenshot(page, 'monitor');
    await page.click('#stop');
    await waitForState(page, '#state', 'disconnected');
    assert.deepEqual(env.errors, []);
});

test('monitor: reconnects by itself when the server comes back', { timeout: 60000 },
     async () => {
    const errors = [];
    const page = await newPage(env.browser, errors);
    let server = await startServer('monitor-first');
    const port = new URL(server.url).port;
    try {
        await page.goto(server.url + '/monitor');
        await page.click('#start');
        await waitForNumberAbove(page, '#count', 3);

        assert.deepEqual(await server.stop(), { code: 0, signal: null });
        await waitForState(page, '#state', 'reconnecting');
        await page.waitForFunction(() => /retrying in \d/.test(
            document.querySelector('[data-conn-detail]').textContent));
        server = await startServer('monitor-again', [], { port });
        await waitForState(page, '#state', 'connected');
        await waitForNumberAbove(page, '#reconnects', 0);
        await page.waitForFunction(() => /across a reconnect/.test(
            document.querySelector('#gaps').textContent));
        const before = await numberOf(page, '#count');
        await waitForNumberAbove(page, '#count', before + 3);
        await screenshot(page, 'monitor-reconnected');
    } finally {
        await server.stop();
    }
    // While the server was away, Chromium logs each refused connection.
    const unexpected = errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
    assert.deepEqual(unexpected, []);
});
