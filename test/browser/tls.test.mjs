// Over https the pages talk wss:// by themselves (the TLS build, with a
// throwaway self-signed certificate that this browser context accepts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, screenshot, waitForState, waitForNumberAbove, TLS_BINARY } from './helpers.mjs';

let env, dir;

before(async () => {
    // A missing TLS build fails the test loudly; it is never skipped.
    if (!existsSync(TLS_BINARY))
        throw new Error(`${TLS_BINARY} is missing: make browser builds it (make tls-build)`);
    dir = mkdtempSync(join(tmpdir(), 'wspulse-tls-'));
    const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
        'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
        { stdio: 'ignore' });
    env = await setup('tls', ['--tls-cert', cert, '--tls-key', key], { binary: TLS_BINARY });
});
after(async () => {
    await env?.close();
    if (dir)
        rmSync(dir, { recursive: true, force: true });
});

test('tls: a page loaded over https streams over wss', { timeout: 60000 },
     async () => {
    assert.match(env.server.url, /^https:/);
    const page = await env.page({ ignoreHTTPSErrors: true });
    const response = await page.goto(env.url('/monitor'));
    assert.equal(response.status(), 200);
    await page.click('#start');
    await waitForNumberAbove(page, '#count', 3);
    await waitForState(page, '#state', 'connected');
    assert.match(await page.textContent('[data-conn-detail]'), /^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    await screenshot(page, 'tls-monitor');
    assert.deepEqual(env.errors, []);
});
