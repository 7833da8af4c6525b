"""Robot events and task events: idempotent batched writes and reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fleetray.schemas import RobotEvent, TaskEvent
from fleetray.storage._copy import copy_idempotent, copy_into_stage

EVENT_COLUMNS = ("tenant_id", "robot_id", "seq", "ts", "level", "code", "message", "component", "state")
TASK_EVENT_COLUMNS = ("tenant_id", "robot_id", "seq", "ts", "task_id", "type", "payload")
_TASK_EVENT_KEYS = {"v", "tenant_id", "robot_id", "seq", "ts", "task_id", "type"}


def write_events(conn: psycopg.Connection, events: Sequence[RobotEvent]) -> int:
    """Insert robot events; an event already stored (same robot and seq) is skipped."""
    rows = [
        (
            e.tenant_id,
            e.robot_id,
            e.seq,
            e.ts,
            e.level.value,
            e.code,
            e.message,
            e.component,
            json.dumps(e.state),
        )
        for e in events
    ]
    return copy_idempotent(conn, "events", EVENT_COLUMNS, rows) if rows else 0


_UPSERT_TASKS = """
INSERT INTO tasks (tenant_id, task_id, robot_id, site_id, area_id, status, area_m2, cleaned_m2, progress,
                   efficiency, reason, assigned_at, started_at, finished_at, updated_at)
SELECT tenant_id, task_id,
       (array_agg(robot_id ORDER BY ts DESC))[1],
       (array_agg(payload->>'site_id' ORDER BY ts DESC) FILTER (WHERE payload ? 'site_id'))[1],
       (array_agg(payload->>'area_id' ORDER BY ts DESC) FILTER (WHERE payload ? 'area_id'))[1],
       (array_agg(type ORDER BY ts DESC, seq DESC))[1],
       (array_agg((payload->>'area_m2')::float8 ORDER BY ts DESC) FILTER (WHERE payload ? 'area_m2'))[1],
       (array_agg((payload->>'cleaned_m2')::float8 ORDER BY ts DESC) FILTER (WHERE payload ? 'cleaned_m2'))[1],
       (array_agg((payload->>'progress')::float8 ORDER BY ts DESC) FILTER (WHERE payload ? 'progress'))[1],
       (array_agg((payload->>'efficiency')::float8 ORDER BY ts DESC) FILTER (WHERE payload ? 'efficiency'))[1],
       (array_agg(payload->>'reason' ORDER BY ts DESC) FILTER (WHERE payload ? 'reason'))[1],
       min(ts) FILTER (WHERE type = 'assigned'),
       min(ts) FILTER (WHERE type = 'started'),
       max(ts) FILTER (WHERE type IN ('completed', 'failed')),
       max(ts)
FROM task_events_stage
GROUP BY tenant_id, task_id
ON CONFLICT (tenant_id, task_id) DO UPDATE SET
    robot_id = EXCLUDED.robot_id,
    site_id = coalesce(EXCLUDED.site_id, tasks.site_id),
    area_id = coalesce(EXCLUDED.area_id, tasks.area_id),
    status = CASE WHEN EXCLUDED.updated_at >= tasks.updated_at THEN EXCLUDED.status ELSE tasks.status END,
    area_m2 = coalesce(EXCLUDED.area_m2, tasks.area_m2),
    cleaned_m2 = coalesce(EXCLUDED.cleaned_m2, tasks.cleaned_m2),
    progress = coalesce(EXCLUDED.progress, tasks.progress),
    efficiency = coalesce(EXCLUDED.efficiency, tasks.efficiency),
    reason = coalesce(EXCLUDED.reason, tasks.reason),
    assigned_at = least(tasks.assigned_at, EXCLUDED.assigned_at),
    started_at = least(tasks.started_at, EXCLUDED.started_at),
    finished_at = greatest(tasks.finished_at, EXCLUDED.finished_at),
    updated_at = greatest(tasks.updated_at, EXCLUDED.updated_at)
"""


def write_task_events(conn: psycopg.Connection, events: Sequence[TaskEvent]) -> int:
    """Insert task events and fold them into the ``tasks`` table; return how many events were new."""
    if not events:
        return 0
    rows = [
        (
            e.tenant_id,
            e.robot_id,
            e.seq,
            e.ts,
            e.task_id,
            e.type.value,
            e.model_dump_json(exclude_none=True, exclude=_TASK_EVENT_KEYS),
        )
        for e in events
    ]
    copy_into_stage(conn, "task_events", TASK_EVENT_COLUMNS, rows)
    conn.execute(_UPSERT_TASKS)
    column_list = ", ".join(TASK_EVENT_COLUMNS)
    return conn.execute(
        f"INSERT INTO task_events ({column_list}) SELECT {column_list} FROM task_events_stage ON CONFLICT DO NOTHING"
    ).rowcount


def read_events(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    start: datetime,
    end: datetime,
    robot_id: str | None = None,
    min_level: str = "INFO",
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Events of a tenant (or one robot) in ``[start, end)``, at ``min_level`` or above, oldest first."""
    levels = ["INFO", "WARNING", "ERROR", "FATAL"]
    wanted = levels[levels.index(min_level) :]
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT robot_id, seq, ts, level, code, message, component FROM events
            WHERE tenant_id = %s AND ts >= %s AND ts < %s AND level = ANY(%s)
              AND (%s::text IS NULL OR robot_id = %s::text)
            ORDER BY ts, robot_id, seq LIMIT %s
            """,
            (tenant_id, start, end, wanted, robot_id, robot_id, limit),
        )
        return cur.fetchall()
