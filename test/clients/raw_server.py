"""raw_server.py -- the server side of an RFC 6455 handshake on a raw
socket, for the tests' own small servers (a hostile one, one whose ticks are
stale): read a request head, answer 101 with the right Sec-WebSocket-Accept
(§4.2.2), send unmasked text frames (§5.1: a server never masks)."""
import base64
import hashlib
import re

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_head(sock):
    """A request head, up to its blank line; None if the peer closes first."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        head += chunk
    return head


def switching_protocols(head, extra=b""):
    """The 101 answering head's Sec-WebSocket-Key, with extra header lines
    (each ending in CRLF) before the blank line."""
    key = re.search(rb"(?i)sec-websocket-key: *(\S+)", head).group(1)
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n")


def server_frame(text):
    """A final text frame of text (under 126 bytes: no extended length)."""
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, len(data)]) + data
