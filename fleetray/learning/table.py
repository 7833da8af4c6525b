"""The training table every model learns from: one row per unit and moment, features and labels.

Whatever the source (the platform's per-minute windows, or any run-to-failure file named by a
:class:`~fleetray.learning.spec.DataSpec`), it ends here: windows' statistics per unit and time, the
failures and renewals of each component, and the unit's conditions. :func:`assemble_table` folds the
windows into features (:mod:`fleetray.features.featureset`) and labels each moment from its future only
(:mod:`fleetray.learning.labels`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fleetray.errors import TrainingDataError
from fleetray.features.featureset import FeatureSet, component_columns, fold_history
from fleetray.learning.labels import component_labels


@dataclass(frozen=True)
class LabelPolicy:
    """How moments are labelled, in the table's time unit.

    Attributes:
        horizon: a failure within this long after a moment labels it positive.
        rul_cap: remaining useful life above this is given as the cap.
        sample_every: keep one row per unit every this long (features still fold every window).
        repairs_recorded: a failed part stays failed until a renewal says it was repaired (the platform
            records repairs); otherwise a failure renews the part at once.
    """

    horizon: float
    rul_cap: float
    sample_every: float | None = None
    repairs_recorded: bool = False


@dataclass(frozen=True)
class Events:
    """When each unit's components failed and were renewed: arrays of unit, component and time."""

    unit: np.ndarray
    component: np.ndarray
    time: np.ndarray

    @classmethod
    def empty(cls) -> Events:
        return cls(np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=np.float64))

    def of(self, unit: str, component: str) -> np.ndarray:
        return self.time[(self.unit == unit) & (self.component == component)]


@dataclass
class TrainingTable:
    """Features and labels, one row per unit and moment.

    Attributes:
        feature_set: the definition the features were computed with (its version goes with every model).
        units, times: the row's unit id and time (the time unit of the source: minutes for the platform).
        features: (rows, len(feature_names)) floats, NaN where a signal was never seen.
        feature_names: the feature set's names, then the encoded conditions.
        condition_levels: the categories of each categorical condition, in one-hot order.
        components: the labelled components, in the labels' column order.
        rul: (rows, components) remaining useful life, capped; NaN where unknown.
        failure_within: (rows, components) 1 if the component fails within the horizon, 0 if it
            survives it, NaN where unknown.
        policy: the horizon, cap and sampling the labels were made with.
        time_unit: what one unit of ``times`` is (``min``, ``cycle``…).
    """

    feature_set: FeatureSet
    units: np.ndarray
    times: np.ndarray
    features: np.ndarray
    feature_names: list[str]
    condition_levels: dict[str, list[str]]
    components: list[str]
    rul: np.ndarray
    failure_within: np.ndarray
    policy: LabelPolicy
    time_unit: str = "min"
    meta: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.units)

    @property
    def data_hash(self) -> str:
        """A hash of the rows, features and labels: two tables with the same hash trained the same."""
        digest = hashlib.sha256()
        for array in (self.units.astype(str), self.times, self.features, self.rul, self.failure_within):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(",".join(self.feature_names + self.components).encode())
        return digest.hexdigest()[:16]

    def columns_for(self, component: str) -> np.ndarray:
        """The feature columns a model of ``component`` learns from (``SignalFeature.informs``)."""
        return component_columns(self.feature_set, len(self.feature_names), component)

    def take(self, rows: np.ndarray) -> TrainingTable:
        """The table restricted to ``rows`` (a mask or indices)."""
        return TrainingTable(
            self.feature_set,
            self.units[rows],
            self.times[rows],
            self.features[rows],
            self.feature_names,
            self.condition_levels,
            self.components,
            self.rul[rows],
            self.failure_within[rows],
            self.policy,
            self.time_unit,
            self.meta,
        )

    def describe(self) -> dict[str, object]:
        """Rows, units and, per component, failures seen and positive rows: what a user checks first."""
        positives = np.nansum(self.failure_within, axis=0)
        return {
            "rows": len(self),
            "units": len(np.unique(self.units)),
            "features": len(self.feature_names),
            "feature_version": self.feature_set.version,
            "components": {
                c: {"positive_rows": int(positives[j]), "labelled_rows": int(np.isfinite(self.rul[:, j]).sum())}
                for j, c in enumerate(self.components)
            },
        }


def encode_conditions(
    conditions: Mapping[str, np.ndarray], levels: Mapping[str, list[str]] | None = None
) -> tuple[np.ndarray, list[str], dict[str, list[str]]]:
    """Conditions as numbers: categorical ones one-hot (``model=Neo 2``), numeric ones as they are.

    ``levels`` fixes the categories (as a trained model recorded them); without it they are the values seen.
    """
    columns: list[np.ndarray] = []
    names: list[str] = []
    found: dict[str, list[str]] = {}
    for name, given in conditions.items():
        values = np.asarray(given)
        if values.dtype.kind in "biuf":
            columns.append(values.astype(np.float64))
            names.append(name)
            continue
        categories = list(levels[name]) if levels is not None else sorted({str(v) for v in values})
        found[name] = categories
        text = values.astype(str)
        for category in categories:
            columns.append((text == category).astype(np.float64))
            names.append(f"{name}={category}")
    rows = len(next(iter(conditions.values()))) if conditions else 0
    matrix = np.column_stack(columns) if columns else np.zeros((rows, 0))
    return matrix, names, found


def assemble_table(
    feature_set: FeatureSet,
    units: np.ndarray,
    times: np.ndarray,
    statistics: np.ndarray,
    *,
    conditions: Mapping[str, np.ndarray],
    components: list[str],
    failures: Events,
    renewals: Events,
    policy: LabelPolicy,
    time_unit: str,
) -> TrainingTable:
    """Fold windows into features and label every kept moment.

    Args:
        units, times: one window per entry (unique per unit and time).
        statistics: (windows, len(feature_set.signals)) the followed statistic of each signal, NaN where absent.
        conditions: per window, the unit's condition values (by condition name).
        components: the components to label; each must have failed at least once.
        failures, renewals: the components' failures and renewals without failure (repairs included).

    Raises:
        TrainingDataError: no windows, duplicated (unit, time), or a component that never failed.
    """
    units = np.asarray(units).astype(str)
    times = np.asarray(times, dtype=np.float64)
    if not len(units):
        raise TrainingDataError("the data has no rows to learn from")
    if not np.isfinite(times).all():
        raise TrainingDataError(f"{int((~np.isfinite(times)).sum())} rows have no time (NaN or infinite)")
    unit_names, unit_index = np.unique(units, return_inverse=True)
    order = np.lexsort((times, unit_index))
    units, times, unit_index, statistics = units[order], times[order], unit_index[order], statistics[order]
    conditions = {name: np.asarray(values)[order] for name, values in conditions.items()}
    repeated = (unit_index[1:] == unit_index[:-1]) & (times[1:] == times[:-1])
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        raise TrainingDataError(
            f"unit {units[first]!r} has two rows at time {times[first]:g}: "
            "each unit needs one row per time (aggregate them with the spec's `window`)"
        )
    never_failed = [c for c in components if not (failures.component == c).any()]
    if never_failed:
        raise TrainingDataError(
            f"no failures of {', '.join(never_failed)} in the data: a model cannot learn when a part fails "
            "from a history in which it never does (use a longer history, or leave the component out)"
        )

    features = fold_history(feature_set, unit_index, times, statistics, len(unit_names))
    keep = _sampled(unit_index, times, policy.sample_every)
    ends = {name: times[unit_index == k].max() for k, name in enumerate(unit_names)}
    rul = np.full((len(times), len(components)), np.nan)
    within = np.full((len(times), len(components)), np.nan)
    for k, name in enumerate(unit_names):
        rows = np.flatnonzero(unit_index == k)
        for j, component in enumerate(components):
            labels = component_labels(
                times[rows],
                failures.of(name, component),
                renewals.of(name, component),
                ends[name],
                horizon=policy.horizon,
                rul_cap=policy.rul_cap,
                repairs_recorded=policy.repairs_recorded,
            )
            rul[rows, j], within[rows, j] = labels.rul, labels.failure_within
    encoded, condition_names, levels = encode_conditions(conditions)
    matrix = np.hstack([features, encoded]) if encoded.shape[1] else features
    return TrainingTable(
        feature_set=feature_set,
        units=units[keep],
        times=times[keep],
        features=matrix[keep],
        feature_names=[*feature_set.feature_names, *condition_names],
        condition_levels=levels,
        components=list(components),
        rul=rul[keep],
        failure_within=within[keep],
        policy=policy,
        time_unit=time_unit,
    )


def _sampled(unit_index: np.ndarray, times: np.ndarray, every: float | None) -> np.ndarray:
    """Rows sorted by unit and time, thinned to the first row of each ``every`` per unit."""
    if every is None:
        return np.ones(len(times), bool)
    slot = np.floor(times / every)
    return np.r_[True, (unit_index[1:] != unit_index[:-1]) | (slot[1:] != slot[:-1])]
