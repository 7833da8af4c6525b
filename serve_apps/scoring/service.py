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
from dataclasses import dataclass
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


@dataclass
class _Snapshot:
    """A tenant's whole fleet of feature rows, in the parts the shards (and stored minutes) gave them.

    Kept as given: merging ten thousand rows into one sorted matrix costs tens of milliseconds of the
    event loop, which single-robot answers would wait for; looking a robot up costs nothing.
    """

    taken_at: float
    parts: list[dict[str, Any]]
    where: dict[str, tuple[int, int]]  # robot id -> (part, row)

    @classmethod
    def of(cls, parts: list[dict[str, Any]], taken_at: float) -> _Snapshot:
        where = {robot_id: (k, i) for k, part in enumerate(parts) for i, robot_id in enumerate(part["robot_ids"])}
        return cls(taken_at, parts, where)

    def row(self, robot_id: str) -> tuple[str, np.ndarray, str]:
        """The robot's model, feature row and feature version."""
        k, i = self.where[robot_id]
        part = self.parts[k]
        return part["models"][i], part["features"][i], part["feature_version"]


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
        self._snapshots: dict[str, _Snapshot] = {}
        # Robots fetched on their own (registered since the tenant's snapshot, or held by no shard).
        self._features: dict[tuple[str, str], tuple[float, str, np.ndarray, str]] = {}
        self._refreshing: dict[str, asyncio.Future] = {}

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
            parts = await self._fleet(tenant_id)
            return await asyncio.to_thread(_merge, parts)  # ten thousand rows: off the event loop
        now = time.monotonic()
        snapshot = self._snapshots.get(tenant_id)
        snapshot_age = now - snapshot.taken_at if snapshot is not None else 2 * FEATURE_TTL_S
        if snapshot_age >= FEATURE_TTL_S and await self._shards():
            refresh = self._refreshing.get(tenant_id)
            if refresh is None:
                refresh = self._refreshing[tenant_id] = asyncio.ensure_future(self._fleet(tenant_id))
                refresh.add_done_callback(lambda _: self._refreshing.pop(tenant_id, None))
            unknown = snapshot is None or any(r not in snapshot.where for r in robot_ids)
            if snapshot_age >= 2 * FEATURE_TTL_S or unknown:
                await refresh  # no snapshot recent enough to answer from while this one is taken
                snapshot = self._snapshots.get(tenant_id)
        if snapshot is not None and time.monotonic() - snapshot.taken_at >= 2 * FEATURE_TTL_S:
            snapshot = None  # the shards did not answer: robots are fetched on their own
        too_old = now - 2 * FEATURE_TTL_S
        missing = [
            r
            for r in robot_ids
            if (snapshot is None or r not in snapshot.where)
            and self._features.get((tenant_id, r), (too_old,))[0] <= too_old
        ]
        if missing:  # registered since the snapshot, or held by no shard: fetched on their own
            self._remember(tenant_id, await self._fetch(tenant_id, missing))
        hits = []
        for robot_id in sorted(set(robot_ids)):
            if snapshot is not None and robot_id in snapshot.where:
                hits.append((robot_id, *snapshot.row(robot_id)))
            elif (tenant_id, robot_id) in self._features:
                hits.append((robot_id, *self._features[(tenant_id, robot_id)][1:]))
        features = np.vstack([hit[2] for hit in hits]) if hits else np.zeros((0, len(PLATFORM_FEATURE_NAMES)))
        return {
            "robot_ids": [hit[0] for hit in hits],
            "models": [hit[1] for hit in hits],
            "features": features,
            "feature_version": hits[0][3] if hits else PLATFORM_FEATURE_VERSION,
        }

    def _remember(self, tenant_id: str, rows: dict[str, Any]) -> None:
        now = time.monotonic()
        if len(self._features) > FEATURE_CACHE_ROWS:
            self._features.clear()
        for robot_id, model, features in zip(rows["robot_ids"], rows["models"], rows["features"], strict=True):
            self._features[(tenant_id, robot_id)] = (now, model, features, rows["feature_version"])

    async def _fleet(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every robot's rows, in parts, kept as the tenant's snapshot."""
        parts = await self._parts(tenant_id, None)
        self._snapshots[tenant_id] = _Snapshot.of(parts, time.monotonic())
        return parts

    async def _fetch(self, tenant_id: str, robot_ids: list[str]) -> dict[str, Any]:
        return _merge(await self._parts(tenant_id, robot_ids))

    async def _parts(self, tenant_id: str, robot_ids: list[str] | None) -> list[dict[str, Any]]:
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
        return [part for part in parts if part["robot_ids"]]

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
