"""Root cause of an error code: which features before the error differ most from normal operation.

For each occurrence of the code, the windows of the ``before_h`` hours before it are compared with windows
of robots of the same models far from any occurrence (normal operation). A shallow gradient-boosted
classifier tells them apart; each feature's mean TreeSHAP contribution over the pre-error windows ranks
it, and the report gives, per top feature, its level before the error against normal, how many standard
deviations that is, and how long before the error it left its normal range. The bags recorded around the
occurrences come from the bag index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from fleetray.errors import NotFoundError, TrainingDataError
from fleetray.features.featureset import FeatureSet, SignalFeature, fold_history
from fleetray.learning.platform import history_from_database, platform_feature_set
from fleetray.learning.table import encode_conditions
from fleetray.storage.bags import search_bags

if TYPE_CHECKING:
    from fleetray.storage import Database

MIN_NORMAL_ROWS = 20
NORMAL_PER_PRE_ERROR = 20


def diagnose(
    db: Database,
    tenant_id: str,
    error_code: str,
    *,
    days: float = 30.0,
    before_h: float = 6.0,
    normal_gap_h: float = 24.0,
    warmup_h: float = 1.0,
    top: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """A report on ``error_code`` over the tenant's last ``days``.

    Raises:
        NotFoundError: the code did not occur in that time.
        TrainingDataError: too little history before the errors, or no normal operation to compare with.

    Args:
        warmup_h: each robot's first hours in the history are left out of both sides (its averages settle).
    """
    import xgboost as xgb

    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    with db.connect() as conn:
        occurrences = conn.execute(
            "SELECT robot_id, extract(epoch FROM ts)::float8 / 60, ts FROM events "
            "WHERE tenant_id = %s AND code = %s AND ts >= %s ORDER BY ts",
            (tenant_id, error_code, start),
        ).fetchall()
    if not occurrences:
        raise NotFoundError(f"error code {error_code!r} did not occur in the last {days:g} days")
    platform = platform_feature_set()
    moving = SignalFeature(signal="velocity.linear", statistic="mean")
    feature_set = FeatureSet(
        name="diagnostics",
        signals=(*platform.signals, moving),
        half_lives=platform.half_lives,
        conditions=platform.conditions,
    )
    history = history_from_database(db, tenant_id, start=start - timedelta(hours=before_h), feature_set=feature_set)
    names, unit_index = np.unique(history.units.astype(str), return_inverse=True)
    statistics = np.column_stack([history.signal_values(s) for s in feature_set.signals])
    features = fold_history(feature_set, unit_index, history.minutes, statistics, len(names))
    robots, minutes = history.units.astype(str), history.minutes
    # A robot's first minutes carry averages still settling (and start-up transients): compared with nothing.
    first_minute = {robot: minutes[robots == robot].min() for robot in names}
    settled = minutes >= np.array([first_minute[r] for r in robots]) + warmup_h * 60
    # Errors happen while robots work: compare with working minutes, not with robots resting on their docks.
    working = np.nan_to_num(statistics[:, -1]) > 0
    pre_error = np.zeros(len(robots), bool)
    near_error = np.zeros(len(robots), bool)
    for robot_id, minute, _ in occurrences:
        mine = robots == robot_id
        pre_error |= mine & (minutes < minute) & (minutes >= minute - before_h * 60)
        near_error |= mine & (np.abs(minutes - minute) <= normal_gap_h * 60)
    affected = sorted({robot_id for robot_id, _, _ in occurrences})
    affected_models = {history.models.get(r, "unknown") for r in affected}
    same_model = np.isin(
        np.array([history.models.get(r, "unknown") for r in robots], dtype=object), list(affected_models)
    )
    normal = same_model & ~near_error & settled & working
    pre_error &= settled & working
    if not pre_error.any():
        raise TrainingDataError(
            f"no stored minutes in the {before_h:g} h before any {error_code!r}: nothing to compare with normal"
        )
    if normal.sum() < MIN_NORMAL_ROWS:
        raise TrainingDataError(
            f"only {int(normal.sum())} minutes of normal operation of {', '.join(sorted(affected_models))} "
            f"robots (more than {normal_gap_h:g} h from any {error_code!r}): too few to compare with"
        )
    rng = np.random.default_rng(seed)
    normal_rows = np.flatnonzero(normal)
    keep = min(len(normal_rows), NORMAL_PER_PRE_ERROR * int(pre_error.sum()))
    normal_rows = rng.choice(normal_rows, keep, replace=False)
    pre_rows = np.flatnonzero(pre_error)
    conditions, condition_names, _ = encode_conditions(
        {"model": np.array([history.models.get(r, "unknown") for r in robots], dtype=object)}
    )
    compared = len(platform.feature_names)  # the robot's motion selects the minutes; it is not a finding
    matrix = np.hstack([features[:, :compared], conditions])
    feature_names = [*platform.feature_names, *condition_names]
    rows = np.r_[pre_rows, normal_rows]
    labels = np.r_[np.ones(len(pre_rows)), np.zeros(len(normal_rows))]
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "seed": seed, "nthread": 1},
        xgb.DMatrix(matrix[rows], label=labels),
        num_boost_round=60,
    )
    contributions = booster.predict(xgb.DMatrix(matrix[pre_rows]), pred_contribs=True)[:, :-1]
    importance = contributions.mean(axis=0)
    ranked = [k for k in np.argsort(-importance) if importance[k] > 0][:top]
    findings = [
        _finding(feature_names[k], matrix[:, k], pre_rows, normal_rows, robots, minutes, occurrences, before_h)
        | {"importance": round(float(importance[k]), 4)}
        for k in ranked
    ]
    with db.connect() as conn:
        bags = []
        for robot_id, _, ts in occurrences[-20:]:
            bags += search_bags(
                conn,
                tenant_id,
                robot_id=robot_id,
                since=ts - timedelta(hours=before_h),
                until=ts + timedelta(hours=1),
                limit=5,
            )
    return {
        "tenant_id": tenant_id,
        "error_code": error_code,
        "days": days,
        "occurrences": len(occurrences),
        "first_seen": occurrences[0][2],
        "last_seen": occurrences[-1][2],
        "robots": affected,
        "models": sorted(affected_models),
        "compared": {"pre_error_minutes": len(pre_rows), "normal_minutes": len(normal_rows), "before_h": before_h},
        "features": findings,
        "bags": [
            {k: bag[k] for k in ("bag_id", "robot_id", "uri", "start_time", "end_time", "trigger", "status")}
            for bag in {b["bag_id"]: b for b in bags}.values()
        ],
    }


def _finding(
    name: str,
    values: np.ndarray,
    pre_rows: np.ndarray,
    normal_rows: np.ndarray,
    robots: np.ndarray,
    minutes: np.ndarray,
    occurrences: list[tuple],
    before_h: float,
) -> dict[str, Any]:
    """How a feature stood before the errors against normal, and how long before them it left normal."""
    normal = values[normal_rows]
    normal = normal[np.isfinite(normal)]
    before = values[pre_rows]
    before = before[np.isfinite(before)]
    normal_mean = float(normal.mean()) if len(normal) else float("nan")
    spread = float(normal.std()) if len(normal) else float("nan")
    pre_mean = float(before.mean()) if len(before) else float("nan")
    shift = (pre_mean - normal_mean) / spread if spread > 0 else float("nan")
    low, high = np.percentile(normal, [2.5, 97.5]) if len(normal) else (np.nan, np.nan)
    leads = []
    for robot_id, minute, _ in occurrences:
        mine = np.flatnonzero((robots == robot_id) & (minutes < minute) & (minutes >= minute - before_h * 60))
        if not len(mine):
            continue
        order = mine[np.argsort(minutes[mine])]
        outside = (values[order] > high) if shift > 0 else (values[order] < low)
        if outside[-1]:
            run_start = len(outside) - int(np.argmin(outside[::-1])) if not outside.all() else 0
            leads.append((minute - minutes[order][run_start]) / 60)
    return {
        "feature": name,
        "pre_error_mean": _rounded(pre_mean),
        "normal_mean": _rounded(normal_mean),
        "shift_sd": _rounded(shift),
        "outside_normal_before_error_h": _rounded(float(np.median(leads))) if leads else None,
        "occurrences_outside_normal": len(leads),
    }


def _rounded(value: float) -> float | None:
    return round(value, 4) if np.isfinite(value) else None
