"""Models learn from the table, travel as one file, and refuse features they were not trained on."""

from __future__ import annotations

import numpy as np
import pytest

from fleetray.errors import FeatureVersionError, RegistryError, TrainingDataError
from fleetray.learning import TrainingTable
from fleetray.learning.splits import UnitSplit, split_units
from pipelines.training import xgb
from pipelines.training.bundle import ModelBundle
from pipelines.training.lstm import LstmPredictor, bundle_of, train_lstm


def _baseline_rmse(table: TrainingTable, split: UnitSplit) -> float:
    guess = np.nanmean(table.rul[split.train, 0])
    actual = table.rul[split.validation, 0]
    return float(np.sqrt(np.nanmean((actual - guess) ** 2)))


def test_units_never_share_a_split(engines: TrainingTable) -> None:
    split = split_units(engines.units, seed=3)
    groups = [set(engines.units[mask]) for mask in (split.train, split.validation, split.test)]
    assert all(groups) and not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert split.train.sum() + split.validation.sum() + split.test.sum() == len(engines)


def test_xgboost_learns_remaining_life_and_failures(engines: TrainingTable, engine_split: UnitSplit) -> None:
    rul = xgb.train_xgboost(engines, engine_split, task="rul", rounds=60)
    assert rul.validation["mean_rmse"] < 0.5 * _baseline_rmse(engines, engine_split)
    failure = xgb.train_xgboost(engines, engine_split, task="failure", rounds=60)
    figures = failure.validation["components"]["engine"]
    assert figures["pr_auc"] > 0.8 and figures["precision"] > 0.7 and figures["recall"] > 0.7


def test_a_bundle_round_trips_and_explains_its_predictions(engines: TrainingTable, engine_split: UnitSplit) -> None:
    result = xgb.train_xgboost(engines, engine_split, task="failure", rounds=30)
    bundle = ModelBundle.from_bytes(xgb.bundle_of(engines, result, task="failure", params={}).to_bytes())
    assert bundle.thresholds["engine"] == result.validation["components"]["engine"]["threshold"]
    predictions = xgb.XGBoostPredictor(bundle).predict(engines.features[:5], contributions=True)
    contributions = predictions["engine"]["contributions"]
    assert contributions.shape == (5, len(engines.feature_names) + 1)
    # TreeSHAP: the contributions add up to the margin of the prediction.
    margin = np.log(predictions["engine"]["value"] / (1 - predictions["engine"]["value"]))
    np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=1e-3, atol=1e-3)


def test_a_model_of_another_feature_version_is_refused(engines: TrainingTable, engine_split: UnitSplit) -> None:
    result = xgb.train_xgboost(engines, engine_split, task="rul", rounds=5)
    bundle = xgb.bundle_of(engines, result, task="rul", params={})
    bundle.feature_version = "0123456789abcdef"
    with pytest.raises(FeatureVersionError, match="trained on feature version 0123456789abcdef but this code"):
        xgb.XGBoostPredictor(bundle)
    with pytest.raises(RegistryError, match="not a fleetray model file"):
        ModelBundle.from_bytes(b"not a zip")


def test_a_component_never_failing_in_training_is_refused(engines: TrainingTable, engine_split: UnitSplit) -> None:
    table = engines.take(np.ones(len(engines), bool))
    table.failure_within = np.where(engine_split.train[:, None], 0.0, table.failure_within)
    with pytest.raises(TrainingDataError, match="no positive labelled training rows for 'engine'"):
        xgb.train_xgboost(table, engine_split, task="failure", rounds=5)


def test_the_lstm_learns_remaining_life(engines: TrainingTable, engine_split: UnitSplit) -> None:
    model, standardizer, validation = train_lstm(engines, engine_split, {"hidden": 32, "seq_len": 10}, epochs=12)
    assert validation["mean_rmse"] < 0.5 * _baseline_rmse(engines, engine_split)
    bundle = ModelBundle.from_bytes(bundle_of(engines, model, standardizer, {"hidden": 32, "seq_len": 10}).to_bytes())
    data, predicted = LstmPredictor(bundle).predict_table(engines, engine_split.validation)
    rmse = float(np.sqrt(np.mean((predicted[:, 0] - engines.rul[data.rows, 0]) ** 2)))
    assert rmse == pytest.approx(validation["mean_rmse"], rel=1e-4)
    # Normalisation comes from the training units alone.
    np.testing.assert_allclose(standardizer.mean, np.nanmean(engines.features[engine_split.train], axis=0))
