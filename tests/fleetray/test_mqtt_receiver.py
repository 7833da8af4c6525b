"""The ingestors' MQTT receiver: packets parsed however the reads cut them, PUBACK only when told, and a
persistent session that survives a broker restart with nothing lost."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from fleetray.errors import ServiceError
from fleetray.mqtt import connect
from fleetray.mqtt_receiver import PUBLISH, MqttReceiver, Received, encode_packet, split_packets
from fleetray.services.mqtt_broker import embedded_broker, find_mosquitto
from fleetray.services.ports import free_port


def _publish(topic: bytes, payload: bytes, mid: int | None) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if mid is not None else b"") + payload
    return encode_packet(PUBLISH, 0x02 if mid is not None else 0, body)


def test_packets_are_parsed_whatever_the_reads_cut() -> None:
    stream = (
        _publish(b"fr/v1/a/r1/telemetry", b"x" * 300, 7)  # a two-byte remaining length
        + _publish(b"fr/v1/a/r2/events", b"{}", None)
        + bytes([0x90, 0x03, 0x00, 0x01, 0x01])  # a SUBACK
        + _publish(b"fr/v1/a/r3/tasks", b"y" * 20_000, 65535)  # a three-byte remaining length
    )
    expected = [
        Received("fr/v1/a/r1/telemetry", b"x" * 300, 7, 1),
        Received("fr/v1/a/r2/events", b"{}", 0, 0),
        Received("fr/v1/a/r3/tasks", b"y" * 20_000, 65535, 1),
    ]
    for cut in (1, 2, 3, 7, 301, 4096, len(stream)):
        buffer, received, others = bytearray(), [], []
        for start in range(0, len(stream), cut):
            buffer += stream[start : start + cut]
            used, more = split_packets(buffer, received)
            del buffer[:used]
            others += more
        assert received == expected and others == [(9, b"\x00\x01\x01")] and not buffer, cut


@pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")
def test_unacknowledged_messages_come_again_and_a_broker_restart_loses_nothing(tmp_path: Path) -> None:
    broker, url = embedded_broker(tmp_path, port=free_port())
    broker.start()
    received: list[Received] = []
    arrived = threading.Condition()

    def take(messages: list[Received]) -> None:
        with arrived:
            received.extend(messages)
            arrived.notify_all()

    def forget() -> None:
        with arrived:
            received.clear()

    def wait_for(count: int) -> list[Received]:
        with arrived:
            assert arrived.wait_for(lambda: len(received) >= count, timeout=30), (len(received), count)
            return list(received)

    topic = f"fr/v1/acme/{uuid.uuid4().hex[:8]}/telemetry"
    receiver = MqttReceiver(url, "receiver-test", [topic], take, keepalive_s=5)
    publisher = connect(url, "publisher-test")
    try:
        for n in range(10):
            publisher.publish(topic, b"%d" % n, qos=1).wait_for_publish(10)
        first = wait_for(10)
        assert [m.payload for m in first] == [b"%d" % n for n in range(10)] and {m.qos for m in first} == {1}
        receiver.ack(m.mid for m in first[:5])  # the other five are not durable yet
        time.sleep(0.5)
        receiver.stop()
        forget()

        receiver = MqttReceiver(url, "receiver-test", [topic], take, keepalive_s=5)
        again = wait_for(5)
        assert sorted(m.payload for m in again) == [b"%d" % n for n in range(5, 10)]
        receiver.ack(m.mid for m in again)
        time.sleep(0.5)
        forget()

        broker.stop()  # the broker goes away and comes back: the receiver reconnects by itself
        broker.start()
        publisher.disconnect()
        publisher.loop_stop()
        publisher = connect(url, "publisher-test-2")
        for n in range(10, 20):
            publisher.publish(topic, b"%d" % n, qos=1).wait_for_publish(10)
        after = wait_for(10)
        assert sorted(int(m.payload) for m in after) == list(range(10, 20))
        assert receiver.connections == 2
        time.sleep(6)  # past the keepalive: pings keep the session open
        assert receiver.connections == 2
    finally:
        receiver.stop()
        publisher.disconnect()
        publisher.loop_stop()
        broker.stop()


def test_an_unreachable_broker_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(ServiceError, match=f"cannot reach the MQTT broker at 127.0.0.1:{port}"):
        MqttReceiver(f"mqtt://127.0.0.1:{port}", "nobody", ["fr/v1/#"], lambda _: None, timeout_s=2)
