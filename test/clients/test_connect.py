"""`wspulse connect`, used the way a person uses it: two chat clients in
tmux panes against a real server, keys typed in, screens read back. Also
what a person sees when the server is not there, answers 404 or restarts,
and that text from a hostile sender cannot reach the terminal raw."""
import asyncio
import json
import os
import subprocess
import unittest

import websockets

from wspulse_test import BINARY, Server, timeout
from terminal import Pane, free_port, kill_tmux_server

# Our own lines start with "*** HH:MM:SS", relayed ones with "[HH:MM:SS]".
RELAYED = r"^\[\d\d:\d\d:\d\d\] "
CONNECTED = r"\*\*\* .* connected\. Type a message"


def tearDownModule():
    kill_tmux_server()


class ConnectTest(unittest.TestCase):
    def start_server(self, name, *args):
        server = Server(*args, name=name).start()
        self.addCleanup(self.stop_server, server)
        return server

    def stop_server(self, server):
        if server.proc.poll() is None or not server.log.closed:
            rc = server.stop()
            self.assertEqual(rc, 0, server.log_text())
        self.assertNotIn("Sanitizer", server.log_text())
        self.assertNotIn("runtime error", server.log_text())

    def pane(self, name, *args):
        pane = Pane(f"connect-{name}", "connect", *args)
        self.addCleanup(pane.close)
        return pane

    def two_people(self, server):
        """alice types her name at the prompt; bob gives --name."""
        alice = self.pane(f"alice-{self._testMethodName}", server.url("/chat"))
        alice.wait_for(r"Enter your username:")
        alice.type("alice")
        alice.wait_for(CONNECTED)
        bob = self.pane(f"bob-{self._testMethodName}", server.url("/chat"), "--name", "bob")
        bob.wait_for(CONNECTED)
        alice.wait_for(RELAYED + r"SYSTEM: A new client has joined the chat\. 2 client")
        return alice, bob

    @timeout(30)
    def test_alice_and_bob_see_each_others_lines_with_the_right_names(self):
        server = self.start_server("connect-chat")
        alice, bob = self.two_people(server)
        bob.wait_for(RELAYED + r"SYSTEM: Welcome! .* 2 client\(s\) online\.")
        alice.type("hello bob")
        bob.wait_for(RELAYED + r"alice: hello bob$")
        bob.type('hi alice: "quoted" back\\slash ünïcødé 🎉')
        alice.wait_for(RELAYED + r'bob: hi alice: "quoted" back\\slash ünïcødé 🎉$')
        # Everyone gets every message, the sender too.
        alice.wait_for(RELAYED + r"alice: hello bob$")

    @timeout(30)
    def test_ping_stats_broadcast_and_help(self):
        server = self.start_server("connect-commands")
        alice, bob = self.two_people(server)
        alice.type("/ping")
        alice.wait_for(RELAYED + r"pong from the server: round trip \d+\.\d\d ms$")
        alice.type("/stats")
        alice.wait_for(RELAYED + r"stats: online=2 .*messages_relayed=\d+ ")
        alice.type("/broadcast everyone listen")
        for pane in (alice, bob):
            pane.wait_for(RELAYED + r"broadcast: everyone listen$")
        alice.type("/help")
        alice.wait_for(r"/broadcast TEXT +send TEXT")
        alice.type("/frobnicate")
        alice.wait_for(r"unknown command /frobnicate")

    @timeout(30)
    def test_quit_exit_and_end_of_input_leave_with_status_0(self):
        server = self.start_server("connect-quit")
        alice, bob = self.two_people(server)
        alice.type("/quit")
        self.assertEqual(alice.exit_status(), 0)
        bob.wait_for(RELAYED + r"SYSTEM: A client has left the chat\. 1 client")
        bob.type("/exit")
        self.assertEqual(bob.exit_status(), 0)
        carol = self.pane("carol", server.url("/chat"), "--name", "carol")
        carol.wait_for(CONNECTED)
        carol.key("C-d")
        self.assertEqual(carol.exit_status(), 0)

    @timeout(30)
    def test_connection_refused_is_said_and_retried_until_the_server_comes(self):
        port = free_port()
        alice = self.pane("refused", f"ws://127.0.0.1:{port}/chat", "--name", "alice")
        alice.wait_for(r"cannot connect \(Connection refused\); reconnecting in \d+\.\d s\.\.\.",
                       count=2)
        self.start_server("connect-refused", "--port", str(port))
        alice.wait_for(CONNECTED)
        alice.type("/quit")
        self.assertEqual(alice.exit_status(), 0)

    @timeout(30)
    def test_a_path_that_is_not_a_websocket_shows_the_status_line(self):
        # A 4xx is a wrong URL, not an outage: no retrying, exit status 1.
        server = self.start_server("connect-404")
        alice = self.pane("404", server.url("/no-such-endpoint"), "--name", "alice")
        alice.wait_for(r"cannot connect \(server answered HTTP/1\.1 404 Not Found\); "
                       r"not retrying")
        self.assertEqual(alice.exit_status(), 1)

    @timeout(40)
    def test_server_restart_reconnects_and_chat_works_again(self):
        port = free_port()
        first = self.start_server("connect-restart-1", "--port", str(port))
        alice, bob = self.two_people(first)
        self.stop_server(first)
        for pane in (alice, bob):
            pane.wait_for(r"connection lost \(the server closed it: 1001 server shutting down\); "
                          r"reconnecting in \d+\.\d s\.\.\.")
        self.start_server("connect-restart-2", "--port", str(port))
        for pane in (alice, bob):
            pane.wait_for(r"\*\*\* .* reconnected\.$")
        bob.wait_for(RELAYED + r"SYSTEM: .* 2 client\(s\) online\.")
        alice.type("after the restart")
        bob.wait_for(RELAYED + r"alice: after the restart$")

    @timeout(30)
    def test_hostile_text_is_decoded_and_cannot_reach_the_terminal_raw(self):
        server = self.start_server("connect-hostile")
        alice = self.pane("hostile", server.url("/chat"), "--name", "alice")
        alice.wait_for(CONNECTED)
        # A second reader with a pipe for stdout: the bytes themselves.
        reader = subprocess.Popen([BINARY, "connect", server.url("/chat"), "--name", "reader"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.addCleanup(reader.kill)
        alice.wait_for(RELAYED + r"SYSTEM: A new client has joined the chat\. 2 client")
        text = 'q"uote b\\ack 🎉 \x1b[31mRED\x1b[0m bell\x07 csi\u009b2J line\nbreak'
        sender = "mallory\x1b]0;pwned\x07"

        async def send():
            async with websockets.connect(server.url("/chat")) as ws:
                await ws.send(json.dumps({"type": "message", "message": text,
                                          "sender": sender}))     # ASCII with \u escapes
                while "pwned" not in await ws.recv():
                    pass
        asyncio.run(send())
        shown = (r"mallory\^\[\]0;pwned\^G: q\"uote b\\ack 🎉 \^\[\[31mRED\^\[\[0m bell\^G "
                 r"csi\ufffd2J line\^Jbreak$")
        alice.wait_for(RELAYED + shown)
        out, err = reader.communicate(timeout=10)            # closes stdin: quit
        self.assertEqual(reader.returncode, 0, err)
        line = next(l for l in out.decode().splitlines() if "pwned" in l)
        self.assertRegex(line, RELAYED + shown)
        self.assertNotIn(b"\x1b", out)
        self.assertNotIn(b"\x07", out)
        self.assertNotIn("\u009b".encode(), out)
        self.assertNotIn(b"Sanitizer", err)


if __name__ == "__main__":
    unittest.main()
