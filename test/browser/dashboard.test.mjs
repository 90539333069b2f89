// The dashboard: the sensor is shared, so Start in one tab makes every tab
// plot, and Stop anywhere shows everywhere. Tab B uses the dark scheme.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, screenshot, numberOf, waitForState, waitForNumberAbove } from './helpers.mjs';

let env;
before(async () => { env = await setup('dashboard'); });
after(async () => { await env?.close(); });

async function open(options = {}) {
    const page = await env.page(options);
    const response = await page.goto(env.url('/dashboard'));
    assert.equal(response.status(), 200);
    await waitForState(page, '#state', 'stopped');
    return page;
}

const plotImage = (page) => page.evaluate(() => document.querySelector('#plot').toDataURL());

test('dashboard: Start in A plots in B, Stop in B shows in A', { timeout: 60000 },
     async () => {
    const a = await open();
    const b = await open({ colorScheme: 'dark' });
    const blank = await plotImage(b);

    await a.click('#start');
    for (const page of [a, b])
        await waitForState(page, '#state', 'running');
    await waitForNumberAbove(b, '#samples', 20);
    await b.waitForFunction(() => /°C$/.test(document.querySelector('#temperature').textContent));
    const plotted = await plotImage(b);
    assert.notEqual(plotted, blank, 'the plot in B changed');
    // It keeps moving while samples arrive.
    const seen = await numberOf(b, '#samples');
    await waitForNumberAbove(b, '#samples', seen + 5);
    await b.waitForFunction((before) => document.querySelector('#plot').toDataURL() !== before,
                            plotted);
    assert.ok(await numberOf(a, '#samples') > 0);
    assert.match(await b.textContent('#x-value'), /^-?\d+\.\d{3}$/);

    await screenshot(a, 'dashboard-a');
    await b.click('#stop');
    for (const page of [a, b])
        await waitForState(page, '#state', 'stopped');
    assert.equal(await a.textContent('#state'), 'stopped');
    await screenshot(b, 'dashboard-b');
    assert.deepEqual(env.errors, []);
});
