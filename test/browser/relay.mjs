// relay.mjs -- a TCP relay that a test can cut: the network path between a
// page and the server, without stopping either. 127.0.0.1:relay.port
// forwards to 127.0.0.1:upstream. cut() ends every connection through it
// and holds each new one, unanswered, until restore() forwards it: a path
// that is down, then back, without making the page's backoff climb while
// the test works.
// `requests` holds the first line of every request that went through
// ("GET /chat?since=1-0 HTTP/1.1"): what the page asked for when it came
// back. (test/clients/relay.py is the same for the Python tests.)
import net from 'node:net';

export class Relay {
    constructor(upstream) {
        this.upstream = upstream;
        this.up = true;
        this.sockets = new Set();
        this.requests = [];
        this.held = [];
    }

    async listen() {
        this.server = net.createServer((client) => this.accept(client));
        await new Promise((done) => this.server.listen(0, '127.0.0.1', done));
        this.port = this.server.address().port;
        return this;
    }

    accept(client) {
        if (!this.up) {
            client.pause();          /* its request waits in the kernel */
            client.on('error', () => {});
            this.held.push(client);
            return;
        }
        this.forward(client);
    }

    forward(client) {
        if (client.destroyed)
            return;                  /* the page gave up while it was held */
        const server = net.connect(this.upstream, '127.0.0.1');
        const pair = [client, server];
        const end = () => {
            for (const s of pair) {
                s.destroy();
                this.sockets.delete(s);
            }
        };
        let head = '';
        client.on('data', (data) => {
            if (head !== null) {
                head += data.toString('latin1');
                const eol = head.indexOf('\r\n');
                if (eol >= 0) {
                    this.requests.push(head.slice(0, eol));
                    head = null;
                }
            }
            server.write(data);
        });
        server.on('data', (data) => client.write(data));
        client.resume();
        for (const s of pair) {
            this.sockets.add(s);
            s.on('error', end);
            s.on('close', end);
        }
    }

    cut() {
        this.up = false;
        for (const s of this.sockets)
            s.destroy();
        this.sockets.clear();
    }

    restore() {
        this.up = true;
        for (const client of this.held.splice(0))
            this.forward(client);
    }

    async close() {
        this.cut();
        for (const client of this.held.splice(0))
            client.destroy();
        await new Promise((done) => this.server.close(done));
    }
}
