"""The platform's history trains the same table whichever way it is read, and live features equal batch ones."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from actors.intake import Intake
from actors.shard_state import RobotInfo, ShardState
from fleetray.errors import TrainingDataError
from fleetray.features.featureset import fold_history
from fleetray.learning.platform import history_from_database, platform_feature_set
from fleetray.learning.simulated import simulated_history
from fleetray.sim import FleetSimulator, SimConfig
from fleetray.sim.persist import write_history
from fleetray.storage import Database
from fleetray.wire import TELEMETRY

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SECONDS = 2 * 3600


def _config(tenant_id: str) -> SimConfig:
    return SimConfig(tenant_id=tenant_id, robots=6, seed=5, start=START, wear_rate=400)


def test_the_database_and_the_simulator_give_the_same_table(db: Database, tenant_id: str) -> None:
    write_history(FleetSimulator(_config(tenant_id)), db, None, SECONDS)
    stored = history_from_database(db, tenant_id).training_table(horizon_h=0.25, rul_cap_h=1)
    direct = simulated_history(_config(tenant_id), SECONDS).training_table(horizon_h=0.25, rul_cap_h=1)
    assert stored.components == direct.components and stored.components
    assert stored.feature_names == direct.feature_names
    np.testing.assert_array_equal(stored.units, direct.units)
    np.testing.assert_allclose(stored.features, direct.features, rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(stored.failure_within, direct.failure_within)
    np.testing.assert_allclose(stored.rul, direct.rul, equal_nan=True)
    assert stored.data_hash == direct.data_hash


def test_no_label_leaks_from_after_a_moment_into_its_features(tenant_id: str) -> None:
    history = simulated_history(_config(tenant_id), SECONDS)
    table = history.training_table(horizon_h=0.25, rul_cap_h=1, sample_every_min=None)
    for unit, component, minute in zip(
        history.failures.unit, history.failures.component, history.failures.time, strict=True
    ):
        j = table.components.index(component)
        rows = (table.units == unit) & (table.times >= minute) & (table.times < minute + 1)
        # The window that holds the failure ends after it: the part had failed by then, so no label.
        assert np.isnan(table.failure_within[rows, j]).all()
        before = (table.units == unit) & (table.times < minute) & (table.times >= minute - 1)
        assert (table.failure_within[before, j] == 1).all()


def test_a_history_without_failures_is_refused(tenant_id: str) -> None:
    calm = SimConfig(tenant_id=tenant_id, robots=2, seed=1, start=START, initial_wear_max=0.0)
    with pytest.raises(TrainingDataError, match="no component failed in this history"):
        simulated_history(calm, 600).training_table()


def test_live_shard_features_equal_the_batch_fold(tenant_id: str) -> None:
    config = _config(tenant_id)
    sim = FleetSimulator(config)
    shard = ShardState()
    shard.register(RobotInfo(tenant_id, r.robot_id, r.site_id, r.manufacturer, r.model) for r in sim.robots)
    for chunk in sim.run(3600, chunk_s=300):
        documents = [m.model_dump_json().encode() for m in chunk.telemetry.to_messages()]
        samples = [TELEMETRY.decode(document) for document in documents]
        shard.apply(Intake(telemetry=samples, documents=documents, events=chunk.events))
    history = simulated_history(config, 3600)
    feature_set = platform_feature_set()
    names, unit_index = np.unique(history.units, return_inverse=True)
    statistics = np.column_stack([history.signal_values(s) for s in feature_set.signals])
    batch = fold_history(feature_set, unit_index, history.minutes, statistics, len(names))
    live = shard.feature_rows(tenant_id)
    assert live["feature_version"] == feature_set.version and live["robot_ids"] == list(names)
    for k, robot_id in enumerate(live["robot_ids"]):
        row = shard.features.rows[(tenant_id, robot_id)]
        folded_until = np.nanmax(shard.features.state.seen_at[row])
        match = np.flatnonzero((history.units == robot_id) & (history.minutes == folded_until))
        np.testing.assert_allclose(live["features"][k], batch[match[0]], rtol=1e-6, atol=1e-6, equal_nan=True)
