"""XGBoost per component: failure within the horizon (classifier) or remaining useful life (regressor).

One booster per component, all trained with the same hyper-parameters in blocks of rounds; after each
block the validation units are scored, so Ray Tune's ASHA can stop a poor trial early. A failure model of
several components trains one booster on all of them and gives each component its part of it
(:mod:`pipelines.training.shared_parts`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from fleetray.errors import LearningError, TrainingDataError
from fleetray.learning.calibration import PlattScaling
from fleetray.learning.metrics import (
    best_threshold,
    brier_score,
    calibration_error,
    classification_report,
    failed_units,
    rmse,
    rul_score,
    unit_intervals,
    warning_leads,
    warning_report,
)
from fleetray.learning.relative import TypicalLevels, model_columns
from fleetray.learning.splits import UnitSplit
from fleetray.learning.table import TrainingTable
from pipelines.training.bundle import ModelBundle
from pipelines.training.shared_parts import PartLayout

DEFAULT_PARAMS: dict[str, Any] = {
    "max_depth": 6,
    "eta": 0.1,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 1.0,
}

# A part of a shared booster needs out-of-fold failures on this many units for a threshold of its own. On
# three splits of a simulated 100-robot history, the rare parts (five to nine failing units) alarmed a day or
# two early at their own thresholds (pump precision 0.49-0.55, battery 0.76, at recall 0.98-1.0); at the
# threshold of all parts together, pump 0.70-0.74 and battery 1.0 at recall 0.90-1.0, the common parts as before.
MIN_THRESHOLD_UNITS = 10

# Thresholds weigh precision a little above recall. At best F1, test precision came out below recall on
# every split of a simulated 100-robot history (0.79-0.85 against 0.82-0.89; six splits by robot, default
# hyper-parameters), and each false alarm sends a technician. At 0.85 the two share the margin over the
# operators' KPI (both at least 0.8): precision 0.83-0.87 (mean 0.84), recall 0.81-0.88 (mean 0.84).
THRESHOLD_BETA = 0.85


@dataclass
class XGBoostResult:
    """Boosters per component, their validation figures and predictions."""

    boosters: dict[str, xgb.Booster]
    rounds: int
    validation: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    typical: TypicalLevels | None = None
    shared: bool = False


def _labels(table: TrainingTable, task: str) -> np.ndarray:
    if task == "failure":
        return table.failure_within
    if task == "rul":
        return table.rul
    raise TrainingDataError(f"task {task!r} is not one of failure, rul")


def _objective(task: str, params: dict[str, Any], seed: int, threads: int) -> dict[str, Any]:
    objective = {"objective": "binary:logistic", "eval_metric": "aucpr"}
    if task == "rul":
        objective = {"objective": "reg:squarederror", "eval_metric": "rmse"}
    return {**DEFAULT_PARAMS, **params, **objective, "seed": seed, "nthread": threads, "tree_method": "hist"}


# Where a booster shared by every component is checkpointed while it trains.
SHARED = "shared"


def train_xgboost(
    table: TrainingTable,
    split: UnitSplit,
    *,
    task: str,
    params: dict[str, Any] | None = None,
    rounds: int = 300,
    block: int = 25,
    seed: int = 0,
    threads: int = 1,
    on_block: Callable[[int, dict[str, Any], dict[str, xgb.Booster]], None] | None = None,
    fit_rows: np.ndarray | None = None,
    shared_parts: bool = True,
) -> XGBoostResult:
    """Train a booster per component on the training units, scoring the validation units every ``block`` rounds.

    Args:
        on_block: called after each block with the rounds so far, the validation figures and the boosters.
        fit_rows: train on these rows instead of the training split (a final fit on training and
            validation units together).
        shared_parts: failure models of several components learn from every component's failures in one
            booster (:mod:`pipelines.training.shared_parts`), then each component gets its part of it.

    A component without labelled training rows (for failures: without a positive one) is left out, and
    said so in ``skipped``.

    Raises:
        TrainingDataError: no component can be trained.
    """
    labels = _labels(table, task)
    settings = _objective(task, params or {}, seed, threads)
    train_rows = split.train if fit_rows is None else fit_rows
    typical = typical_levels(table, train_rows)
    features, feature_names = extended(table, typical)
    fits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    skipped: dict[str, str] = {}
    for j, component in enumerate(table.components):
        known = np.isfinite(labels[:, j])
        fit = train_rows & known
        if not fit.any() or (task == "failure" and not labels[fit, j].any()):
            skipped[component] = (
                f"no {'positive ' if task == 'failure' else ''}labelled training rows for {component!r}: "
                "the training units never saw it fail within the horizon"
            )
            continue
        fits[component] = (fit, split.validation & known)
    if not fits:
        raise TrainingDataError("; ".join(skipped.values()))
    columns = {c: model_columns(table.feature_set, len(table.feature_names), c, typical) for c in fits}
    layout = PartLayout.of(feature_names, columns) if task == "failure" and shared_parts and len(fits) > 1 else None
    matrices: dict[str, tuple[xgb.DMatrix | None, np.ndarray, np.ndarray]] = {}
    for component, (fit, check) in fits.items():
        j = table.components.index(component)
        if layout is None:
            names = _safe([feature_names[k] for k in columns[component]])
            dtrain = xgb.DMatrix(features[np.ix_(fit, columns[component])], label=labels[fit, j], feature_names=names)
            matrices[component] = (dtrain, features[np.ix_(check, columns[component])], labels[check, j])
        else:
            matrices[component] = (None, layout.inputs(features[check], component), labels[check, j])
    if layout is not None:
        stacked = _stacked(
            layout, features, {c: (fit, labels[fit, table.components.index(c)]) for c, (fit, _) in fits.items()}
        )
    boosters: dict[str, xgb.Booster] = {}
    shared: xgb.Booster | None = None
    validation: dict[str, Any] = {}
    done = 0
    while done < rounds:
        step = min(block, rounds - done)
        if layout is None:
            for component, (dtrain, _, _) in matrices.items():
                boosters[component] = xgb.train(
                    settings, dtrain, num_boost_round=step, xgb_model=boosters.get(component), verbose_eval=False
                )
        else:
            shared = xgb.train(settings, stacked, num_boost_round=step, xgb_model=shared, verbose_eval=False)
            boosters = dict.fromkeys(matrices, shared)
        done += step
        validation = evaluate(boosters, matrices, task, score_scale=score_scale(table))
        if on_block is not None:
            on_block(done, validation, boosters if shared is None else {SHARED: shared})
    if layout is not None and shared is not None:
        boosters = {
            c: _part_booster(layout, shared, c, _safe([feature_names[k] for k in columns[c]])) for c in matrices
        }
    return XGBoostResult(
        boosters=boosters,
        rounds=done,
        validation=validation,
        skipped=skipped,
        typical=typical,
        shared=layout is not None,
    )


def _stacked(layout: PartLayout, features: np.ndarray, fits: dict[str, tuple[np.ndarray, np.ndarray]]) -> xgb.DMatrix:
    """Every component's training rows (``fits``: rows and their labels) as the shared booster reads them."""
    inputs = [layout.inputs(features[rows], component) for component, (rows, _) in fits.items()]
    return xgb.DMatrix(np.vstack(inputs), label=np.concatenate([labels for _, labels in fits.values()]))


def _part_booster(layout: PartLayout, shared: xgb.Booster, component: str, names: list[str]) -> xgb.Booster:
    """The shared booster cut down to ``component``'s own columns, named ``names``."""
    model = layout.specialise(json.loads(shared.save_raw("json")), component, names)
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(model).encode()))
    return booster


def typical_levels(table: TrainingTable, rows: np.ndarray) -> TypicalLevels | None:
    """Each behaviour feature's typical level per robot model, from ``rows`` (:mod:`fleetray.learning.relative`)."""
    return TypicalLevels.fit(table.feature_set, table.feature_names, table.condition_levels, table.features[rows])


def extended(table: TrainingTable, typical: TypicalLevels | None) -> tuple[np.ndarray, list[str]]:
    """The table's features and their names, with the relative columns appended where there are typical levels."""
    if typical is None:
        return table.features, table.feature_names
    return typical.extend(table.features), table.feature_names + typical.names(table.feature_names)


def evaluate(
    boosters: dict[str, xgb.Booster],
    matrices: dict[str, tuple[Any, np.ndarray, np.ndarray]],
    task: str,
    *,
    score_scale: float = 1.0,
) -> dict[str, Any]:
    """Validation figures per component and their mean; ``matrices`` hold each component's own columns.

    ``score_scale`` converts RUL to the unit the asymmetric score is taken in (60: minutes to hours).
    """
    per_component: dict[str, dict[str, float]] = {}
    for component, (_, features, actual) in matrices.items():
        if not len(actual) or (task == "failure" and not actual.any()):
            continue  # nothing to measure: no validation unit saw this part fail
        predicted = boosters[component].inplace_predict(features)
        if task == "failure":
            threshold = best_threshold(predicted, actual, beta=THRESHOLD_BETA)
            per_component[component] = classification_report(predicted, actual, threshold)
        else:
            per_component[component] = {
                "rmse": rmse(predicted, actual),
                "score": rul_score(predicted / score_scale, actual / score_scale),
            }
    key = "pr_auc" if task == "failure" else "rmse"
    mean = float(np.mean([figures[key] for figures in per_component.values()])) if per_component else float("nan")
    return {"components": per_component, f"mean_{key}": mean}


def out_of_fold_predictions(
    table: TrainingTable,
    rows: np.ndarray,
    *,
    params: dict[str, Any],
    rounds: int,
    folds: int = 4,
    seed: int = 0,
    threads: int = 1,
    min_failed_units: int = 3,
    shared_parts: bool = True,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per component, the failure probabilities of ``rows`` predicted out of fold, their labels and units.

    Folds are by unit. A decision set on one validation split rests on the few units that saw a rare part
    fail there; out of fold, every unit that saw it fail counts. Components that failed on fewer than
    ``min_failed_units`` units are left out (their folds would learn from next to nothing). With
    ``shared_parts``, each fold trains as :func:`train_xgboost` does: one booster for every component.
    """
    units = np.unique(table.units[rows])
    order = np.random.default_rng(seed).permutation(units).tolist()
    fold_of = dict(zip(order, np.arange(len(units)) % folds, strict=True))
    fold = np.array([fold_of.get(u, -1) for u in table.units.tolist()])
    settings = _objective("failure", params, seed, threads)
    labels = table.failure_within
    known = {c: rows & np.isfinite(labels[:, j]) for j, c in enumerate(table.components)}
    wanted = [
        c
        for j, c in enumerate(table.components)
        if failed_units(labels[known[c], j], table.units[known[c]]) >= min_failed_units
    ]
    found: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {c: ([], [], []) for c in wanted}
    for k in range(folds):
        # Each fold's typical levels come from the rows it trains on, as a model's come from its training units.
        typical = typical_levels(table, rows & (fold != k))
        features, feature_names = extended(table, typical)
        in_fold = {c: known[c] & (fold != k) for c in table.components}
        fits = {c: rows for j, (c, rows) in enumerate(in_fold.items()) if labels[rows, j].any()}
        columns = {c: model_columns(table.feature_set, len(table.feature_names), c, typical) for c in fits}
        layout = PartLayout.of(feature_names, columns) if shared_parts and len(fits) > 1 else None
        if layout is not None:
            fitted = {c: (fit, labels[fit, table.components.index(c)]) for c, fit in fits.items()}
            shared = xgb.train(settings, _stacked(layout, features, fitted), num_boost_round=rounds)
        for component in wanted:
            j, check = table.components.index(component), known[component] & (fold == k)
            if not check.any() or component not in fits:
                continue
            if layout is not None:
                predicted = shared.inplace_predict(layout.inputs(features[check], component))
            else:
                fit, own = fits[component], columns[component]
                matrix = xgb.DMatrix(features[np.ix_(fit, own)], label=labels[fit, j])
                predicted = xgb.train(settings, matrix, num_boost_round=rounds).inplace_predict(
                    features[np.ix_(check, own)]
                )
            predictions, actual, of_unit = found[component]
            predictions.append(predicted)
            actual.append(labels[check, j])
            of_unit.append(table.units[check])
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for component, (predicted, actual, of_unit) in found.items():
        if predicted and np.concatenate(actual).any():
            out[component] = (np.concatenate(predicted), np.concatenate(actual), np.concatenate(of_unit))
    return out


def out_of_fold_thresholds(
    predictions: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    beta: float = THRESHOLD_BETA,
    shared: Sequence[str] = (),
    min_units: int = MIN_THRESHOLD_UNITS,
) -> dict[str, float]:
    """Each component's decision threshold: the best F-beta on its out-of-fold predictions.

    The components of a shared booster (``shared``) score on one scale. Each of them that failed on fewer than
    ``min_units`` units in ``predictions`` (or is not in them) takes the best F-beta over every component's
    predictions together: a threshold of its own would follow its handful of failing units.
    """
    thresholds = {
        component: best_threshold(predicted, actual, beta=beta)
        for component, (predicted, actual, _) in predictions.items()
    }
    rare = [c for c in shared if c not in predictions or failed_units(*predictions[c][1:]) < min_units]
    if rare and predictions:
        together = best_threshold(
            np.concatenate([predicted for predicted, _, _ in predictions.values()]),
            np.concatenate([actual for _, actual, _ in predictions.values()]),
            beta=beta,
        )
        thresholds |= dict.fromkeys(rare, together)
    return thresholds


def calibrate(bundle: ModelBundle, scalings: dict[str, PlattScaling]) -> None:
    """Make the failure model's probabilities calibrated ones (:mod:`fleetray.learning.calibration`): the
    bundle carries the maps, and its thresholds move with them, so the same rows cross them."""
    for component, scaling in scalings.items():
        if component in bundle.thresholds:
            bundle.thresholds[component] = float(scaling(bundle.thresholds[component]))
    bundle.info["calibration"] = {component: scaling.to_dict() for component, scaling in scalings.items()}


def score_scale(table: TrainingTable) -> float:
    """The asymmetric RUL score is taken in hours for tables in minutes, else in the table's own unit."""
    return 60.0 if table.time_unit == "min" else 1.0


def _safe(names: list[str]) -> list[str]:
    """XGBoost refuses ``[``, ``]`` and ``<`` in feature names."""
    return [name.replace("[", "(").replace("]", ")").replace("<", "lt") for name in names]


def bundle_of(table: TrainingTable, result: XGBoostResult, *, task: str, params: dict[str, Any]) -> ModelBundle:
    """The trained boosters as a registry-ready bundle (thresholds from the validation units)."""
    thresholds = {
        component: float(figures["threshold"])
        for component, figures in result.validation.get("components", {}).items()
        if "threshold" in figures
    }
    info: dict[str, Any] = {"skipped": result.skipped} if result.skipped else {}
    if result.typical is not None:
        info["typical_levels"] = result.typical.to_dict()
    if result.shared:
        info["shared_parts"] = list(result.boosters)
    bundle = ModelBundle.of_table(
        table,
        kind="xgboost",
        task=task,
        components=list(result.boosters),
        params={**DEFAULT_PARAMS, **params, "rounds": result.rounds},
        thresholds=thresholds,
        info=info,
        blobs={f"{component}.json": bytes(booster.save_raw("json")) for component, booster in result.boosters.items()},
    )
    bundle.feature_names = extended(table, result.typical)[1]
    return bundle


# Above this many rows without contributions, the booster reads the array in place instead of a DMatrix.
SHARED_MATRIX_ROWS = 512


def full_width(model: dict[str, Any], columns: np.ndarray, width: int) -> dict[str, Any]:
    """A booster's JSON model trained on ``columns`` of the features, rewritten in place to read them from all
    ``width`` columns (its splits then name columns of the full matrix; the trees are otherwise unchanged)."""
    learner = model["learner"]
    learner["feature_names"], learner["feature_types"] = [], []
    learner["learner_model_param"]["num_feature"] = str(width)
    for tree in _trees(model):
        tree["split_indices"] = columns[tree["split_indices"]].tolist()
        tree["tree_param"]["num_feature"] = str(width)
    return model


def one_booster(models: list[dict[str, Any]]) -> dict[str, Any]:
    """Single-output JSON models (same objective and features) as one model with an output per model.

    Every tree keeps its output (``tree_info``), and each output its intercept, so the predictions and
    contributions are exactly the separate models'. XGBoost's cost is mostly per call: one call then
    predicts or explains every component.
    """
    merged = copy.deepcopy(models[0])
    learner = merged["learner"]
    objectives = {json.dumps(model["learner"]["objective"], sort_keys=True) for model in models}
    if len(objectives) > 1:
        raise LearningError(f"the components' boosters have different objectives: {sorted(objectives)}")
    intercepts = [model["learner"]["learner_model_param"]["base_score"].strip("[]") for model in models]
    learner["learner_model_param"].update(num_target=str(len(models)), base_score=f"[{','.join(intercepts)}]")
    trees, outputs = [], []
    for output, model in enumerate(models):
        for tree in _trees(model):
            trees.append({**tree, "id": len(trees)})
            outputs.append(output)
    forest = _forest(merged)
    forest.update(trees=trees, tree_info=outputs, iteration_indptr=[0, len(trees)])
    forest["gbtree_model_param"]["num_trees"] = str(len(trees))
    return merged


def _forest(model: dict[str, Any]) -> dict[str, Any]:
    booster = model["learner"]["gradient_booster"]
    if booster.get("name") != "gbtree":
        raise LearningError(f"only tree boosters (gbtree) are served; this model's booster is {booster.get('name')!r}")
    return booster["model"]


def _trees(model: dict[str, Any]) -> list[dict[str, Any]]:
    return _forest(model)["trees"]


class XGBoostPredictor:
    """A loaded XGBoost bundle: per component predictions and each feature's contribution to them.

    The components' boosters are loaded as one booster with an output per component, reading the full
    feature matrix: a request costs XGBoost's per-call price once, not once per component.
    """

    def __init__(self, bundle: ModelBundle, threads: int = 1) -> None:
        bundle.check_features()
        self.bundle = bundle
        self.threads = threads
        self.components = list(bundle.components)
        self.typical = bundle.typical_levels
        self.calibration = bundle.calibration
        width = len(bundle.feature_names)
        models = [
            full_width(json.loads(bundle.blobs[f"{component}.json"]), bundle.columns_for(component), width)
            for component in self.components
        ]
        self.booster = xgb.Booster(params={"nthread": threads})
        if models:
            self.booster.load_model(bytearray(json.dumps(one_booster(models)).encode()))

    def inputs(self, features: np.ndarray) -> np.ndarray:
        """What the boosters read: ``features`` (the feature set's, then the conditions), with the columns
        relative to the robot model's typical levels appended when the model was trained with them."""
        return features if self.typical is None else self.typical.extend(features)

    def predict(
        self, features: np.ndarray, *, contributions: bool = False, exact: bool = True, calibrated: bool = True
    ) -> dict[str, dict[str, np.ndarray]]:
        """Per component: ``value`` (RUL, or probability: calibrated where the bundle has the component's map,
        unless ``calibrated`` is False) per row, and with ``contributions`` each input's
        (rows, len(bundle.feature_names) + 1) contribution to the booster's margin (the columns of
        :meth:`inputs`, then the bias; 0 for an input the component's model does not read): exact TreeSHAP, or
        with ``exact=False`` Saabas's per-tree attributions (an order of magnitude cheaper on many rows)."""
        if not self.components:
            return {}
        features = self.inputs(features)
        rows, outputs = len(features), len(self.components)
        scalings = self.calibration if calibrated else {}
        if not contributions and rows > SHARED_MATRIX_ROWS:
            values = self.booster.inplace_predict(features).reshape(rows, outputs)
            return {c: {"value": _mapped(scalings, c, values[:, k])} for k, c in enumerate(self.components)}
        matrix = xgb.DMatrix(features, nthread=self.threads)
        values = self.booster.predict(matrix).reshape(rows, outputs)
        out = {c: {"value": _mapped(scalings, c, values[:, k])} for k, c in enumerate(self.components)}
        if contributions:
            explained = self.booster.predict(matrix, pred_contribs=True, approx_contribs=not exact)
            explained = explained.reshape(rows, outputs, features.shape[1] + 1)
            for k, component in enumerate(self.components):
                out[component]["contributions"] = explained[:, k]
        return out


def _intervals(alarmed: np.ndarray, actual: np.ndarray, units: np.ndarray) -> dict[str, list[float | None]]:
    """``precision_interval`` and ``recall_interval``: where the figures could lie on other units like these."""
    return {f"{name}_interval": bounds for name, bounds in unit_intervals(alarmed, actual, units).items()}


def _mapped(scalings: dict[str, PlattScaling], component: str, scores: np.ndarray) -> np.ndarray:
    """``scores`` through the component's calibration, if it has one."""
    scaling = scalings.get(component)
    return scores if scaling is None else scaling(scores)


def test_metrics(table: TrainingTable, split: UnitSplit, bundle: ModelBundle) -> dict[str, Any]:
    """The bundle's figures on the test units: per component, and pooled over components.

    Failure models add the failures as events (:func:`~fleetray.learning.metrics.warning_leads`): ``failures``,
    ``failures_warned`` and ``median_lead``, in the table's time unit; and how well their probabilities are
    calibrated: ``brier`` and ``ece`` (:func:`~fleetray.learning.metrics.calibration_error`), pooled also
    before the calibration (``brier_uncalibrated``, ``ece_uncalibrated``) where the model has one; and 90 %
    intervals of precision and recall over the test units resampled (:func:`~fleetray.learning.metrics.unit_intervals`):
    ``precision_interval``, ``recall_interval``.
    """
    predictor = XGBoostPredictor(bundle)
    rows = split.test
    # One pass of the boosters: the calibrated probabilities are the raw scores mapped.
    uncalibrated = predictor.predict(table.features[rows], calibrated=False)
    predictions = {c: {"value": _mapped(predictor.calibration, c, f["value"])} for c, f in uncalibrated.items()}
    labels = _labels(table, bundle.task)[rows]
    units, times, rul = table.units[rows], table.times[rows], table.rul[rows]
    per_component: dict[str, dict[str, Any]] = {}
    pooled_predicted, pooled_actual, pooled_probability, pooled_scores, pooled_units = [], [], [], [], []
    pooled_failures, pooled_leads = 0, []
    for j, component in enumerate(table.components):
        if component not in predictions:
            continue
        known = np.isfinite(labels[:, j])
        value, actual = predictions[component]["value"][known], labels[known, j]
        if not len(actual):
            continue
        if bundle.task == "failure":
            threshold = bundle.thresholds.get(component, 0.5)
            alarmed = value >= threshold
            failures, leads = warning_leads(alarmed, actual, units[known], times[known], rul[known, j])
            per_component[component] = (
                classification_report(value, actual, threshold)
                | _intervals(alarmed, actual, units[known])
                | warning_report(leads, failures)
                | {"brier": brier_score(value, actual), "ece": calibration_error(value, actual)}
            )
            pooled_units.append(units[known])
            pooled_failures += failures
            pooled_leads += leads
            pooled_predicted.append(alarmed)
            pooled_probability.append(value)
            pooled_scores.append(uncalibrated[component]["value"][known])
            pooled_actual.append(actual)
        else:
            scale = score_scale(table)
            per_component[component] = {"rmse": rmse(value, actual), "score": rul_score(value / scale, actual / scale)}
            pooled_predicted.append(value)
            pooled_actual.append(actual)
    metrics: dict[str, Any] = {"split": "test", "components": per_component}
    if not pooled_actual:
        return metrics
    actual = np.concatenate(pooled_actual)
    if bundle.task == "failure":
        # Pooled at each component's own threshold: rank the rows by whether they cross it.
        crossed = np.concatenate(pooled_predicted).astype(np.float64)
        pooled = classification_report(crossed, actual, 0.5)
        pooled["pr_auc"] = float(np.mean([c["pr_auc"] for c in per_component.values() if c["positives"]]))
        pooled.pop("threshold")
        pooled |= _intervals(crossed > 0.5, actual, np.concatenate(pooled_units))
        probability = np.concatenate(pooled_probability)
        pooled |= {"brier": brier_score(probability, actual), "ece": calibration_error(probability, actual)}
        if predictor.calibration:
            scores = np.concatenate(pooled_scores)
            pooled |= {
                "brier_uncalibrated": brier_score(scores, actual),
                "ece_uncalibrated": calibration_error(scores, actual),
            }
        metrics.update(pooled | warning_report(pooled_leads, pooled_failures))
    else:
        predicted = np.concatenate(pooled_predicted)
        metrics["rmse"] = rmse(predicted, actual)
        metrics["score"] = rul_score(predicted / score_scale(table), actual / score_scale(table))
    return metrics
