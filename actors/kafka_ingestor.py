"""Kafka ingestion: one consumer group over robot.{telemetry,events,tasks}.*, offsets committed after persistence.

The consumer is librdkafka's (confluent-kafka): it fetches and decodes records in C, where a pure-Python
client spent more than the shards it feeds.
"""

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
        from confluent_kafka import Consumer

        self._router = ShardRouter(shard_count, prefix=prefix)
        self._max_records = max_records
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "client.id": f"{prefix}-{name}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2_000,
                "max.poll.interval.ms": 30_000,
                # New tenants' topics match the pattern as they appear: look for them every 5 s.
                "topic.metadata.refresh.interval.ms": 5_000,
                "logger": logger,
            }
        )
        self._consumer.subscribe([TOPIC_PATTERN])
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
                polled = self._consumer.consume(num_messages=self._max_records, timeout=0.2)
                self._partitions = sorted(f"{tp.topic}/{tp.partition}" for tp in self._consumer.assignment())
                records = []
                for record in polled:
                    if record.error() is None:
                        records.append(record)
                    elif not record.error().retriable():
                        logger.warning("Kafka consumer: %s", record.error())
                if not records:
                    continue
                self._router.deliver([self._raw(record) for record in records])
                self._consumer.commit(asynchronous=False)
                self.counts["received"] += len(records)
                self.counts["batches"] += 1
                self.counts["commits"] += 1
                self._messages.inc(len(records), tags=self._tags)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("Kafka ingestion failed; reading again from the last committed offsets")
                self._stop.wait(1)
                self._rewind()

    def _rewind(self) -> None:
        """Go back to the committed offsets: the records of a batch the shards did not persist come again."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        try:
            for committed in self._consumer.committed(self._consumer.assignment(), timeout=10):
                offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
                self._consumer.seek(TopicPartition(committed.topic, committed.partition, offset))
        except Exception:
            logger.exception("could not rewind to the committed offsets; a restart will")

    @staticmethod
    def _raw(record: Any) -> RawMessage:
        key = record.key()
        topic = record.topic()
        robot_id = key.decode(errors="replace") if key else ""
        try:
            kind, tenant_id = parse_kafka_topic(topic)
        except TopicError:
            return RawMessage("", "", "", record.value(), topic, "kafka")
        return RawMessage(kind, tenant_id, robot_id, record.value(), topic, "kafka")

    def stats(self) -> dict[str, Any]:
        """Records received, batches, commits, and the partitions held."""
        return {**self.counts, "partitions": self._partitions}

    def stop(self) -> None:
        """Leave the group cleanly (its partitions go to the other members)."""
        self._stop.set()
        self._worker.join(timeout=10)
        self._consumer.close()
