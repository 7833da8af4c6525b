"""One failure booster learns from every part's failures; each part is served the branches its rows take."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgbcore

from fleetray.learning import TrainingTable, split_units
from pipelines.training import xgb
from pipelines.training.bundle import ModelBundle
from pipelines.training.shared_parts import PartLayout, slot_name
from tests.pipelines.training.tables import spec_table

SPEC = """
source: machines.csv
unit: unit
time: cycle
time_unit: cycle
sensors: [brush.current_a, pump.current_a]
labels:
  failures: {source: failures.csv, unit: unit, time: cycle, component: component}
horizon: 10
rul_cap: 60
half_lives: [2, 8, 32]
informs: {brush.current_a: [brush], pump.current_a: [pump]}
"""


def write_machines(folder: Path, units: int = 40, cycles: int = 240, seed: int = 1) -> None:
    """Every machine has a brush; one in ten also has a pump. Both wear alike: their current climbs with wear
    squared, through noise, until they fail and are replaced."""
    rng = np.random.default_rng(seed)
    rows, failures = [], []
    for unit in range(units):
        parts = ("brush", "pump") if unit % 10 == 0 else ("brush",)
        wear = {part: rng.uniform(0, 0.9) for part in parts}
        life = {part: rng.uniform(30, 60) for part in parts}
        for cycle in range(cycles):
            for part in parts:
                wear[part] += 1 / life[part]
                if wear[part] >= 1:
                    failures.append((unit, part, cycle))
                    wear[part], life[part] = 0.0, rng.uniform(30, 60)
            current = {part: 2 + 2 * wear[part] ** 2 + rng.normal(0, 0.4) for part in parts}
            rows.append((unit, cycle, current["brush"], current.get("pump", np.nan)))
    frame = pd.DataFrame(rows, columns=["unit", "cycle", "brush.current_a", "pump.current_a"])
    frame.to_csv(folder / "machines.csv", index=False)
    pd.DataFrame(failures, columns=["unit", "component", "cycle"]).to_csv(folder / "failures.csv", index=False)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> TrainingTable:
    folder = tmp_path_factory.mktemp("rare-pump")
    write_machines(folder)
    return spec_table(folder, SPEC)


def test_like_features_of_every_part_share_a_slot() -> None:
    assert slot_name("components.pump.current_a:max:ewm20", "pump") == "components.{part}.current_a:max:ewm20"
    assert slot_name("events.warnings.pump:n:last", "pump") == "events.warnings.{part}:n:last"
    assert (
        slot_name("components.pump.current_a:max:last/typical", "pump")
        == "components.{part}.current_a:max:last/typical"
    )
    # Another part's signal, and a part's name inside a longer word, stay as they are.
    assert slot_name("components.vacuum.current_a:max:last", "filter") == "components.vacuum.current_a:max:last"
    assert slot_name("metrics.pump_flow:max:last", "pump") == "metrics.pump_flow:max:last"
    layout = PartLayout.of(
        ["brush.current_a:max:last", "pump.current_a:max:last", "hours:last:last"],
        {"brush": np.array([0, 2]), "pump": np.array([1, 2])},
    )
    assert layout.slots == ["{part}.current_a:max:last", "hours:last:last"]
    assert layout.names[-2:] == ["part=brush", "part=pump"]


def test_each_part_is_served_the_shared_trees_cut_to_its_branches() -> None:
    """A part's booster predicts and explains exactly what the shared booster does for the part's rows, missing
    values included, and reads only the part's own columns."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3000, 4))
    features[::5, 2] = np.nan
    names = ["a.x:max:last", "b.x:max:last", "load:max:last", "b.y:max:last"]
    layout = PartLayout.of(names, {"a": np.array([0, 2]), "b": np.array([1, 2, 3])})
    rows = {"a": slice(0, 1500), "b": slice(1500, 3000)}
    labels = np.r_[
        features[:1500, 0] > 0.8, np.nan_to_num(features[1500:, 1] + features[1500:, 2]) > features[1500:, 3]
    ]
    stacked = np.vstack([layout.inputs(features[rows[part]], part) for part in ("a", "b")])
    shared = xgbcore.train(
        {"objective": "binary:logistic", "max_depth": 5}, xgbcore.DMatrix(stacked, label=labels.astype(float)), 20
    )
    for part, own in (("a", [0, 2]), ("b", [1, 2, 3])):
        own_names = [names[k] for k in own]
        model = layout.specialise(json.loads(shared.save_raw("json")), part, own_names)
        booster = xgbcore.Booster()
        booster.load_model(bytearray(json.dumps(model).encode()))
        assert booster.feature_names == own_names
        expected = xgbcore.DMatrix(layout.inputs(features[rows[part]], part))
        alone = xgbcore.DMatrix(features[rows[part]][:, own], feature_names=own_names)
        np.testing.assert_allclose(booster.predict(alone), shared.predict(expected), rtol=1e-6)
        margin = booster.predict(alone, output_margin=True)
        for exact in (True, False):
            contributions = booster.predict(alone, pred_contribs=True, approx_contribs=not exact)
            np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=1e-5, atol=1e-5)
        if part == "a":  # it has no ``b.y``: the branches that split on it are gone
            assert _nodes(model) < _nodes(json.loads(shared.save_raw("json")))


def _nodes(model: dict) -> int:
    return sum(len(tree["left_children"]) for tree in model["learner"]["gradient_booster"]["model"]["trees"])


def test_a_rare_part_learns_from_a_common_parts_failures(machines: TrainingTable) -> None:
    """The pump fails on four machines, the brush on all forty, and both wear alike: the shared booster ranks the
    test machines' pump rows better than a booster of the pump's own failures does."""
    split = split_units(machines.units, seed=0)
    rows = split.train | split.validation
    figures = {}
    for shared in (False, True):
        result = xgb.train_xgboost(machines, split, task="failure", rounds=40, shared_parts=shared, fit_rows=rows)
        assert result.shared is shared
        bundle = ModelBundle.from_bytes(xgb.bundle_of(machines, result, task="failure", params={}).to_bytes())
        assert bundle.info.get("shared_parts") == (["brush", "pump"] if shared else None)
        figures[shared] = xgb.test_metrics(machines, split, bundle)["components"]
    assert figures[True]["pump"]["positives"] > 0
    low, high = figures[True]["pump"]["precision_interval"]  # over the test machines resampled
    assert low <= figures[True]["pump"]["precision"] <= high
    assert figures[True]["pump"]["pr_auc"] > figures[False]["pump"]["pr_auc"]
    # Out of fold, the folds share their boosters too, and the common part is no worse off for it.
    assert figures[True]["brush"]["pr_auc"] > 0.9
    out_of_fold = xgb.out_of_fold_predictions(machines, rows, params={}, rounds=40, folds=3, min_failed_units=2)
    assert set(out_of_fold) == {"brush", "pump"}


def test_a_rare_part_of_a_shared_booster_takes_the_threshold_of_every_parts_predictions() -> None:
    rng = np.random.default_rng(0)

    def predictions(units: int, failing: int, lift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last 5 of each unit's 20 rows are positive on ``failing`` units, and score ``lift`` higher."""
        of_unit = np.repeat(np.arange(units), 20).astype(str)
        actual = (np.arange(len(of_unit)) % 20 >= 15) & (np.repeat(np.arange(units), 20) < failing)
        return actual * lift + rng.uniform(0, 0.5, len(actual)), actual.astype(float), of_unit

    out_of_fold = {"brush": predictions(40, 30, 0.3), "pump": predictions(40, 3, 0.5)}
    own = xgb.out_of_fold_thresholds(out_of_fold)
    shared = xgb.out_of_fold_thresholds(out_of_fold, shared=["brush", "pump", "vacuum"])
    together = xgb.out_of_fold_thresholds(
        {"all": tuple(np.concatenate(parts) for parts in zip(*out_of_fold.values(), strict=True))}
    )["all"]
    assert shared["brush"] == own["brush"]  # failed on 30 units: a threshold of its own
    assert shared["pump"] == shared["vacuum"] == together  # 3 units, and none out of fold
    assert own["pump"] != together
    assert own.keys() == {"brush", "pump"}
