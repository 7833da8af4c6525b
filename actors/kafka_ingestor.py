"""Kafka ingestion: one consumer group over robot.{telemetry,events,tasks}.*, offsets committed after persistence."""

from __future__ import annotations

import logging
import threading
from typing import Any

import ray
from ray.util import metrics

from actors.gc_tuning import tune_for_throughput
from actors.intake import RawMessage
from actors.router import ShardRouter
from fleetray.errors import TopicError
from fleetray.schemas import parse_kafka_topic

logger = logging.getLogger(__name__)

TOPIC_PATTERN = r"^robot\.(telemetry|events|tasks)\.[a-z0-9][a-z0-9-]*$"


@ray.remote(num_cpus=0, max_restarts=-1)
class KafkaIngestor:
    """A member of the ``group_id`` consumer group; several split the partitions between them.

    Each polled batch is persisted by the shards before its offsets are committed, and the next
    poll (where a rebalance takes effect) only happens after that, so a revoked partition never
    has processed but uncommitted records: at-least-once delivery, exactly-once effect.
    """

    def __init__(
        self,
        name: str,
        bootstrap: str,
        shard_count: int,
        *,
        group_id: str = "fleetray-ingest",
        prefix: str = "fleetray",
        max_records: int = 5000,
    ) -> None:
        from kafka import KafkaConsumer

        self._router = ShardRouter(shard_count, prefix=prefix)
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            group_id=group_id,
            client_id=f"{prefix}-{name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=30_000,
            metadata_max_age_ms=5_000,
        )
        self._consumer.subscribe(pattern=TOPIC_PATTERN)
        self._stop = threading.Event()
        self._partitions: list[str] = []
        self.counts = {"received": 0, "batches": 0, "commits": 0}
        self._messages = metrics.Counter("fleetray_ingest_messages", "Messages ingested", ("source", "ingestor"))
        self._tags = {"source": "kafka", "ingestor": name}
        tune_for_throughput()
        self._worker = threading.Thread(target=self._run, daemon=True, name="kafka-ingest")
        self._worker.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = self._consumer.poll(timeout_ms=200)
                self._partitions = sorted(f"{tp.topic}/{tp.partition}" for tp in self._consumer.assignment())
                records = [record for batch in polled.values() for record in batch]
                if not records:
                    continue
                self._router.deliver([self._raw(record) for record in records])
                self._consumer.commit()
                self.counts["received"] += len(records)
                self.counts["batches"] += 1
                self.counts["commits"] += 1
                self._messages.inc(len(records), tags=self._tags)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("Kafka ingestion failed; uncommitted records will be redelivered")
                self._stop.wait(1)

    @staticmethod
    def _raw(record: Any) -> RawMessage:
        key = record.key.decode(errors="replace") if record.key else ""
        try:
            kind, tenant_id = parse_kafka_topic(record.topic)
        except TopicError:
            return RawMessage("", "", "", record.value, record.topic, "kafka")
        return RawMessage(kind, tenant_id, key, record.value, record.topic, "kafka")

    def stats(self) -> dict[str, Any]:
        """Records received, batches, commits, and the partitions held."""
        return {**self.counts, "partitions": self._partitions}

    def stop(self) -> None:
        """Leave the group cleanly (its partitions go to the other members)."""
        self._stop.set()
        self._worker.join(timeout=10)
        self._consumer.close()
