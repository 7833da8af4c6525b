"""Alerts: raised once while active (deduplicated by a partial unique index), resolved when cleared."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row


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
