"""``Scorer``: model scoring as a Serve deployment of its own, batched, multiplexed per tenant, autoscaled.

Each replica keeps the production models of the tenants it served last (``serve.multiplexed``: a
tenant's requests go to a replica that has its models loaded), gathers single-robot requests that
arrive together into one prediction (``serve.batch``), and reads features from the live shards.
"""

from __future__ import annotations

import time
from typing import Any

from ray import serve

from actors.shard import running_shards
from fleetray.config import load_settings
from fleetray.objectstore import ObjectStore
from fleetray.storage import Database
from pipelines.training.scoring import TenantModels
from serve_apps.scoring.service import PredictionService

SHARD_LOOKUP_TTL_S = 30.0
MODELS_PER_REPLICA = 64


@serve.deployment(
    name="Scorer",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=256,
    autoscaling_config={"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 64},
    logging_config={"enable_access_log": False},
)
class Scorer:
    """Predictions for one robot or a whole fleet of a tenant."""

    def __init__(self, settings_values: dict[str, Any], shard_prefix: str, shard_namespace: str | None) -> None:
        settings = load_settings(**settings_values)
        assert settings.database_url is not None
        self._db = Database(settings.database_url, schema=settings.database_schema)
        self._prefix, self._namespace = shard_prefix, shard_namespace
        self._handles: list[Any] = []
        self._looked_up_at = -SHARD_LOOKUP_TTL_S
        self._service = PredictionService(self._db, ObjectStore.from_settings(settings), self._shards)

    async def _shards(self) -> list[Any]:
        if time.monotonic() - self._looked_up_at >= SHARD_LOOKUP_TTL_S or not self._handles:
            self._looked_up_at = time.monotonic()
            with self._db.connect() as conn:
                self._handles = running_shards(conn, self._prefix, self._namespace)
        return self._handles

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def tenant_models(self, tenant_id: str) -> TenantModels:
        """A tenant's production models (loaded once per replica, refreshed when the registry changes)."""
        return await self._service.load_models(tenant_id)

    async def robot(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """One robot's predictions with the reasons of every component; None if the tenant has no such robot."""
        return await self._robots(tenant_id, robot_id)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def _robots(self, tenant_ids: list[str], robot_ids: list[str]) -> list[dict[str, Any] | None]:
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, robot_id in zip(tenant_ids, robot_ids, strict=True):
            by_tenant.setdefault(tenant_id, []).append(robot_id)
        answers: dict[tuple[str, str], dict[str, Any]] = {}
        for tenant_id, ids in by_tenant.items():
            models = await self._service.fresh(await self.tenant_models(tenant_id))
            for entry in await self._service.score(models, tenant_id, sorted(set(ids)), explain="all"):
                answers[(tenant_id, entry["robot_id"])] = entry
        return [answers.get(key) for key in zip(tenant_ids, robot_ids, strict=True)]

    async def fleet(self, tenant_id: str, explain: str = "risky") -> list[dict[str, Any]]:
        """Every robot of the tenant, scored (reasons for the components predicted to fail)."""
        models = await self._service.fresh(await self.tenant_models(tenant_id))
        return await self._service.score(models, tenant_id, None, explain=explain)
