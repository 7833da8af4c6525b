"""Alerts: raised once while active (deduplicated by a partial unique index), resolved when cleared."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from fleetray.errors import ConflictError, NotFoundError


class AlertLike(Protocol):
    """What an alert change carries (``actors.alerts.AlertChange``)."""

    tenant_id: str
    robot_id: str
    rule: str
    raised: bool
    at: datetime
    severity: str
    message: str
    details: dict[str, Any]


def persist_alert_changes(conn: psycopg.Connection, changes: Sequence[AlertLike]) -> None:
    """Store raised alerts (an alert already active is left alone) and resolve cleared ones."""
    raised = [
        (c.tenant_id, c.robot_id, c.rule, c.severity, c.message, json.dumps(c.details), c.at)
        for c in changes
        if c.raised
    ]
    cleared = [(c.at, c.tenant_id, c.robot_id, c.rule) for c in changes if not c.raised]
    cur = conn.cursor()
    if raised:
        cur.executemany(
            """
            INSERT INTO alerts (tenant_id, robot_id, rule, severity, message, details, raised_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, robot_id, rule) WHERE state <> 'resolved' DO NOTHING
            """,
            raised,
        )
    if cleared:
        cur.executemany(
            "UPDATE alerts SET state = 'resolved', resolved_at = %s "
            "WHERE tenant_id = %s AND robot_id = %s AND rule = %s AND state <> 'resolved'",
            cleared,
        )


def open_alerts(conn: psycopg.Connection, robots: Iterable[tuple[str, str]]) -> list[tuple[str, str, str, datetime]]:
    """``(tenant, robot, rule, raised_at)`` of every unresolved alert of ``robots``."""
    tenants, robot_ids = _unzip(robots)
    return conn.execute(
        """
        SELECT tenant_id, robot_id, rule, raised_at FROM alerts
        WHERE state <> 'resolved' AND (tenant_id, robot_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
        """,
        (tenants, robot_ids),
    ).fetchall()


def read_alerts(
    conn: psycopg.Connection, tenant_id: str, *, robot_id: str | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    """A tenant's alerts, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT alert_id, robot_id, rule, severity, state, message, details, raised_at, resolved_at
            FROM alerts WHERE tenant_id = %s AND (%s::text IS NULL OR robot_id = %s::text)
              AND (%s::text IS NULL OR state = %s::text)
            ORDER BY raised_at DESC, alert_id DESC
            """,
            (tenant_id, robot_id, robot_id, state, state),
        )
        return cur.fetchall()


def _unzip(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    listed = list(pairs)
    return [t for t, _ in listed], [r for _, r in listed]


ALERT_COLUMNS = (
    "alert_id, robot_id, rule, severity, state, message, details, raised_at, acknowledged_at, "
    "acknowledged_by, resolved_at"
)


def get_alert(conn: psycopg.Connection, tenant_id: str, alert_id: int) -> dict[str, Any]:
    """One of the tenant's alerts.

    Raises:
        NotFoundError: the tenant has no such alert.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant_id = %s AND alert_id = %s", (tenant_id, alert_id)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"alert {alert_id} not found")
    return row


def acknowledge_alert(conn: psycopg.Connection, tenant_id: str, alert_id: int, by: str) -> dict[str, Any]:
    """Mark an active alert as seen by someone; acknowledging it again changes nothing.

    Raises:
        NotFoundError: the tenant has no such alert.
        ConflictError: the alert is resolved already.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""
            UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s
            WHERE tenant_id = %s AND alert_id = %s AND state = 'active' RETURNING {ALERT_COLUMNS}
            """,
            (by, tenant_id, alert_id),
        ).fetchone()
    if row is not None:
        return row
    current = get_alert(conn, tenant_id, alert_id)
    if current["state"] == "resolved":
        raise ConflictError(f"alert {alert_id} is resolved already; there is nothing to acknowledge")
    return current


def resolve_alert(conn: psycopg.Connection, tenant_id: str, alert_id: int) -> dict[str, Any]:
    """Close an alert by hand; resolving it again changes nothing.

    Raises:
        NotFoundError: the tenant has no such alert.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""
            UPDATE alerts SET state = 'resolved', resolved_at = now()
            WHERE tenant_id = %s AND alert_id = %s AND state <> 'resolved' RETURNING {ALERT_COLUMNS}
            """,
            (tenant_id, alert_id),
        ).fetchone()
    return row if row is not None else get_alert(conn, tenant_id, alert_id)
