"""A calibrated failure model: its probabilities go through the map it carries, and it flags the same rows."""

from __future__ import annotations

import numpy as np
import pytest

from fleetray.learning import TrainingTable, load_training_table, split_units
from fleetray.learning.calibration import calibrations
from pipelines.training import xgb
from pipelines.training.bundle import ModelBundle
from tests.pipelines.training.test_parts import SPEC, write_machines


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> TrainingTable:
    folder = tmp_path_factory.mktemp("calibrated")
    write_machines(folder, seed=5)
    (folder / "spec.yaml").write_text(SPEC)
    return load_training_table(folder / "spec.yaml")


def test_a_calibrated_model_maps_its_probabilities_and_flags_the_same_rows(machines: TrainingTable) -> None:
    split = split_units(machines.units, seed=0)
    rows = split.train | split.validation
    plain = xgb.bundle_of(
        machines,
        xgb.train_xgboost(machines, split, task="failure", rounds=40, fit_rows=rows),
        task="failure",
        params={},
    )
    out_of_fold = xgb.out_of_fold_predictions(machines, rows, params={}, rounds=40, folds=3)
    plain.thresholds.update(xgb.out_of_fold_thresholds(out_of_fold))
    scalings = calibrations(out_of_fold, min_units=5)
    assert set(scalings) == {"brush", "pump"}
    calibrated = ModelBundle.from_bytes(plain.to_bytes())
    xgb.calibrate(calibrated, scalings)
    calibrated = ModelBundle.from_bytes(calibrated.to_bytes())
    assert calibrated.calibration == scalings

    features = machines.features[split.test]
    raw = xgb.XGBoostPredictor(plain).predict(features)
    mapped = xgb.XGBoostPredictor(calibrated).predict(features)
    unmapped = xgb.XGBoostPredictor(calibrated).predict(features, calibrated=False)
    for part, scaling in scalings.items():
        np.testing.assert_allclose(mapped[part]["value"], scaling(raw[part]["value"]))
        np.testing.assert_array_equal(unmapped[part]["value"], raw[part]["value"])
        np.testing.assert_array_equal(
            mapped[part]["value"] >= calibrated.thresholds[part], raw[part]["value"] >= plain.thresholds[part]
        )

    before, after = xgb.test_metrics(machines, split, plain), xgb.test_metrics(machines, split, calibrated)
    assert {key: after[key] for key in ("precision", "recall", "pr_auc", "failures_warned")} == pytest.approx(
        {key: before[key] for key in ("precision", "recall", "pr_auc", "failures_warned")}
    )
    assert "ece_uncalibrated" not in before
    assert after["ece_uncalibrated"] == pytest.approx(before["ece"])
    assert after["brier_uncalibrated"] == pytest.approx(before["brier"])
