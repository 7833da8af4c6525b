"""Where simulated output goes: PostgreSQL, the Parquet lake, the ground-truth exports."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from fleetray.inventory import TenantRecord
from fleetray.lake import LakeWriter, write_table
from fleetray.sim.columns import minute_aggregates
from fleetray.storage.events import write_events, write_task_events
from fleetray.storage.fleet import upsert_robots, upsert_sites, upsert_tenant, write_maintenance
from fleetray.storage.telemetry import TelemetryWriter, rollup_minutes, write_minute_aggregates

if TYPE_CHECKING:
    from fleetray.objectstore import ObjectStore
    from fleetray.sim.engine import FleetSimulator, SimChunk
    from fleetray.storage import Database

logger = logging.getLogger(__name__)


@dataclass
class PersistReport:
    """What was written."""

    telemetry_rows: int = 0
    new_telemetry_rows: int = 0
    events: int = 0
    task_events: int = 0
    maintenance: int = 0
    failures: int = 0
    lake_files: list[str] = field(default_factory=list)
    ground_truth_files: list[str] = field(default_factory=list)


def register_fleet(db: Database, sim: FleetSimulator) -> None:
    """Create the simulated tenant, its sites and robots (idempotent)."""
    with db.connect() as conn:
        upsert_tenant(
            conn, TenantRecord(tenant_id=sim.config.tenant_id, name=f"Simulated fleet {sim.config.tenant_id}")
        )
        upsert_sites(conn, sim.sites)
        upsert_robots(conn, sim.robots)


class ChunkPersister:
    """Writes simulator chunks to the database and (optionally) the lake, keeping the ground truth.

    Chunks that cover whole minutes get their per-minute aggregates computed from the columns;
    any other chunks (the live one-second ticks) are rolled up in SQL each time a minute closes.
    """

    def __init__(self, db: Database, store: ObjectStore | None) -> None:
        self._db = db
        self._open_minute: datetime | None = None
        self._store = store
        self._writer = TelemetryWriter()
        self._lake = LakeWriter(store, "telemetry") if store is not None else None
        self._wear: list[pa.Table] = []
        self._failures: list[dict[str, object]] = []
        self._maintenance: list[dict[str, object]] = []
        self.report = PersistReport()

    def write(self, chunk: SimChunk) -> None:
        """Persist one chunk in one transaction."""
        rows = chunk.telemetry.to_rows()
        whole_minutes = chunk.start.second == 0 and chunk.end.second == 0
        with self._db.connect() as conn:
            self.report.new_telemetry_rows += self._writer.write(conn, rows)
            if whole_minutes:
                write_minute_aggregates(conn, minute_aggregates(chunk.telemetry))
            else:
                self._roll_closed_minutes(conn, chunk.start, chunk.end)
            self.report.events += write_events(conn, chunk.events)
            self.report.task_events += write_task_events(conn, chunk.task_events)
            self.report.maintenance += write_maintenance(conn, chunk.maintenance)
        self.report.telemetry_rows += len(rows)
        self.report.failures += len(chunk.failures)
        if self._lake is not None:
            self._lake.append(chunk.telemetry.to_arrow())
            self._wear.append(chunk.wear.to_arrow())
            self._failures.extend(dataclasses.asdict(f) for f in chunk.failures)
            self._maintenance.extend(m.model_dump() for m in chunk.maintenance)

    def _roll_closed_minutes(self, conn: object, start: datetime, end: datetime) -> None:
        minute = end.replace(second=0)
        if self._open_minute is None:
            self._open_minute = start.replace(second=0)
        if minute > self._open_minute:
            rollup_minutes(conn, start=self._open_minute, end=minute)
            self._open_minute = minute

    def finish(self, tenant_id: str, start: datetime, end: datetime) -> PersistReport:
        """Flush the lake, roll up a trailing partial minute and export the ground truth."""
        if self._open_minute is not None:
            with self._db.connect() as conn:
                rollup_minutes(conn, start=self._open_minute, end=end + timedelta(minutes=1), tenant_id=tenant_id)
        if self._lake is not None and self._store is not None:
            self.report.lake_files = self._lake.flush()
            stamp = f"{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}"
            exports = {
                "wear": pa.concat_tables(self._wear) if self._wear else None,
                "failures": pa.Table.from_pylist(self._failures) if self._failures else None,
                "maintenance": pa.Table.from_pylist(self._maintenance) if self._maintenance else None,
            }
            for name, table in exports.items():
                if table is not None:
                    key = write_table(self._store, f"ground_truth/{name}", tenant_id, stamp, table)
                    self.report.ground_truth_files.append(key)
        return self.report


def write_history(
    sim: FleetSimulator,
    db: Database,
    store: ObjectStore | None,
    seconds: int,
    *,
    chunk_s: int = 900,
    on_progress: Callable[[int], None] | None = None,
) -> PersistReport:
    """Simulate ``seconds`` as fast as possible and persist everything.

    Start the simulator on a whole minute (:func:`fleetray.sim.history_start` does) and keep
    ``chunk_s`` a multiple of 60, so each chunk's minute aggregates are complete.

    Args:
        on_progress: called with the simulated seconds of each chunk once it is stored.
    """
    register_fleet(db, sim)
    persister = ChunkPersister(db, store)
    start = sim.time
    for chunk in sim.run(seconds, chunk_s=chunk_s):
        persister.write(chunk)
        if on_progress is not None:
            on_progress(int((chunk.end - chunk.start).total_seconds()))
    report = persister.finish(sim.config.tenant_id, start, sim.time)
    logger.info("simulated %s s of %s robots: %s telemetry rows", seconds, sim.n, report.telemetry_rows)
    return report


def utc_now_whole_second() -> datetime:
    """Now, truncated to the second (the simulator's clock ticks in whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)
