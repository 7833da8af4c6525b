"""The lake gets every persisted sample exactly once, also when a shard dies with rows buffered."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from actors.shard_core import ShardCore
from actors.shard_lake import ShardLake
from fleetray.lake import read_lake
from fleetray.objectstore import ObjectStore
from fleetray.storage import Database
from fleetray.storage.lake_checkpoints import read_checkpoint
from tests.actors.conftest import raw, sample


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path.as_uri(), signing_key=b"k" * 32)


def shard(db: Database, store: ObjectStore, window: timedelta) -> ShardCore:
    return ShardCore(0, 1, db, lake=ShardLake(store, db, 0, 1, window=window))


def batch(tenant_id: str, robots: list[str], seqs: range) -> list:
    return [raw([sample(tenant_id, robot, n) for n in seqs]) for robot in robots]


def lake_keys(store: ObjectStore, tenant_id: str) -> list[tuple[str, int]]:
    table = read_lake(store, "telemetry", tenant_id=tenant_id)
    return sorted(zip(table["robot_id"].to_pylist(), table["seq"].to_pylist(), strict=True))


def test_rows_buffered_by_a_shard_that_died_reach_the_lake_exactly_once(
    db: Database, tenant_id: str, fleet: list[str], store: ObjectStore
) -> None:
    first = shard(db, store, timedelta(seconds=1))
    first.ingest(batch(tenant_id, fleet, range(1, 6)))
    time.sleep(1.1)
    first.ingest(batch(tenant_id, fleet, range(6, 11)))  # the first window is complete and written...
    # ...and the shard dies before the second one is: a new one takes over from the checkpoint.
    second = shard(db, store, timedelta(seconds=1))
    second.ingest(batch(tenant_id, fleet, range(11, 16)))
    second.flush_lake()
    assert lake_keys(store, tenant_id) == sorted((robot, n) for robot in fleet for n in range(1, 16))


def test_a_shard_restarted_within_a_window_adds_files_rather_than_replacing_them(
    db: Database, tenant_id: str, fleet: list[str], store: ObjectStore
) -> None:
    first = shard(db, store, timedelta(hours=1))
    first.ingest(batch(tenant_id, fleet, range(1, 4)))
    written = first.flush_lake()
    with db.connect() as conn:
        checkpoint = read_checkpoint(conn, 0, 1)
    assert written and checkpoint is not None
    restarted = shard(db, store, timedelta(hours=1))
    restarted.ingest(batch(tenant_id, fleet, range(4, 7)))
    assert len(restarted.flush_lake()) == 1
    assert lake_keys(store, tenant_id) == sorted((robot, n) for robot in fleet for n in range(1, 7))


def test_redelivered_samples_stay_out_of_the_lake(
    db: Database, tenant_id: str, fleet: list[str], store: ObjectStore
) -> None:
    core = shard(db, store, timedelta(hours=1))
    messages = batch(tenant_id, fleet[:1], range(1, 4))
    core.ingest(messages)
    core.ingest(messages)  # redelivered
    core.flush_lake()
    table = read_lake(store, "telemetry", tenant_id=tenant_id)
    assert pc.sum(table["seq"]).as_py() == 6
