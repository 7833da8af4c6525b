"""Retraining promotes a candidate only when it beats production on the same held-back units."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetray.learning import TrainingTable
from fleetray.objectstore import ObjectStore
from fleetray.storage import Database
from fleetray.storage import models as model_rows

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def test_a_candidate_no_better_than_production_stays_in_staging(
    db: Database, tmp_path: Path, engines: TrainingTable
) -> None:
    from pipelines.training.retrain import retrain

    store = ObjectStore(f"file://{tmp_path}/objects", signing_key=b"test")
    first = retrain(engines, db=db, store=store, tenant_id="acme", task="rul", trials=1, max_rounds=40)
    assert first["promoted"] and first["why"] == "no production model to compare with"
    again = retrain(engines, db=db, store=store, tenant_id="acme", task="rul", trials=1, max_rounds=40)
    assert not again["promoted"] and "does not beat production" in again["why"]
    with db.connect() as conn:
        production = model_rows.production_model(conn, "rul-xgboost", "acme")
        assert production["model_id"] == first["candidate"]["model_id"]
        assert model_rows.get_model(conn, again["candidate"]["model_id"])["stage"] == "staging"
    comparison = again["candidate"]["info"]["comparison"]
    assert comparison["production_model_id"] == first["candidate"]["model_id"]
    assert comparison["candidate"] == pytest.approx(comparison["production"])
