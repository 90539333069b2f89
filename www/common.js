/* common.js -- what every wspulse page shares: the editable server address,
 * the WebSocket URL made from it, and a connection that comes back by
 * itself after a drop (capped exponential backoff plus jitter) and shows its
 * state in the page's badge. A plain script, no build step: it defines
 * the one global `wsp`; each page's own script uses it. */
'use strict';

const wsp = (() => {
    const RETRY_FIRST_MS = 250;  /* the first retry waits 125..250 ms */
    const RETRY_CAP_MS = 10000;  /* no retry waits longer than this */
    const STABLE_MS = 5000;      /* a connection this old resets the backoff */

    const $ = (id) => document.getElementById(id);
    const connections = [];
    let serverField = null;

    /* People type a bare host or IP ("type the server's IP address"): it
     * keeps this page's port, which is the server's, where the browser
     * would pick 80 and find nothing. host:port is taken as given; a bare
     * IPv6 address gets its brackets. */
    function withPagePort(rest) {
        const slash = rest.indexOf('/');
        let host = slash < 0 ? rest : rest.slice(0, slash);
        const tail = slash < 0 ? '' : rest.slice(slash);
        if (!host.startsWith('[') && host.split(':').length > 2)
            host = `[${host}]`;
        const hasPort = /^(\[[^\]]*\]|[^[:]*):\d+$/.test(host);
        return host + (hasPort || !location.port ? '' : `:${location.port}`) + tail;
    }

    /* The ws:// or wss:// URL of path on the server the user typed: a host
     * or IP (on this page's port), host:port, or a URL with a scheme (ws,
     * wss, http, https) taken as given; blank is this page's own host.
     * Without a scheme the page's own decides, so a page loaded over https
     * talks wss. A ?token= in the page's address is passed on, for servers
     * started with --token. Throws on a bad address. */
    function wsUrl(address, path) {
        let rest = address.trim() || location.host;
        let secure = location.protocol === 'https:';
        const scheme = /^([a-z]+):\/\/(.*)$/i.exec(rest);
        if (scheme) {
            secure = /^(wss|https)$/i.test(scheme[1]);
            rest = scheme[2];
        } else {
            rest = withPagePort(rest);
        }
        const url = new URL((secure ? 'wss://' : 'ws://') + rest.replace(/\/+$/, '') + path);
        const token = new URLSearchParams(location.search).get('token');
        if (token)
            url.searchParams.set('token', token);
        return url.href;
    }

    function closeText(ev) {
        if (ev.code === 1006)
            return 'connection lost';
        return `closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`;
    }

    /* One WebSocket to one path that reconnects after every drop until
     * stop(). handlers: open(), message(data), close(event): close runs
     * whenever a socket goes away, with null if stop() closed it. The state
     * shows in the page's [data-conn] element (data-state: connecting,
     * connected, reconnecting or disconnected), the URL or why it closed
     * in [data-conn-detail]. */
    class Connection {
        constructor(path, handlers = {}) {
            this.path = path;
            this.handlers = handlers;
            this.ws = null;
            this.wanted = false;
            this.failures = 0;       /* drops since the last stable connection */
            this.timer = null;
            this.badge = document.querySelector('[data-conn]');
            this.detail = document.querySelector('[data-conn-detail]');
            connections.push(this);
            server();
            this.show('disconnected', '');
        }

        get open() {
            return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
        }

        start() {
            if (this.wanted)
                return;
            this.wanted = true;
            this.failures = 0;
            this.connect();
        }

        /* Close for good (1000), until the next start(). */
        stop(why = '') {
            this.wanted = false;
            clearTimeout(this.timer);
            this.timer = null;
            const ws = this.ws;
            this.ws = null;
            this.show('disconnected', why);
            if (ws) {
                ws.close(1000);
                if (this.handlers.close)
                    this.handlers.close(null);
            }
        }

        /* The address changed: go there now if we are meant to be connected. */
        restart() {
            if (!this.wanted)
                return;
            this.stop();
            this.start();
        }

        send(data) {
            if (!this.open)
                return false;
            this.ws.send(data);
            return true;
        }

        /* The page is back online: retry now instead of at the next backoff. */
        retryNow() {
            if (this.wanted && this.timer !== null) {
                clearTimeout(this.timer);
                this.connect();
            }
        }

        connect() {
            this.timer = null;
            let url, ws;
            try {
                url = wsUrl(server() ? serverField.value : '', this.path);
                ws = new WebSocket(url);
            } catch (err) {
                this.wanted = false;
                this.show('disconnected', `not a usable server address: ${err.message}`);
                return;
            }
            let openedAt = 0;
            this.ws = ws;
            this.show(this.failures ? 'reconnecting' : 'connecting', url);
            ws.onopen = () => {
                openedAt = performance.now();
                this.show('connected', url);
                if (this.handlers.open)
                    this.handlers.open();
            };
            ws.onmessage = (ev) => {
                if (this.handlers.message)
                    this.handlers.message(ev.data);
            };
            ws.onclose = (ev) => {
                if (this.ws !== ws)
                    return;              /* stop() closed it, or a newer socket */
                this.ws = null;
                if (openedAt && performance.now() - openedAt >= STABLE_MS)
                    this.failures = 0;
                if (this.handlers.close)
                    this.handlers.close(ev);
                this.scheduleRetry(closeText(ev));
            };
        }

        /* Exponential from RETRY_FIRST_MS, capped, and "equal jitter": a
         * random wait between half the step and the whole of it, so many
         * pages dropped at once do not all come back in the same instant. */
        scheduleRetry(why) {
            const step = Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** this.failures);
            const delay = step / 2 + Math.random() * step / 2;
            this.failures++;
            this.show('reconnecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
            this.timer = setTimeout(() => this.connect(), delay);
        }

        show(state, detail) {
            if (this.badge) {
                this.badge.dataset.state = state;
                this.badge.textContent = state;
            }
            if (this.detail)
                this.detail.textContent = detail;
        }
    }

    /* Local time as HH:MM:SS. */
    function clock(date = new Date()) {
        return date.toTimeString().slice(0, 8);
    }

    /* 12345 -> "12,345" */
    function count(n) {
        return Math.round(n).toLocaleString('en-US');
    }

    /* A new element with a class and text (always as text, never HTML). */
    function el(tag, className, text) {
        const e = document.createElement(tag);
        if (className)
            e.className = className;
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    /* The page's #server field, set up on first use: it defaults to the
     * page's own host, and changing it moves every live connection there. */
    function server() {
        if (serverField || !$('server'))
            return serverField;
        serverField = $('server');
        serverField.placeholder = location.host;
        if (!serverField.value)
            serverField.value = location.host;
        serverField.addEventListener('change', () => {
            for (const c of connections)
                c.restart();
        });
        return serverField;
    }
    document.addEventListener('DOMContentLoaded', server);
    window.addEventListener('online', () => {
        for (const c of connections)
            c.retryNow();
    });

    return { $, Connection, wsUrl, clock, count, el };
})();
