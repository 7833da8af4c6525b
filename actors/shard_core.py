"""A shard's work without Ray: validate a batch, persist it, then fold it into the live state."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from actors.alerts import AlertChange
from actors.intake import Intake, RawMessage, sort_batch
from actors.registry import lookup_robots, policy_lookup, robots_owned, shard_of
from actors.shard_lake import ShardLake
from actors.shard_state import ShardState
from fleetray.lake import telemetry_table
from fleetray.storage import Database
from fleetray.storage.agents import record_acks, record_heartbeats
from fleetray.storage.alerts import open_alerts, persist_alert_changes
from fleetray.storage.dead_letters import write_dead_letters
from fleetray.storage.events import write_events, write_task_events
from fleetray.storage.telemetry import (
    TelemetryWriter,
    latest_per_robot,
    recent_telemetry,
    telemetry_from_row,
    write_minute_aggregates,
)
from fleetray.wire import TELEMETRY, TelemetryStruct

logger = logging.getLogger(__name__)

UNKNOWN_ROBOT_RECHECK_S = 30.0
REBUILD_WINDOW = timedelta(minutes=6)


@dataclass
class IngestReport:
    """The outcome of one batch: what was stored, what was a duplicate, what was refused and why."""

    received: int = 0
    telemetry: int = 0
    new_telemetry: int = 0
    duplicates: int = 0
    events: int = 0
    task_events: int = 0
    dead: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    applied_at: float = 0.0
    lag_s: float | None = None


class ShardCore:
    """Everything a fleet shard does, drivable by tests without Ray.

    Args:
        index, count: this shard's place in the layout (robots are owned by ``shard_of``).
        db: where batches are persisted.
        retention: samples older than this are refused (they would land in dropped partitions).
        lake: the shard's share of the Parquet lake, or None.
        publish: called with alert changes (JSON-able dicts) once they are persisted.
    """

    def __init__(
        self,
        index: int,
        count: int,
        db: Database,
        *,
        retention: timedelta = timedelta(days=30),
        lake: ShardLake | None = None,
        publish: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.index, self.count, self.db = index, count, db
        self.retention = retention
        self._lake = lake
        self._publish = publish or (lambda items: None)
        self._writer = TelemetryWriter()
        self._conn: psycopg.Connection | None = None
        self._unknown: dict[tuple[str, str], float] = {}
        self.totals: Counter[str] = Counter()
        # Sample-time-to-durable delays of recent telemetry, in seconds (a bounded sample).
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.dead_totals: Counter[str] = Counter()
        self.state = ShardState()
        # Tenants someone watches live (the hub says which): only their robots' updates are published.
        self.watched_tenants: frozenset[str] = frozenset()
        self.rebuild()
        if lake is not None:
            lake.recover(list(self.state.robots))

    def reload_policies(self) -> None:
        """Read the alert thresholds again (an admin changed a tenant's rules)."""
        from actors.registry import load_policies

        with self.db.connect() as conn:
            self.state.set_policies(policy_lookup(load_policies(conn)))

    def rebuild(self) -> None:
        """Load this shard's robots, their last minutes of samples (or latest one) and open alerts."""
        started = time.monotonic()
        with self.db.connect() as conn:
            from actors.registry import load_policies

            self.state = ShardState(policy_lookup(load_policies(conn)))
            self.state.register(robots_owned(conn, self.index, self.count))
            keys = list(self.state.robots)
            rows = recent_telemetry(conn, keys, since=datetime.now(UTC) - REBUILD_WINDOW) if keys else []
            recent = {(row["tenant_id"], row["robot_id"]) for row in rows}
            quiet = [key for key in keys if key not in recent]
            rows = (latest_per_robot(conn, quiet) if quiet else []) + rows
            alerts = open_alerts(conn, keys) if keys else []
        stored = [telemetry_from_row(row) for row in rows]
        documents = [sample.model_dump_json().encode() for sample in stored]
        self.state.apply(Intake(telemetry=[TELEMETRY.from_model(sample) for sample in stored], documents=documents))
        self.state.restore_alerts(alerts)
        logger.info(
            "shard %s/%s rebuilt %s robots from %s samples in %.1f s",
            self.index,
            self.count,
            len(keys),
            len(rows),
            time.monotonic() - started,
        )

    def _learn_robots(self, keys: set[tuple[str, str]]) -> bool:
        """Look up robots this shard does not know (registered since it started), at most every 30 s each;
        return whether any of them turned out to be this shard's."""
        now = time.monotonic()
        unseen = {key for key in keys if now - self._unknown.get(key, -1e9) > UNKNOWN_ROBOT_RECHECK_S}
        if not unseen:
            return False
        with self.db.connect() as conn:
            found = lookup_robots(conn, unseen)
        mine = [r for r in found if shard_of(r.tenant_id, r.robot_id, self.count) == self.index]
        self.state.register(mine)
        for key in unseen - {(r.tenant_id, r.robot_id) for r in found}:
            self._unknown[key] = now
        return bool(mine)

    def ingest(self, messages: Sequence[RawMessage]) -> IngestReport:
        """Validate, persist and apply a batch. Returns once it is durable in PostgreSQL.

        If persisting fails the live state is rebuilt from PostgreSQL and the error propagates, so
        the ingestor does not acknowledge and the broker redelivers.
        """
        now = datetime.now(UTC)
        intake = sort_batch(messages, now=now, retention=self.retention, known=self.state.robots)
        unknown = {(letter.tenant_id, letter.robot_id) for letter in intake.dead if letter.reason == "unknown_robot"}
        if unknown and self._learn_robots(unknown):  # registered since this shard started: sorted again, known now
            intake = sort_batch(messages, now=now, retention=self.retention, known=self.state.robots)
        result = self.state.apply(intake)
        changes = result.alerts + [c for key in intake.heartbeats for c in self.state.heard(*key, now)]
        report = IngestReport(
            received=len(messages),
            telemetry=len(intake.telemetry),
            events=len(intake.events),
            task_events=len(intake.task_events),
            dead=dict(intake.dead_by_reason),
            alerts=len(changes),
        )
        try:
            conn = self._connection()
            with conn.transaction():
                new, new_rows = self._writer.write_new(conn, intake.telemetry)
                if self._lake is not None:  # the time PostgreSQL stores as received_at places rows in lake windows
                    received_at = conn.execute("SELECT transaction_timestamp()").fetchone()[0]
                write_events(conn, intake.events)
                write_task_events(conn, intake.task_events)
                write_dead_letters(conn, intake.dead)
                write_minute_aggregates(conn, result.closed_minutes)
                persist_alert_changes(conn, changes)
                record_heartbeats(conn, intake.agent_reports)
                record_acks(conn, intake.acks)
        except Exception:
            logger.exception(
                "shard %s could not persist a batch of %s; rebuilding its state", self.index, len(messages)
            )
            self._drop_connection()
            self.rebuild()
            raise
        report.new_telemetry = len(new)
        report.duplicates = report.telemetry - report.new_telemetry
        report.applied_at = time.time()
        step = max(1, len(intake.telemetry) // 200)
        lags = [report.applied_at - m.ts.timestamp() for m in intake.telemetry[::step]]
        self.latencies.extend(lags)
        report.lag_s = max(lags) if lags else None
        self._count(report)
        if self._lake is not None:
            self._lake.add(received_at, telemetry_table(new, new_rows))  # redelivered duplicates are already there
        self._announce(changes)
        if self.watched_tenants:
            self._announce_states(intake.telemetry)
        return report

    def _connection(self) -> psycopg.Connection:
        """The shard's own connection, reopened after a failure (one per shard, not one per batch)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self.db.open(autocommit=True)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def tick(self, now: datetime | None = None) -> int:
        """Evaluate silence-based rules and write finished lake windows; return the number of alert changes."""
        changes = self.state.tick(now or datetime.now(UTC))
        if changes:
            with self.db.connect() as conn:
                persist_alert_changes(conn, changes)
            self._announce(changes)
        if self._lake is not None:
            self._lake.close_before(self._database_now())
        return len(changes)

    def flush_lake(self) -> list[str]:
        """Write every buffered lake row out, and wait (before the shard stops)."""
        return self._lake.close(self._database_now()) if self._lake is not None else []

    def _database_now(self) -> datetime:
        """The database's clock: lake windows are cut on it, as received_at comes from it."""
        return self._connection().execute("SELECT now()").fetchone()[0]

    def _announce(self, changes: list[AlertChange]) -> None:
        if changes:
            robots = self.state.robots
            self._publish(
                [
                    {"kind": "alert", "site_id": robots[(c.tenant_id, c.robot_id)].info.site_id, **c.as_dict()}
                    for c in changes
                    if (c.tenant_id, c.robot_id) in robots
                ]
            )

    def _announce_states(self, samples: Sequence[TelemetryStruct]) -> None:
        """Each watched robot's newest state after this batch, as one update per robot."""
        watched, robots = self.watched_tenants, self.state.robots
        # The batch's sample a robot's state now holds as its latest, where there is one: no need to decode it again.
        newest: dict[tuple[str, str], TelemetryStruct | None] = {}
        for sample in samples:
            if sample.tenant_id in watched:
                key = (sample.tenant_id, sample.robot_id)
                if sample.seq == robots[key].highest_seq:
                    newest[key] = sample
                else:
                    newest.setdefault(key, None)
        if newest:
            self._publish([{"kind": "state", **robots[key].update(newest[key])} for key in sorted(newest)])

    def _count(self, report: IngestReport) -> None:
        self.totals.update(
            received=report.received,
            telemetry=report.telemetry,
            new_telemetry=report.new_telemetry,
            duplicates=report.duplicates,
            events=report.events,
            task_events=report.task_events,
            alerts=report.alerts,
            batches=1,
        )
        self.dead_totals.update(report.dead)

    def stats(self) -> dict[str, Any]:
        """Counters since start, and the shard's size."""
        return {
            "index": self.index,
            "count": self.count,
            "robots": len(self.state.robots),
            "totals": dict(self.totals),
            "dead_letters": dict(self.dead_totals),
        }
