"""/chat under churn (issue 15 item 1): joins and leaves of one reactor batch
are told in one notice, with the right count; a single join or leave keeps
the README's text (test_chat.py); new connections per second from one address are
limited (--max-conn-rate-per-ip) with 429 and Retry-After, loopback left
alone unless the option is given.

Several events land in one batch deterministically: the server is stopped
(SIGSTOP) while clients send their upgrades and resets, then continued, and
one epoll_wait returns them all.
"""
import json
import re
import signal
import socket
import time
import unittest
import urllib.error
import urllib.request

from wspulse_test import (UPGRADE, FrameReader, Server, connect, frame, recv_until, timeout,
                          ws_connect_raw)

COUNT = re.compile(r" (\d+) client\(s\) online\.$")
RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"     # SO_LINGER on, 0 s: close sends RST


class Member:
    """A raw-socket /chat member that reads its JSON messages in order."""

    def __init__(self, port, sock=None, rest=b""):
        if sock is None:
            sock, rest = ws_connect_raw(port, b"/chat")
        self.sock, self.frames = sock, FrameReader(sock, rest)

    def next(self):
        _, opcode, payload, _, _ = self.frames.read()
        assert opcode == 1, (opcode, payload)
        return json.loads(payload)

    def system(self):
        msg = self.next()
        assert msg["type"] == "system", msg
        return msg["message"]

    def send(self, obj):
        self.sock.sendall(frame(1, json.dumps(obj).encode()))

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        self.sock.close()

    def close(self):
        self.sock.close()


def stats(srv):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/stats", timeout=5) as r:
        return json.loads(r.read())


def wait_open_connections(srv, n):
    """Until the server holds n connections besides the /stats request."""
    deadline = time.monotonic() + 10
    while stats(srv)["open_connections"] - 1 != n:
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never held {n} connections")
        time.sleep(0.01)


def tally(text):
    """(joined, left) that a notice reports."""
    if text.startswith("A new client has joined the chat."):
        return 1, 0
    if text.startswith("A client has left the chat."):
        return 0, 1
    m = re.match(r"^(?:(\d+) clients? joined)?(?:, )?(?:(\d+)(?: clients)? left)?\. ", text)
    assert m and (m.group(1) or m.group(2)), f"not a notice: {text!r}"
    return int(m.group(1) or 0), int(m.group(2) or 0)


class ChurnCase(unittest.TestCase):
    args = ()

    def setUp(self):
        self.srv = Server(*self.args,
                          name="chat-churn-" + self._testMethodName.removeprefix("test_")).start()
        self.addCleanup(self.stop_server)
        self.members = []

    def stop_server(self):
        for m in self.members:
            m.close()
        self.srv.proc.send_signal(signal.SIGCONT)   # if a test failed while it was stopped
        self.assertEqual(self.srv.stop(), 0, self.srv.log_text())

    def member(self):
        m = Member(self.srv.port)
        self.members.append(m)
        return m

    def paused(self):
        """Stop the server; returns the function that continues it."""
        self.srv.proc.send_signal(signal.SIGSTOP)
        return lambda: self.srv.proc.send_signal(signal.SIGCONT)


class MergedNoticesTest(ChurnCase):
    @timeout(20)
    def test_joins_and_leaves_of_one_batch_are_one_notice(self):
        watcher = self.member()
        self.assertTrue(watcher.system().endswith(" 1 client(s) online."))
        leaving = [self.member() for _ in range(2)]
        for n in (2, 3):
            self.assertEqual(watcher.system(),
                             f"A new client has joined the chat. {n} client(s) online.")
        newcomers = [connect(self.srv.port) for _ in range(3)]
        wait_open_connections(self.srv, 6)          # accepted, in the HTTP phase
        resume = self.paused()
        for s in newcomers:
            s.sendall(UPGRADE % b"/chat")
        for m in leaving:
            m.reset()
            self.members.remove(m)
        resume()
        self.assertEqual(watcher.system(), "3 clients joined, 2 left. 4 client(s) online.")
        for s in newcomers:
            head, _, rest = recv_until(s).partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            m = Member(self.srv.port, s, rest)
            self.members.append(m)
            self.assertEqual(m.system(), "Welcome! You are now connected to the broadcast "
                                         "server. 4 client(s) online.")
        watcher.send({"type": "ping"})               # nothing else came before the pong
        self.assertEqual(watcher.next()["type"], "pong")

    @timeout(20)
    def test_leaves_of_one_batch_are_one_notice(self):
        watcher = self.member()
        watcher.system()
        leaving = [self.member() for _ in range(5)]
        for n in range(2, 7):
            watcher.system()
        resume = self.paused()
        for m in leaving:
            m.reset()
            self.members.remove(m)
        resume()
        self.assertEqual(watcher.system(), "5 clients left. 1 client(s) online.")

    @timeout(30)
    def test_counts_stay_right_through_churn(self):
        watcher = self.member()
        self.assertTrue(watcher.system().endswith(" 1 client(s) online."))
        for _ in range(60):                          # connect, upgrade, reset
            s, _ = ws_connect_raw(self.srv.port, b"/chat")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
            s.close()
        last = self.member()
        self.assertEqual(last.system(), "Welcome! You are now connected to the broadcast "
                                        "server. 2 client(s) online.")
        last.send({"type": "message", "message": "done", "sender": "z"})
        online, joined, left = 1, 0, 0
        while True:                                  # every notice comes before "done"
            msg = watcher.next()
            if msg["type"] == "message":
                break
            j, l = tally(msg["message"])
            online, joined, left = online + j - l, joined + j, left + l
            self.assertEqual(int(COUNT.search(msg["message"]).group(1)), online, msg)
        self.assertEqual(msg["message"], "done")
        self.assertEqual((online, joined, left), (2, 61, 60))


class ConnRateTest(ChurnCase):
    args = ("--max-conn-rate-per-ip", "5")

    @timeout(20)
    def test_over_the_rate_gets_429_with_retry_after(self):
        sockets = []
        for _ in range(5):                           # the burst: one second's worth
            s, _ = ws_connect_raw(self.srv.port, b"/chat")
            sockets.append(s)
        s = connect(self.srv.port)
        s.sendall(UPGRADE % b"/chat")
        head = recv_until(s).decode()
        s.close()
        self.assertTrue(head.startswith("HTTP/1.1 429 "), head)
        self.assertRegex(head, r"\r\nRetry-After: [1-9]\d*\r\n")
        for s in sockets:
            s.close()
        deadline = time.monotonic() + 10             # a token comes back every 0.2 s
        while True:
            try:
                got = stats(self.srv)
                break
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 429)
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
        self.assertGreaterEqual(got["conn_rate_limited"], 1)


class DefaultRateTest(ChurnCase):
    @timeout(20)
    def test_loopback_is_not_limited_by_default(self):
        for _ in range(300):                         # three times the default burst
            with urllib.request.urlopen(f"http://127.0.0.1:{self.srv.port}/healthz",
                                        timeout=5) as r:
                self.assertEqual(r.status, 200)
        self.assertEqual(stats(self.srv)["conn_rate_limited"], 0)


if __name__ == "__main__":
    unittest.main()
