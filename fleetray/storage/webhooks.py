"""Outgoing webhooks: customers' subscriptions, and an outbox of deliveries with their outcomes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fleetray.errors import NotFoundError

SEVERITIES = ("info", "warning", "critical")
SUBSCRIPTION_COLUMNS = "subscription_id, url, alert_rules, min_severity, description, active, created_at"


@dataclass(frozen=True)
class DueDelivery:
    """A delivery to attempt now."""

    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int


def create_subscription(
    conn: psycopg.Connection,
    tenant_id: str,
    url: str,
    *,
    alert_rules: list[str],
    min_severity: str,
    description: str = "",
) -> tuple[dict[str, Any], str]:
    """Subscribe ``url`` to the tenant's alerts; returns the subscription and its signing secret (shown once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"""
            INSERT INTO webhook_subscriptions (tenant_id, url, alert_rules, min_severity, secret, description)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {SUBSCRIPTION_COLUMNS}
            """,
            (tenant_id, url, alert_rules, min_severity, secret, description),
        ).fetchone()
    return row, secret


def deactivate_subscription(conn: psycopg.Connection, tenant_id: str, subscription_id: int) -> None:
    """Stop calling a subscription's URL (its deliveries stay recorded).

    Raises:
        NotFoundError: the tenant has no such active subscription.
    """
    updated = conn.execute(
        "UPDATE webhook_subscriptions SET active = false WHERE tenant_id = %s AND subscription_id = %s AND active",
        (tenant_id, subscription_id),
    )
    if updated.rowcount != 1:
        raise NotFoundError(f"webhook {subscription_id} not found")


def get_subscription(conn: psycopg.Connection, tenant_id: str, subscription_id: int) -> dict[str, Any]:
    """One of the tenant's subscriptions.

    Raises:
        NotFoundError: the tenant has no such subscription.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = %s AND subscription_id = %s",
            (tenant_id, subscription_id),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"webhook {subscription_id} not found")
    return row


def alert_event_id(alert: dict[str, Any]) -> str:
    """A stable id of an alert change, so that the same change is delivered once per subscription."""
    return f"alert:{alert['robot_id']}:{alert['rule']}:{alert['state']}:{alert['at']}"


def enqueue_alerts(conn: psycopg.Connection, alerts: Iterable[dict[str, Any]]) -> int:
    """Queue a delivery of each alert change to every active subscription that wants it; return how many."""
    rows = []
    for alert in alerts:
        severity = alert.get("severity", "warning")
        rank = SEVERITIES.index(severity) if severity in SEVERITIES else 1
        payload = {
            "type": f"alert.{'raised' if alert['state'] == 'active' else 'resolved'}",
            "id": alert_event_id(alert),
            "data": alert,
        }
        rows.append((alert["tenant_id"], alert["rule"], rank, payload["id"], json.dumps(payload, default=str)))
    if not rows:
        return 0
    return conn.execute(
        """
        INSERT INTO webhook_deliveries (subscription_id, tenant_id, event_id, payload)
        SELECT s.subscription_id, s.tenant_id, a.event_id, a.payload::jsonb
        FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[])
             AS a(tenant_id, rule, severity_rank, event_id, payload)
        JOIN webhook_subscriptions s ON s.tenant_id = a.tenant_id AND s.active
             AND (cardinality(s.alert_rules) = 0 OR a.rule = ANY(s.alert_rules))
             AND a.severity_rank >= array_position(ARRAY['info', 'warning', 'critical'], s.min_severity) - 1
        ON CONFLICT (subscription_id, event_id) DO NOTHING
        """,
        [list(column) for column in zip(*rows, strict=True)],
    ).rowcount


def claim_due(conn: psycopg.Connection, now: datetime, *, limit: int = 50, lease_s: float = 60) -> list[DueDelivery]:
    """Deliveries due at ``now``, leased for ``lease_s`` so that another dispatcher does not send them too."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """
            UPDATE webhook_deliveries d SET next_attempt_at = %(now)s + make_interval(secs => %(lease)s)
            FROM webhook_subscriptions s
            WHERE d.subscription_id = s.subscription_id AND d.delivery_id IN (
                SELECT delivery_id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= %(now)s
                ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            )
            RETURNING d.delivery_id, d.subscription_id, s.url, s.secret, d.payload, d.attempts
            """,
            {"now": now, "lease": lease_s, "limit": limit},
        ).fetchall()
    return [DueDelivery(**row) for row in rows]


def record_attempt(
    conn: psycopg.Connection,
    delivery_id: int,
    *,
    delivered: bool,
    status_code: int | None,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """Record an attempt: delivered, to be retried at ``retry_at``, or failed for good (``retry_at`` None)."""
    status = "delivered" if delivered else ("pending" if retry_at is not None else "failed")
    conn.execute(
        """
        UPDATE webhook_deliveries SET attempts = attempts + 1, status = %s, last_status_code = %s, last_error = %s,
            next_attempt_at = coalesce(%s, next_attempt_at), delivered_at = CASE WHEN %s THEN now() END
        WHERE delivery_id = %s
        """,
        (status, status_code, error, retry_at, delivered, delivery_id),
    )
