"""A TCP relay that a test can cut: the network path between a client and
the server, without stopping either. 127.0.0.1:relay.port forwards to
127.0.0.1:relay.upstream (which may change between connections). cut() ends
every connection through it (FIN both ways, as a load balancer dropping its
backends' connections would) and holds each new one, unanswered, until
restore() forwards it: a path that is down, then back, without making the
client's backoff climb while the test works. `requests` holds
the first line of every request that went through ("GET /chat?since=1-0
HTTP/1.1"): what the client asked for when it came back; `downstream`
everything the server sent through it (server frames are not masked, so a
test can see which message has reached the client's socket).
"""
import socket
import threading
import time


class Relay:
    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.live = []           # the sockets of every connection through it
        self.up = True
        self.held = []           # accepted while cut, forwarded on restore()
        self.requests = []
        self.downstream = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def cut(self):
        with self.lock:
            self.up = False
            live, self.live = self.live, []
        for s in live:
            _shutdown(s)

    def wait_downstream(self, marker, timeout_s=10):
        """Wait until the server has sent marker (bytes) through the relay."""
        deadline = time.monotonic() + timeout_s
        while marker not in self.downstream:
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} never went through the relay")
            time.sleep(0.01)

    def restore(self):
        with self.lock:
            self.up = True
            held, self.held = self.held, []
        for client in held:
            self._forward(client)

    def close(self):
        _shutdown(self.listener)     # wakes the accept loop
        self.listener.close()
        self.cut()
        with self.lock:
            held, self.held = self.held, []
        for client in held:
            client.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.up:
                    self.held.append(client)
                    continue
            self._forward(client)

    def _forward(self, client):
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        with self.lock:
            if not self.up:          # cut meanwhile
                server.close()
                self.held.append(client)
                return
            self.live += [client, server]
        threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, upward):
        head = b""
        try:
            while data := src.recv(65536):
                if upward and head is not None:
                    head += data
                    if b"\r\n" in head:
                        with self.lock:
                            self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                        head = None
                dst.sendall(data)
                if not upward:
                    with self.lock:
                        self.downstream += data
        except OSError:
            pass
        _shutdown(src)
        _shutdown(dst)
        src.close()


def _shutdown(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
