"""Robots' live state: asked of the fleet shards when they run, read from PostgreSQL when not.

A shard answers only for robots it holds, so a robot registered since the shard started (and not
heard from yet), or a platform running without shards, falls back to the last stored sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.concurrency import run_in_threadpool
from psycopg.rows import dict_row

from actors.registry import shard_of
from actors.shard import running_shards
from actors.shard_state import sample_view
from fleetray.errors import NotFoundError
from fleetray.storage.alerts import open_alerts
from fleetray.storage.fleet import get_robot
from fleetray.storage.telemetry import latest_per_robot, telemetry_from_row
from fleetray.wire import TELEMETRY

logger = logging.getLogger(__name__)

SHARD_LOOKUP_TTL_S = 30.0
NO_SHARDS_RECHECK_S = 5.0  # shards starting after the API are found this soon
SHARD_CALL_TIMEOUT_S = 5.0


class LiveStateReader:
    """Live state for the API, with the stored state as fallback.

    Args:
        connection: a context manager factory giving pooled database connections.
        prefix: the shards' Ray name prefix.
    """

    def __init__(
        self,
        connection: Callable[[], contextlib.AbstractContextManager[psycopg.Connection]],
        prefix: str = "fleetray",
        namespace: str | None = None,
    ) -> None:
        self._connection = connection
        self._prefix = prefix
        self._namespace = namespace
        self._shards: list[Any] = []
        self._looked_up_at = -SHARD_LOOKUP_TTL_S

    async def shards(self) -> list[Any]:
        """Handles on the running shards (none when Ray or the shards are not running), refreshed now and then."""
        ttl = SHARD_LOOKUP_TTL_S if self._shards else NO_SHARDS_RECHECK_S
        if time.monotonic() - self._looked_up_at >= ttl:
            self._looked_up_at = time.monotonic()
            self._shards = await run_in_threadpool(self._look_up_shards)
        return self._shards

    def _look_up_shards(self) -> list[Any]:
        with self._connection() as conn:
            return running_shards(conn, self._prefix, self._namespace)

    def forget_shards(self) -> None:
        self._looked_up_at = -SHARD_LOOKUP_TTL_S

    async def robot(self, tenant_id: str, robot_id: str) -> dict[str, Any]:
        """One robot's state.

        Raises:
            NotFoundError: the tenant has no such robot.
        """
        shards = await self.shards()
        if shards:
            shard = shards[shard_of(tenant_id, robot_id, len(shards))]
            try:
                state = await asyncio.wait_for(shard.robot.remote(tenant_id, robot_id), SHARD_CALL_TIMEOUT_S)
            except Exception as err:  # a shard restarting or gone: the stored state still answers
                logger.warning("shard for %s/%s did not answer (%s); serving stored state", tenant_id, robot_id, err)
                self.forget_shards()
            else:
                if state is not None:
                    return _live(state)
        stored = await run_in_threadpool(self._stored, tenant_id, [robot_id])
        if not stored:
            raise NotFoundError(f"robot {robot_id!r} not found")
        return stored[0]

    async def fleet(self, tenant_id: str, *, site_id: str | None = None, status: str | None = None) -> list[dict]:
        """Every robot of the tenant (optionally of one site or status), by robot id."""
        shards = await self.shards()
        states: dict[str, dict[str, Any]] = {}
        if shards:
            try:
                answers = await asyncio.wait_for(
                    asyncio.gather(*(s.query.remote(tenant_id, None, site_id, status) for s in shards)),
                    SHARD_CALL_TIMEOUT_S,
                )
            except Exception as err:
                logger.warning("shards did not answer a fleet query (%s); serving stored state", err)
                self.forget_shards()
            else:
                states = {s["robot_id"]: _live(s) for answer in answers for s in answer}
        missing = await run_in_threadpool(self._registered_ids, tenant_id, site_id, set(states))
        if missing:
            stored = await run_in_threadpool(self._stored, tenant_id, missing)
            states.update((s["robot_id"], s) for s in stored if status is None or s["status"] == status)
        return [states[robot_id] for robot_id in sorted(states)]

    def _registered_ids(self, tenant_id: str, site_id: str | None, known: set[str]) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT robot_id FROM robots WHERE tenant_id = %s AND (%s::text IS NULL OR site_id = %s::text)",
                (tenant_id, site_id, site_id),
            ).fetchall()
        return [robot_id for (robot_id,) in rows if robot_id not in known]

    def _stored(self, tenant_id: str, robot_ids: list[str]) -> list[dict[str, Any]]:
        with self._connection() as conn:
            if len(robot_ids) == 1:
                try:
                    robots = [get_robot(conn, tenant_id, robot_ids[0])]
                except NotFoundError:
                    return []
            else:
                with conn.cursor(row_factory=dict_row) as cur:
                    robots = cur.execute(
                        "SELECT * FROM robots WHERE tenant_id = %s AND robot_id = ANY(%s)", (tenant_id, robot_ids)
                    ).fetchall()
            keys = [(tenant_id, r["robot_id"]) for r in robots]
            latest = {row["robot_id"]: row for row in latest_per_robot(conn, keys)}
            alerts: dict[str, list[str]] = {}
            for _, robot_id, rule, _ in open_alerts(conn, keys):
                alerts.setdefault(robot_id, []).append(rule)
        states = []
        for robot in robots:
            row = latest.get(robot["robot_id"])
            sample = telemetry_from_row(row) if row is not None else None
            states.append(
                {
                    "robot_id": robot["robot_id"],
                    "site_id": robot["site_id"],
                    "manufacturer": robot["manufacturer"],
                    "model": robot["model"],
                    "status": sample.status.value if sample else None,
                    "last_seen": sample.ts if sample else None,
                    "seq": sample.seq if sample else None,
                    "latest": sample_view(TELEMETRY.from_model(sample)) if sample else None,
                    "task": {"task_id": sample.task_id, "status": None} if sample and sample.task_id else None,
                    "alerts": sorted(alerts.get(robot["robot_id"], [])),
                    "source": "stored",
                }
            )
        return states


def _live(state: dict[str, Any]) -> dict[str, Any]:
    last_seen = state.get("last_seen")
    return {
        **state,
        "source": "live",
        "last_seen": datetime.fromisoformat(last_seen).astimezone(UTC) if last_seen else None,
    }
