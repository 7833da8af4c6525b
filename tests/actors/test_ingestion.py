"""Ingestion end to end on Ray: MQTT and Kafka into shards and PostgreSQL, with actors killed midway."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import ray

from actors.ingestion import Ingestion, start_ingestion
from fleetray.mqtt import connect
from fleetray.sim import FleetSimulator, SimConfig
from fleetray.sim.live import MqttPublisher
from fleetray.sim.persist import register_fleet, utc_now_whole_second
from fleetray.storage import Database
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("ray_session")


def stored(db: Database, tenant_id: str) -> tuple[int, int]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT (robot_id, seq)) FROM telemetry WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()


@pytest.fixture
def deployment() -> Iterator[dict[str, object]]:
    """A name prefix for this test's actors, and teardown that leaves no actor or broker session behind."""
    context: dict[str, object] = {"prefix": f"t{uuid.uuid4().hex[:8]}", "ingestion": None}
    yield context
    ingestion = context["ingestion"]
    if isinstance(ingestion, Ingestion):
        ingestion.stop()
    mqtt_url = context.get("mqtt_url")
    if isinstance(mqtt_url, str):
        for i in range(4):  # discard the persistent sessions this test left in a shared broker
            connect(mqtt_url, f"{context['prefix']}-ingest-{i}", clean_start=True).disconnect()


def publish_history(sim: FleetSimulator, mqtt_url: str, seconds: int) -> int:
    publisher = MqttPublisher(mqtt_url, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    sent = 0
    try:
        for chunk in sim.run(seconds, chunk_s=seconds):
            publisher(chunk)
            sent += len(chunk.telemetry)
    finally:
        publisher.close()
    return sent


def test_mqtt_into_shards_exactly_once_through_shard_and_ingestor_crashes(
    db: Database, tenant_id: str, mqtt_url: str, mqtt_shared_subscriptions: bool, deployment: dict[str, object]
) -> None:
    deployment["mqtt_url"] = mqtt_url
    start = utc_now_whole_second()
    sim = FleetSimulator(SimConfig(tenant_id=tenant_id, robots=4, seed=3, start=start, offline_per_day=0))
    register_fleet(db, sim)
    ingestion = start_ingestion(
        db,
        shards=2,
        mqtt_url=mqtt_url,
        mqtt_ingestors=2,
        shared_subscriptions=mqtt_shared_subscriptions,
        prefix=str(deployment["prefix"]),
    )
    deployment["ingestion"] = ingestion

    sent = publish_history(sim, mqtt_url, 30)
    wait_for(lambda: stored(db, tenant_id) == (sent, sent), timeout_s=60)

    ray.kill(ingestion.shards[0], no_restart=False)
    ray.kill(ingestion.mqtt[0], no_restart=False)
    sent += publish_history(sim, mqtt_url, 30)
    wait_for(lambda: stored(db, tenant_id) == (sent, sent), timeout_s=90)

    fleet = wait_for(lambda: [r for r in ingestion.fleet(tenant_id) if r["seq"] == 60] if True else None, timeout_s=30)
    assert len(fleet) == 4
    robot = ingestion.robot(tenant_id, "r00002")
    assert robot is not None and robot["seq"] == 60 and robot["site_id"] == "site-000"
    totals = [s["totals"] for s in ingestion.stats()["shards"]]
    assert sum(t.get("dead", 0) for t in totals) == 0


def test_bad_mqtt_input_is_dead_lettered_and_ingestion_carries_on(
    db: Database, tenant_id: str, mqtt_url: str, deployment: dict[str, object]
) -> None:
    deployment["mqtt_url"] = mqtt_url
    sim = FleetSimulator(SimConfig(tenant_id=tenant_id, robots=2, seed=1, start=utc_now_whole_second()))
    register_fleet(db, sim)
    ingestion = start_ingestion(
        db, shards=1, mqtt_url=mqtt_url, shared_subscriptions=False, prefix=str(deployment["prefix"])
    )
    deployment["ingestion"] = ingestion
    client = connect(mqtt_url, f"bad-{tenant_id}")
    for topic, payload in [
        (f"fr/v1/{tenant_id}/r00000/telemetry", b"{broken"),
        (f"fr/v1/{tenant_id}/r00000/telemetry", b'{"tenant_id": "x"}'),
        (
            f"fr/v1/{tenant_id}/nobody/telemetry",
            json.dumps(
                {
                    "tenant_id": tenant_id,
                    "robot_id": "nobody",
                    "seq": 1,
                    "ts": utc_now_whole_second().isoformat(),
                    "status": "idle",
                }
            ).encode(),
        ),
    ]:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    sent = publish_history(sim, mqtt_url, 5)
    wait_for(lambda: stored(db, tenant_id)[0] == sent, timeout_s=60)

    def reasons() -> dict[str, int]:
        with db.connect() as conn:
            rows = conn.execute(
                "SELECT reason, count(*) FROM dead_letters WHERE topic LIKE %s GROUP BY 1", (f"fr/v1/{tenant_id}/%",)
            ).fetchall()
        return dict(rows)

    assert wait_for(lambda: sum(reasons().values()) == 3 and reasons()) == {
        "malformed_json": 1,
        "schema": 1,
        "unknown_robot": 1,
    }


class KafkaFleet:
    """A registered simulated fleet publishing its telemetry to a Kafka topic of its own, keyed by robot."""

    def __init__(self, db: Database, tenant_id: str, bootstrap: str, *, robots: int, seed: int, partitions: int):
        from confluent_kafka import Producer

        from fleetray.schemas import kafka_topic
        from fleetray.services.kafka_broker import create_topics

        self.sim = FleetSimulator(
            SimConfig(tenant_id=tenant_id, robots=robots, seed=seed, start=utc_now_whole_second())
        )
        register_fleet(db, self.sim)
        self.topic = kafka_topic("telemetry", tenant_id)
        create_topics(bootstrap, {self.topic: partitions})
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def produce(self, seconds: int) -> int:
        """Send ``seconds`` of every robot's samples; return how many."""
        from fleetray.schemas import encode_message

        count = 0
        for chunk in self.sim.run(seconds, chunk_s=seconds):
            for message in chunk.telemetry.to_messages():
                self.producer.produce(self.topic, encode_message(message), message.robot_id.encode())
                count += 1
        assert self.producer.flush(10) == 0, "the broker did not take every record"
        return count


def test_kafka_into_shards_with_offsets_committed_after_persistence(
    db: Database, tenant_id: str, kafka_bootstrap: str, deployment: dict[str, object]
) -> None:
    fleet = KafkaFleet(db, tenant_id, kafka_bootstrap, robots=3, seed=2, partitions=2)
    sent = fleet.produce(20)
    ingestion = start_ingestion(db, shards=2, kafka_bootstrap=kafka_bootstrap, prefix=str(deployment["prefix"]))
    deployment["ingestion"] = ingestion
    wait_for(lambda: stored(db, tenant_id) == (sent, sent), timeout_s=90)
    ray.kill(ingestion.kafka[0], no_restart=False)
    sent += fleet.produce(20)
    wait_for(lambda: stored(db, tenant_id) == (sent, sent), timeout_s=90)
    robot = wait_for(lambda: (ingestion.robot(tenant_id, "r00001") or {}).get("seq") == 40, timeout_s=30)
    assert robot


@pytest.mark.slow
def test_kafka_rebalance_when_a_group_member_leaves_loses_and_repeats_nothing(
    db: Database, tenant_id: str, kafka_bootstrap: str, deployment: dict[str, object]
) -> None:
    fleet = KafkaFleet(db, tenant_id, kafka_bootstrap, robots=6, seed=4, partitions=4)
    topic = fleet.topic
    ingestion = start_ingestion(
        db, shards=2, kafka_bootstrap=kafka_bootstrap, kafka_ingestors=2, prefix=str(deployment["prefix"])
    )
    deployment["ingestion"] = ingestion
    sent = fleet.produce(20)
    wait_for(lambda: stored(db, tenant_id) == (sent, sent), timeout_s=120)
    leaving = ingestion.kafka.pop()
    ray.get(leaving.stop.remote(), timeout=30)  # leaves the group: its partitions move to the other member
    ray.kill(leaving, no_restart=True)
    sent += fleet.produce(20)
    wait_for(lambda: stored(db, tenant_id) == (sent, sent), timeout_s=120)
    remaining = ray.get(ingestion.kafka[0].stats.remote())
    assert sorted(p for p in remaining["partitions"] if p.startswith(f"{topic}/")) == [f"{topic}/{n}" for n in range(4)]
