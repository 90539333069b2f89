// The hub: every link leads to a page that loads (200) without console
// errors; each tool page also gets a phone-width screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, screenshot } from './helpers.mjs';

let env;
before(async () => { env = await setup('hub'); });
after(async () => { await env?.close(); });

test('hub: every link loads with 200 and no console errors', { timeout: 60000 },
     async () => {
    const page = await env.page();
    const response = await page.goto(env.url('/'));
    assert.equal(response.status(), 200);
    await screenshot(page, 'hub');
    const links = await page.$$eval('a[href]', (as) => as.map((a) => a.href));
    const tools = ['monitor', 'chat', 'echo', 'dashboard'].map((p) => env.url('/' + p));
    for (const tool of tools)
        assert.ok(links.includes(tool), `the hub links to ${tool}`);

    const visit = await env.page();
    for (const link of new Set(links)) {
        const res = await visit.goto(link);
        assert.equal(res.status(), 200, link);
        // A tool that connects by itself must get there without errors too.
        await visit.waitForFunction(() => !document.querySelector(
            '[data-conn][data-state="connecting"], [data-conn][data-state="reconnecting"]'));
    }

    // The tools at phone width: nothing wider than the screen.
    const phone = await env.page({ viewport: { width: 390, height: 844 }, isMobile: true,
                                   deviceScaleFactor: 2 });
    await phone.goto(env.url('/'));
    await screenshot(phone, 'phone-hub');
    for (const tool of ['monitor', 'chat', 'echo', 'dashboard']) {
        await phone.goto(env.url('/' + tool));
        const overflow = await phone.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${tool} is ${overflow} px wider than a phone screen`);
        await screenshot(phone, `phone-${tool}`);
    }
    assert.deepEqual(env.errors, []);
});
