// The address box of the pages: people type the server's IP address, as
// they are used to. A bare host or IP keeps the page's own port (not 80,
// where nothing listens); host:port and a ws:// URL are taken as given.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, startServer, screenshot, waitForState } from './helpers.mjs';

let env;
before(async () => { env = await setup('address'); });
after(async () => { await env?.close(); });

const detail = (page) => page.textContent('[data-conn-detail]');

async function moveTo(page, typed) {
    await page.fill('#server', typed);
    await page.press('#server', 'Enter');
}

test('address: a bare IP or host on the dashboard keeps the page\'s port', { timeout: 60000 },
     async () => {
    const port = new URL(env.server.url).port;
    const page = await env.page();
    await page.goto(env.url('/dashboard'));
    await waitForState(page, '#conn', 'connected');
    for (const typed of ['127.0.0.1', 'localhost', ' 127.0.0.1/ ']) {
        await moveTo(page, typed);
        const host = typed.trim().replace(/\/$/, '');
        await page.waitForFunction((want) => document.querySelector('[data-conn-detail]')
            .textContent === want, `ws://${host}:${port}/sensor`);
        await waitForState(page, '#conn', 'connected');
        await waitForState(page, '#state', 'stopped');
    }
    await screenshot(page, 'address-bare-ip');
    await page.close();
    assert.deepEqual(env.errors, []);
});

test('address: host:port and a ws:// URL are taken as given', { timeout: 60000 },
     async () => {
    const other = await startServer('address-other');
    const otherPort = new URL(other.url).port;
    let page;
    try {
        page = await env.page();
        await page.goto(env.url('/echo'));
        await waitForState(page, '#conn', 'connected');
        await moveTo(page, `127.0.0.1:${otherPort}`);
        await page.waitForFunction((want) => document.querySelector('[data-conn-detail]')
            .textContent === want, `ws://127.0.0.1:${otherPort}/rpc`);
        await waitForState(page, '#conn', 'connected');
        await moveTo(page, `ws://localhost:${otherPort}`);
        await page.waitForFunction((want) => document.querySelector('[data-conn-detail]')
            .textContent === want, `ws://localhost:${otherPort}/rpc`);
        await waitForState(page, '#conn', 'connected');
        assert.equal(await detail(page), `ws://localhost:${otherPort}/rpc`);
    } finally {
        await page?.close();     // before the server goes: no reconnect attempt to log
        assert.deepEqual(await other.stop(), { code: 0, signal: null });
    }
    assert.deepEqual(env.errors, []);
});

test('address: the URLs made from what people type', { timeout: 30000 }, async () => {
    const port = new URL(env.server.url).port;
    const page = await env.page();
    await page.goto(env.url('/monitor'));
    const made = await page.evaluate(() => Object.fromEntries(
        ['10.1.2.3', '10.1.2.3:9000', 'example.org', 'example.org:81', '::1', '[::1]',
         '[::1]:9000', 'ws://10.1.2.3', 'ws://10.1.2.3:9000/', 'http://example.org',
         'wss://example.org', ''].map((a) => [a, wsp.wsUrl(a, '/ws')])));
    assert.deepEqual(made, {
        '10.1.2.3': `ws://10.1.2.3:${port}/ws`,
        '10.1.2.3:9000': 'ws://10.1.2.3:9000/ws',
        'example.org': `ws://example.org:${port}/ws`,
        'example.org:81': 'ws://example.org:81/ws',
        '::1': `ws://[::1]:${port}/ws`,
        '[::1]': `ws://[::1]:${port}/ws`,
        '[::1]:9000': 'ws://[::1]:9000/ws',
        'ws://10.1.2.3': 'ws://10.1.2.3/ws',
        'ws://10.1.2.3:9000/': 'ws://10.1.2.3:9000/ws',
        'http://example.org': 'ws://example.org/ws',
        'wss://example.org': 'wss://example.org/ws',
        '': `ws://127.0.0.1:${port}/ws`,
    });
    await page.close();
    assert.deepEqual(env.errors, []);
});
