"""The session's real services answer: a Kafka round trip, an MQTT round trip, Ray and S3."""

from __future__ import annotations

import queue
import threading
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from fleetray.mqtt import connect
from fleetray.schemas import (
    Telemetry,
    decode_messages,
    encode_batch,
    kafka_topic,
    mqtt_topic,
    validate_message,
)
from tests.helpers import wait_for


def sample(seq: int) -> Telemetry:
    return validate_message(
        Telemetry,
        {
            "tenant_id": "harness",
            "robot_id": "r1",
            "ts": datetime.now(UTC),
            "seq": seq,
            "status": "idle",
        },
    )


def test_mqtt_broker_carries_a_zstd_batch(mqtt_url: str) -> None:
    received: queue.Queue[bytes] = queue.Queue()
    robot = f"r-{uuid.uuid4().hex[:8]}"
    topic = mqtt_topic("harness", robot, "telemetry")
    subscriber = connect(mqtt_url, f"sub-{robot}")
    subscriber.on_message = lambda _c, _u, message: received.put(message.payload)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.subscribe(topic, qos=1)
    assert subscribed.wait(10)  # publishing before the SUBACK could miss the subscription on a busy broker
    publisher = connect(mqtt_url, f"pub-{robot}")
    batch = [sample(n) for n in range(1, 51)]
    try:
        publisher.publish(topic, encode_batch(batch), qos=1).wait_for_publish(10)
        assert decode_messages(Telemetry, received.get(timeout=10)) == batch
    finally:
        publisher.disconnect()
        subscriber.disconnect()


def test_kafka_broker_round_trip(kafka_bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer

    from fleetray.services.kafka_broker import create_topics

    topic = kafka_topic("telemetry", f"h{uuid.uuid4().hex[:8]}")
    create_topics(kafka_bootstrap, {topic: 3})
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    batch = [sample(n) for n in range(1, 11)]
    for message in batch:
        producer.produce(topic, message.model_dump_json().encode(), message.robot_id.encode())
    assert producer.flush(10) == 0
    # Tansu completes a group join only after the rebalance timeout (max.poll.interval.ms): keep it short.
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []

    def drained() -> bool:
        polled = consumer.consume(num_messages=100, timeout=0.5)
        values.extend(record.value() for record in polled if not record.error())
        return len(values) >= len(batch)

    try:
        wait_for(drained, timeout_s=60)
    finally:
        consumer.close()
    assert [Telemetry.model_validate_json(v) for v in values] == batch


def test_ray_runs_tasks(ray_session: None) -> None:
    import ray

    @ray.remote(num_cpus=0)
    def square(x: int) -> int:
        return x * x

    assert ray.get([square.remote(n) for n in range(4)]) == [0, 1, 4, 9]
    assert ray.cluster_resources()["CPU"] == 2


def test_s3_endpoint_answers(s3_endpoint: str, s3_bucket: str) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.put_object(Bucket=s3_bucket, Key="hello.txt", Body=b"hi")
    assert client.get_object(Bucket=s3_bucket, Key="hello.txt")["Body"].read() == b"hi"


@pytest.mark.parametrize("module", ["actors", "serve_apps", "pipelines", "edge"])
def test_platform_packages_are_importable(module: str) -> None:
    __import__(module)
