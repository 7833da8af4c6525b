"""Features relative to a robot model's typical level: fitted on training units, carried by the model, applied the
same way in scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fleetray.learning import TrainingTable, load_training_table, split_units
from fleetray.learning.relative import SUFFIX, TypicalLevels, model_columns, relative_columns
from pipelines.training import xgb
from pipelines.training.bundle import ModelBundle
from pipelines.training.scoring import _reasons
from tests.pipelines.training.test_parts import SPEC as MACHINES_SPEC
from tests.pipelines.training.test_parts import write_machines

SPEC = MACHINES_SPEC + "conditions: [kind]\n"
KINDS = {"large": (8.0, 20.0), "small": (2.0, 5.0)}  # brush current and pump flow of each kind when new


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> TrainingTable:
    folder = tmp_path_factory.mktemp("kinds")
    write_machines(folder, seed=3, kinds=KINDS)
    (folder / "spec.yaml").write_text(SPEC)
    return load_training_table(folder / "spec.yaml")


def test_typical_levels_are_each_kinds_median_and_only_of_behaviour(machines: TrainingTable) -> None:
    rows = np.isin(machines.units, np.unique(machines.units)[:12])
    levels = TypicalLevels.fit(
        machines.feature_set, machines.feature_names, machines.condition_levels, machines.features[rows]
    )
    assert levels is not None and levels.condition == "kind" and levels.categories == ["large", "small"]
    names = levels.names(machines.feature_names)
    # The latest window and the averages of the sensors; not the counter of hours, nor the trends.
    assert {name.split(":")[0] for name in names} == {"brush_current", "pump_flow"}
    assert not [name for name in names if ":trend" in name]
    assert levels.columns == relative_columns(machines.feature_set)
    extended = levels.extend(machines.features)
    assert extended.shape[1] == len(machines.feature_names) + len(names)
    current = machines.feature_names.index("brush_current:mean:last")
    relative = len(machines.feature_names) + levels.columns.index(current)
    typical = {}
    for kind in levels.categories:
        of_kind = rows & (machines.features[:, machines.feature_names.index(f"kind={kind}")] == 1)
        typical[kind] = np.median(machines.features[of_kind, current])
        np.testing.assert_allclose(extended[of_kind, relative], machines.features[of_kind, current] / typical[kind])
    assert typical["large"] / typical["small"] == pytest.approx(KINDS["large"][0] / KINDS["small"][0], rel=0.1)
    # Relative to its kind, a worn part reads the same whatever the kind.
    assert np.nanmedian(extended[:, relative]) == pytest.approx(1.0, abs=0.05)


def test_a_kind_the_training_units_never_had_gets_no_relative_values(machines: TrainingTable) -> None:
    rows = machines.features[:, machines.feature_names.index("kind=small")] == 1
    levels = TypicalLevels.fit(
        machines.feature_set, machines.feature_names, machines.condition_levels, machines.features[rows]
    )
    assert levels is not None
    large = machines.features[:, machines.feature_names.index("kind=large")] == 1
    appended = levels.extend(machines.features)[:, len(machines.feature_names) :]
    assert np.isnan(appended[large]).all()
    assert np.isfinite(appended[rows]).any(axis=0).all()
    unknown = machines.features[:5].copy()
    unknown[:, [machines.feature_names.index(f"kind={kind}") for kind in ("large", "small")]] = 0
    assert np.isnan(levels.extend(unknown)[:, len(machines.feature_names) :]).all()


def test_typical_levels_survive_json(machines: TrainingTable) -> None:
    rows = machines.features[:, machines.feature_names.index("kind=small")] == 1
    levels = TypicalLevels.fit(
        machines.feature_set, machines.feature_names, machines.condition_levels, machines.features[rows]
    )
    assert levels is not None
    again = TypicalLevels.from_dict(json.loads(json.dumps(levels.to_dict())))
    np.testing.assert_array_equal(again.typical, levels.typical)  # NaN for the kind never seen, too
    np.testing.assert_array_equal(again.extend(machines.features), levels.extend(machines.features))


def test_a_table_without_a_categorical_condition_has_no_typical_levels(engines: TrainingTable) -> None:
    assert (
        TypicalLevels.fit(engines.feature_set, engines.feature_names, engines.condition_levels, engines.features)
        is None
    )
    split = split_units(engines.units, seed=0)
    bundle = xgb.bundle_of(engines, xgb.train_xgboost(engines, split, task="rul", rounds=5), task="rul", params={})
    assert bundle.typical_levels is None and bundle.feature_names == engines.feature_names


def test_a_model_carries_its_typical_levels_and_each_part_reads_only_its_own(machines: TrainingTable) -> None:
    split = split_units(machines.units, seed=0)
    result = xgb.train_xgboost(machines, split, task="failure", rounds=30)
    assert result.typical is not None
    bundle = ModelBundle.from_bytes(xgb.bundle_of(machines, result, task="failure", params={}).to_bytes())
    relative_names = [name for name in bundle.feature_names if name.endswith(SUFFIX)]
    assert bundle.feature_names == machines.feature_names + relative_names
    # Fitted on the training units only.
    levels = xgb.typical_levels(machines, split.train)
    assert levels is not None
    np.testing.assert_array_equal(bundle.typical_levels.typical, levels.typical)
    for part, own, other in (("brush", "brush_current", "pump_flow"), ("pump", "pump_flow", "brush_current")):
        read = {bundle.feature_names[k] for k in bundle.columns_for(part)}
        assert {f"{own}:mean:last{SUFFIX}", f"{own}:mean:ewm2{SUFFIX}", "kind=large"} <= read
        assert not [name for name in read if name.startswith(other)]
    # Scoring gives the model the features and conditions only; it appends what it divides itself.
    predictor = xgb.XGBoostPredictor(bundle)
    features = machines.features[split.test][:100]
    predictions = predictor.predict(features, contributions=True)
    inputs = predictor.inputs(features)
    for part, booster in result.boosters.items():
        columns = model_columns(machines.feature_set, len(machines.feature_names), part, result.typical)
        expected = booster.inplace_predict(inputs[:, columns])
        np.testing.assert_allclose(predictions[part]["value"], expected, rtol=1e-6)
    # Reasons name the relative columns too, with the values the model read.
    reasons = _reasons(predictor, features, predictions, top=3)
    named = [(i, reason) for i, row in enumerate(reasons["brush"]) for reason in row]
    assert [reason for _, reason in named if reason["feature"].endswith(SUFFIX)]
    for i, reason in named:
        value = inputs[i, bundle.feature_names.index(reason["feature"])]
        assert reason["value"] == (round(float(value), 4) if np.isfinite(value) else None)


def test_thresholds_out_of_fold_use_each_folds_own_typical_levels(machines: TrainingTable) -> None:
    split = split_units(machines.units, seed=0)
    rows = split.train | split.validation
    out_of_fold = xgb.out_of_fold_predictions(machines, rows, params={}, rounds=20, folds=3, min_failed_units=2)
    thresholds = xgb.out_of_fold_thresholds(out_of_fold)
    assert set(thresholds) == {"brush", "pump"}
    assert all(0 < value < 1 for value in thresholds.values())
