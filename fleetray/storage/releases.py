"""Agent releases: the signed wheels a tenant's robots may be updated to."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from fleetray.errors import ConflictError, NotFoundError


def add_release(conn: psycopg.Connection, release: dict[str, Any]) -> dict[str, Any]:
    """Record a release; a version is published once.

    Raises:
        ConflictError: the version exists already.
    """
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                """
                INSERT INTO agent_releases (tenant_id, version, filename, sha256, signature, object_key, size_bytes,
                                            uploaded_by)
                VALUES (%(tenant_id)s, %(version)s, %(filename)s, %(sha256)s, %(signature)s, %(object_key)s,
                        %(size_bytes)s, %(uploaded_by)s)
                RETURNING *
                """,
                release,
            ).fetchone()
    except psycopg.errors.UniqueViolation as err:
        raise ConflictError(f"release {release['version']} exists already; publish a new version") from err


def get_release(conn: psycopg.Connection, tenant_id: str, version: str) -> dict[str, Any]:
    """One release.

    Raises:
        NotFoundError: no such version.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM agent_releases WHERE tenant_id = %s AND version = %s", (tenant_id, version)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no agent release {version!r}")
    return row


def list_releases(conn: psycopg.Connection, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's releases, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM agent_releases WHERE tenant_id = %s ORDER BY created_at DESC", (tenant_id,)
        ).fetchall()
