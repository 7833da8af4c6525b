"""The Parquet lake in the object store: ``lake/{dataset}/tenant={t}/date={YYYY-MM-DD}/part-*.parquet``.

Rows are buffered and written in files of ``target_rows``, never one per message; a file's name
is derived from its contents' time range, so writing the same history twice replaces files
rather than duplicating them.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from fleetray.objectstore import ObjectStore
    from fleetray.schemas import Telemetry

logger = logging.getLogger(__name__)

LAKE_PREFIX = "lake"

COMPONENT_TYPE = pa.struct([(name, pa.float64()) for name in ("current_a", "temp_c", "rpm", "usage_h")])
SYSTEM_TYPE = pa.struct([(name, pa.float64()) for name in ("cpu", "mem", "disk", "net")])
TELEMETRY_SCHEMA = pa.schema([
    ("tenant_id", pa.string()), ("robot_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
    ("seq", pa.int64()), ("status", pa.string()), ("task_id", pa.string()),
    ("x", pa.float64()), ("y", pa.float64()), ("theta", pa.float64()), ("map_id", pa.string()),
    ("linear_velocity", pa.float64()), ("angular_velocity", pa.float64()),
    ("battery_soc", pa.float64()), ("battery_voltage", pa.float64()), ("battery_current", pa.float64()),
    ("battery_temp", pa.float64()), ("charging", pa.bool_()),
    ("components", pa.map_(pa.string(), COMPONENT_TYPE)), ("system", SYSTEM_TYPE),
    ("metrics", pa.map_(pa.string(), pa.float64())),
])  # fmt: skip
"""The lake's telemetry table: the simulator and the live shards both write exactly this."""


def telemetry_table(messages: Sequence[Telemetry]) -> pa.Table:
    """Telemetry messages as a table of :data:`TELEMETRY_SCHEMA`."""
    rows = []
    for m in messages:
        pose, velocity, battery = m.pose, m.velocity, m.battery
        rows.append({
            "tenant_id": m.tenant_id, "robot_id": m.robot_id, "ts": m.ts, "seq": m.seq, "status": m.status.value,
            "task_id": m.task_id, "x": pose.x if pose else None, "y": pose.y if pose else None,
            "theta": pose.theta if pose else None, "map_id": pose.map_id if pose else None,
            "linear_velocity": velocity.linear if velocity else None,
            "angular_velocity": velocity.angular if velocity else None,
            "battery_soc": battery.soc if battery else None, "battery_voltage": battery.voltage if battery else None,
            "battery_current": battery.current if battery else None,
            "battery_temp": battery.temp if battery else None, "charging": battery.charging if battery else None,
            "components": [(name, reading.model_dump()) for name, reading in m.components.items()],
            "system": m.system.model_dump() if m.system else None,
            "metrics": list(m.metrics.items()),
        })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=TELEMETRY_SCHEMA)


class LakeWriter:
    """Buffers Arrow tables with ``tenant_id`` and ``ts`` columns and writes them as Parquet files.

    Args:
        store: where the lake lives.
        dataset: the lake's table (``telemetry``, ``wear``...).
        target_rows: rows per file; the last file of a flush may be smaller.
    """

    def __init__(self, store: ObjectStore, dataset: str, *, target_rows: int = 500_000) -> None:
        self._store = store
        self._dataset = dataset
        self._target_rows = target_rows
        self._buffers: dict[tuple[str, str], list[pa.Table]] = defaultdict(list)
        self._buffered: dict[tuple[str, str], int] = defaultdict(int)
        self.written: list[str] = []

    def append(self, table: pa.Table) -> None:
        """Buffer ``table``; full files are written as they fill up."""
        if table.num_rows == 0:
            return
        dates = pc.strftime(table["ts"], format="%Y-%m-%d")
        for tenant in pc.unique(table["tenant_id"]).to_pylist():
            of_tenant = pc.equal(table["tenant_id"], tenant)
            for day in pc.unique(pc.filter(dates, of_tenant)).to_pylist():
                part = table.filter(pc.and_(of_tenant, pc.equal(dates, day)))
                key = (tenant, day)
                self._buffers[key].append(part)
                self._buffered[key] += part.num_rows
                if self._buffered[key] >= self._target_rows:
                    self._write(key)

    def flush(self) -> list[str]:
        """Write everything buffered; return the keys of every file written so far."""
        for key in list(self._buffers):
            self._write(key)
        return self.written

    def _write(self, key: tuple[str, str]) -> None:
        tables = self._buffers.pop(key)
        self._buffered.pop(key)
        table = pa.concat_tables(tables).drop_columns(["tenant_id"])
        first = pc.min(table["ts"]).as_py()
        last = pc.max(table["ts"]).as_py()
        digest = hashlib.sha1(f"{first}{last}{table.num_rows}".encode()).hexdigest()[:8]
        tenant, day = key
        object_key = (
            f"{LAKE_PREFIX}/{self._dataset}/tenant={tenant}/date={day}/"
            f"part-{first:%H%M%S}-{last:%H%M%S}-{digest}.parquet"
        )
        with self._store.open_write(object_key) as out:
            pq.write_table(table, out, compression="zstd")
        self.written.append(object_key)
        logger.debug("wrote %s rows to %s", table.num_rows, object_key)


def write_table(store: ObjectStore, dataset: str, tenant_id: str, name: str, table: pa.Table) -> str:
    """Write one whole table (ground truth exports, say) at ``lake/{dataset}/tenant={t}/{name}.parquet``."""
    key = f"{LAKE_PREFIX}/{dataset}/tenant={tenant_id}/{name}.parquet"
    with store.open_write(key) as out:
        pq.write_table(table, out, compression="zstd")
    return key


def read_lake(
    store: ObjectStore,
    dataset: str,
    *,
    tenant_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pa.Table:
    """Read a lake dataset (optionally one tenant's rows in ``[start, end)``) as one Arrow table."""
    base = store.path(f"{LAKE_PREFIX}/{dataset}")
    data = pads.dataset(base, filesystem=store.filesystem, format="parquet", partitioning="hive")
    condition = None
    if tenant_id is not None:
        condition = pads.field("tenant") == tenant_id
    for bound, op in ((start, "ge"), (end, "lt")):
        if bound is not None:
            clause = getattr(pc, {"ge": "greater_equal", "lt": "less"}[op])(
                pads.field("ts"), pa.scalar(bound.astimezone(UTC), pa.timestamp("us", tz="UTC"))
            )
            condition = clause if condition is None else condition & clause
    return data.to_table(filter=condition)
