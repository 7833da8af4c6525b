"""Training on Ray Tune, the model registry and scoring.

From a notebook, three lines::

    table = load_training_table("cmapss.yaml")          # or platform_table("acme", days=30)
    outcome = tune_xgboost(table, task="rul", trials=8)
    register(outcome)                                   # the object store and the database of the settings
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetray.learning import load_training_table

if TYPE_CHECKING:
    from fleetray.learning.table import TrainingTable
    from pipelines.training.bundle import ModelBundle
    from pipelines.training.tuning import TuneOutcome

__all__ = ["load_training_table", "platform_table", "register", "tune_lstm", "tune_xgboost"]


def tune_xgboost(table: TrainingTable, **options: Any) -> TuneOutcome:
    """See :func:`pipelines.training.tuning.tune_xgboost`."""
    from pipelines.training.tuning import tune_xgboost as tune

    return tune(table, **options)


def tune_lstm(table: TrainingTable, **options: Any) -> TuneOutcome:
    """See :func:`pipelines.training.lstm.tune_lstm`."""
    from pipelines.training.lstm import tune_lstm as tune

    return tune(table, **options)


def platform_table(tenant_id: str, *, days: float = 30.0, **options: Any) -> TrainingTable:
    """A tenant's last ``days`` of history as a training table (see ``PlatformHistory.training_table``)."""
    from datetime import UTC, datetime, timedelta

    from fleetray.config import get_settings
    from fleetray.learning.platform import history_from_database
    from fleetray.storage import open_database

    with open_database(get_settings()) as db:
        history = history_from_database(db, tenant_id, start=datetime.now(UTC) - timedelta(days=days))
    return history.training_table(**options)


def register(model: TuneOutcome | ModelBundle, **options: Any) -> dict[str, Any]:
    """Register a tuned model (or a bundle) in the settings' registry (see ``registry.register``)."""
    from fleetray.config import get_settings
    from fleetray.objectstore import ObjectStore
    from fleetray.storage import open_database
    from pipelines.training.registry import register as register_bundle

    bundle = getattr(model, "bundle", model)
    settings = get_settings()
    if "db" in options:
        return register_bundle(bundle, store=options.pop("store", ObjectStore.from_settings(settings)), **options)
    with open_database(settings) as db:
        return register_bundle(
            bundle, db=db, store=options.pop("store", ObjectStore.from_settings(settings)), **options
        )
