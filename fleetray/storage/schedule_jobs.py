"""Schedule jobs: requests solved in the background, their status and their plan, per tenant."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from fleetray.errors import NotFoundError


def create_job(conn: psycopg.Connection, tenant_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """Queue a request; returns the job."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "INSERT INTO schedule_jobs (job_id, tenant_id, request) VALUES (%s, %s, %s) RETURNING *",
            ("job_" + secrets.token_hex(8), tenant_id, Jsonb(request)),
        ).fetchone()


def get_job(conn: psycopg.Connection, tenant_id: str, job_id: str) -> dict[str, Any]:
    """One of the tenant's jobs.

    Raises:
        NotFoundError: the tenant has no such job.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM schedule_jobs WHERE tenant_id = %s AND job_id = %s", (tenant_id, job_id)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"schedule job {job_id!r} not found")
    return row


def mark_running(conn: psycopg.Connection, job_id: str) -> None:
    """The job's solve has started."""
    conn.execute("UPDATE schedule_jobs SET status = 'running', started_at = now() WHERE job_id = %s", (job_id,))


def finish_job(conn: psycopg.Connection, job_id: str, *, result: dict[str, Any] | None, error: str | None) -> None:
    """Record the plan, or why there is none."""
    conn.execute(
        "UPDATE schedule_jobs SET status = %s, result = %s, error = %s, finished_at = now() WHERE job_id = %s",
        ("done" if error is None else "failed", Jsonb(result) if result is not None else None, error, job_id),
    )
