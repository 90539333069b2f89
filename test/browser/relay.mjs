// relay.mjs -- a TCP relay that a test can cut: the network path between a
// page and the server, without stopping either. 127.0.0.1:relay.port
// forwards to 127.0.0.1:upstream. cut() ends every connection through it
// and closes each new one as soon as it is accepted, until restore().
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
        this.refused = 0;
    }

    async listen() {
        this.server = net.createServer((client) => this.accept(client));
        await new Promise((done) => this.server.listen(0, '127.0.0.1', done));
        this.port = this.server.address().port;
        return this;
    }

    accept(client) {
        if (!this.up) {
            this.refused++;
            client.destroy();
            return;
        }
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
    }

    async close() {
        this.cut();
        await new Promise((done) => this.server.close(done));
    }
}
