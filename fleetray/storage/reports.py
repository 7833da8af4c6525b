"""Generated reports: one row per tenant, kind and period, pointing at its HTML and PDF in the object store."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

LISTED_COLUMNS = "tenant_id, kind, period, complete, generated_at, generated_by, html_key, pdf_key"


def save_report(conn: psycopg.Connection, row: dict[str, Any]) -> None:
    """Insert or replace the report of ``row``'s tenant, kind and period (a week regenerated replaces its row)."""
    conn.execute(
        "INSERT INTO reports (tenant_id, kind, period, complete, generated_at, generated_by, html_key, pdf_key, "
        "figures) VALUES (%(tenant_id)s, %(kind)s, %(period)s, %(complete)s, %(generated_at)s, %(generated_by)s, "
        "%(html_key)s, %(pdf_key)s, %(figures)s) "
        "ON CONFLICT (tenant_id, kind, period) DO UPDATE SET complete = EXCLUDED.complete, "
        "generated_at = EXCLUDED.generated_at, generated_by = EXCLUDED.generated_by, html_key = EXCLUDED.html_key, "
        "pdf_key = EXCLUDED.pdf_key, figures = EXCLUDED.figures",
        {**row, "figures": Jsonb(row["figures"])},
    )


def get_report(conn: psycopg.Connection, tenant_id: str, kind: str, period: str) -> dict[str, Any] | None:
    """The stored report with its figures, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {LISTED_COLUMNS}, figures FROM reports WHERE tenant_id = %s AND kind = %s AND period = %s",
            (tenant_id, kind, period),
        ).fetchone()


def list_reports(conn: psycopg.Connection, tenant_id: str, kind: str, *, limit: int = 52) -> list[dict[str, Any]]:
    """A tenant's reports of one kind, the latest period first (without their figures)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {LISTED_COLUMNS} FROM reports WHERE tenant_id = %s AND kind = %s ORDER BY period DESC LIMIT %s",
            (tenant_id, kind, limit),
        ).fetchall()


def tenants_without_report(conn: psycopg.Connection, kind: str, period: str) -> list[str]:
    """Tenants with robots whose complete report of ``period`` is missing."""
    return [
        tenant_id
        for (tenant_id,) in conn.execute(
            "SELECT t.tenant_id FROM tenants t WHERE EXISTS (SELECT 1 FROM robots r WHERE r.tenant_id = t.tenant_id) "
            "AND NOT EXISTS (SELECT 1 FROM reports p WHERE p.tenant_id = t.tenant_id AND p.kind = %s "
            "AND p.period = %s AND p.complete) ORDER BY t.tenant_id",
            (kind, period),
        ).fetchall()
    ]
