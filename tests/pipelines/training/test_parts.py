"""Where a table's sensors say which part they watch, each part's model and anomaly detector read only those."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgbcore

from fleetray.errors import DataSpecError, LearningError
from fleetray.learning import TrainingTable, load_training_table, split_units
from pipelines.training import xgb
from pipelines.training.anomaly import AnomalyPredictor, train_isolation_forest
from pipelines.training.bundle import ModelBundle
from tests.pipelines.training.tables import spec_table

SPEC = """
source: machines.csv
unit: unit
time: cycle
time_unit: cycle
sensors: [brush_current, pump_flow, hours]
labels:
  failures: {source: failures.csv, unit: unit, time: cycle, component: component}
horizon: 10
rul_cap: 60
half_lives: [2, 8, 32]
informs: {brush_current: [brush], pump_flow: [pump]}
counters: [hours]
"""


def write_machines(
    folder: Path, units: int = 24, cycles: int = 240, seed: int = 1, kinds: dict[str, tuple[float, float]] | None = None
) -> None:
    """Machines with a brush and a pump wearing out on their own clocks; a failed part is replaced at once.

    ``kinds`` gives each kind of machine its brush's current and pump's flow when new (units take the kinds in
    turn, named in a ``kind`` column); without it every machine is of one unnamed kind, at 2 and 5.
    """
    rng = np.random.default_rng(seed)
    names = list(kinds or {"": (2.0, 5.0)})
    rows, failures = [], []
    for unit in range(units):
        kind = names[unit % len(names)]
        brush_new, pump_new = (kinds or {"": (2.0, 5.0)})[kind]
        wear, life = {"brush": 0.0, "pump": 0.0}, {"brush": rng.uniform(30, 60), "pump": rng.uniform(40, 90)}
        for cycle in range(cycles):
            for part in ("brush", "pump"):
                wear[part] += 1 / life[part]
                if wear[part] >= 1:
                    failures.append((unit, part, cycle))
                    wear[part], life[part] = 0.0, rng.uniform(30, 90)
            brush = brush_new + brush_new * wear["brush"] ** 2 + rng.normal(0, 0.05)
            pump = pump_new - 0.4 * pump_new * wear["pump"] ** 2 + rng.normal(0, 0.05)
            rows.append((unit, cycle, brush, pump, float(cycle), kind))
    frame = pd.DataFrame(rows, columns=["unit", "cycle", "brush_current", "pump_flow", "hours", "kind"])
    frame.drop(columns=[] if kinds else ["kind"]).to_csv(folder / "machines.csv", index=False)
    pd.DataFrame(failures, columns=["unit", "component", "cycle"]).to_csv(folder / "failures.csv", index=False)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> TrainingTable:
    folder = tmp_path_factory.mktemp("machines")
    write_machines(folder)
    return spec_table(folder, SPEC)


def _columns(table: TrainingTable, indices: np.ndarray) -> set[str]:
    return {table.feature_names[k].split(":")[0] for k in indices}


def test_each_part_learns_from_its_own_sensors_and_what_informs_every_part(machines: TrainingTable) -> None:
    assert machines.components == ["brush", "pump"]
    assert _columns(machines, machines.columns_for("brush")) == {"brush_current", "hours"}
    assert _columns(machines, machines.columns_for("pump")) == {"pump_flow", "hours"}
    split = split_units(machines.units, seed=0)
    result = xgb.train_xgboost(machines, split, task="failure", rounds=40)
    for figures in result.validation["components"].values():
        assert figures["pr_auc"] > 0.6
    bundle = ModelBundle.from_bytes(xgb.bundle_of(machines, result, task="failure", params={}).to_bytes())
    predictions = xgb.XGBoostPredictor(bundle).predict(machines.features[:50], contributions=True)
    pump_flow = [k for k, name in enumerate(machines.feature_names) if name.startswith("pump_flow:")]
    brush_current = [k for k, name in enumerate(machines.feature_names) if name.startswith("brush_current:")]
    assert not predictions["brush"]["contributions"][:, pump_flow].any()
    assert not predictions["pump"]["contributions"][:, brush_current].any()
    # The spread-out contributions still add up to each prediction's margin.
    for part in ("brush", "pump"):
        value = predictions[part]["value"]
        margin = np.log(value / (1 - value))
        np.testing.assert_allclose(predictions[part]["contributions"].sum(axis=1), margin, rtol=1e-3, atol=1e-3)


def _own_matrix(table: TrainingTable, features: np.ndarray, part: str) -> xgbcore.DMatrix:
    columns = table.columns_for(part)
    return xgbcore.DMatrix(features[:, columns], feature_names=[table.feature_names[k] for k in columns])


@pytest.mark.parametrize("task", ["failure", "rul"])
def test_one_booster_for_every_part_predicts_and_explains_as_each_parts_own(machines: TrainingTable, task: str) -> None:
    """The predictor loads the parts' boosters as one (an output per part, reading the full matrix): what it
    gives must be exactly what each part's booster gives on its own columns, missing values included."""
    split = split_units(machines.units, seed=0)
    result = xgb.train_xgboost(machines, split, task=task, rounds=30)
    bundle = ModelBundle.from_bytes(xgb.bundle_of(machines, result, task=task, params={}).to_bytes())
    predictor = xgb.XGBoostPredictor(bundle)
    features = machines.features[:200].copy()
    features[::7, 3] = np.nan
    for exact in (True, False):
        predictions = predictor.predict(features, contributions=True, exact=exact)
        for part, booster in result.boosters.items():
            columns = machines.columns_for(part)
            own = _own_matrix(machines, features, part)
            np.testing.assert_allclose(predictions[part]["value"], booster.predict(own), rtol=1e-6)
            alone = booster.predict(own, pred_contribs=True, approx_contribs=not exact)
            np.testing.assert_allclose(predictions[part]["contributions"][:, columns], alone[:, :-1], atol=1e-6)
            np.testing.assert_allclose(predictions[part]["contributions"][:, -1], alone[:, -1], atol=1e-6)
    # Many rows without contributions are read in place: the same values.
    many = np.repeat(features, 3, axis=0)
    for part, figures in predictor.predict(many).items():
        expected = result.boosters[part].predict(_own_matrix(machines, many, part))
        np.testing.assert_allclose(figures["value"], expected, rtol=1e-6)


def test_only_tree_boosters_of_one_objective_are_merged(machines: TrainingTable) -> None:
    split = split_units(machines.units, seed=0)
    failure = xgb.train_xgboost(machines, split, task="failure", rounds=5).boosters["brush"]
    rul = xgb.train_xgboost(machines, split, task="rul", rounds=5).boosters["brush"]
    models = [json.loads(booster.save_raw("json")) for booster in (failure, rul)]
    with pytest.raises(LearningError, match="different objectives"):
        xgb.one_booster(models)
    rng = np.random.default_rng(0)
    data = xgbcore.DMatrix(rng.normal(size=(50, 3)), label=rng.normal(size=50))
    linear = json.loads(xgbcore.train({"booster": "gblinear"}, data, 2).save_raw("json"))
    with pytest.raises(LearningError, match="'gblinear'"):
        xgb.one_booster([linear])


def test_an_anomaly_detector_per_part_reads_its_behaviour_not_the_counters(machines: TrainingTable) -> None:
    split = split_units(machines.units, seed=0)
    result = train_isolation_forest(machines, split, target_fpr=0.05, seed=0, fault_window=5)
    parts = result.bundle.info["parts"]
    assert set(parts) == {"brush", "pump"}
    brush = [machines.feature_names[k] for k in parts["brush"]["columns"]]
    # The averages but the longest: the latest window and the trend are noisier, the day-long baseline follows age.
    assert brush == ["brush_current:mean:ewm2", "brush_current:mean:ewm8"]
    assert result.metrics["anomaly_detection_rate"] > 2 * result.metrics["anomaly_fpr"]
    predictor = AnomalyPredictor(ModelBundle.from_bytes(result.bundle.to_bytes()))
    scores, _ = predictor.score(machines.features[split.test])
    one_part = max(d.score(machines.features[split.test]).max() for d in predictor.detectors)
    assert scores.max() == pytest.approx(one_part)


def test_a_spec_naming_a_sensor_it_does_not_have_is_refused(tmp_path: Path) -> None:
    write_machines(tmp_path, units=3, cycles=20)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("pump_flow: [pump]", "pump_pressure: [pump]"))
    with pytest.raises(DataSpecError, match="informs names 'pump_pressure', not among the sensors"):
        load_training_table(tmp_path / "spec.yaml")
