"""A lean MQTT 3.1.1 subscriber: the receive path of the platform's ingestors.

paho-mqtt spends tens of microseconds of Python on each incoming message (a message object with its own
lock, callbacks, a ``select`` per packet), which at 10,000 messages a second is most of an ingestor's
CPU. An ingestor needs little of MQTT: a persistent session, QoS 1 subscriptions, each PUBACK sent only
when the caller says the message is durable, keepalive and reconnection. This client does only that,
and parses every PUBLISH of a 256 KiB socket read in one tight loop, handing them over as one list.

What it does not do, by design: publish, QoS 2 (subscriptions ask for QoS 1, so the broker never sends
QoS 2), MQTT 5, websockets. Robots and the API keep paho (:mod:`fleetray.mqtt`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from fleetray.errors import ServiceError
from fleetray.mqtt import broker_address

logger = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
# After a read that emptied the socket, the next waits this long. Robots' messages arrive spread over each second,
# and read as they came (three messages a read at 5,000 a second), every few messages cost a thread wake-up, a
# read and a hand-over: an ingestor used a third more CPU than one pausing 5 ms, in the same run of the bench.
READ_PAUSE_S = 0.01
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, DISCONNECT = 12, 14
PUBACK_HEADER = bytes([PUBACK << 4, 2])  # then the packet id
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class Received(NamedTuple):
    """One PUBLISH: its topic, payload, packet id (0 at QoS 0) and QoS."""

    topic: str
    payload: bytes
    mid: int
    qos: int


def _utf8(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def encode_packet(kind: int, flags: int, body: bytes) -> bytes:
    """An MQTT control packet: fixed header (type, flags, remaining length) and body."""
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([kind << 4 | flags]) + bytes(encoded) + body


def split_packets(buffer: bytearray, into: list[Received]) -> tuple[int, list[tuple[int, bytes]]]:
    """Parse the complete packets at the start of ``buffer``: PUBLISHes go to ``into``, others are returned
    as ``(type, body)``. Returns how many bytes were consumed (an incomplete packet is left for later)."""
    view = memoryview(buffer)
    size, at, others = len(buffer), 0, []
    while size - at >= 2:
        header, length, multiplier, cursor = buffer[at], 0, 1, at + 1
        while True:
            if cursor >= size:
                return at, others
            byte = buffer[cursor]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            cursor += 1
            if not byte & 0x80:
                break
        end = cursor + length
        if end > size:
            break
        kind = header >> 4
        if kind == PUBLISH:
            qos = (header >> 1) & 0x03
            topic_end = cursor + 2 + (buffer[cursor] << 8 | buffer[cursor + 1])
            topic = view[cursor + 2 : topic_end].tobytes().decode()
            if qos:
                mid = buffer[topic_end] << 8 | buffer[topic_end + 1]
                into.append(Received(topic, view[topic_end + 2 : end].tobytes(), mid, qos))
            else:
                into.append(Received(topic, view[topic_end:end].tobytes(), 0, 0))
        else:
            others.append((kind, view[cursor:end].tobytes()))
        at = end
    return at, others


class MqttReceiver:
    """Subscribes to ``topics`` at QoS 1 and hands each socket read's messages to ``on_messages``.

    The session is persistent unless ``clean_start``: messages published while the receiver is away wait
    in the broker, and those it received but never acknowledged come again after a reconnection. Call
    :meth:`ack` once a message is durable; nothing is acknowledged otherwise. A read that empties the socket
    waits ``read_pause_s`` before the next (:data:`READ_PAUSE_S`), so that messages are read many at a time.

    Raises:
        ServiceError: the broker cannot be reached or refuses the first connection.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        topics: Iterable[str],
        on_messages: Callable[[list[Received]], None],
        *,
        clean_start: bool = False,
        keepalive_s: int = 30,
        reconnect_max_s: float = 10.0,
        timeout_s: float = 10.0,
        read_pause_s: float = READ_PAUSE_S,
    ) -> None:
        parts = urlsplit(url)
        self.host, self.port, self._tls = broker_address(url)
        self.client_id = client_id
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password or "") if parts.username else None
        self._topics = list(topics)
        self._on_messages = on_messages
        self._clean_start = clean_start
        self._keepalive_s = keepalive_s
        self._reconnect_max_s = reconnect_max_s
        self._timeout_s = timeout_s
        self._read_pause_s = read_pause_s
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self.connections = 0
        self._open()
        self._reader = threading.Thread(target=self._read_forever, daemon=True, name=f"mqtt-receive-{client_id}")
        self._reader.start()
        self._pinger = threading.Thread(target=self._ping_forever, daemon=True, name=f"mqtt-ping-{client_id}")
        self._pinger.start()

    def _open(self) -> None:
        """Connect, check CONNACK and subscribe; the SUBACK is read by the reader."""
        sock = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self._timeout_s)
            if self._tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            flags = (0x02 if self._clean_start else 0) | (0xC0 if self._user is not None else 0)
            body = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", self._keepalive_s) + _utf8(self.client_id)
            if self._user is not None:
                body += _utf8(self._user) + _utf8(self._password or "")
            sock.sendall(encode_packet(CONNECT, 0, body))
            connack = b""
            while len(connack) < 4:
                chunk = sock.recv(4 - len(connack))
                if not chunk:
                    raise ConnectionError("the broker closed the connection before CONNACK")
                connack += chunk
        except OSError as err:
            if sock is not None:
                sock.close()
            raise ServiceError(f"cannot reach the MQTT broker at {self.host}:{self.port}: {err}") from err
        if connack[0] >> 4 != CONNACK or connack[3] != 0:
            sock.close()
            reason = CONNACK_REASONS.get(connack[3], f"code {connack[3]}")
            raise ServiceError(f"the MQTT broker at {self.host}:{self.port} refused the connection: {reason}")
        subscribe = struct.pack("!H", 1) + b"".join(_utf8(topic) + b"\x01" for topic in self._topics)
        sock.sendall(encode_packet(SUBSCRIBE, 0x02, subscribe))
        sock.settimeout(None)
        self._sock = sock
        self.connections += 1

    def _read_forever(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            sock = self._sock
            try:
                if sock is None:
                    raise ConnectionError("not connected")
                chunk = sock.recv(READ_BYTES)
                if not chunk:
                    raise ConnectionError("the broker closed the connection")
            except (OSError, ConnectionError) as err:
                if self._stop.is_set():
                    return
                logger.warning("MQTT receiver %s lost its connection (%s); reconnecting", self.client_id, err)
                buffer.clear()  # a packet cut short is sent again by the broker, with the session
                self._reconnect()
                continue
            buffer += chunk
            messages: list[Received] = []
            used, others = split_packets(buffer, messages)
            del buffer[:used]
            for kind, body in others:
                if kind == SUBACK and any(code == 0x80 for code in body[2:]):
                    logger.error("the MQTT broker refused a subscription of %s: %s", self.client_id, self._topics)
            if messages:
                try:
                    self._on_messages(messages)
                except Exception:  # the reader must live on; unacknowledged, these come again after a reconnection
                    logger.exception(
                        "MQTT receiver %s: the handler failed on %s messages", self.client_id, len(messages)
                    )
            if len(chunk) < READ_BYTES:
                time.sleep(self._read_pause_s)

    def _reconnect(self) -> None:
        self._close_socket()
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._open()
                logger.info("MQTT receiver %s reconnected", self.client_id)
                return
            except ServiceError as err:
                logger.warning("%s; retrying in %.1f s", err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._reconnect_max_s)

    def _ping_forever(self) -> None:
        while not self._stop.wait(self._keepalive_s / 2):
            self._send(encode_packet(PINGREQ, 0, b""))

    def _send(self, data: bytes) -> None:
        """Best effort: on a broken connection the reader reconnects, and the broker redelivers what was not
        acknowledged."""
        sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(OSError), self._send_lock:
            sock.sendall(data)

    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages by packet id (all in one write)."""
        self._send(b"".join(PUBACK_HEADER + struct.pack("!H", mid) for mid in mids))

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader's recv
            sock.close()

    def stop(self) -> None:
        """Disconnect cleanly; the session and its unacknowledged messages stay with the broker."""
        self._stop.set()
        self._send(encode_packet(DISCONNECT, 0, b""))
        self._close_socket()
        self._reader.join(timeout=10)
        self._pinger.join(timeout=1)
