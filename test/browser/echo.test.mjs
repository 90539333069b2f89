// The echo page against /rpc: one message, then 10,000 with every reply
// matched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, startServer, screenshot, numberOf, waitForState } from './helpers.mjs';

let env;
before(async () => { env = await setup('echo'); });
after(async () => { await env?.close(); });

test('echo: one message, then 10,000 sent, received and matched, none lost',
     { timeout: 90000 }, async () => {
    const page = await env.page();
    const response = await page.goto(env.url('/echo'));
    assert.equal(response.status(), 200);
    await waitForState(page, '#conn', 'connected');

    await page.fill('#text', 'ping <one>');
    await page.click('#send-one');
    await page.waitForFunction(
        () => /^ping <one> - \d+$/.test(document.querySelector('#reply').textContent));

    await page.click('#start-10k');
    await page.waitForFunction(
        () => !['idle', 'running'].includes(document.querySelector('#status').textContent),
        null, { timeout: 45000 });
    assert.equal(await page.textContent('#status'), 'done');
    assert.equal(await numberOf(page, '#sent'), 10000);
    assert.equal(await numberOf(page, '#received'), 10000);
    assert.equal(await numberOf(page, '#lost'), 0);
    assert.equal(await numberOf(page, '#bad'), 0);
    assert.match(await page.textContent('#elapsed'), /^\d+(\.\d+)? m?s$/);

    await screenshot(page, 'echo');
    assert.deepEqual(env.errors, []);
});

test('echo: the server field moves the connection to another server', { timeout: 60000 },
     async () => {
    const other = await startServer('echo-other');
    let page;
    try {
        page = await env.page();
        await page.goto(env.url('/echo'));
        await waitForState(page, '#conn', 'connected');
        const host = new URL(other.url).host;
        await page.fill('#server', host);
        await page.press('#server', 'Enter');
        await page.waitForFunction((h) => document.querySelector('[data-conn-detail]')
            .textContent === `ws://${h}/rpc`, host);
        await waitForState(page, '#conn', 'connected');
        await page.click('#send-one');
        await page.waitForFunction(
            () => /^Hello, wspulse - \d+$/.test(document.querySelector('#reply').textContent));
        assert.equal(await page.inputValue('#server'), host);
    } finally {
        await page?.close();     // before the server goes: no reconnect attempt to log
        assert.deepEqual(await other.stop(), { code: 0, signal: null });
    }
    assert.deepEqual(env.errors, []);
});
