"""Predictions for robots: features from the shards that hold them, models from the registry.

Used by the ``Scorer`` deployment (batched and multiplexed per tenant) and, where no Serve runs (tests,
a plain uvicorn), by the API in its own process. Robots no shard holds are scored on features folded
from their stored minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.registry import shard_of
from fleetray.learning.platform import platform_feature_set
from pipelines.training.scoring import TenantModels, score_rows, stored_feature_rows

if TYPE_CHECKING:
    from fleetray.objectstore import ObjectStore
    from fleetray.storage import Database

logger = logging.getLogger(__name__)

SHARD_CALL_TIMEOUT_S = 5.0
MODEL_REFRESH_S = 30.0
INLINE_ROWS = 128
# A robot's features change once a minute (when its minute closes): answers may reuse them this long.
FEATURE_TTL_S = 10.0
FEATURE_CACHE_ROWS = 100_000
PLATFORM_FEATURE_NAMES = platform_feature_set().feature_names
PLATFORM_FEATURE_VERSION = platform_feature_set().version


class PredictionService:
    """Scores a tenant's robots.

    Args:
        shards: gives handles on the running shards (empty where none run).
    """

    def __init__(self, db: Database, store: ObjectStore, shards: Callable[[], Awaitable[list[Any]]]) -> None:
        self.db = db
        self.store = store
        self._shards = shards
        self._models: dict[str, TenantModels] = {}
        self._features: dict[tuple[str, str], tuple[float, str, np.ndarray, str]] = {}
        self._fleet_fetched: dict[str, float] = {}
        self._refreshes: set[asyncio.Future] = set()

    async def load_models(self, tenant_id: str) -> TenantModels:
        """A tenant's production models, loaded now."""
        models = TenantModels(tenant_id)
        return await asyncio.to_thread(models.refresh, self.db, self.store, every_s=0.0)

    async def models(self, tenant_id: str) -> TenantModels:
        """A tenant's production models, cached and re-checked every ``MODEL_REFRESH_S``."""
        models = self._models.get(tenant_id)
        if models is None:
            models = self._models[tenant_id] = await self.load_models(tenant_id)
        return await self.fresh(models)

    async def fresh(self, models: TenantModels) -> TenantModels:
        """``models``, reloaded if the registry's production versions changed since the last check."""
        if not models.due(MODEL_REFRESH_S):
            return models
        return await asyncio.to_thread(models.refresh, self.db, self.store, every_s=MODEL_REFRESH_S)

    async def feature_rows(self, tenant_id: str, robot_ids: list[str] | None) -> dict[str, Any]:
        """Feature rows of the tenant's robots (all with None), from the shards, else from stored minutes.

        Where shards run, single robots are answered from a snapshot of the tenant's whole fleet, refreshed in
        the background every ``FEATURE_TTL_S`` (a robot's features change once a minute); elsewhere robots
        are fetched when their rows are older than that. A whole fleet is always asked of the shards.
        """
        if robot_ids is None:
            return await self._fetch(tenant_id, None)
        now = time.monotonic()
        snapshot_age = now - self._fleet_fetched.get(tenant_id, -2 * FEATURE_TTL_S)
        if snapshot_age >= FEATURE_TTL_S and await self._shards():
            self._fleet_fetched[tenant_id] = now
            refresh = asyncio.ensure_future(self._fetch(tenant_id, None))
            self._refreshes.add(refresh)  # held, so it is not collected mid-flight
            refresh.add_done_callback(self._refreshes.discard)
            if snapshot_age >= 2 * FEATURE_TTL_S or any((tenant_id, r) not in self._features for r in robot_ids):
                await refresh  # no snapshot recent enough to answer from while this one is taken
        too_old = now - 2 * FEATURE_TTL_S
        missing = [r for r in robot_ids if self._features.get((tenant_id, r), (too_old,))[0] <= too_old]
        if missing:  # registered since the snapshot, or held by no shard: fetched on their own
            await self._fetch(tenant_id, missing)
        hits = sorted((r, self._features[(tenant_id, r)]) for r in set(robot_ids) if (tenant_id, r) in self._features)
        features = np.vstack([hit[2] for _, hit in hits]) if hits else np.zeros((0, len(PLATFORM_FEATURE_NAMES)))
        return {
            "robot_ids": [r for r, _ in hits],
            "models": [hit[1] for _, hit in hits],
            "features": features,
            "feature_version": hits[0][1][3] if hits else PLATFORM_FEATURE_VERSION,
        }

    def _remember(self, tenant_id: str, rows: dict[str, Any]) -> None:
        now = time.monotonic()
        if len(self._features) > FEATURE_CACHE_ROWS:
            self._features.clear()
        for robot_id, model, features in zip(rows["robot_ids"], rows["models"], rows["features"], strict=True):
            self._features[(tenant_id, robot_id)] = (now, model, features, rows["feature_version"])

    async def _fetch(self, tenant_id: str, robot_ids: list[str] | None) -> dict[str, Any]:
        shards = await self._shards()
        parts: list[dict[str, Any]] = []
        if shards:
            if robot_ids is None:
                calls = [shard.features.remote(tenant_id, None) for shard in shards]
            else:
                by_shard: dict[int, list[str]] = defaultdict(list)
                for robot_id in robot_ids:
                    by_shard[shard_of(tenant_id, robot_id, len(shards))].append(robot_id)
                calls = [shards[index].features.remote(tenant_id, ids) for index, ids in by_shard.items()]
            try:
                parts = list(await asyncio.wait_for(asyncio.gather(*calls), SHARD_CALL_TIMEOUT_S))
            except Exception as err:  # a shard restarting: stored minutes still answer
                logger.warning("shards did not give features (%s); folding stored minutes", err)
        held = {robot_id for part in parts for robot_id in part["robot_ids"]}
        if robot_ids is None and not shards:
            robot_ids = await asyncio.to_thread(self._registered, tenant_id)
        missing = [robot_id for robot_id in robot_ids or [] if robot_id not in held]
        if missing:
            parts.append(await asyncio.to_thread(stored_feature_rows, self.db, tenant_id, missing))
        rows = _merge(parts)
        self._remember(tenant_id, rows)
        return rows

    def _registered(self, tenant_id: str) -> list[str]:
        with self.db.connect() as conn:
            return [r for (r,) in conn.execute("SELECT robot_id FROM robots WHERE tenant_id = %s", (tenant_id,))]

    async def score(
        self, models: TenantModels, tenant_id: str, robot_ids: list[str] | None, *, explain: str
    ) -> list[dict[str, Any]]:
        """Predictions of the tenant's robots (those of ``robot_ids``, or all), in robot id order."""
        rows = await self.feature_rows(tenant_id, robot_ids)
        if len(rows["robot_ids"]) <= INLINE_ROWS:  # a few milliseconds: cheaper than a hop to a thread
            return score_rows(models, rows, explain=explain)
        return await asyncio.to_thread(score_rows, models, rows, explain=explain)


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    versions = {part["feature_version"] for part in parts if part["robot_ids"]}
    if len(versions) > 1:
        logger.warning("shards compute different feature versions %s; scoring may refuse some", sorted(versions))
    robot_ids = [robot_id for part in parts for robot_id in part["robot_ids"]]
    order = np.argsort(robot_ids, kind="stable")
    features = (
        np.vstack([part["features"] for part in parts if part["robot_ids"]])
        if robot_ids
        else np.zeros((0, len(PLATFORM_FEATURE_NAMES)))
    )
    models = [model for part in parts for model in part["models"]]
    return {
        "robot_ids": [robot_ids[i] for i in order],
        "models": [models[i] for i in order],
        "features": features[order],
        "feature_version": versions.pop() if len(versions) == 1 else PLATFORM_FEATURE_VERSION,
    }
