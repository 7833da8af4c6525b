"""The model registry's metadata: versions, stages and their history (artifacts live in the object store).

A model is fleet-wide (``tenant_id`` NULL) or a tenant's own. For each name, at most one version is in
production per scope; a tenant is served its own production version, else the fleet-wide one.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from fleetray.errors import NotFoundError, RegistryError

STAGES = ("none", "staging", "production", "archived")


def insert_model(conn: psycopg.Connection, record: dict[str, Any]) -> dict[str, Any]:
    """Add the next version of ``record['name']``; returns the stored row (its ``version`` filled in).

    The version is taken under a lock on the name, so two registrations never get the same one.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('fleetray.models:' || %s))", (record["name"],))
    version = conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = %s", (record["name"],)
    ).fetchone()[0]
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            INSERT INTO models (name, version, tenant_id, kind, task, uri, feature_version, data_hash,
                                code_version, components, metrics, params, info, created_by)
            VALUES (%(name)s, %(version)s, %(tenant_id)s, %(kind)s, %(task)s, %(uri)s, %(feature_version)s,
                    %(data_hash)s, %(code_version)s, %(components)s, %(metrics)s, %(params)s, %(info)s,
                    %(created_by)s)
            RETURNING *
            """,
            {
                **record,
                "version": version,
                "metrics": Jsonb(record.get("metrics", {})),
                "params": Jsonb(record.get("params", {})),
                "info": Jsonb(record.get("info", {})),
            },
        ).fetchone()


def get_model(conn: psycopg.Connection, model_id: int, *, tenant_id: str | None = None) -> dict[str, Any]:
    """One model version; with ``tenant_id``, only if that tenant may see it (its own or fleet-wide).

    Raises:
        NotFoundError: no such model, or not visible to the tenant (the same answer).
    """
    query = "SELECT * FROM models WHERE model_id = %s"
    params: list[Any] = [model_id]
    if tenant_id is not None:
        query += " AND (tenant_id IS NULL OR tenant_id = %s)"
        params.append(tenant_id)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()
    if row is None:
        raise NotFoundError(f"model {model_id} not found")
    return row


def list_models(
    conn: psycopg.Connection,
    *,
    tenant_id: str | None = None,
    name: str | None = None,
    stage: str | None = None,
    task: str | None = None,
    fleet_wide: bool = False,
) -> list[dict[str, Any]]:
    """Model versions, newest first; with ``tenant_id`` the tenant's own and the fleet-wide ones, with
    ``fleet_wide`` only the fleet-wide ones."""
    clauses, params = ["TRUE"], []
    if fleet_wide:
        clauses.append("tenant_id IS NULL")
    if tenant_id is not None:
        clauses.append("(tenant_id IS NULL OR tenant_id = %s)")
        params.append(tenant_id)
    for column, value in (("name", name), ("stage", stage), ("task", task)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT * FROM models WHERE {' AND '.join(clauses)} ORDER BY name, version DESC", params
        ).fetchall()


def production_model(conn: psycopg.Connection, name: str, tenant_id: str) -> dict[str, Any] | None:
    """The version a tenant is served: its own production version, else the fleet-wide one."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM models WHERE name = %s AND stage = 'production' AND (tenant_id IS NULL OR tenant_id = %s) "
            "ORDER BY tenant_id NULLS LAST LIMIT 1",
            (name, tenant_id),
        ).fetchone()


def set_stage(
    conn: psycopg.Connection, model_id: int, stage: str, *, changed_by: str, reason: str = ""
) -> dict[str, Any]:
    """Move a version to ``stage``; promoting to production archives the version it replaces in its scope.

    Raises:
        RegistryError: an unknown stage.
        NotFoundError: no such model.
    """
    if stage not in STAGES:
        raise RegistryError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    model = get_model(conn, model_id)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('fleetray.models:' || %s))", (model["name"],))
    if stage == "production":
        current = conn.execute(
            "SELECT model_id FROM models WHERE name = %s AND stage = 'production' "
            "AND tenant_id IS NOT DISTINCT FROM %s AND model_id <> %s",
            (model["name"], model["tenant_id"], model_id),
        ).fetchone()
        if current is not None:
            _change(conn, current[0], "production", "archived", changed_by, f"replaced by version {model['version']}")
    _change(conn, model_id, model["stage"], stage, changed_by, reason)
    return get_model(conn, model_id)


def rollback(conn: psycopg.Connection, name: str, tenant_id: str | None, *, changed_by: str) -> dict[str, Any]:
    """Put back in production the version that was there before the current one (in the same scope).

    Raises:
        RegistryError: nothing is in production, or no earlier version ever was.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('fleetray.models:' || %s))", (name,))
    current = conn.execute(
        "SELECT model_id, version FROM models WHERE name = %s AND stage = 'production' "
        "AND tenant_id IS NOT DISTINCT FROM %s",
        (name, tenant_id),
    ).fetchone()
    scope = f"tenant {tenant_id}" if tenant_id else "the fleet"
    if current is None:
        raise RegistryError(f"no version of {name!r} is in production for {scope}: nothing to roll back")
    previous = conn.execute(
        """
        SELECT m.model_id FROM model_stage_changes c JOIN models m USING (model_id)
        WHERE m.name = %s AND m.tenant_id IS NOT DISTINCT FROM %s AND c.to_stage = 'production'
          AND m.model_id <> %s AND m.stage = 'archived'
        ORDER BY c.changed_at DESC, c.change_id DESC LIMIT 1
        """,
        (name, tenant_id, current[0]),
    ).fetchone()
    if previous is None:
        raise RegistryError(f"no earlier version of {name!r} was in production for {scope}: nothing to roll back to")
    _change(conn, current[0], "production", "archived", changed_by, "rolled back")
    _change(conn, previous[0], "archived", "production", changed_by, f"rollback from version {current[1]}")
    return get_model(conn, previous[0])


def stage_history(conn: psycopg.Connection, model_id: int) -> list[dict[str, Any]]:
    """A version's stage changes, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT from_stage, to_stage, changed_by, reason, changed_at FROM model_stage_changes "
            "WHERE model_id = %s ORDER BY change_id",
            (model_id,),
        ).fetchall()


def _change(conn: psycopg.Connection, model_id: int, old: str, new: str, by: str, reason: str) -> None:
    conn.execute("UPDATE models SET stage = %s WHERE model_id = %s", (new, model_id))
    conn.execute(
        "INSERT INTO model_stage_changes (model_id, from_stage, to_stage, changed_by, reason) "
        "VALUES (%s, %s, %s, %s, %s)",
        (model_id, old, new, by, reason),
    )
