"""Starting and stopping live ingestion: the hub, the fleet shards and the MQTT and Kafka ingestors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import ray

from actors.hub import get_hub
from actors.kafka_ingestor import KafkaIngestor
from actors.mqtt_ingestor import MqttIngestor
from actors.registry import shard_layout, shard_of
from actors.shard import FleetShard, shard_name
from fleetray.storage import Database

logger = logging.getLogger(__name__)


@dataclass
class Ingestion:
    """Handles on the running ingestion actors."""

    shard_count: int
    shards: list[Any]
    mqtt: list[Any] = field(default_factory=list)
    kafka: list[Any] = field(default_factory=list)

    def robot(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """One robot's live state, from the shard that owns it."""
        return ray.get(self.shards[shard_of(tenant_id, robot_id, self.shard_count)].robot.remote(tenant_id, robot_id))

    def fleet(self, tenant_id: str, *, site_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """A tenant's robots from every shard."""
        parts = ray.get([s.query.remote(tenant_id, None, site_id, status) for s in self.shards])
        return sorted((robot for part in parts for robot in part), key=lambda r: r["robot_id"])

    def stats(self) -> dict[str, Any]:
        """Counters of every shard and ingestor."""
        return {
            "shards": ray.get([s.stats.remote() for s in self.shards]),
            "mqtt": ray.get([i.stats.remote() for i in self.mqtt]),
            "kafka": ray.get([i.stats.remote() for i in self.kafka]),
        }

    def stop(self) -> None:
        """Stop the ingestors (MQTT sessions stay with the broker, Kafka offsets are committed), then the shards."""
        for ingestor in [*self.mqtt, *self.kafka]:
            try:
                ray.get(ingestor.stop.remote(), timeout=20)
            except Exception:
                logger.warning("an ingestor did not stop cleanly", exc_info=True)
            ray.kill(ingestor, no_restart=True)
        for shard in self.shards:
            try:
                ray.get(shard.flush.remote(), timeout=30)
            except Exception:
                logger.warning("a shard could not flush its lake rows", exc_info=True)
            ray.kill(shard, no_restart=True)


def default_shard_count() -> int:
    """One shard per CPU of the cluster, at least one."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def start_ingestion(
    db: Database,
    *,
    shards: int | None = None,
    mqtt_url: str | None = None,
    mqtt_ingestors: int = 1,
    shared_subscriptions: bool = True,
    kafka_bootstrap: str | None = None,
    kafka_ingestors: int = 1,
    retention_days: int = 30,
    object_store: dict[str, Any] | None = None,
    prefix: str = "fleetray",
    shard_options: dict[str, Any] | None = None,
) -> Ingestion:
    """Start shards and ingestors on the connected Ray cluster.

    ``prefix`` names the actors (``{prefix}-shard-0``...), the MQTT client ids and shared
    subscription group, and the Kafka consumer group, so two deployments can share a cluster.
    ``shard_options`` go to the shards' ``.options()`` (a scheduling strategy, resources).

    Raises:
        ConfigError: ``shards`` differs from the layout the fleet was assigned with.
    """
    with db.connect() as conn:
        count = shard_layout(conn, shards or default_shard_count())
    get_hub()
    handles = [
        FleetShard.options(name=shard_name(i, prefix), get_if_exists=True, **(shard_options or {})).remote(
            i, count, db.url, db.schema, retention_days=retention_days, object_store=object_store
        )
        for i in range(count)
    ]
    ray.get([h.stats.remote() for h in handles])
    ingestion = Ingestion(count, handles)
    if mqtt_url:
        n = mqtt_ingestors if shared_subscriptions else 1
        # A lone ingestor subscribes plainly: Mosquitto queues nothing for a shared subscription while no
        # member is connected (after a broker restart, until the ingestor is back), and robots' messages
        # published meanwhile would be acknowledged to them and lost.
        group = prefix if n > 1 else None
        ingestion.mqtt = [
            MqttIngestor.options(name=f"{prefix}-mqtt-{i}", get_if_exists=True).remote(
                str(i), mqtt_url, count, shared_group=group, prefix=prefix
            )
            for i in range(n)
        ]
    if kafka_bootstrap:
        ingestion.kafka = [
            KafkaIngestor.options(name=f"{prefix}-kafka-{i}", get_if_exists=True).remote(
                str(i), kafka_bootstrap, count, group_id=f"{prefix}-ingest", prefix=prefix
            )
            for i in range(kafka_ingestors)
        ]
    ray.get([i.stats.remote() for i in [*ingestion.mqtt, *ingestion.kafka]])
    logger.info(
        "ingestion up: %s shards, %s MQTT and %s Kafka ingestors", count, len(ingestion.mqtt), len(ingestion.kafka)
    )
    return ingestion
