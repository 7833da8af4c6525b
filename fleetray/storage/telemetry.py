"""Raw telemetry: idempotent batched writes, reads, and per-minute rollups."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel

from fleetray.errors import StorageError
from fleetray.schemas import Telemetry
from fleetray.storage._copy import copy_idempotent, copy_if_all_new, copy_into_stage
from fleetray.storage.partitions import ensure_partitions

# Each column of a telemetry row with its PostgreSQL type (rows are written with binary COPY).
TELEMETRY_FIELDS = (
    ("tenant_id", "text"),
    ("robot_id", "text"),
    ("ts", "timestamptz"),
    ("seq", "int8"),
    ("status", "text"),
    ("task_id", "text"),
    ("x", "float8"),
    ("y", "float8"),
    ("theta", "float8"),
    ("map_id", "text"),
    ("linear_velocity", "float8"),
    ("angular_velocity", "float8"),
    ("battery_soc", "float8"),
    ("battery_voltage", "float8"),
    ("battery_current", "float8"),
    ("battery_temp", "float8"),
    ("charging", "bool"),
    ("components", "jsonb"),
    ("system", "jsonb"),
    ("metrics", "jsonb"),
)
TELEMETRY_COLUMNS = tuple(name for name, _ in TELEMETRY_FIELDS)
TELEMETRY_TYPES = tuple(kind for _, kind in TELEMETRY_FIELDS)
TS_INDEX = TELEMETRY_COLUMNS.index("ts")


def _readings(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


# The jsonb columns hold readings without the values they lack. The shards' compiled structs encode that way
# by themselves (fleetray.wire); pydantic models (tests, tools) are dumped the same way first.
_JSON = msgspec.json.Encoder(enc_hook=_readings)


def telemetry_row(message: Telemetry) -> tuple:
    """One Telemetry message (or the shards' compiled struct of one) as a row in :data:`TELEMETRY_COLUMNS` order."""
    pose, velocity, battery = message.pose, message.velocity, message.battery
    return (
        message.tenant_id,
        message.robot_id,
        message.ts,
        message.seq,
        message.status.value,
        message.task_id,
        pose.x if pose else None,
        pose.y if pose else None,
        pose.theta if pose else None,
        pose.map_id if pose else None,
        velocity.linear if velocity else None,
        velocity.angular if velocity else None,
        battery.soc if battery else None,
        battery.voltage if battery else None,
        battery.current if battery else None,
        battery.temp if battery else None,
        battery.charging if battery else None,
        _JSON.encode(message.components),
        _JSON.encode(message.system) if message.system else None,
        _JSON.encode(message.metrics),
    )


class TelemetryWriter:
    """Writes batches of telemetry rows; a batch written twice changes nothing.

    Keeps the set of partitions it has seen, so the partition check costs a query only when a
    batch reaches a day it has not written before.
    """

    def __init__(self) -> None:
        self._known_days: set[date] = set()

    def write(self, conn: psycopg.Connection, rows: Sequence[tuple]) -> int:
        """Insert ``rows`` (in :data:`TELEMETRY_COLUMNS` order); return how many were new."""
        if not rows:
            return 0
        missing = {row[TS_INDEX].astimezone(UTC).date() for row in rows} - self._known_days
        if missing:
            ensure_partitions(conn, missing)
            self._known_days |= missing
        return copy_idempotent(conn, "telemetry", TELEMETRY_COLUMNS, rows, TELEMETRY_TYPES)

    def write_messages(self, conn: psycopg.Connection, messages: Sequence[Telemetry]) -> list[Telemetry]:
        """Insert validated Telemetry messages; return those that were new (not stored before)."""
        return self.write_new(conn, messages)[0]

    def write_new(self, conn: psycopg.Connection, messages: Sequence[Telemetry]) -> tuple[list[Telemetry], list[tuple]]:
        """Insert validated Telemetry messages; return those that were new, and their rows (see
        :func:`telemetry_row`: a shard's lake table takes its columns from them)."""
        rows = [telemetry_row(message) for message in messages]
        stored = self.write(conn, rows)
        if stored == len(messages):
            return list(messages), rows
        # Some were stored before (a redelivery): the staged rows this transaction inserted are the new ones.
        new_keys = set(
            conn.execute("""
            SELECT s.tenant_id, s.robot_id, s.ts, s.seq FROM telemetry_stage s
            JOIN telemetry t USING (tenant_id, robot_id, ts, seq)
            WHERE t.xmin = pg_current_xact_id()::xid
        """).fetchall()
        )
        fresh, fresh_rows = [], []
        for message, row in zip(messages, rows, strict=True):
            key = row[:4]  # tenant_id, robot_id, ts, seq
            if key in new_keys:  # a key twice in one batch was stored once: count its first copy only
                new_keys.discard(key)
                fresh.append(message)
                fresh_rows.append(row)
        return fresh, fresh_rows


def read_telemetry(
    conn: psycopg.Connection,
    tenant_id: str,
    robot_id: str,
    *,
    start: datetime,
    end: datetime,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Raw samples of one robot in ``[start, end)``, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            SELECT {", ".join(TELEMETRY_COLUMNS)} FROM telemetry
            WHERE tenant_id = %s AND robot_id = %s AND ts >= %s AND ts < %s
            ORDER BY ts, seq LIMIT %s
            """,
            (tenant_id, robot_id, start, end, limit),
        )
        return cur.fetchall()


def latest_telemetry(conn: psycopg.Connection, tenant_id: str, *, since: datetime) -> list[dict[str, Any]]:
    """The newest sample of every robot of a tenant heard from since ``since``."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT DISTINCT ON (robot_id) robot_id, ts, seq, status, battery_soc, task_id, x, y
            FROM telemetry WHERE tenant_id = %s AND ts >= %s
            ORDER BY robot_id, ts DESC
            """,
            (tenant_id, since),
        )
        return cur.fetchall()


def read_minutes(
    conn: psycopg.Connection,
    tenant_id: str,
    robot_id: str,
    *,
    metric: str,
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """Per-minute aggregates of one metric (e.g. ``components.main_brush.current_a``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT bucket, n, mean, min, max, last FROM telemetry_1m
            WHERE tenant_id = %s AND robot_id = %s AND metric = %s AND bucket >= %s AND bucket < %s
            ORDER BY bucket
            """,
            (tenant_id, robot_id, metric, start, end),
        )
        return cur.fetchall()


_ROLLUP = """
WITH samples AS (
    SELECT t.tenant_id, t.robot_id, t.ts, s.metric, s.value
    FROM telemetry t
    CROSS JOIN LATERAL (
        VALUES ('battery.soc', t.battery_soc), ('battery.voltage', t.battery_voltage),
               ('battery.current', t.battery_current), ('battery.temp', t.battery_temp),
               ('velocity.linear', t.linear_velocity), ('velocity.angular', t.angular_velocity)
        UNION ALL
        SELECT 'components.' || c.key || '.' || f.key, f.value::double precision
        FROM jsonb_each(t.components) c, jsonb_each_text(c.value) f
        UNION ALL
        SELECT 'metrics.' || m.key, m.value::double precision FROM jsonb_each_text(t.metrics) m
        UNION ALL
        SELECT 'system.' || y.key, y.value::double precision
        FROM jsonb_each_text(coalesce(t.system, '{}'::jsonb)) y
    ) AS s(metric, value)
    WHERE t.ts >= %(start)s AND t.ts < %(end)s AND s.value IS NOT NULL
      AND (%(tenant)s::text IS NULL OR t.tenant_id = %(tenant)s::text)
)
INSERT INTO telemetry_1m (tenant_id, robot_id, bucket, metric, n, mean, min, max, last,
                          std, p05, p50, p95, slope_per_s, rate_hz, anomaly)
SELECT tenant_id, robot_id, date_trunc('minute', ts), metric,
       count(*), avg(value), min(value), max(value), (array_agg(value ORDER BY ts DESC))[1],
       stddev_pop(value),
       percentile_cont(0.05) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value),
       coalesce(regr_slope(value, extract(epoch FROM ts)), 0),
       coalesce((count(*) - 1) / nullif(extract(epoch FROM max(ts) - min(ts)), 0), 0),
       NULL  -- anomaly scores exist only where samples were scored as they came (the shards)
FROM samples
GROUP BY tenant_id, robot_id, date_trunc('minute', ts), metric
ON CONFLICT (tenant_id, robot_id, bucket, metric) DO UPDATE
SET n = EXCLUDED.n, mean = EXCLUDED.mean, min = EXCLUDED.min, max = EXCLUDED.max, last = EXCLUDED.last,
    std = EXCLUDED.std, p05 = EXCLUDED.p05, p50 = EXCLUDED.p50, p95 = EXCLUDED.p95,
    slope_per_s = EXCLUDED.slope_per_s, rate_hz = EXCLUDED.rate_hz, anomaly = EXCLUDED.anomaly
"""


def rollup_minutes(conn: psycopg.Connection, *, start: datetime, end: datetime, tenant_id: str | None = None) -> int:
    """(Re)compute per-minute aggregates of every numeric signal in ``[start, end)``.

    Idempotent: a minute computed twice holds the same values. Give minute-aligned bounds, or the
    first and last minutes are aggregated from part of their samples.
    """
    return conn.execute(_ROLLUP, {"start": start, "end": end, "tenant": tenant_id}).rowcount


MINUTE_COLUMNS = (
    "tenant_id",
    "robot_id",
    "bucket",
    "metric",
    "n",
    "mean",
    "min",
    "max",
    "last",
    "std",
    "p05",
    "p50",
    "p95",
    "slope_per_s",
    "rate_hz",
    "anomaly",
)
MINUTE_TYPES = ("text", "text", "timestamptz", "text", "int4", *["float8"] * 11)
BASIC_MINUTE_COLUMNS = 9  # up to ``last``: what the simulator's vectorised rollup computes


def write_minute_aggregates(conn: psycopg.Connection, rows: Sequence[tuple]) -> int:
    """Store per-minute aggregates computed elsewhere (shards, the simulator), replacing older figures.

    Rows are in :data:`MINUTE_COLUMNS` order, either all of them (the shards' windows) or the first
    :data:`BASIC_MINUTE_COLUMNS` (the rest stored as NULL). They must cover whole minutes: a minute
    written twice keeps the second figures.
    """
    if not rows:
        return 0
    width = len(rows[0])
    if width not in (BASIC_MINUTE_COLUMNS, len(MINUTE_COLUMNS)):
        raise StorageError(
            f"minute aggregate rows have {width} values; expected {BASIC_MINUTE_COLUMNS} or "
            f"{len(MINUTE_COLUMNS)} ({', '.join(MINUTE_COLUMNS)})"
        )
    columns = MINUTE_COLUMNS[:width]
    if copy_if_all_new(conn, "telemetry_1m", columns, rows, MINUTE_TYPES[:width]):
        return len(rows)
    copy_into_stage(conn, "telemetry_1m", columns, rows, MINUTE_TYPES[:width])
    listed = ", ".join(columns)  # this module's constants, never input
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in MINUTE_COLUMNS[4:])
    return conn.execute(
        f"""
        INSERT INTO telemetry_1m ({listed}) SELECT {listed} FROM telemetry_1m_stage
        ON CONFLICT (tenant_id, robot_id, bucket, metric) DO UPDATE SET {updates}
        """
    ).rowcount


def telemetry_from_row(row: dict[str, Any]) -> Telemetry:
    """Rebuild a Telemetry message from a stored row (the inverse of :func:`telemetry_row`)."""
    data: dict[str, Any] = {
        "tenant_id": row["tenant_id"],
        "robot_id": row["robot_id"],
        "ts": row["ts"],
        "seq": row["seq"],
        "status": row["status"],
        "task_id": row["task_id"],
        "components": row["components"] or {},
        "system": row["system"],
        "metrics": row["metrics"] or {},
    }
    if row["x"] is not None:
        data["pose"] = {"x": row["x"], "y": row["y"], "theta": row["theta"], "map_id": row["map_id"]}
    if row["linear_velocity"] is not None:
        data["velocity"] = {"linear": row["linear_velocity"], "angular": row["angular_velocity"]}
    if row["battery_soc"] is not None:
        data["battery"] = {
            "soc": row["battery_soc"],
            "voltage": row["battery_voltage"],
            "current": row["battery_current"],
            "temp": row["battery_temp"],
            "charging": bool(row["charging"]),
        }
    return Telemetry.model_validate(data)


def recent_telemetry(
    conn: psycopg.Connection, robots: Sequence[tuple[str, str]], *, since: datetime
) -> list[dict[str, Any]]:
    """Raw samples of ``robots`` since ``since``, per robot oldest first (to rebuild live state)."""
    tenants = [t for t, _ in robots]
    robot_ids = [r for _, r in robots]
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            SELECT {", ".join(TELEMETRY_COLUMNS)} FROM telemetry
            WHERE ts >= %s AND (tenant_id, robot_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
            ORDER BY tenant_id, robot_id, seq
            """,
            (since, tenants, robot_ids),
        )
        return cur.fetchall()


def received_since(
    conn: psycopg.Connection, robots: Sequence[tuple[str, str]], *, since: datetime, chunk_rows: int = 20_000
) -> Iterator[list[dict[str, Any]]]:
    """Samples of ``robots`` stored at or after ``since`` (``received_at``), in the order received, in chunks.

    Streams through a server-side cursor (the connection must be in a transaction), so minutes of a
    large fleet's samples never sit in memory at once.
    """
    with conn.cursor(name="received_since", row_factory=dict_row) as cur:
        cur.execute(
            f"""
            SELECT {", ".join(TELEMETRY_COLUMNS)}, received_at FROM telemetry
            WHERE received_at >= %s AND (tenant_id, robot_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
            ORDER BY received_at, tenant_id, robot_id, seq
            """,
            (since, [t for t, _ in robots], [r for _, r in robots]),
        )
        while rows := cur.fetchmany(chunk_rows):
            yield rows


def latest_per_robot(conn: psycopg.Connection, robots: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The newest stored sample of each of ``robots`` (one index probe per robot and partition)."""
    columns = ", ".join(f"t.{name}" for name in TELEMETRY_COLUMNS)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            SELECT {columns} FROM unnest(%s::text[], %s::text[]) AS k(tenant_id, robot_id)
            CROSS JOIN LATERAL (
                SELECT * FROM telemetry WHERE tenant_id = k.tenant_id AND robot_id = k.robot_id
                ORDER BY ts DESC, seq DESC LIMIT 1
            ) t
            """,
            ([t for t, _ in robots], [r for _, r in robots]),
        )
        return cur.fetchall()
