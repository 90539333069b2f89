"""The opening handshake (RFC 6455 §4.2.1 and §4.4) over raw sockets: the
accept value, each header a server MUST check, the refusal statuses, and
requests however they are split or joined with the first frame.
"""
import unittest

from wspulse_test import (FrameReader, ResponseReader, Server, connect, frame, recv_until,
                          timeout)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="                 # RFC 6455 §1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

HEADERS = {
    "Host": "127.0.0.1",
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
}


def upgrade_request(path="/echo", method="GET", version="1.1", **changes):
    """The bytes of an upgrade request; changes replace headers by their
    name with '_' for '-' (a value of None leaves the header out)."""
    headers = dict(HEADERS)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    lines = [f"{method} {path} HTTP/{version}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class HandshakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(name="handshake").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        assert rc == 0, f"server exited with {rc}; log:\n{cls.srv.log_text()}"

    def open(self, raw):
        """Send raw; return (socket, status, headers, bytes after the head)."""
        s = connect(self.srv.port)
        self.addCleanup(s.close)
        s.sendall(raw)
        reader = ResponseReader(s)
        status, headers, _ = reader.read(head_only=True)
        return s, status, headers, reader.buf

    def status(self, raw):
        return self.open(raw)[1:3]

    def assert_echoes(self, s, rest, payload=b"hi"):
        s.sendall(frame(1, payload))
        self.assertEqual(FrameReader(s, rest).read()[:3], (True, 1, payload))

    @timeout(10)
    def test_valid_upgrade_gets_101_with_the_rfc_accept_value(self):
        s, status, headers, rest = self.open(upgrade_request())
        self.assertEqual(status, 101)
        self.assertEqual(headers.get("upgrade", "").lower(), "websocket")
        self.assertEqual(headers.get("connection", "").lower(), "upgrade")
        self.assertEqual(headers.get("sec-websocket-accept"), ACCEPT)
        self.assertNotIn("sec-websocket-extensions", headers)   # none offered
        self.assert_echoes(s, rest)

    @timeout(10)
    def test_missing_host_is_400(self):
        self.assertEqual(self.status(upgrade_request(Host=None))[0], 400)

    @timeout(10)
    def test_missing_upgrade_is_not_upgraded(self):
        status, headers = self.status(upgrade_request(Upgrade=None))
        self.assertNotEqual(status, 101)
        self.assertNotIn("sec-websocket-accept", headers)

    @timeout(10)
    def test_upgrade_to_another_protocol_is_not_upgraded(self):
        status, headers = self.status(upgrade_request(Upgrade="h2c"))
        self.assertNotEqual(status, 101)
        self.assertNotIn("sec-websocket-accept", headers)

    @timeout(10)
    def test_upgrade_token_is_case_insensitive(self):
        self.assertEqual(self.status(upgrade_request(Upgrade="WebSocket"))[0], 101)

    @timeout(10)
    def test_missing_connection_upgrade_is_400(self):
        for value in (None, "keep-alive", "Upgraded"):
            with self.subTest(connection=value):
                self.assertEqual(self.status(upgrade_request(Connection=value))[0], 400)

    @timeout(10)
    def test_connection_token_list_with_upgrade_works(self):
        s, status, headers, rest = self.open(upgrade_request(Connection="keep-alive, Upgrade"))
        self.assertEqual(status, 101)
        self.assertEqual(headers.get("sec-websocket-accept"), ACCEPT)
        self.assert_echoes(s, rest)

    @timeout(10)
    def test_bad_key_is_400(self):
        bad = {
            "missing": None,
            "empty": "",
            "not base64": "!!not*base64*at*all!!===",
            "15 bytes": "AAAAAAAAAAAAAAAAAAAA",           # base64 of 15 zero bytes
            "17 bytes": "AAAAAAAAAAAAAAAAAAAAAAA=",       # 17 zero bytes
            "bad padding": "dGhlIHNhbXBsZSBub25jZQ=A",
        }
        for label, key in bad.items():
            with self.subTest(key=label):
                raw = upgrade_request(Sec_WebSocket_Key=key)
                self.assertEqual(self.status(raw)[0], 400)

    @timeout(10)
    def test_version_8_is_426_naming_13(self):
        status, headers = self.status(upgrade_request(Sec_WebSocket_Version="8"))
        self.assertEqual(status, 426)
        self.assertEqual(headers.get("sec-websocket-version"), "13")

    @timeout(10)
    def test_missing_version_is_426_naming_13(self):
        status, headers = self.status(upgrade_request(Sec_WebSocket_Version=None))
        self.assertEqual(status, 426)                # no version is not 13 either (§4.4)
        self.assertEqual(headers.get("sec-websocket-version"), "13")
        self.assertNotIn("sec-websocket-accept", headers)

    @timeout(10)
    def test_post_upgrade_is_405(self):
        status, headers = self.status(upgrade_request(method="POST"))
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("allow", ""))

    @timeout(10)
    def test_http10_upgrade_is_400(self):
        self.assertEqual(self.status(upgrade_request(version="1.0"))[0], 400)

    @timeout(10)
    def test_upgrade_to_an_unknown_path_is_404(self):
        self.assertEqual(self.status(upgrade_request(path="/nowhere"))[0], 404)

    @timeout(10)
    def test_frame_in_the_same_write_as_the_request_is_processed(self):
        s = connect(self.srv.port)
        self.addCleanup(s.close)
        s.sendall(upgrade_request() + frame(1, b"early bird"))
        data = recv_until(s)
        head, _, rest = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertEqual(FrameReader(s, rest).read()[:3], (True, 1, b"early bird"))

    @timeout(15)
    def test_request_split_byte_by_byte(self):
        raw = upgrade_request()
        s = connect(self.srv.port)
        self.addCleanup(s.close)
        for i in range(len(raw)):
            s.sendall(raw[i:i + 1])
        reader = ResponseReader(s)
        status, headers, _ = reader.read(head_only=True)
        self.assertEqual(status, 101)
        self.assertEqual(headers.get("sec-websocket-accept"), ACCEPT)
        self.assert_echoes(s, reader.buf)


if __name__ == "__main__":
    unittest.main()
