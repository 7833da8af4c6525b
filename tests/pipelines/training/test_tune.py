"""Ray Tune searches: seeded trials in parallel, early stopping, checkpoints, and a final fit measured on test units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetray.learning import TrainingTable
from fleetray.learning.splits import UnitSplit

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def test_xgboost_search_fits_the_best_trial_and_measures_it_on_test_units(
    engines: TrainingTable, engine_split: UnitSplit, tmp_path: Path
) -> None:
    from pipelines.training.tuning import tune_xgboost

    outcome = tune_xgboost(
        engines, task="rul", trials=3, max_rounds=60, block=20, split=engine_split, storage_path=str(tmp_path)
    )
    assert len(outcome.trials) == 3 and all(t["error"] is None for t in outcome.trials)
    assert outcome.best_config in [t["config"] for t in outcome.trials]
    metrics = outcome.bundle.metrics
    assert metrics["split"] == "test" and np.isfinite(metrics["rmse"]) and metrics["rmse"] < engines.policy.rul_cap / 4
    assert outcome.bundle.info["units"]["test"] == sorted(set(engines.units[engine_split.test]))
    assert list(tmp_path.glob("xgboost-rul-*/*/checkpoint_*/engine.json"))


def test_lstm_search(engines: TrainingTable, engine_split: UnitSplit, tmp_path: Path) -> None:
    from pipelines.training.lstm import tune_lstm

    outcome = tune_lstm(engines, trials=2, max_epochs=3, split=engine_split, storage_path=str(tmp_path))
    assert len(outcome.trials) == 2
    assert outcome.bundle.kind == "lstm" and np.isfinite(outcome.bundle.metrics["rmse"])
    assert outcome.bundle.params["epochs"] <= 3


def test_failure_thresholds_and_calibration_come_from_out_of_fold_predictions(
    engines: TrainingTable, engine_split: UnitSplit, tmp_path: Path
) -> None:
    from pipelines.training.tuning import tune_xgboost

    outcome = tune_xgboost(
        engines, task="failure", trials=2, max_rounds=40, block=20, split=engine_split, storage_path=str(tmp_path)
    )
    threshold = outcome.bundle.thresholds["engine"]
    assert 0 < threshold < 1
    metrics = outcome.bundle.metrics
    assert metrics["precision"] > 0.7 and metrics["recall"] > 0.7
    # Every training and validation engine failed once: enough units to calibrate on.
    assert set(outcome.bundle.calibration) == {"engine"} and outcome.bundle.calibration["engine"].slope > 0
    assert {"brier", "ece", "brier_uncalibrated", "ece_uncalibrated"} <= metrics.keys()
