"""The Parquet lake in the object store: ``lake/{dataset}/tenant={t}/date={YYYY-MM-DD}/part-*.parquet``.

Rows are buffered and written in files of ``target_rows``, never one per message; a file's name
is derived from its contents' time range, so writing the same history twice replaces files
rather than duplicating them.
"""

from __future__ import annotations

import hashlib
import logging
import operator
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import accumulate, chain
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from fleetray.errors import LakeError

if TYPE_CHECKING:
    from fleetray.objectstore import ObjectStore
    from fleetray.schemas import Telemetry

logger = logging.getLogger(__name__)

LAKE_PREFIX = "lake"

COMPONENT_TYPE = pa.struct([(name, pa.float64()) for name in ("current_a", "temp_c", "rpm", "usage_h")])
SYSTEM_TYPE = pa.struct([(name, pa.float64()) for name in ("cpu", "mem", "disk", "net")])
_component_values = operator.attrgetter(*COMPONENT_TYPE.names)
_system_values = operator.attrgetter(*SYSTEM_TYPE.names)
TELEMETRY_SCHEMA = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("robot_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("seq", pa.int64()),
        ("status", pa.string()),
        ("task_id", pa.string()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("theta", pa.float64()),
        ("map_id", pa.string()),
        ("linear_velocity", pa.float64()),
        ("angular_velocity", pa.float64()),
        ("battery_soc", pa.float64()),
        ("battery_voltage", pa.float64()),
        ("battery_current", pa.float64()),
        ("battery_temp", pa.float64()),
        ("charging", pa.bool_()),
        ("components", pa.map_(pa.string(), COMPONENT_TYPE)),
        ("system", SYSTEM_TYPE),
        ("metrics", pa.map_(pa.string(), pa.float64())),
    ]
)
"""The lake's telemetry table: the simulator and the live shards both write exactly this."""


_SCALARS = 17  # the columns before components, system and metrics


def telemetry_table(messages: Sequence[Telemetry], rows: Sequence[tuple] | None = None) -> pa.Table:
    """Telemetry messages as a table of :data:`TELEMETRY_SCHEMA`.

    Built column by column from attributes, with structs as tuples: a live shard converts every
    sample it receives, and this is half the cost of going through per-row dicts and model_dump().
    A shard passes the ``rows`` it stored the messages with too (``fleetray.storage.telemetry``'s rows
    start with the same scalar columns in the same order): transposing them is cheaper than reading
    every attribute again.
    """
    if rows is not None:
        columns: list = list(zip(*rows, strict=True))[:_SCALARS] if rows else [[]] * _SCALARS
    else:
        poses = [m.pose for m in messages]
        velocities = [m.velocity for m in messages]
        batteries = [m.battery for m in messages]

        def attribute(objects: list, name: str) -> list:
            return [getattr(o, name) if o is not None else None for o in objects]

        columns = [
            [m.tenant_id for m in messages],
            [m.robot_id for m in messages],
            [m.ts for m in messages],
            [m.seq for m in messages],
            [m.status.value for m in messages],
            [m.task_id for m in messages],
            attribute(poses, "x"),
            attribute(poses, "y"),
            attribute(poses, "theta"),
            attribute(poses, "map_id"),
            attribute(velocities, "linear"),
            attribute(velocities, "angular"),
            attribute(batteries, "soc"),
            attribute(batteries, "voltage"),
            attribute(batteries, "current"),
            attribute(batteries, "temp"),
            attribute(batteries, "charging"),
        ]
    scalars = list(TELEMETRY_SCHEMA)[:_SCALARS]
    arrays = [pa.array(column, type=f.type) for column, f in zip(columns, scalars, strict=True)]
    arrays += [
        _components_array([m.components for m in messages]),
        pa.array([_system_values(m.system) if m.system is not None else None for m in messages], type=SYSTEM_TYPE),
        _metrics_array([m.metrics for m in messages]),
    ]
    return pa.table(arrays, schema=TELEMETRY_SCHEMA)


def _offsets(mappings: list[dict]) -> pa.Array:
    """Where each sample's entries start in the flattened keys and values of a map column."""
    return pa.array(list(accumulate(map(len, mappings), initial=0)), type=pa.int32())


def _components_array(components: list[dict]) -> pa.MapArray:
    """The ``components`` column, from flat columns of names and reading fields (cheaper than a tuple per
    reading for pyarrow to convert)."""
    readings = list(map(_component_values, chain.from_iterable(map(dict.values, components))))
    fields = list(zip(*readings, strict=True)) if readings else [()] * len(COMPONENT_TYPE)
    items = pa.StructArray.from_arrays([pa.array(f, type=pa.float64()) for f in fields], fields=list(COMPONENT_TYPE))
    names = pa.array(list(chain.from_iterable(components)), type=pa.string())
    return pa.MapArray.from_arrays(_offsets(components), names, items, type=TELEMETRY_SCHEMA.field("components").type)


def _metrics_array(metrics: list[dict]) -> pa.MapArray:
    """The ``metrics`` column, from flat columns of names and values."""
    names = pa.array(list(chain.from_iterable(metrics)), type=pa.string())
    values = pa.array(list(chain.from_iterable(map(dict.values, metrics))), type=pa.float64())
    return pa.MapArray.from_arrays(_offsets(metrics), names, values, type=TELEMETRY_SCHEMA.field("metrics").type)


def split_by_tenant_and_day(table: pa.Table) -> Iterator[tuple[tuple[str, str], pa.Table]]:
    """The rows of each (tenant, UTC date of ``ts``) in ``table``: the lake's partitions."""
    if table.num_rows == 0:
        return
    # A cast to dates, not strftime: formatting a string per row cost 17 times as much.
    days = pc.cast(pc.local_timestamp(table["ts"]), pa.date32())
    for tenant in pc.unique(table["tenant_id"]).to_pylist():
        of_tenant = pc.equal(table["tenant_id"], tenant)
        for day in pc.unique(pc.filter(days, of_tenant)).to_pylist():
            yield (tenant, day.isoformat()), table.filter(pc.and_(of_tenant, pc.equal(days, day)))


def write_named(store: ObjectStore, dataset: str, table: pa.Table, name: str) -> list[str]:
    """Write ``table`` as ``{name}.parquet`` in each (tenant, date) partition it has rows for.

    The caller chooses a name that identifies the rows (a shard and a time range, say), so that
    writing the same rows again replaces the files instead of adding copies.
    """
    keys = []
    for (tenant, day), part in split_by_tenant_and_day(table):
        key = f"{LAKE_PREFIX}/{dataset}/tenant={tenant}/date={day}/{name}.parquet"
        with store.open_write(key) as out:
            pq.write_table(part.drop_columns(["tenant_id"]), out, compression="zstd")
        keys.append(key)
    return keys


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
        """Buffer ``table``; full files are written as they fill up.

        Raises:
            LakeError: a full file could not be written (its rows stay buffered).
        """
        for key, part in split_by_tenant_and_day(table):
            self._buffers[key].append(part)
            self._buffered[key] += part.num_rows
            if self._buffered[key] >= self._target_rows:
                self._write(key)

    def flush(self) -> list[str]:
        """Write everything buffered; return the keys of every file written so far.

        Raises:
            LakeError: a file could not be written (its rows stay buffered for the next flush).
        """
        for key in list(self._buffers):
            self._write(key)
        return self.written

    def _write(self, key: tuple[str, str]) -> None:
        tables = self._buffers.pop(key)
        rows = self._buffered.pop(key)
        table = pa.concat_tables(tables).drop_columns(["tenant_id"])
        first = pc.min(table["ts"]).as_py()
        last = pc.max(table["ts"]).as_py()
        digest = hashlib.sha1(f"{first}{last}{table.num_rows}".encode()).hexdigest()[:8]
        tenant, day = key
        object_key = (
            f"{LAKE_PREFIX}/{self._dataset}/tenant={tenant}/date={day}/"
            f"part-{first:%H%M%S}-{last:%H%M%S}-{digest}.parquet"
        )
        try:
            with self._store.open_write(object_key) as out:
                pq.write_table(table, out, compression="zstd")
        except Exception as err:
            self._buffers[key], self._buffered[key] = tables, rows
            raise LakeError(f"could not write {object_key}: {err}; its {rows} rows stay buffered") from err
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
