"""``maintenance_due`` alerts: every fleet scored now and then, a robot's predicted risk over its tenant's
threshold raises the alert, and it clears only once the risk falls below a lower one (hysteresis).

The alerts go where every other alert goes: stored once while active, published on the hub, so the
WebSocket feed and the webhooks carry them. Thresholds are alert policy fields (``maintenance_due_raise``,
``maintenance_due_clear``), per tenant or per robot model in ``alert_policies``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ray

from actors.alerts import AlertChange, AlertPolicy
from actors.hub import get_hub
from actors.registry import load_policies, policy_lookup
from actors.shard import running_shards
from fleetray.objectstore import ObjectStore
from fleetray.storage import Database
from fleetray.storage.alerts import open_alerts, persist_alert_changes
from serve_apps.scoring.service import PredictionService

logger = logging.getLogger(__name__)

RULE = "maintenance_due"


def maintenance_changes(
    tenant_id: str,
    predictions: list[dict[str, Any]],
    models: dict[str, str],
    active: set[str],
    policy_for: Callable[[str, str], AlertPolicy],
    now: datetime,
) -> list[AlertChange]:
    """Alerts to raise (risk at or over the raise level, not active yet) and to clear (active, below clear)."""
    changes = []
    for prediction in predictions:
        risk = prediction["risk"]
        if risk is None:
            continue
        robot_id = prediction["robot_id"]
        policy = policy_for(tenant_id, models.get(robot_id, ""))
        if robot_id not in active and risk >= policy.maintenance_due_raise:
            due = {
                c: f["failure_probability"] for c, f in prediction["components"].items() if f.get("failure_predicted")
            }
            worst = max(prediction["components"].items(), key=lambda item: item[1].get("failure_probability") or 0)
            changes.append(
                AlertChange(
                    tenant_id,
                    robot_id,
                    RULE,
                    True,
                    now,
                    severity="warning",
                    message=f"{worst[0]} likely to fail within {worst[1].get('horizon_h', 24):g} h (risk {risk:.0%})",
                    details={"risk": risk, "components": due, "reasons": worst[1].get("reasons", [])},
                )
            )
        elif robot_id in active and risk < policy.maintenance_due_clear:
            changes.append(AlertChange(tenant_id, robot_id, RULE, False, now, message=f"risk down to {risk:.0%}"))
    return changes


@ray.remote(num_cpus=0, max_restarts=-1)
class MaintenanceWatch:
    """Scores every tenant that has a production failure model, every ``interval_s``."""

    def __init__(
        self,
        database_url: str,
        schema: str,
        object_store: dict[str, Any],
        interval_s: float,
        shard_prefix: str = "fleetray",
    ) -> None:
        self._db = Database(database_url, schema=schema)
        self._prefix = shard_prefix
        self._service = PredictionService(self._db, ObjectStore(**object_store), self._shards)
        self._interval_s = interval_s
        self._hub = get_hub()
        self.rounds = 0
        self.raised = 0
        self._task = asyncio.get_event_loop().create_task(self._loop()) if interval_s > 0 else None

    async def _shards(self) -> list[Any]:
        with self._db.connect() as conn:
            return running_shards(conn, self._prefix, ray.get_runtime_context().namespace)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except Exception:  # the next round tries again; a broken model must not stop the watch
                logger.exception("maintenance watch round failed")

    async def run_once(self) -> int:
        """Score every fleet now; returns the number of alerts raised or cleared."""
        with self._db.connect() as conn:
            tenants = [t for (t,) in conn.execute("SELECT tenant_id FROM tenants ORDER BY tenant_id")]
            policy_for = policy_lookup(load_policies(conn))
        changed = 0
        for tenant_id in tenants:
            models = await self._service.models(tenant_id)
            if models.failure is None:
                continue
            predictions = await self._service.score(models, tenant_id, None, explain="risky")
            changed += await asyncio.to_thread(self._apply, tenant_id, predictions, policy_for)
        self.rounds += 1
        return changed

    def _apply(self, tenant_id: str, predictions: list[dict[str, Any]], policy_for: Any) -> int:
        with self._db.connect() as conn:
            keys = [(tenant_id, p["robot_id"]) for p in predictions]
            active = {robot for _, robot, rule, _ in open_alerts(conn, keys) if rule == RULE}
            rows = conn.execute(
                "SELECT robot_id, model, site_id FROM robots WHERE tenant_id = %s", (tenant_id,)
            ).fetchall()
            models = {robot: model for robot, model, _ in rows}
            sites = {robot: site for robot, _, site in rows}
            changes = maintenance_changes(tenant_id, predictions, models, active, policy_for, datetime.now(UTC))
            persist_alert_changes(conn, changes)
        if changes:
            self._hub.publish.remote(
                [{"kind": "alert", "site_id": sites.get(c.robot_id), **c.as_dict()} for c in changes]
            )
        self.raised += sum(c.raised for c in changes)
        return len(changes)

    def stats(self) -> dict[str, int]:
        return {"rounds": self.rounds, "raised": self.raised}
