"""Ray Tune searches: a search space per model kind, ASHA early stopping, seeded trials in parallel over the
cluster's CPUs (a GPU per trial where the cluster has them), checkpoints, and a final fit of the best trial.

A search runs its trials on the validation units; the final fit trains the best configuration on the
training and validation units together and measures it once on the test units, which no trial saw.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from fleetray.learning.calibration import calibrations
from fleetray.learning.splits import UnitSplit, split_units
from fleetray.learning.table import TrainingTable
from pipelines.training.bundle import ModelBundle

logger = logging.getLogger(__name__)


@dataclass
class TuneOutcome:
    """The best model of a search, and what the search did."""

    bundle: ModelBundle
    best_config: dict[str, Any]
    trials: list[dict[str, Any]]
    seconds: float
    split: UnitSplit
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trials_per_min(self) -> float:
        return 60.0 * len(self.trials) / self.seconds if self.seconds else 0.0


def xgboost_space() -> dict[str, Any]:
    """XGBoost's search space."""
    return {
        "max_depth": tune.randint(3, 9),
        "eta": tune.loguniform(0.02, 0.3),
        "min_child_weight": tune.loguniform(0.5, 10.0),
        "subsample": tune.uniform(0.6, 1.0),
        "colsample_bytree": tune.uniform(0.5, 1.0),
        "lambda": tune.loguniform(0.1, 10.0),
    }


def cluster_gpus() -> float:
    """GPUs the Ray cluster has (0 on this laptop)."""
    return float(ray.cluster_resources().get("GPU", 0.0)) if ray.is_initialized() else 0.0


def run_search(
    trainable: Callable[[dict[str, Any]], None],
    space: dict[str, Any],
    *,
    metric: str,
    mode: str,
    trials: int,
    max_t: int,
    grace_period: int,
    seed: int,
    name: str,
    storage_path: str | None,
    verbose: int,
    gpu_per_trial: float = 0.0,
) -> tune.ResultGrid:
    """Run ``trials`` seeded samples of ``space`` with ASHA on ``training_iteration``, a CPU each."""
    resources = {"cpu": 1, "gpu": gpu_per_trial} if gpu_per_trial else {"cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            num_samples=trials,
            scheduler=ASHAScheduler(max_t=max_t, grace_period=min(grace_period, max_t), reduction_factor=3),
            search_alg=BasicVariantGenerator(random_state=seed),
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path or str(Path(tempfile.gettempdir()) / "fleetray-tune"),
            verbose=verbose,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    return tuner.fit()


def trial_rows(results: tune.ResultGrid, metric: str) -> list[dict[str, Any]]:
    """Each trial's configuration, iterations and last reported metric (what the CLI and notes show)."""
    rows = []
    for result in results:
        metrics = result.metrics or {}
        rows.append(
            {
                "trial": metrics.get("trial_id"),
                "config": result.config,
                "iterations": metrics.get("training_iteration"),
                metric: metrics.get(metric),
                "error": str(result.error) if result.error else None,
            }
        )
    return rows


def ensure_ray() -> None:
    """Join the configured Ray cluster, or start a local one, if this process has none."""
    if not ray.is_initialized():
        from fleetray.config import get_settings

        address = get_settings().ray_address
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)


def tune_xgboost(
    table: TrainingTable,
    *,
    task: str = "failure",
    trials: int = 8,
    max_rounds: int = 300,
    block: int = 25,
    seed: int = 0,
    split: UnitSplit | None = None,
    storage_path: str | None = None,
    shared_parts: bool = True,
    verbose: int = 0,
) -> TuneOutcome:
    """Search XGBoost hyper-parameters on Ray Tune, then fit the best on training and validation units.

    Every trial trains one booster per component (a failure model of several, with ``shared_parts``, one
    booster for all: :mod:`pipelines.training.shared_parts`); ASHA compares trials every ``block`` rounds on the
    validation units' mean PR-AUC (failure) or mean RMSE (rul). A failure model's thresholds and calibration
    (:mod:`fleetray.learning.calibration`) come from out-of-fold predictions over the training and validation
    units. The answer's bundle carries the test units' metrics.
    """
    from pipelines.training import xgb

    ensure_ray()
    split = split or split_units(table.units, seed=seed)
    metric, mode = ("mean_pr_auc", "max") if task == "failure" else ("mean_rmse", "min")
    gpus = cluster_gpus()

    def trainable(config: dict[str, Any], table: TrainingTable, split: UnitSplit) -> None:
        params = {**config, "device": "cuda"} if gpus else dict(config)

        def report(rounds: int, validation: dict[str, Any], boosters: dict[str, Any]) -> None:
            with tempfile.TemporaryDirectory() as folder:
                for component, booster in boosters.items():
                    booster.save_model(str(Path(folder) / f"{component}.json"))
                tune.report(
                    {metric: validation[metric], "rounds": rounds, "validation": validation},
                    checkpoint=tune.Checkpoint.from_directory(folder),
                )

        xgb.train_xgboost(
            table,
            split,
            task=task,
            params=params,
            rounds=max_rounds,
            block=block,
            seed=seed,
            on_block=report,
            shared_parts=shared_parts,
        )

    started = time.monotonic()
    results = run_search(
        tune.with_parameters(trainable, table=table, split=split),
        xgboost_space(),
        metric=metric,
        mode=mode,
        trials=trials,
        max_t=max(1, max_rounds // block),
        grace_period=2,
        seed=seed,
        name=f"xgboost-{task}-{int(time.time())}",
        storage_path=storage_path,
        verbose=verbose,
        gpu_per_trial=1.0 if gpus else 0.0,
    )
    best = results.get_best_result(metric=metric, mode=mode, scope="all")
    best_rounds = int(best.metrics["rounds"])
    frame = best.metrics_dataframe
    if frame is not None and metric in frame:
        ordered = frame[metric].to_numpy()
        best_rounds = int(frame["rounds"].to_numpy()[np.nanargmax(ordered) if mode == "max" else np.nanargmin(ordered)])
    config = dict(best.config)
    final = xgb.train_xgboost(
        table,
        split,
        task=task,
        params=config,
        rounds=best_rounds,
        block=best_rounds,
        seed=seed,
        threads=max(1, int(ray.available_resources().get("CPU", 1))),
        fit_rows=split.train | split.validation,
        shared_parts=shared_parts,
    )
    final.validation = best.metrics["validation"]
    bundle = xgb.bundle_of(table, final, task=task, params=config)
    if task == "failure":
        out_of_fold = xgb.out_of_fold_predictions(
            table,
            split.train | split.validation,
            params=config,
            rounds=best_rounds,
            seed=seed,
            threads=max(1, int(ray.available_resources().get("CPU", 1))),
            shared_parts=shared_parts,
        )
        shared = bundle.info.get("shared_parts", [])
        bundle.thresholds.update(xgb.out_of_fold_thresholds(out_of_fold, shared=shared))
        xgb.calibrate(bundle, calibrations(out_of_fold))
    bundle.metrics = xgb.test_metrics(table, split, bundle)
    seconds = time.monotonic() - started
    bundle.info |= {
        "units": split.units(table.units),
        "data_hash": table.data_hash,
        "tune": {"trials": trials, "seconds": round(seconds, 1), "trials_per_min": round(60 * trials / seconds, 2)},
    }
    return TuneOutcome(bundle, config, trial_rows(results, metric), seconds, split)
