"""Edge agents: last heartbeats, commands and their acknowledgements, remote configs."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from fleetray.errors import NotFoundError
from fleetray.schemas import AgentHeartbeat, CommandAck

FINAL_STATUSES = ("succeeded", "failed", "rejected", "expired")


def record_heartbeats(conn: psycopg.Connection, heartbeats: Sequence[AgentHeartbeat]) -> None:
    """Keep each robot's newest heartbeat (an older one arriving late changes nothing)."""
    newest: dict[tuple[str, str], AgentHeartbeat] = {}
    for beat in heartbeats:
        key = (beat.tenant_id, beat.robot_id)
        if key not in newest or beat.ts > newest[key].ts:
            newest[key] = beat
    if not newest:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO robot_agents (tenant_id, robot_id, heartbeat, reported_at) VALUES (%s, %s, %s, %s)
            ON CONFLICT (tenant_id, robot_id) DO UPDATE
               SET heartbeat = excluded.heartbeat, reported_at = excluded.reported_at, received_at = now()
             WHERE robot_agents.reported_at <= excluded.reported_at
            """,
            [(b.tenant_id, b.robot_id, Jsonb(b.model_dump(mode="json")), b.ts) for b in newest.values()],
        )


def read_agent(conn: psycopg.Connection, tenant_id: str, robot_id: str) -> dict[str, Any]:
    """A robot's last heartbeat.

    Raises:
        NotFoundError: no agent ever reported for that robot.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT heartbeat, reported_at, received_at FROM robot_agents WHERE tenant_id = %s AND robot_id = %s",
            (tenant_id, robot_id),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no agent has reported for robot {robot_id!r}")
    return row


def record_acks(conn: psycopg.Connection, acks: Sequence[CommandAck]) -> None:
    """Move commands along as their robots answer; a final status is never overwritten."""
    if not acks:  # nearly every batch: an empty executemany still costs a pipeline's set-up
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            UPDATE robot_commands SET status = %s, detail = %s, result = %s, updated_at = now()
             WHERE command_id = %s AND tenant_id = %s AND robot_id = %s
               AND status NOT IN ('succeeded', 'failed', 'rejected', 'expired')
            """,
            [(a.status, a.detail, Jsonb(a.result), a.command_id, a.tenant_id, a.robot_id) for a in acks],
        )


def create_command(
    conn: psycopg.Connection,
    tenant_id: str,
    robot_id: str,
    command_type: str,
    args: dict[str, Any],
    *,
    created_by: str | None,
    expires_at: datetime | None,
) -> dict[str, Any]:
    """Record a command before it is sent; returns it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "INSERT INTO robot_commands (command_id, tenant_id, robot_id, type, args, created_by, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
            ("cmd_" + secrets.token_hex(8), tenant_id, robot_id, command_type, Jsonb(args), created_by, expires_at),
        ).fetchone()


def set_command_status(conn: psycopg.Connection, command_id: str, status: str, detail: str = "") -> None:
    conn.execute(
        "UPDATE robot_commands SET status = %s, detail = %s, updated_at = now()"
        " WHERE command_id = %s AND status = 'queued'",
        (status, detail, command_id),
    )


def read_command(conn: psycopg.Connection, tenant_id: str, robot_id: str, command_id: str) -> dict[str, Any]:
    """One command of the robot's.

    Raises:
        NotFoundError: the robot has no such command (in this tenant).
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM robot_commands WHERE tenant_id = %s AND robot_id = %s AND command_id = %s",
            (tenant_id, robot_id, command_id),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"robot {robot_id!r} has no command {command_id!r}")
    return row


def list_commands(conn: psycopg.Connection, tenant_id: str, robot_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The robot's newest commands first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM robot_commands WHERE tenant_id = %s AND robot_id = %s ORDER BY created_at DESC LIMIT %s",
            (tenant_id, robot_id, limit),
        ).fetchall()


def put_config(
    conn: psycopg.Connection, tenant_id: str, robot_id: str, config: dict[str, Any], *, updated_by: str | None
) -> int:
    """Store the robot's next config; returns its version (one past the last)."""
    row = conn.execute(
        """
        INSERT INTO robot_configs (tenant_id, robot_id, version, config, updated_by) VALUES (%s, %s, 1, %s, %s)
        ON CONFLICT (tenant_id, robot_id) DO UPDATE
           SET version = robot_configs.version + 1, config = excluded.config, updated_by = excluded.updated_by,
               updated_at = now()
        RETURNING version
        """,
        (tenant_id, robot_id, Jsonb(config), updated_by),
    ).fetchone()
    return row[0]


def read_config(conn: psycopg.Connection, tenant_id: str, robot_id: str) -> dict[str, Any]:
    """The config the platform holds for a robot.

    Raises:
        NotFoundError: none was ever set.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT version, config, updated_by, updated_at FROM robot_configs WHERE tenant_id = %s AND robot_id = %s",
            (tenant_id, robot_id),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no config was set for robot {robot_id!r}; PUT one first")
    return row
