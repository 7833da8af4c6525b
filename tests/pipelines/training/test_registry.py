"""The registry: versions with their provenance, one production version per scope, promotion and rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetray.errors import FeatureVersionError, RegistryError
from fleetray.learning import TrainingTable
from fleetray.learning.splits import UnitSplit
from fleetray.objectstore import ObjectStore
from fleetray.storage import Database
from fleetray.storage import models as model_rows
from pipelines.training import xgb
from pipelines.training.bundle import ModelBundle
from pipelines.training.registry import load, register


@pytest.fixture(scope="module")
def bundle(engines: TrainingTable, engine_split: UnitSplit) -> ModelBundle:
    result = xgb.train_xgboost(engines, engine_split, task="failure", rounds=10)
    made = xgb.bundle_of(engines, result, task="failure", params={})
    made.metrics = xgb.test_metrics(engines, engine_split, made)
    return made


def test_a_registered_model_records_what_made_it(db: Database, tmp_path: Path, bundle: ModelBundle) -> None:
    store = ObjectStore(f"file://{tmp_path}/objects", signing_key=b"test")
    row = register(bundle, db=db, store=store, data_hash="abc123", created_by="ml-team")
    assert (row["name"], row["version"], row["stage"], row["tenant_id"]) == ("failure-xgboost", 1, "none", None)
    assert row["feature_version"] == bundle.feature_version and row["data_hash"] == "abc123"
    assert row["code_version"].startswith("0.1.0") and row["created_by"] == "ml-team"
    assert row["metrics"]["components"]["engine"]["pr_auc"] == bundle.metrics["components"]["engine"]["pr_auc"]
    assert load(store, row).to_bytes() == bundle.to_bytes()
    again = register(bundle, db=db, store=store, data_hash="abc123")
    assert again["version"] == 2


def test_promotion_keeps_one_production_version_and_rollback_restores_the_last(
    db: Database, tmp_path: Path, bundle: ModelBundle
) -> None:
    store = ObjectStore(f"file://{tmp_path}/objects", signing_key=b"test")
    first, second, third = (register(bundle, db=db, store=store, data_hash="h") for _ in range(3))
    with db.connect() as conn:
        model_rows.set_stage(conn, first["model_id"], "production", changed_by="test")
        model_rows.set_stage(conn, second["model_id"], "production", changed_by="test")
        assert model_rows.get_model(conn, first["model_id"])["stage"] == "archived"
        model_rows.set_stage(conn, third["model_id"], "production", changed_by="test")
        restored = model_rows.rollback(conn, "failure-xgboost", None, changed_by="test")
        assert restored["model_id"] == second["model_id"] and restored["stage"] == "production"
        assert model_rows.get_model(conn, third["model_id"])["stage"] == "archived"
        history = model_rows.stage_history(conn, third["model_id"])
        assert [(h["from_stage"], h["to_stage"]) for h in history] == [
            ("none", "production"),
            ("production", "archived"),
        ]
        with pytest.raises(RegistryError, match="is not one of"):
            model_rows.set_stage(conn, first["model_id"], "live", changed_by="test")


def test_a_tenant_is_served_its_own_production_model_before_the_fleet_wide_one(
    db: Database, tmp_path: Path, bundle: ModelBundle
) -> None:
    store = ObjectStore(f"file://{tmp_path}/objects", signing_key=b"test")
    fleet = register(bundle, db=db, store=store, data_hash="h", stage="production")
    own = register(bundle, db=db, store=store, data_hash="h", tenant_id="acme", stage="production")
    with db.connect() as conn:
        assert model_rows.production_model(conn, "failure-xgboost", "acme")["model_id"] == own["model_id"]
        assert model_rows.production_model(conn, "failure-xgboost", "globex")["model_id"] == fleet["model_id"]
        assert [r["model_id"] for r in model_rows.list_models(conn, tenant_id="globex")] == [fleet["model_id"]]
        with pytest.raises(RegistryError, match="no earlier version of 'failure-xgboost' was in production"):
            model_rows.rollback(conn, "failure-xgboost", "acme", changed_by="test")


def test_a_model_whose_features_do_not_match_writes_nothing(db: Database, tmp_path: Path, bundle: ModelBundle) -> None:
    store = ObjectStore(f"file://{tmp_path}/objects", signing_key=b"test")
    stale = ModelBundle.from_bytes(bundle.to_bytes())
    stale.feature_version = "ffffffffffffffff"
    with pytest.raises(FeatureVersionError):
        register(stale, db=db, store=store, data_hash="h")
    with db.connect() as conn:
        assert model_rows.list_models(conn) == []
    assert store.list("models") == []
