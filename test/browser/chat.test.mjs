// The chat page: two people in two browser contexts see each other's
// messages, the online count, and text that looks like HTML stays text.
// Bob is on a phone-sized screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, screenshot, waitForState } from './helpers.mjs';

let env;
before(async () => { env = await setup('chat'); });
after(async () => { await env?.close(); });

async function join(name, options) {
    const page = await env.page(options);
    const response = await page.goto(env.url('/chat'));
    assert.equal(response.status(), 200);
    await page.fill('#username', name);
    await page.click('#join');
    await waitForState(page, '#conn', 'connected');
    return page;
}

/* Wait until page shows a message from sender with exactly text. */
function waitForMessage(page, sender, text) {
    return page.waitForFunction(([s, t]) => [...document.querySelectorAll('#messages li')]
        .some((li) => li.querySelector('.sender')?.textContent === s + ':'
                      && li.querySelector('.text')?.textContent === t), [sender, text]);
}

test('chat: two users, each sees the other, online count 2, text stays text',
     { timeout: 60000 }, async () => {
    const alice = await join('Alice', { viewport: { width: 700, height: 700 } });
    const bob = await join('Bob', { viewport: { width: 390, height: 700 }, isMobile: true });
    for (const page of [alice, bob])
        await page.waitForFunction(() => document.querySelector('#online').textContent === '2');
    await alice.waitForFunction(
        () => /joined/.test(document.querySelector('#messages').textContent));

    await alice.fill('#message', 'Hi Bob, Alice here');
    await alice.press('#message', 'Enter');
    await bob.fill('#message', 'Hello Alice!');
    await bob.click('#send');
    for (const page of [alice, bob]) {
        await waitForMessage(page, 'Alice', 'Hi Bob, Alice here');
        await waitForMessage(page, 'Bob', 'Hello Alice!');
    }

    const tricky = '<b>html</b> & "quotes" \u{1F600} \u00e9\u4e2d <img src=x onerror=alert(1)>';
    await bob.fill('#message', tricky);
    await bob.click('#send');
    for (const page of [alice, bob]) {
        await waitForMessage(page, 'Bob', tricky);
        assert.equal(await page.locator('#messages b, #messages img').count(), 0);
    }

    const line = await alice.locator('#messages li', { hasText: 'Hello Alice!' }).textContent();
    assert.match(line, /^\[\d\d:\d\d:\d\d\] Bob: Hello Alice!$/);
    assert.equal(await alice.locator('#messages li.system').count() >= 2, true);
    assert.equal(await alice.locator('#messages li.mine').count(), 1);

    await screenshot(alice, 'chat-alice');
    await screenshot(bob, 'chat-bob');

    await bob.click('#leave');
    await alice.waitForFunction(() => document.querySelector('#online').textContent === '1');
    assert.deepEqual(env.errors, []);
});
