"""The ingestors' buffered MQTT receive path: paho's small reads served from one large read, nothing lost."""

from __future__ import annotations

import socket
import time
import uuid

from fleetray.mqtt import connect
from fleetray.mqtt_buffered import BufferedSocket


def test_small_reads_are_served_from_one_block_in_order() -> None:
    left, right = socket.socketpair()
    buffered = BufferedSocket(left)
    right.sendall(b"\x30\x05hello\x30\x03abc")
    assert buffered.recv(1) == b"\x30"
    assert buffered.pending() == 11 and buffered.buffered == 11
    assert buffered.recv(1) == b"\x05"
    assert buffered.recv(5) == b"hello"
    assert [buffered.recv(1), buffered.recv(1), buffered.recv(3)] == [b"\x30", b"\x03", b"abc"]
    assert buffered.pending() == 0
    right.close()
    assert buffered.recv(1) == b""  # the peer closed: paho sees it as it would on the bare socket
    buffered.close()


def test_a_subscriber_receives_every_message_of_a_burst_in_order(mqtt_url: str) -> None:
    topic = f"fr/v1/buffered/{uuid.uuid4().hex[:8]}/telemetry"
    received: list[bytes] = []
    subscriber = connect(
        mqtt_url,
        f"buffered-{uuid.uuid4().hex[:6]}",
        on_connect=lambda c: c.subscribe(topic, 1),
        on_message=lambda _c, _u, message: received.append(message.payload),
    )
    publisher = connect(mqtt_url, f"burst-{uuid.uuid4().hex[:6]}", max_inflight=1000)
    try:
        # Many packets per read, some split across reads; under the 1,000 a Debian Mosquitto queues per client.
        sent = [b"%06d" % n + b"x" * (n % 700) for n in range(900)]
        for payload in sent:
            publisher.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == sent
    finally:
        for client in (subscriber, publisher):
            client.disconnect()
            client.loop_stop()
