"""Offline anomaly detection: both detectors learn normal operation, flag the end of life, and come back from
their saved form scoring the same; rows whose future is unknown are not taken for normal."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fleetray.learning import TrainingTable
from fleetray.learning.splits import UnitSplit
from pipelines.training.anomaly import (
    AnomalyPredictor,
    AnomalyResult,
    fault_rows,
    normal_rows,
    train_autoencoder,
    train_isolation_forest,
)
from pipelines.training.bundle import ModelBundle

FAULT_WINDOW = 10.0  # cycles before the end of life, where the engines' wear is plain


@pytest.mark.parametrize("train", [train_isolation_forest, train_autoencoder], ids=["forest", "autoencoder"])
def test_a_detector_learns_normal_flags_the_end_of_life_and_scores_the_same_once_saved(
    engines: TrainingTable, engine_split: UnitSplit, train: Callable[..., AnomalyResult]
) -> None:
    result = train(engines, engine_split, target_fpr=0.05, seed=0, fault_window=FAULT_WINDOW)
    metrics = result.metrics
    assert metrics["test_normal_rows"] > 100 and metrics["test_fault_rows"] > 20
    assert metrics["anomaly_fpr"] < 0.2
    assert metrics["anomaly_detection_rate"] > 0.5 > 3 * metrics["anomaly_fpr"]
    predictor = AnomalyPredictor(ModelBundle.from_bytes(result.bundle.to_bytes()))
    faults = engines.features[engine_split.test & fault_rows(engines, FAULT_WINDOW)]
    _, flagged = predictor.score(faults)
    assert flagged.mean() == pytest.approx(metrics["anomaly_detection_rate"])


def test_rows_whose_part_was_renewed_before_the_horizon_are_not_normal(engines: TrainingTable) -> None:
    labels = engines.failure_within.copy()
    first_unit = engines.units == engines.units[0]
    early = np.flatnonzero(first_unit & (labels[:, 0] == 0))[:5]
    labels[early, 0] = np.nan  # withheld: say a renewal came before the horizon ended
    table = dataclasses.replace(engines, failure_within=labels)
    normal = normal_rows(table)
    assert not normal[early].any()
    assert normal[first_unit & (labels[:, 0] == 0)].all()
    assert not normal[labels[:, 0] == 1].any()


def test_the_cli_trains_and_measures_a_detector_from_a_spec(tmp_path: Path) -> None:
    from fleetray.cli.app import app
    from tests.fleetray.learning.test_spec import SPEC, write_run_to_failure

    write_run_to_failure(tmp_path, units=30, seed=4)
    (tmp_path / "spec.yaml").write_text(SPEC)
    runner = CliRunner()
    args = ["train", "anomaly", "--data", str(tmp_path / "spec.yaml"), "--fault-window", "10", "--no-register"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "anomaly_detection_rate" in result.output
    refused = runner.invoke(app, [*args, "--kind", "kmeans"])
    assert refused.exit_code == 1 and "--kind 'kmeans' is not one of isolation_forest, autoencoder" in refused.output
