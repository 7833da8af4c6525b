"""A paho-mqtt client that reads its socket in large blocks: the receive path of the platform's ingestors.

paho reads each incoming packet with two or three ``recv`` calls (the command byte, the length bytes one
by one, then the body), and goes back to ``select`` after every packet. At thousands of small messages a
second that is most of an ingestor's CPU. Here the socket is wrapped so one ``recv`` fills a buffer of up
to 256 KiB that paho's small reads are served from, and the loop reads every packet already buffered
before it selects again. Nothing else changes: the same paho client, session, acknowledgements, TLS and
reconnection. Both hooks (``_create_socket``, ``loop_read``) are paho 2's; the package is held below 3.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

READ_BLOCK_BYTES = 256 * 1024
READ_BURST_PACKETS = 2000  # then the loop selects again, so queued acknowledgements go out


class BufferedSocket:
    """A socket whose ``recv`` is served from one large read; ``pending`` tells paho's loop not to wait."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = memoryview(b"")

    def recv(self, size: int) -> bytes:
        if not self._buffer:
            block = self._sock.recv(READ_BLOCK_BYTES)  # BlockingIOError and b"" (closed) reach paho unchanged
            if not block:
                return block
            self._buffer = memoryview(block)
        taken, self._buffer = self._buffer[:size], self._buffer[size:]
        return taken.tobytes()

    @property
    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed to paho."""
        return len(self._buffer)

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) + inner

    def send(self, data: bytes | bytearray) -> int:
        return self._sock.send(data)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """paho's client with :class:`BufferedSocket` under it (TCP and TLS; websockets are left as paho has them)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return sock if self._transport == "websockets" else BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(READ_BURST_PACKETS):
            sock = self._sock
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket) or not sock.buffered:
                break
            rc = super().loop_read(max_packets)
        return rc
