"""Daily partitions of the telemetry table: created ahead, listed by day (retention.py drops them)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^telemetry_p(\d{8})$")
_LOCK_KEY = 0x70617274  # "part": serialises partition DDL across processes

# A day's partition only grows, by up to 10,000 rows a second. With PostgreSQL's defaults (vacuum
# after 1,000 inserts plus 20%, analyze after 50 rows plus 10%) autovacuum and autoanalyze run
# dozens of times in the partition's first minutes, competing with ingestion for CPU. Once every
# few hundred thousand rows keeps statistics and the visibility map current at a fraction of that.
PARTITION_AUTOVACUUM = (
    "autovacuum_vacuum_insert_threshold = 500000, autovacuum_analyze_threshold = 200000, "
    "autovacuum_analyze_scale_factor = 0.05"
)


def partition_name(day: date) -> str:
    """The name of the partition holding ``day`` (UTC)."""
    return f"telemetry_p{day:%Y%m%d}"


def ensure_partitions(conn: psycopg.Connection, days: Iterable[date]) -> list[str]:
    """Create the partitions for ``days`` that do not exist yet; return the names created."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    existing = set(list_partitions(conn))
    created = []
    for day in wanted:
        if day in existing:
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF telemetry FOR VALUES FROM ({}) TO ({}) WITH ({})").format(
                sql.Identifier(partition_name(day)),
                sql.Literal(start.isoformat()),
                sql.Literal((start + timedelta(days=1)).isoformat()),
                sql.SQL(PARTITION_AUTOVACUUM),
            )
        )
        created.append(partition_name(day))
    if created:
        logger.info("created telemetry partitions %s", ", ".join(created))
    return created


def premake_partitions(conn: psycopg.Connection, *, now: datetime, days_ahead: int) -> list[str]:
    """Make sure yesterday, today and the next ``days_ahead`` days have partitions."""
    today = now.astimezone(UTC).date()
    return ensure_partitions(conn, (today + timedelta(days=offset) for offset in range(-1, days_ahead + 1)))


def list_partitions(conn: psycopg.Connection) -> list[date]:
    """The days that have a telemetry partition, oldest first."""
    rows = conn.execute(
        """
        SELECT child.relname
        FROM pg_inherits
        JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        WHERE parent.oid = 'telemetry'::regclass
        """
    ).fetchall()
    days = []
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            days.append(datetime.strptime(match[1], "%Y%m%d").date())
    return sorted(days)
