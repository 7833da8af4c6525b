"""The fleet's inventory: tenants, sites, robots, and their maintenance history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fleetray.errors import ConflictError, NotFoundError
from fleetray.inventory import MaintenanceRecord, RobotRecord, SiteRecord, TenantRecord


def upsert_tenant(conn: psycopg.Connection, tenant: TenantRecord) -> None:
    """Create a tenant, or rename it if it exists."""
    conn.execute(
        "INSERT INTO tenants (tenant_id, name) VALUES (%s, %s) "
        "ON CONFLICT (tenant_id) DO UPDATE SET name = EXCLUDED.name",
        (tenant.tenant_id, tenant.name),
    )


def upsert_sites(conn: psycopg.Connection, sites: Sequence[SiteRecord]) -> None:
    """Create or update sites."""
    conn.cursor().executemany(
        """
        INSERT INTO sites (tenant_id, site_id, name, timezone, latitude, longitude, area_m2, metadata)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (tenant_id, site_id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone,
            latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, area_m2 = EXCLUDED.area_m2,
            metadata = EXCLUDED.metadata
        """,
        [
            (
                s.tenant_id,
                s.site_id,
                s.name,
                s.timezone,
                s.latitude,
                s.longitude,
                s.area_m2,
                json.dumps(s.metadata),
            )
            for s in sites
        ],
    )


def upsert_robots(conn: psycopg.Connection, robots: Sequence[RobotRecord]) -> None:
    """Register robots, or update their site, capabilities and metadata."""
    conn.cursor().executemany(
        """
        INSERT INTO robots (tenant_id, robot_id, manufacturer, model, serial, site_id, capabilities, metadata)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (tenant_id, robot_id) DO UPDATE SET manufacturer = EXCLUDED.manufacturer,
            model = EXCLUDED.model, serial = EXCLUDED.serial, site_id = EXCLUDED.site_id,
            capabilities = EXCLUDED.capabilities, metadata = EXCLUDED.metadata
        """,
        [
            (
                r.tenant_id,
                r.robot_id,
                r.manufacturer,
                r.model,
                r.serial,
                r.site_id,
                r.capabilities,
                json.dumps(r.metadata),
            )
            for r in robots
        ],
    )


def list_tenants(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every tenant with its robot count."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT t.tenant_id, t.name, count(r.robot_id) AS robots FROM tenants t
            LEFT JOIN robots r USING (tenant_id) GROUP BY t.tenant_id, t.name ORDER BY t.tenant_id
            """
        )
        return cur.fetchall()


def list_robots(conn: psycopg.Connection, tenant_id: str, *, site_id: str | None = None) -> list[dict[str, Any]]:
    """The robots of a tenant (optionally of one site), by id."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT robot_id, manufacturer, model, serial, site_id, capabilities, metadata FROM robots
            WHERE tenant_id = %s AND (%s::text IS NULL OR site_id = %s::text) ORDER BY robot_id
            """,
            (tenant_id, site_id, site_id),
        )
        return cur.fetchall()


def write_maintenance(conn: psycopg.Connection, records: Sequence[MaintenanceRecord]) -> int:
    """Record maintenance; the same part serviced at the same instant is recorded once."""
    cur = conn.cursor()
    cur.executemany(
        """
        INSERT INTO maintenance_records (tenant_id, robot_id, component, kind, reason, performed_at, usage_h, notes)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
        """,
        [(m.tenant_id, m.robot_id, m.component, m.kind, m.reason, m.performed_at, m.usage_h, m.notes) for m in records],
    )
    return len(records)


def _one(conn: psycopg.Connection, query: str, params: tuple) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def create_site(conn: psycopg.Connection, site: SiteRecord) -> dict[str, Any]:
    """Add a site.

    Raises:
        ConflictError: the tenant has a site with this id already.
    """
    row = _one(
        conn,
        """
        INSERT INTO sites (tenant_id, site_id, name, timezone, latitude, longitude, area_m2, metadata)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *
        """,
        (
            site.tenant_id,
            site.site_id,
            site.name,
            site.timezone,
            site.latitude,
            site.longitude,
            site.area_m2,
            json.dumps(site.metadata),
        ),
    )
    if row is None:
        raise ConflictError(f"site {site.site_id!r} exists already")
    return row


def get_site(conn: psycopg.Connection, tenant_id: str, site_id: str) -> dict[str, Any]:
    """One of the tenant's sites.

    Raises:
        NotFoundError: the tenant has no such site.
    """
    row = _one(conn, "SELECT * FROM sites WHERE tenant_id = %s AND site_id = %s", (tenant_id, site_id))
    if row is None:
        raise NotFoundError(f"site {site_id!r} not found")
    return row


def register_robot(conn: psycopg.Connection, robot: RobotRecord) -> dict[str, Any]:
    """Add a robot to the tenant's fleet.

    Raises:
        ConflictError: the robot id, or the manufacturer's serial, is registered already.
        NotFoundError: the site does not exist.
    """
    if robot.site_id is not None:
        get_site(conn, robot.tenant_id, robot.site_id)
    try:
        with conn.transaction():
            row = _one(
                conn,
                """
                INSERT INTO robots (tenant_id, robot_id, manufacturer, model, serial, site_id, capabilities, metadata)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *
                """,
                (
                    robot.tenant_id,
                    robot.robot_id,
                    robot.manufacturer,
                    robot.model,
                    robot.serial,
                    robot.site_id,
                    robot.capabilities,
                    json.dumps(robot.metadata),
                ),
            )
    except psycopg.errors.UniqueViolation as err:
        what = "serial" if "serial" in str(err) else "robot id"
        raise ConflictError(
            f"a robot with this {what} is registered already "
            f"({robot.robot_id!r}, {robot.manufacturer} serial {robot.serial!r})"
        ) from None
    assert row is not None
    return row


def get_robot(conn: psycopg.Connection, tenant_id: str, robot_id: str) -> dict[str, Any]:
    """One of the tenant's robots.

    Raises:
        NotFoundError: the tenant has no such robot.
    """
    row = _one(conn, "SELECT * FROM robots WHERE tenant_id = %s AND robot_id = %s", (tenant_id, robot_id))
    if row is None:
        raise NotFoundError(f"robot {robot_id!r} not found")
    return row


def add_maintenance_record(conn: psycopg.Connection, record: MaintenanceRecord) -> dict[str, Any]:
    """Record one maintenance action on one of the tenant's robots.

    Raises:
        NotFoundError: the robot is not the tenant's.
        ConflictError: the same component of the robot has a record at that instant already.
    """
    get_robot(conn, record.tenant_id, record.robot_id)
    row = _one(
        conn,
        """
        INSERT INTO maintenance_records (tenant_id, robot_id, component, kind, reason, performed_at, usage_h, notes)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *
        """,
        (
            record.tenant_id,
            record.robot_id,
            record.component,
            record.kind,
            record.reason,
            record.performed_at,
            record.usage_h,
            record.notes,
        ),
    )
    if row is None:
        raise ConflictError(
            f"{record.component} of robot {record.robot_id!r} has a record at {record.performed_at.isoformat()} already"
        )
    return row


def get_task(conn: psycopg.Connection, tenant_id: str, task_id: str) -> dict[str, Any]:
    """One of the tenant's tasks.

    Raises:
        NotFoundError: the tenant has no such task.
    """
    row = _one(conn, "SELECT * FROM tasks WHERE tenant_id = %s AND task_id = %s", (tenant_id, task_id))
    if row is None:
        raise NotFoundError(f"task {task_id!r} not found")
    return row
