"""Retraining: a new model on the latest history, compared with production on the same held-back robots.

The candidate is registered in staging either way; it replaces production only when it does better than
the production model on the very same test robots (PR-AUC for failures, RMSE for RUL). A worse model is
never promoted automatically, and the comparison is recorded with the candidate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fleetray.errors import FeatureVersionError, RegistryError
from fleetray.storage import models as model_rows
from pipelines.training import xgb
from pipelines.training.registry import default_name, load, register

if TYPE_CHECKING:
    from fleetray.learning.table import TrainingTable
    from fleetray.objectstore import ObjectStore
    from fleetray.storage import Database

logger = logging.getLogger(__name__)

# The figure a candidate must beat, and whether higher is better.
KEY_METRIC = {"failure": ("pr_auc", True), "rul": ("rmse", False)}


def retrain(
    table: TrainingTable,
    *,
    db: Database,
    store: ObjectStore,
    tenant_id: str | None,
    task: str = "failure",
    trials: int = 8,
    max_rounds: int = 300,
    promote: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Tune a candidate, weigh it against production on the candidate's test robots, register, maybe promote.

    Returns the candidate's registry row, production's, both figures, and whether (and why) it was promoted.
    """
    from pipelines.training.tuning import tune_xgboost

    outcome = tune_xgboost(table, task=task, trials=trials, max_rounds=max_rounds, seed=seed)
    candidate = outcome.bundle
    key, higher_is_better = KEY_METRIC[task]
    name = default_name(candidate)
    with db.connect() as conn:
        if tenant_id is None:
            current = next(iter(model_rows.list_models(conn, name=name, stage="production", fleet_wide=True)), None)
        else:
            current = model_rows.production_model(conn, name, tenant_id)
    candidate_figure = candidate.metrics[key]
    production_figure = None
    if current is not None:
        try:
            production = load(store, current)
            production_figure = xgb.test_metrics(table, outcome.split, production)[key]
        except (FeatureVersionError, RegistryError) as err:
            logger.warning(
                "production %s version %s cannot be measured (%s); the candidate replaces it",
                name,
                current["version"],
                err,
            )
    better = production_figure is None or (
        candidate_figure > production_figure if higher_is_better else candidate_figure < production_figure
    )
    candidate.info["comparison"] = {
        "metric": key,
        "candidate": candidate_figure,
        "production": production_figure,
        "production_model_id": current["model_id"] if current else None,
        "test_units": len(set(table.units[outcome.split.test])),
    }
    row = register(candidate, db=db, store=store, tenant_id=tenant_id, stage="staging", created_by="retrain")
    promoted = promote and better
    if promoted:
        with db.connect() as conn:
            reason = f"retrained: {key} {candidate_figure:.4g} vs production {production_figure}"
            row = model_rows.set_stage(conn, row["model_id"], "production", changed_by="retrain", reason=reason)
    why = (
        "no production model to compare with"
        if production_figure is None
        else f"{key} {candidate_figure:.4g} {'beats' if better else 'does not beat'} production {production_figure:.4g}"
    )
    logger.info(
        "retrained %s for %s: %s; %s",
        name,
        tenant_id or "the fleet",
        why,
        "promoted" if promoted else "left in staging",
    )
    return {"candidate": row, "production": current, "promoted": promoted, "why": why}
