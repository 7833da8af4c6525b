"""Where each shard's share of the Parquet lake is written up to (table ``lake_checkpoints``)."""

from __future__ import annotations

from datetime import datetime

import psycopg


def read_checkpoint(conn: psycopg.Connection, shard_index: int, shard_count: int) -> datetime | None:
    """The shard's checkpoint: every row its robots received before it is in the lake. None at first."""
    row = conn.execute(
        "SELECT written_through FROM lake_checkpoints WHERE shard_index = %s AND shard_count = %s",
        (shard_index, shard_count),
    ).fetchone()
    return row[0] if row else None


def write_checkpoint(conn: psycopg.Connection, shard_index: int, shard_count: int, written_through: datetime) -> None:
    """Move the shard's checkpoint forward (never back)."""
    conn.execute(
        """
        INSERT INTO lake_checkpoints (shard_index, shard_count, written_through) VALUES (%s, %s, %s)
        ON CONFLICT (shard_index, shard_count) DO UPDATE
        SET written_through = greatest(lake_checkpoints.written_through, EXCLUDED.written_through)
        """,
        (shard_index, shard_count, written_through),
    )
