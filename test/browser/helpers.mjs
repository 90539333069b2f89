// helpers.mjs -- what every browser test shares: the real wspulse binary on
// a free port, Debian's Chromium driven by playwright-core with the flags
// from RECIPES.md, a watch on console errors, and screenshots under
// test/out/screenshots/.
//
// The binary is $WSPULSE (default ./wspulse), relative to the repository
// root; $WSPULSE_WRAPPER, if set, is a command prefix (e.g. valgrind);
// $WSPULSE_WWW, if set, a folder to serve the pages from instead of the
// copy built into the binary (--www: edit a page, run the tests again).

import { spawn } from 'node:child_process';
import { mkdirSync, createWriteStream, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUT = join(ROOT, 'test', 'out');
export const BINARY = resolve(ROOT, process.env.WSPULSE || 'wspulse');
export const TLS_BINARY = resolve(ROOT, process.env.WSPULSE_TLS || 'build/tls/wspulse');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];

/* Start the server (on a free port unless port is given) and resolve once
 * it prints its URL: { url, proc, stop() }. Its stderr goes to
 * test/out/browser-NAME.log. */
export function startServer(name, args = [], options = {}) {
    const { binary = BINARY, port = 0, timeoutMs = 10000 } = options;
    if (!existsSync(binary))
        throw new Error(`${binary} does not exist: run make first`);
    mkdirSync(OUT, { recursive: true });
    const wrapper = (process.env.WSPULSE_WRAPPER || '').split(' ').filter(Boolean);
    const pages = process.env.WSPULSE_WWW;
    const www = pages ? ['--www', resolve(ROOT, pages)] : [];
    const argv = [...wrapper, binary, '--port', String(port), ...www, ...args];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stderr.pipe(createWriteStream(join(OUT, `browser-${name}.log`)));
    const exited = new Promise((done) => {
        proc.once('exit', (code, signal) => done({ code, signal }));
    });

    return new Promise((resolveStart, rejectStart) => {
        let seen = '';
        const fail = (why) => {
            clearTimeout(timer);
            proc.kill('SIGKILL');
            rejectStart(new Error(`${name}: server did not start: ${why}; stdout: ${seen}`));
        };
        const timer = setTimeout(() => fail(`no URL within ${timeoutMs} ms`), timeoutMs);
        const early = (code) => fail(`exited with ${code}`);
        proc.once('exit', early);
        proc.stdout.on('data', (chunk) => {
            seen += chunk;
            const m = /listening on (https?:\/\/[^\s/]+)\/?\s*\n/.exec(seen);
            if (!m)
                return;
            clearTimeout(timer);
            proc.removeListener('exit', early);
            proc.stdout.resume();
            resolveStart({
                url: m[1],
                proc,
                /* SIGTERM (after SIGCONT, in case a test stopped it); SIGKILL
                 * if it has not gone within a few seconds. */
                async stop() {
                    if (proc.exitCode !== null || proc.signalCode !== null)
                        return exited;
                    proc.kill('SIGCONT');
                    proc.kill('SIGTERM');
                    const late = setTimeout(() => proc.kill('SIGKILL'), 8000);
                    const status = await exited;
                    clearTimeout(late);
                    proc.stdout.destroy();   /* a wrapper's orphan must not keep */
                    proc.stderr.destroy();   /* this test process alive */
                    return status;
                },
            });
        });
    });
}

export async function launchBrowser() {
    return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/* Record every console error and uncaught page error of page; the test
 * asserts the list is empty at the end. */
export function watchErrors(page, errors = []) {
    const where = () => page.url().replace(/^https?:\/\/[^/]+/, '');
    page.on('console', (msg) => {
        if (msg.type() === 'error')
            errors.push(`${where()}: console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`${where()}: page error: ${err.message}`));
    return errors;
}

/* A new page in its own browser context (its own storage), watched. */
export async function newPage(browser, errors, options = {}) {
    const viewport = { width: 1000, height: 800 };
    const context = await browser.newContext({ viewport, ...options });
    const page = await context.newPage();
    watchErrors(page, errors);
    return page;
}

export async function screenshot(page, name, options = {}) {
    const dir = join(OUT, 'screenshots');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name}.png`);
    await page.screenshot({ path, fullPage: true, ...options });
    return path;
}

/* Text of a selector as a number ("10,000" -> 10000). */
export async function numberOf(page, selector) {
    const text = await page.textContent(selector);
    return Number(text.replace(/[^0-9.-]/g, ''));
}

/* Wait until the data-state of selector is state. */
export function waitForState(page, selector, state, options) {
    return page.waitForFunction(
        ([sel, want]) => document.querySelector(sel)?.dataset.state === want,
        [selector, state], options);
}

/* Wait until the number shown in selector is above n. */
export function waitForNumberAbove(page, selector, n, options) {
    return page.waitForFunction(([sel, above]) => Number(
        document.querySelector(sel).textContent.replace(/[^0-9.-]/g, '')) > above,
        [selector, n], options);
}

/* Everything a test file needs, set up once: a server and a browser, both
 * closed by close(). */
export async function setup(name, args = [], options = {}) {
    const server = await startServer(name, args, options);
    let browser;
    try {
        browser = await launchBrowser();
    } catch (err) {
        await server.stop();
        throw err;
    }
    const errors = [];
    return {
        server,
        browser,
        errors,
        url: (path) => server.url + path,
        page: (opts) => newPage(browser, errors, opts),
        /* Close the browser, stop the server: a server that does not exit
         * cleanly (0) on SIGTERM fails the test file -- a crash, or a
         * sanitizer's report, shows up here. */
        async close() {
            await browser.close();
            const { code, signal } = await server.stop();
            if (code !== 0)
                throw new Error(`${name}: the server exited with ${code ?? signal} on SIGTERM; `
                                + `see test/out/browser-${name}.log`);
        },
    };
}
