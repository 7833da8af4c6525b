"""Where the scorer's feature rows come from: one snapshot of a tenant's fleet answers single robots."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from actors.registry import shard_of
from serve_apps.scoring import service
from serve_apps.scoring.service import FEATURE_TTL_S, PredictionService

TENANT = "acme"
WIDTH = len(service.PLATFORM_FEATURE_NAMES)


class FakeShard:
    """Answers ``features.remote`` as a shard does, for the robots ``shard_of`` gives it; counts the calls."""

    def __init__(self, robots: list[str]) -> None:
        self.robots = sorted(robots)
        self.rows = {robot: np.full(WIDTH, float(int(robot.removeprefix("r")))) for robot in robots}
        self.calls: list[list[str] | None] = []

    @property
    def features(self) -> FakeShard:
        return self

    def remote(self, tenant_id: str, robot_ids: list[str] | None) -> asyncio.Future:
        self.calls.append(robot_ids)
        held = self.robots if robot_ids is None else sorted(set(robot_ids) & set(self.robots))
        answer = asyncio.get_running_loop().create_future()
        answer.set_result(
            {
                "robot_ids": held,
                "models": ["Gausium/Phantas"] * len(held),
                "features": np.vstack([self.rows[r] for r in held]) if held else np.zeros((0, WIDTH)),
                "feature_version": service.PLATFORM_FEATURE_VERSION,
            }
        )
        return answer


def _fleet(robots: int) -> list[FakeShard]:
    ids = [f"r{i}" for i in range(robots)]
    return [FakeShard([r for r in ids if shard_of(TENANT, r, 2) == k]) for k in range(2)]


def _service(shards: list[FakeShard]) -> PredictionService:
    async def handles() -> list[Any]:
        return shards

    # No database or object store: the shards hold every robot, so neither is reached.
    return PredictionService(None, None, handles)  # type: ignore[arg-type]


def test_single_robots_are_answered_from_one_snapshot_of_the_fleet() -> None:
    shards = _fleet(40)
    scoring = _service(shards)

    async def scenario() -> list[dict[str, Any]]:
        return [await scoring.feature_rows(TENANT, ids) for ids in (["r7"], ["r3", "r12", "r3"], ["r39"])]

    first, pair, last = asyncio.run(scenario())
    assert [shard.calls for shard in shards] == [[None], [None]]  # one fleet fetch, then nothing per robot
    assert first["robot_ids"] == ["r7"] and first["features"].tolist() == [[7.0] * WIDTH]
    assert pair["robot_ids"] == ["r12", "r3"] and pair["features"][:, 0].tolist() == [12.0, 3.0]
    assert last["models"] == ["Gausium/Phantas"] and last["feature_version"] == service.PLATFORM_FEATURE_VERSION


def test_the_whole_fleet_is_merged_in_robot_order_and_refreshes_the_snapshot() -> None:
    shards = _fleet(25)
    scoring = _service(shards)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        fleet = await scoring.feature_rows(TENANT, None)
        return fleet, await scoring.feature_rows(TENANT, ["r24"])

    fleet, one = asyncio.run(scenario())
    assert fleet["robot_ids"] == sorted(f"r{i}" for i in range(25))
    assert fleet["features"][:, 0].tolist() == [float(r.removeprefix("r")) for r in fleet["robot_ids"]]
    assert one["features"][0, 0] == 24.0
    assert [shard.calls for shard in shards] == [[None], [None]]


def test_a_stale_snapshot_is_refreshed_and_a_robot_it_lacks_is_fetched_on_its_own() -> None:
    shards = _fleet(10)
    scoring = _service(shards)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        await scoring.feature_rows(TENANT, ["r1"])
        scoring._snapshots[TENANT].taken_at -= 2 * FEATURE_TTL_S  # as if twenty seconds went by
        refreshed = await scoring.feature_rows(TENANT, ["r2"])
        holder = shards[shard_of(TENANT, "r10", 2)]
        holder.robots.append("r10")  # registered since: the shard has it, the snapshot does not
        holder.rows["r10"] = np.full(WIDTH, 10.0)
        return refreshed, await scoring.feature_rows(TENANT, ["r10"])

    refreshed, newcomer = asyncio.run(scenario())
    assert refreshed["features"][0, 0] == 2.0
    assert newcomer["robot_ids"] == ["r10"] and newcomer["features"][0, 0] == 10.0
    holder = shards[shard_of(TENANT, "r10", 2)]
    assert holder.calls == [None, None, ["r10"]]  # two fleet fetches, then the newcomer alone
