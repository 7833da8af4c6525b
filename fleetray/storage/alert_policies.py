"""A tenant's alert rules: threshold overrides, tenant-wide (model ``*``) or for one robot model."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ALL_MODELS = "*"


def list_policies(conn: psycopg.Connection, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's overrides, tenant-wide first, then by model."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT model, overrides, updated_at FROM alert_policies WHERE tenant_id = %s ORDER BY model <> '*', model",
            (tenant_id,),
        ).fetchall()


def put_policy(conn: psycopg.Connection, tenant_id: str, model: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Store (or replace) the overrides of ``tenant_id``'s robots of ``model`` (``*``: all of them)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "INSERT INTO alert_policies (tenant_id, model, overrides, updated_at) VALUES (%s, %s, %s, now()) "
            "ON CONFLICT (tenant_id, model) DO UPDATE SET overrides = EXCLUDED.overrides, updated_at = now() "
            "RETURNING model, overrides, updated_at",
            (tenant_id, model, Jsonb(overrides)),
        ).fetchone()


def delete_policy(conn: psycopg.Connection, tenant_id: str, model: str) -> None:
    """Back to the defaults for ``model``, whether or not it had overrides."""
    conn.execute("DELETE FROM alert_policies WHERE tenant_id = %s AND model = %s", (tenant_id, model))
