"""A lean MQTT 3.1.1 QoS 1 publisher for load generation: pre-built packets written straight to a socket.

paho spends about 100 µs of Python per QoS 1 publish, so on a 2-core machine a paho load generator
takes the CPU the platform under test needs and becomes the bottleneck itself. This publisher only
frames PUBLISH packets (topic and payload as bytes), writes them in bulk, and counts the broker's
PUBACKs on a reader thread: about 5 µs a message. It speaks just enough MQTT for that: CONNECT,
PUBLISH at QoS 1, PUBACK, DISCONNECT. It asks for no keepalive, so the only packets the broker
sends back are 4-byte PUBACKs and counting them is counting bytes.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from urllib.parse import urlsplit

PUBLISH_QOS1 = 0x32
PUBACK_SIZE = 4
MAX_IN_FLIGHT = 30_000  # well under the 65,535 packet identifiers, so an identifier is never reused in flight


class LoadPublisherError(RuntimeError):
    """The broker refused the connection or closed it."""


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


class LoadPublisher:
    """One MQTT connection publishing QoS 1 messages; ``acknowledged`` counts the broker's PUBACKs."""

    def __init__(self, url: str, client_id: str) -> None:
        parts = urlsplit(url)
        self._sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 1883), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _string(client_id)
        self._sock.sendall(bytes([0x10]) + _remaining_length(len(body)) + body)
        connack = self._recv_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise LoadPublisherError(f"broker refused the connection: CONNACK {connack.hex()}")
        self._sock.settimeout(None)
        self.sent = 0
        self.acknowledged = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read_acks, daemon=True, name="load-acks")
        self._reader.start()

    def _recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise LoadPublisherError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        received = 0
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            received += len(chunk)
            self.acknowledged = received // PUBACK_SIZE

    def publish_many(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Publish ``(topic, payload)`` pairs at QoS 1 in one write (waits while too many are unacknowledged)."""
        while self.sent - self.acknowledged > MAX_IN_FLIGHT:
            time.sleep(0.001)
        frames = []
        for topic, payload in messages:
            self.sent += 1
            length = _remaining_length(2 + len(topic) + 2 + len(payload))
            packet_id = struct.pack("!H", self.sent % 65535 + 1)
            frames.append(
                b"%c%s%s%s%s%s" % (PUBLISH_QOS1, length, struct.pack("!H", len(topic)), topic, packet_id, payload)
            )
        self._sock.sendall(b"".join(frames))

    def wait_acknowledged(self, timeout_s: float) -> int:
        """Wait until every message sent was acknowledged (or the timeout); return the count acknowledged."""
        deadline = time.monotonic() + timeout_s
        while self.acknowledged < self.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.acknowledged

    def close(self) -> None:
        """DISCONNECT and close the socket."""
        if not self._closed:
            self._closed = True
            try:
                self._sock.sendall(b"\xe0\x00")
            finally:
                self._sock.close()
