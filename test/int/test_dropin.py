"""wspulse in place of the original servers and for their users: the original
clients connect to the root URL (ws://localhost:8765), so an upgrade for "/"
goes to --ws-root while a GET of "/" is still the hub page; `wspulse start`
is `serve`; `connect` and `monitor` take --host/--port, give a URL without a
path their own endpoint, and stop at a 4xx answer (a wrong URL), while they
keep retrying refused connections and 5xx (a server restarting or full)."""
import asyncio
import json
import re
import subprocess
import unittest

import websockets

from wspulse_test import BINARY, Server, http_request, parse_response, run_chat_client, timeout


def first_message(url):
    async def run():
        async with websockets.connect(url, open_timeout=5) as ws:
            return await asyncio.wait_for(ws.recv(), 5)
    return asyncio.run(run())


def echoed(url, text):
    async def run():
        async with websockets.connect(url, open_timeout=5) as ws:
            await ws.send(text)
            return await asyncio.wait_for(ws.recv(), 5)
    return asyncio.run(run())


def client(*args, stdin_text="/quit\n", timeout_s=15):
    """`wspulse ARGS`; returns (status, stdout, stderr)."""
    if args[0] == "connect" and stdin_text == "/quit\n":
        r = run_chat_client([BINARY, *args], timeout_s)
    else:
        r = subprocess.run([BINARY, *args], input=stdin_text, capture_output=True, text=True,
                           timeout=timeout_s)
    for mark in ("Sanitizer", "runtime error"):
        assert mark not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


class RootTest(unittest.TestCase):
    @timeout(20)
    def test_an_upgrade_for_root_joins_the_chat_by_default(self):
        with Server(name="root-chat") as srv:
            msg = json.loads(first_message(f"ws://127.0.0.1:{srv.port}"))
            self.assertEqual(msg["type"], "system", msg)
            self.assertIn("Welcome", msg["message"])
            msg = json.loads(first_message(f"ws://127.0.0.1:{srv.port}/"))
            self.assertEqual(msg["type"], "system", msg)

    @timeout(30)
    def test_ws_root_picks_the_endpoint(self):
        with Server("--ws-root", "echo", name="root-echo") as srv:
            self.assertEqual(echoed(f"ws://127.0.0.1:{srv.port}/", "hello"), "hello")
        with Server("--ws-root", "ticks", name="root-ticks") as srv:
            msg = json.loads(first_message(f"ws://127.0.0.1:{srv.port}/"))
            self.assertIn("message_count", msg)
        with Server("--ws-root", "rpc", name="root-rpc") as srv:
            reply = echoed(f"ws://127.0.0.1:{srv.port}/", "hello")
            self.assertTrue(reply.startswith("hello"), reply)
            self.assertNotEqual(reply, "hello")

    @timeout(20)
    def test_a_get_of_root_is_still_the_hub(self):
        with Server(name="root-get") as srv:
            raw = (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, headers, body = parse_response(http_request(srv.port, raw))
            self.assertEqual(status, 200)
            self.assertIn(b"<html", body.lower())

    @timeout(20)
    def test_a_bad_ws_root_is_one_line_and_exit_2(self):
        r = subprocess.run([BINARY, "--ws-root", "sensor"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("--ws-root: must be chat, rpc, echo or ticks", r.stderr)

    @timeout(20)
    def test_start_is_serve(self):
        proc = subprocess.Popen([BINARY, "start", "--port", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            self.assertRegex(proc.stdout.readline(), r"listening on http://127\.0\.0\.1:\d+/")
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=10), 0)
            proc.stdout.close()


class ClientAddressTest(unittest.TestCase):
    @timeout(30)
    def test_connect_without_a_path_means_chat(self):
        # Root is /echo here: only /chat would answer with a welcome.
        with Server("--ws-root", "echo", name="connect-nopath") as srv:
            rc, out, err = client("connect", f"ws://127.0.0.1:{srv.port}", "--name", "ann")
        self.assertEqual(rc, 0, out + err)
        self.assertIn(f"connecting to ws://127.0.0.1:{srv.port}/chat as ann", out)
        self.assertIn("SYSTEM: Welcome!", out)

    @timeout(30)
    def test_monitor_without_a_path_means_ws(self):
        with Server(name="monitor-nopath") as srv:
            rc, out, err = client("monitor", f"ws://127.0.0.1:{srv.port}", "--duration", "1",
                                  "--gap-ms", "1000")
        self.assertEqual(rc, 0, out + err)
        self.assertIn(f"summary of ws://127.0.0.1:{srv.port}/ws", out)

    @timeout(30)
    def test_host_and_port_instead_of_a_url(self):
        with Server(name="host-port") as srv:
            port = str(srv.port)
            rc, out, err = client("monitor", "--host", "127.0.0.1", "--port", port,
                                  "--duration", "1", "--gap-ms", "1000")
            self.assertEqual(rc, 0, out + err)
            self.assertIn(f"summary of ws://127.0.0.1:{port}/ws", out)
            rc, out, err = client("connect", "--port", port, "--name", "bo")
            self.assertEqual(rc, 0, out + err)
            self.assertIn(f"connecting to ws://127.0.0.1:{port}/chat as bo", out)
            self.assertIn("SYSTEM: Welcome!", out)

    @timeout(20)
    def test_a_url_and_host_port_together_exit_2(self):
        for cmd in ("connect", "monitor"):
            with self.subTest(cmd=cmd):
                rc, out, err = client(cmd, "ws://127.0.0.1:1/", "--host", "127.0.0.1")
                self.assertEqual(rc, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("--host", err)


class RefusalTest(unittest.TestCase):
    @timeout(30)
    def test_monitor_stops_at_a_404(self):
        with Server(name="monitor-404") as srv:
            rc, out, err = client("monitor", f"ws://127.0.0.1:{srv.port}/nope",
                                  "--duration", "60", timeout_s=10)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("404 Not Found", err)
        self.assertRegex(out, r"result +FAIL: server answered HTTP/1.1 404 Not Found")
        self.assertNotIn("reconnecting", out)

    @timeout(30)
    def test_connect_stops_at_a_404(self):
        with Server(name="connect-404") as srv:
            rc, out, err = client("connect", f"ws://127.0.0.1:{srv.port}/nope", "--name",
                                  "cy", stdin_text="", timeout_s=10)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("cannot connect (server answered HTTP/1.1 404 Not Found)", out)
        self.assertNotIn("reconnecting", out)

    @timeout(30)
    def test_a_503_is_retried(self):
        async def hold_and_monitor(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/echo"):
                proc = await asyncio.create_subprocess_exec(
                    BINARY, "monitor", f"ws://127.0.0.1:{port}/ws", "--duration", "1.5",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(proc.communicate(), 15)
                return proc.returncode, out.decode(), err.decode()
        with Server("--max-conns", "1", name="monitor-503") as srv:
            rc, out, err = asyncio.run(hold_and_monitor(srv.port))
        self.assertEqual(rc, 1, out + err)
        self.assertGreaterEqual(len(re.findall(
            r"cannot connect \(server answered HTTP/1.1 503 Service Unavailable\); "
            r"reconnecting in", out)), 2, out)
        self.assertRegex(out, r"result +FAIL: no timestamp message arrived")


if __name__ == "__main__":
    unittest.main()
