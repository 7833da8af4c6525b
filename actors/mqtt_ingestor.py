"""MQTT ingestion: a persistent session, batches routed to shards, PUBACK only once persisted."""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

import ray
from ray.util import metrics

from actors.gc_tuning import tune_for_throughput
from actors.intake import RawMessage
from actors.router import ShardRouter
from fleetray.errors import TopicError
from fleetray.mqtt_receiver import MqttReceiver, Received
from fleetray.schemas import mqtt_subscription, parse_mqtt_topic

logger = logging.getLogger(__name__)

INGESTED_CHANNELS = ("telemetry", "events", "tasks", "heartbeat", "ack")


@functools.lru_cache(maxsize=1 << 17)
def _topic_parts(topic: str) -> tuple[str, str, str]:
    """``(channel, tenant_id, robot_id)`` of a topic, empty strings for one outside the scheme.

    Cached: each robot publishes on a handful of topics, each of them every second.
    """
    try:
        parsed = parse_mqtt_topic(topic)
    except TopicError:
        return "", "", ""
    return parsed.channel, parsed.tenant_id, parsed.robot_id


@ray.remote(num_cpus=0, max_restarts=-1)
class MqttIngestor:
    """Subscribes to every robot's up channels and feeds the shards.

    With ``shared_group`` the subscription is shared (``$share/group/...``) so several ingestors
    split the load; the session is persistent (clean_session off, a fixed client id), so messages
    published while an ingestor is down wait in the broker. Each message is acknowledged only after
    its shard has persisted it: at-least-once delivery, exactly-once effect.
    """

    def __init__(
        self,
        name: str,
        mqtt_url: str,
        shard_count: int,
        *,
        shared_group: str | None = None,
        prefix: str = "fleetray",
        batch_size: int = 5000,
        batch_interval_s: float = 0.2,
    ) -> None:
        self._router = ShardRouter(shard_count, prefix=prefix)
        self._batch_size = batch_size
        self._interval = batch_interval_s
        self._buffer: list[Received] = []
        self._first_arrival = 0.0  # of the oldest buffered message
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.counts = {"received": 0, "acked": 0, "batches": 0}
        self._messages = metrics.Counter("fleetray_ingest_messages", "Messages ingested", ("source", "ingestor"))
        self._latency = metrics.Histogram(
            "fleetray_ingest_batch_seconds",
            "Receive-to-ack time of a batch",
            [0.01, 0.05, 0.1, 0.5, 1, 5],
            ("source", "ingestor"),
        )
        self._tags = {"source": "mqtt", "ingestor": name}
        topics = [mqtt_subscription(channel, shared_group=shared_group) for channel in INGESTED_CHANNELS]
        self.client_id = f"{prefix}-ingest-{name}"
        self._client = MqttReceiver(mqtt_url, self.client_id, topics, self._on_messages, clean_start=False)
        tune_for_throughput()
        self._worker = threading.Thread(target=self._run, daemon=True, name="mqtt-ingest")
        self._worker.start()

    def _on_messages(self, messages: list[Received]) -> None:
        with self._lock:
            if not self._buffer:
                self._first_arrival = time.monotonic()
            self._buffer.extend(messages)
            full = len(self._buffer) >= self._batch_size
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                batch, self._buffer = self._buffer[: self._batch_size], self._buffer[self._batch_size :]
                arrived = self._first_arrival
                if self._buffer:  # what is left arrived after the batch's messages, within this interval
                    self._first_arrival = time.monotonic()
                    self._wake.set()
            if batch:
                self._deliver(batch, arrived)

    def _deliver(self, batch: list[Received], arrived: float) -> None:
        raw = [RawMessage(*_topic_parts(message.topic), message.payload, message.topic) for message in batch]
        while not self._stop.is_set():
            try:
                self._router.deliver(raw)
                break
            except Exception:
                logger.exception("could not deliver a batch of %s messages; retrying", len(raw))
                time.sleep(1)
        else:
            return  # stopping: nothing of this batch is acknowledged, so the broker keeps it
        acked = [message.mid for message in batch if message.qos]
        self._client.ack(acked)
        self.counts["received"] += len(batch)
        self.counts["acked"] += len(acked)
        self.counts["batches"] += 1
        self._messages.inc(len(batch), tags=self._tags)
        self._latency.observe(max(time.monotonic() - arrived, 1e-6), tags=self._tags)

    def stats(self) -> dict[str, Any]:
        """Messages received and acknowledged, batches, and what is buffered now."""
        with self._lock:
            return {**self.counts, "buffered": len(self._buffer)}

    def stop(self) -> None:
        """Disconnect (the session and its unacknowledged messages stay with the broker)."""
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=10)
        self._client.stop()
