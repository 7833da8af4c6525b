"""Retention of raw telemetry: each day past retention is rolled up to per-minute aggregates, then dropped."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from fleetray.storage.partitions import list_partitions, partition_name
from fleetray.storage.telemetry import rollup_minutes

logger = logging.getLogger(__name__)


def drop_expired_partitions(conn: psycopg.Connection, *, now: datetime, retention_days: int) -> list[str]:
    """Drop whole days of raw telemetry older than ``retention_days``; return the names dropped.

    Each day's per-minute aggregates are (re)computed first, so history outlives the raw data.
    """
    cutoff = now.astimezone(UTC) - timedelta(days=retention_days)
    dropped = []
    for day in list_partitions(conn):
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if day_end > cutoff:
            continue
        rollup_minutes(conn, start=day_end - timedelta(days=1), end=day_end)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(day))))
        dropped.append(partition_name(day))
    if dropped:
        logger.info("dropped expired telemetry partitions %s", ", ".join(dropped))
    return dropped
