"""Tenants' accounts with manufacturer clouds, their poll cursors, and incoming-webhook replay protection."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fleetray.errors import ConfigError, NotFoundError


def add_account(
    conn: psycopg.Connection,
    tenant_id: str,
    connector: str,
    *,
    base_url: str,
    api_token: str,
    poll_interval_s: float = 30.0,
    requests_per_s: float = 5.0,
    site_id: str | None = None,
    webhook_secret: str | None = None,
) -> dict[str, Any]:
    """Connect a tenant to a manufacturer's cloud (or update the connection); the webhook secret is generated
    unless given.

    Raises:
        ConfigError: the tenant does not exist, or an interval or rate is not positive.
    """
    if poll_interval_s <= 0 or requests_per_s <= 0:
        raise ConfigError("poll interval and request rate must be positive")
    if conn.execute("SELECT 1 FROM tenants WHERE tenant_id = %s", (tenant_id,)).fetchone() is None:
        raise ConfigError(f"tenant {tenant_id!r} does not exist")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            INSERT INTO connector_accounts (tenant_id, connector, base_url, api_token, webhook_secret,
                                            poll_interval_s, requests_per_s, site_id)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, connector) DO UPDATE SET base_url = EXCLUDED.base_url,
                api_token = EXCLUDED.api_token, poll_interval_s = EXCLUDED.poll_interval_s,
                requests_per_s = EXCLUDED.requests_per_s, site_id = EXCLUDED.site_id
            RETURNING *
            """,
            (
                tenant_id,
                connector,
                base_url,
                api_token,
                webhook_secret or "whsec_" + secrets.token_urlsafe(32),
                poll_interval_s,
                requests_per_s,
                site_id,
            ),
        ).fetchone()


def get_account(conn: psycopg.Connection, tenant_id: str, connector: str) -> dict[str, Any]:
    """A tenant's account with a connector.

    Raises:
        NotFoundError: the tenant has no account with it.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM connector_accounts WHERE tenant_id = %s AND connector = %s", (tenant_id, connector)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"tenant {tenant_id!r} has no {connector} account")
    return row


def list_accounts(conn: psycopg.Connection, tenant_id: str | None = None) -> list[dict[str, Any]]:
    """Every account (to start pollers for), or one tenant's."""
    with conn.cursor(row_factory=dict_row) as cur:
        if tenant_id is None:
            return cur.execute("SELECT * FROM connector_accounts ORDER BY tenant_id, connector").fetchall()
        return cur.execute(
            "SELECT * FROM connector_accounts WHERE tenant_id = %s ORDER BY connector", (tenant_id,)
        ).fetchall()


def remove_account(conn: psycopg.Connection, tenant_id: str, connector: str) -> None:
    """Disconnect a tenant from a manufacturer's cloud; its robots and what they reported stay.

    Raises:
        NotFoundError: the tenant has no account with it.
    """
    removed = conn.execute(
        "DELETE FROM connector_accounts WHERE tenant_id = %s AND connector = %s", (tenant_id, connector)
    )
    if removed.rowcount == 0:
        raise NotFoundError(f"tenant {tenant_id!r} has no {connector} account")


def save_poll(
    conn: psycopg.Connection, tenant_id: str, connector: str, *, cursors: dict[str, Any] | None, error: str | None
) -> None:
    """Record a poll: new cursors after a success (kept as they were after a failure) and the error, if any."""
    conn.execute(
        """
        UPDATE connector_accounts SET cursors = coalesce(%s::jsonb, cursors), last_polled_at = now(), last_error = %s
        WHERE tenant_id = %s AND connector = %s
        """,
        (json.dumps(cursors) if cursors is not None else None, error, tenant_id, connector),
    )


def accept_webhook_once(
    conn: psycopg.Connection, connector: str, tenant_id: str, signature: str, *, window: timedelta
) -> bool:
    """Remember an incoming webhook's signature; False if it was seen within ``window`` (a replay)."""
    conn.execute("DELETE FROM webhook_receipts WHERE received_at < now() - %s", (window,))
    inserted = conn.execute(
        "INSERT INTO webhook_receipts (connector, tenant_id, signature) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (connector, tenant_id, signature),
    )
    return inserted.rowcount == 1
