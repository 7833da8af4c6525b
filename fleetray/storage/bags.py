"""The bag index: each bag processed once per tenant and content hash, its topics, events and status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from fleetray.errors import NotFoundError

STALE_RUNNING_S = 3600  # a bag "processing" this long lost its worker; another may claim it


@dataclass(frozen=True)
class Claim:
    """The outcome of offering a bag: its id, and whether this caller should process it now."""

    bag_id: int
    process: bool
    status: str


def claim_bag(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    content_hash: str,
    uri: str,
    robot_id: str | None,
    trigger: str | None,
    received_via: str,
    size_bytes: int,
    retry_failed: bool = False,
) -> Claim:
    """Register a bag and claim it for processing, unless its content was processed (or is being) already.

    A bag whose processing failed is claimed again only with ``retry_failed``; one left ``processing``
    for over an hour (its worker died) is claimed again.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "INSERT INTO bags (tenant_id, content_hash, uri, robot_id, trigger, received_via, size_bytes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, content_hash) DO NOTHING",
            (tenant_id, content_hash, uri, robot_id, trigger, received_via, size_bytes),
        )
        row = cur.execute(
            "UPDATE bags SET status = 'processing', attempts = attempts + 1, started_at = now(), error = NULL"
            " WHERE tenant_id = %s AND content_hash = %s AND (status = 'pending'"
            "  OR (status = 'processing' AND started_at < now() - make_interval(secs => %s))"
            "  OR (status = 'failed' AND %s)) RETURNING bag_id, status",
            (tenant_id, content_hash, STALE_RUNNING_S, retry_failed),
        ).fetchone()
        if row is not None:
            return Claim(row["bag_id"], True, "processing")
        row = cur.execute(
            "SELECT bag_id, status FROM bags WHERE tenant_id = %s AND content_hash = %s", (tenant_id, content_hash)
        ).fetchone()
    return Claim(row["bag_id"], False, row["status"])


def finish_bag(
    conn: psycopg.Connection,
    bag_id: int,
    *,
    summary: dict[str, Any],
    topics: list[dict[str, Any]],
    events: list[dict[str, Any]],
    output_uri: str,
    decode_s: float,
    recovery: list[dict[str, Any]] | None = None,
) -> None:
    """Record what a processed bag holds, and mark it done; partial where its files were recovered by a scan
    (``recovery``: per file, what was wrong and what was lost)."""
    conn.execute(
        "UPDATE bags SET status = %s, finished_at = now(), format = %s, start_time = %s, end_time = %s,"
        " duration_s = %s, message_count = %s, robot_id = coalesce(robot_id, %s), trigger = coalesce(trigger, %s),"
        " metadata = %s, output_uri = %s, decode_s = %s, recovery = %s WHERE bag_id = %s",
        (
            "partial" if recovery else "done",
            summary["format"],
            summary["start"],
            summary["end"],
            summary["duration_s"],
            summary["message_count"],
            summary.get("robot"),
            summary.get("trigger"),
            Jsonb(summary.get("metadata", {})),
            output_uri,
            decode_s,
            Jsonb(recovery) if recovery else None,
            bag_id,
        ),
    )
    conn.execute("DELETE FROM bag_topics WHERE bag_id = %s", (bag_id,))
    conn.execute("DELETE FROM bag_events WHERE bag_id = %s", (bag_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bag_topics (bag_id, topic, msgtype, message_count, frequency_hz, decoded_rows, problem, stats)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    bag_id,
                    t["topic"],
                    t["msgtype"],
                    t["count"],
                    t["frequency_hz"],
                    t.get("rows"),
                    t.get("problem"),
                    Jsonb(t.get("stats", {})),
                )
                for t in topics
            ],
        )
        with cur.copy("COPY bag_events (bag_id, ts, level, source, code, message, topic) FROM STDIN") as copy:
            for e in events:
                copy.write_row((bag_id, e["ts"], e["level"], e["source"], e["code"], e["message"], e["topic"]))


def fail_bag(conn: psycopg.Connection, bag_id: int, error: str) -> None:
    """Mark a bag failed, with why (it is not tried again unless asked)."""
    conn.execute(
        "UPDATE bags SET status = 'failed', error = %s, finished_at = now() WHERE bag_id = %s", (error[:2000], bag_id)
    )


def remember_definitions(conn: psycopg.Connection, definitions: dict[str, tuple[str, str]]) -> None:
    """Keep message definitions a bag carried, for later bags of those types that carry none."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO message_definitions (msgtype, definition, encoding) VALUES (%s, %s, %s)"
            " ON CONFLICT (msgtype) DO UPDATE SET definition = excluded.definition, encoding = excluded.encoding,"
            " seen_at = now()",
            [(msgtype, text, encoding) for msgtype, (text, encoding) in definitions.items()],
        )


def known_definitions(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    """Every remembered message definition: type -> (text, encoding)."""
    return {
        row[0]: (row[1], row[2])
        for row in conn.execute("SELECT msgtype, definition, encoding FROM message_definitions")
    }


def search_bags(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    robot_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    topic: str | None = None,
    msgtype: str | None = None,
    error_code: str | None = None,
    trigger: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The tenant's bags matching every filter given, newest first. A time range matches bags overlapping it."""
    filters = (
        ("b.robot_id = %s", robot_id),
        ("b.trigger = %s", trigger),
        ("b.status = %s", status),
        ("b.end_time >= %s", since),
        ("b.start_time <= %s", until),
        ("EXISTS (SELECT 1 FROM bag_topics t WHERE t.bag_id = b.bag_id AND t.topic = %s)", topic),
        ("EXISTS (SELECT 1 FROM bag_topics t WHERE t.bag_id = b.bag_id AND t.msgtype = %s)", msgtype),
        ("EXISTS (SELECT 1 FROM bag_events e WHERE e.bag_id = b.bag_id AND e.code = %s)", error_code),
    )
    clauses = ["b.tenant_id = %s", *(clause for clause, value in filters if value is not None)]
    args = [tenant_id, *(value for _, value in filters if value is not None)]
    query = (
        "SELECT b.*, (SELECT count(*) FROM bag_events e WHERE e.bag_id = b.bag_id) AS events,"
        " (SELECT coalesce(array_agg(t.topic ORDER BY t.topic), '{}') FROM bag_topics t WHERE t.bag_id = b.bag_id)"
        " AS topics FROM bags b WHERE "
        + " AND ".join(clauses)
        + " ORDER BY b.start_time DESC NULLS LAST, b.bag_id DESC"
        " LIMIT %s"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [*args, limit]).fetchall()


def bag_topics(conn: psycopg.Connection, bag_id: int) -> list[dict[str, Any]]:
    """A bag's topics with their statistics."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM bag_topics WHERE bag_id = %s ORDER BY topic", (bag_id,)).fetchall()


def bag_events(conn: psycopg.Connection, bag_id: int) -> list[dict[str, Any]]:
    """A bag's warnings and errors, in time order."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM bag_events WHERE bag_id = %s ORDER BY ts", (bag_id,)).fetchall()


def read_bag(conn: psycopg.Connection, tenant_id: str, bag_id: int) -> dict[str, Any]:
    """One of the tenant's bags, with its topic names and event count.

    Raises:
        NotFoundError: the tenant has no such bag.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT b.*, (SELECT count(*) FROM bag_events e WHERE e.bag_id = b.bag_id) AS events,"
            " (SELECT coalesce(array_agg(t.topic ORDER BY t.topic), '{}') FROM bag_topics t WHERE t.bag_id = b.bag_id)"
            " AS topics FROM bags b WHERE b.tenant_id = %s AND b.bag_id = %s",
            (tenant_id, bag_id),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"bag {bag_id} not found")
    return row
