"""The FleetShard Ray actor: a :class:`ShardCore` with metrics and a ticker for silence-based rules."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import ray
from ray.util import metrics

from actors.gc_tuning import tune_for_throughput
from actors.hub import get_hub
from actors.intake import RawBatch
from actors.shard_core import IngestReport, ShardCore
from actors.shard_lake import ShardLake
from fleetray.storage import Database

logger = logging.getLogger(__name__)

TICK_S = 5.0


def shard_name(index: int, prefix: str = "fleetray") -> str:
    """The Ray name of shard ``index`` of the deployment named ``prefix``."""
    return f"{prefix}-shard-{index}"


def running_shards(conn: Any, prefix: str = "fleetray", namespace: str | None = None) -> list[Any]:
    """Handles on every shard of the recorded layout, or none when Ray or any shard is not running."""
    if not ray.is_initialized():
        return []
    row = conn.execute("SELECT shard_count FROM shard_layout WHERE layout_id = 1").fetchone()
    if row is None:
        return []
    try:
        return [ray.get_actor(shard_name(i, prefix), namespace=namespace) for i in range(row[0])]
    except ValueError:  # a shard is not running (yet)
        return []


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class FleetShard:
    """Owns the live state of the robots ``shard_of`` assigns to ``index``.

    A restarted shard rebuilds from PostgreSQL; calls in flight when it died are retried by Ray
    (persistence is idempotent), so a crash costs a delay, never data.
    """

    def __init__(
        self,
        index: int,
        count: int,
        database_url: str,
        schema: str,
        *,
        retention_days: int = 30,
        object_store: dict[str, Any] | None = None,
    ) -> None:
        lake = None
        database = Database(database_url, schema=schema)
        if object_store is not None:
            from fleetray.objectstore import ObjectStore

            lake = ShardLake(ObjectStore(**object_store), database, index, count)
        hub = self._hub = get_hub()
        self._lock = threading.Lock()
        self._core = ShardCore(
            index, count, database, retention=timedelta(days=retention_days), lake=lake, publish=hub.publish.remote
        )
        tags = {"shard": str(index)}
        self._received = metrics.Counter("fleetray_shard_messages", "Messages received by shards", ("shard", "kind"))
        self._dead = metrics.Counter("fleetray_dead_letters", "Messages refused, by reason", ("shard", "reason"))
        self._batch = metrics.Histogram(
            "fleetray_shard_batch_size", "Messages per batch", [10, 100, 1000, 10000], ("shard",)
        )
        self._robots = metrics.Gauge("fleetray_shard_robots", "Robots owned by a shard", ("shard",))
        self._alerts = metrics.Counter("fleetray_alert_changes", "Alerts raised or cleared by shards", ("shard",))
        self._lag = metrics.Histogram(
            "fleetray_ingest_lag_seconds",
            "Sample time to durable in the shard",
            [0.1, 0.25, 0.5, 1, 2, 5, 30, 300],
            ("shard",),
        )
        self._tags = tags
        self._robots.set(len(self._core.state.robots), tags=tags)
        self._stop = threading.Event()
        threading.Thread(target=self._ticker, daemon=True, name="shard-ticker").start()
        tune_for_throughput()

    # Every ingestor calls this several times a second: a task record per call costs the shard and GCS CPU and
    # crowds every other task out of GCS's bounded store (the dashboard's task list). Ray Serve turns task
    # events off on its replicas and proxies for the same reason.
    @ray.method(enable_task_events=False)
    def ingest(self, batch: RawBatch) -> IngestReport:
        """Validate, persist (durably) and apply a batch."""
        messages = batch.messages()
        with self._lock:
            report = self._core.ingest(messages)
        tags = self._tags
        self._batch.observe(report.received, tags=tags)
        if report.lag_s is not None:
            self._lag.observe(max(report.lag_s, 0.0), tags=tags)
        counts = {
            "telemetry": report.telemetry,
            "events": report.events,
            "tasks": report.task_events,
            "duplicate": report.duplicates,
        }
        for kind, count in counts.items():
            if count:  # Ray counters refuse increments of zero
                self._received.inc(count, tags={**tags, "kind": kind})
        for reason, count in report.dead.items():
            self._dead.inc(count, tags={**tags, "reason": reason})
        if report.alerts:
            self._alerts.inc(report.alerts, tags=tags)
        return report

    def robot(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """One robot's live state."""
        with self._lock:
            return self._core.state.robot(tenant_id, robot_id)

    def query(
        self, tenant_id: str, robot_ids: list[str] | None = None, site_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """This shard's robots of a tenant, filtered."""
        with self._lock:
            return self._core.state.query(tenant_id, robot_ids=robot_ids, site_id=site_id, status=status)

    def recent(self, tenant_id: str, robot_id: str, limit: int = 300) -> list[dict[str, Any]] | None:
        """A robot's last samples from the ring buffer, oldest first."""
        with self._lock:
            return self._core.state.recent(tenant_id, robot_id, limit)

    def windows(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """A robot's 1- and 5-minute aggregates."""
        with self._lock:
            return self._core.state.windows(tenant_id, robot_id)

    def features(self, tenant_id: str, robot_ids: list[str] | None = None) -> dict[str, Any]:
        """Model features of the tenant's robots on this shard (see ``ShardState.feature_rows``)."""
        with self._lock:
            return self._core.state.feature_rows(tenant_id, robot_ids)

    def stats(self) -> dict[str, Any]:
        """Counters and size."""
        with self._lock:
            stats = self._core.stats()
        self._robots.set(stats["robots"], tags=self._tags)
        return stats

    def take_latencies(self) -> list[float]:
        """The sampled sample-time-to-durable delays (seconds) since the last call."""
        with self._lock:
            taken = list(self._core.latencies)
            self._core.latencies.clear()
        return taken

    def reload_policies(self) -> None:
        """Apply the alert thresholds as stored now."""
        with self._lock:
            self._core.reload_policies()

    def tick(self) -> int:
        """Evaluate silence-based alert rules now."""
        with self._lock:
            return self._core.tick()

    def flush(self) -> list[str]:
        """Write buffered lake rows now."""
        with self._lock:
            return self._core.flush_lake()

    def _ticker(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self._core.watched_tenants = ray.get(self._hub.watched_tenants.remote(), timeout=TICK_S)
            except (ray.exceptions.RayError, TimeoutError):
                logger.warning("the hub did not say which tenants are watched; keeping the last answer")
            try:
                with self._lock:
                    changed = self._core.tick()
                if changed:  # offline robots, raised by silence rather than by a message
                    self._alerts.inc(changed, tags=self._tags)
            except Exception:
                logger.exception("shard tick failed; retrying in %s s", TICK_S)
