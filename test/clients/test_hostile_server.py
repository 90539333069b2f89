"""The clients against a hostile server: a tiny one in Python, on raw
sockets, that answers the handshake with terminal controls in its status
line, or with a subprotocol nobody asked for, or sends ticks whose
timestamp_ms no clock can hold. Every client must show a server's bytes with
their controls made visible (ESC as ^[, BEL as ^G), never raw, must fail a
handshake RFC 6455 §4.1 forbids, and must survive any number in a tick (no
signed overflow: the sanitizer build would stop there, without a summary)."""
import json
import socket
import socketserver
import subprocess
import threading
import time
import unittest

from wspulse_test import BINARY, timeout
from raw_server import read_head, server_frame, switching_protocols
from terminal import SANITIZER_MARKS

EVIL_STATUS = b"HTTP/1.1 404 \x1b]0;owned\x07\x1b[2JNot Here"
INT64_MIN = -9223372036854775808
INT64_MAX = 9223372036854775807


def read_to_eof(sock):
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


class Hostile(socketserver.BaseRequestHandler):
    """Reads one request head; answers as self.server.mode says."""

    def handle(self):
        sock = self.request
        head = read_head(sock)
        if head is None:
            return
        if self.server.mode == "evil-status":
            sock.sendall(EVIL_STATUS + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if self.server.mode == "subprotocol":
            self.server.requests.append(head)
            sock.sendall(switching_protocols(head, b"Sec-WebSocket-Protocol: chat\r\n"))
            self.server.after_answer.append(read_to_eof(sock))
            return
        sock.sendall(switching_protocols(head))
        now = int(time.time() * 1000)
        for count, stamp in ((1, now), (2, INT64_MIN), (3, INT64_MAX), (4, INT64_MIN),
                             (5, -1)):
            sock.sendall(server_frame(json.dumps({"message_count": count,
                                                  "timestamp_ms": stamp})))
        while sock.recv(4096):   # until the client goes
            pass


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode):
        super().__init__(("127.0.0.1", 0), Hostile)
        self.mode = mode
        self.port = self.server_address[1]
        self.requests = []       # subprotocol: each request head
        self.after_answer = []   # subprotocol: what each client sent after the 101
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


def run(*args, timeout_s=20):
    r = subprocess.run([BINARY, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout_s)
    for mark in SANITIZER_MARKS:
        assert mark.encode() not in r.stderr, r.stderr.decode(errors="replace")
    return r.returncode, r.stdout, r.stderr


class HostileServerTest(unittest.TestCase):
    def serve(self, mode):
        srv = HostileServer(mode)
        self.addCleanup(srv.close)
        return srv

    def assert_shown_not_obeyed(self, text):
        self.assertNotIn(b"\x1b", text)
        self.assertNotIn(b"\x07", text)
        self.assertIn(b"^[]0;owned^G^[[2JNot Here", text)

    @timeout(30)
    def test_bench_makes_a_status_line_visible(self):
        srv = self.serve("evil-status")
        rc, out, err = run("bench", "echo", f"ws://127.0.0.1:{srv.port}/echo", "-c", "1",
                           "-d", "0.5", "--quiet")
        self.assertEqual(rc, 1, err)
        self.assert_shown_not_obeyed(err)
        self.assertNotIn(b"\x1b", out)

    @timeout(30)
    def test_monitor_makes_a_status_line_visible(self):
        srv = self.serve("evil-status")
        rc, out, err = run("monitor", f"ws://127.0.0.1:{srv.port}/ws", "--duration", "1")
        self.assertEqual(rc, 1, out + err)
        self.assert_shown_not_obeyed(out + err)

    @timeout(30)
    def test_connect_makes_a_status_line_visible(self):
        srv = self.serve("evil-status")
        rc, out, err = run("connect", f"ws://127.0.0.1:{srv.port}/chat", "--name", "ann")
        self.assertEqual(rc, 1, out + err)
        self.assert_shown_not_obeyed(out + err)

    @timeout(30)
    def test_connect_fails_a_subprotocol_it_did_not_ask_for(self):
        # RFC 6455 §4.1: a Sec-WebSocket-Protocol in the answer that the
        # request did not offer fails the connection: closed at once, not a
        # byte sent after the 101, and the user told why in one line.
        srv = self.serve("subprotocol")
        proc = subprocess.Popen([BINARY, "connect", f"ws://127.0.0.1:{srv.port}/chat", "--name",
                                 "ann"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while len(srv.after_answer) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)     # poll, with a deadline, for the second attempt
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark.encode(), err, err.decode(errors="replace"))
        self.assertGreaterEqual(len(srv.after_answer), 2, out + err)
        self.assertEqual(set(srv.after_answer), {b""})
        self.assertNotIn(b"sec-websocket-protocol", srv.requests[0].lower())
        self.assertIn(b"cannot connect (server chose a subprotocol we did not ask for "
                      b"(HTTP/1.1 101 Switching Protocols)); reconnecting in", out, err)
        self.assertNotIn(b"connected.", out)
        self.assertEqual(proc.returncode, 0, out + err)

    @timeout(30)
    def test_monitor_survives_absurd_timestamps(self):
        srv = self.serve("absurd-ticks")
        rc, out, err = run("monitor", f"ws://127.0.0.1:{srv.port}/ws", "--duration", "1",
                           "--gap-ms", "5000")
        text = out.decode()
        self.assertIn("summary of", text, err.decode(errors="replace"))
        self.assertRegex(text, r"messages +1\n")
        self.assertRegex(text, r"ignored +4 \(not timestamp messages\)")
        self.assertEqual(rc, 0, text)


if __name__ == "__main__":
    unittest.main()
