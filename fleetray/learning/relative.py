"""Features relative to what is typical for a unit's kind: a part's current over what parts of its robot model draw.

A worn part shows as a current, speed or temperature away from its model's usual level, and each model has
its own level. Trees see the absolute value and the model as separate columns, and with a few dozen failures
to learn from they draw the boundary of each model coarsely. Divided by the model's typical level (the
median over the training units), the same wear reads the same on every model.

The typical levels are fitted on training units only and travel with the model: a model computes its
relative columns from the features and conditions it is given, in training and in scoring alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetray.features.featureset import FeatureSet, component_columns

# Relative columns are named after their feature, with this suffix.
SUFFIX = "/typical"
# A typical level this close to zero makes no ratio (a signal that is mostly zero on that kind of unit).
SMALLEST_TYPICAL = 1e-9


@dataclass(frozen=True)
class TypicalLevels:
    """Each relative feature's typical level per category of a condition.

    Attributes:
        condition: the categorical condition the levels are per (the robot's ``model``).
        categories: its categories, in the one-hot order of the features' condition columns.
        category_columns: where those one-hot columns are in a feature row.
        columns: the features made relative (indices into the feature set's features).
        typical: (categories, columns) medians over the training rows; NaN where none was seen.
    """

    condition: str
    categories: list[str]
    category_columns: list[int]
    columns: list[int]
    typical: np.ndarray

    @classmethod
    def fit(
        cls,
        feature_set: FeatureSet,
        feature_names: Sequence[str],
        condition_levels: dict[str, list[str]],
        features: np.ndarray,
    ) -> TypicalLevels | None:
        """Typical levels from ``features`` (the training rows, conditions included); None without a
        categorical condition to be relative to."""
        if not condition_levels:
            return None
        condition, categories = next(iter(condition_levels.items()))
        category_columns = [list(feature_names).index(f"{condition}={category}") for category in categories]
        columns = relative_columns(feature_set)
        if not columns:
            return None
        category = category_of_rows(features, category_columns)
        typical = np.full((len(categories), len(columns)), np.nan)
        for k in range(len(categories)):
            of_category = features[category == k][:, columns]
            seen = np.isfinite(of_category).any(axis=0)
            if seen.any():
                typical[k, seen] = np.nanmedian(of_category[:, seen], axis=0)
        typical[np.abs(typical) < SMALLEST_TYPICAL] = np.nan
        return cls(condition, list(categories), category_columns, columns, typical)

    def names(self, feature_names: Sequence[str]) -> list[str]:
        """The relative columns' names: their feature's, with :data:`SUFFIX`."""
        return [f"{feature_names[k]}{SUFFIX}" for k in self.columns]

    def extend(self, features: np.ndarray) -> np.ndarray:
        """``features`` (the feature set's, then the conditions) with the relative columns appended: NaN for a
        category the training units did not have, or a feature never seen on it."""
        category = category_of_rows(features, self.category_columns)
        known = category >= 0
        typical = np.full((len(features), len(self.columns)), np.nan)
        typical[known] = self.typical[category[known]]
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = features[:, self.columns] / typical
        return np.hstack([features, relative])

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "categories": self.categories,
            "category_columns": self.category_columns,
            "columns": self.columns,
            "typical": [[None if np.isnan(v) else float(v) for v in row] for row in self.typical],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TypicalLevels:
        typical = np.array([[np.nan if v is None else v for v in row] for row in data["typical"]], dtype=np.float64)
        return cls(
            data["condition"],
            list(data["categories"]),
            [int(k) for k in data["category_columns"]],
            [int(k) for k in data["columns"]],
            typical.reshape(len(data["categories"]), len(data["columns"])),
        )


def model_columns(
    feature_set: FeatureSet, width: int, component: str, typical: TypicalLevels | None = None
) -> np.ndarray:
    """The columns a model of ``component`` reads: of rows of ``width`` columns (the feature set's, then the
    conditions), its own features and the conditions; with ``typical``, then the relative columns of its own
    features (appended past ``width`` by :meth:`TypicalLevels.extend`)."""
    own = component_columns(feature_set, width, component)
    if typical is None:
        return own
    mine = set(feature_set.columns_informing(component))
    relative = [width + k for k, column in enumerate(typical.columns) if column in mine]
    return np.array([*own, *relative], dtype=np.intp)


def relative_columns(feature_set: FeatureSet) -> list[int]:
    """The features that have a typical level: the latest window and the moving averages of signals that
    describe behaviour (not counters of use, nor counts of events, nor trends, which hover around zero)."""
    per_signal = len(feature_set.half_lives) + 2
    return [
        k * per_signal + offset
        for k, signal in enumerate(feature_set.signals)
        if not signal.cumulative and signal.statistic != "n" and signal.missing is None
        for offset in range(per_signal - 1)
    ]


def category_of_rows(features: np.ndarray, category_columns: Sequence[int]) -> np.ndarray:
    """Each row's category (the index of its one-hot column that is set), -1 where none is."""
    if not len(category_columns):
        return np.full(len(features), -1)
    one_hot = np.nan_to_num(features[:, list(category_columns)]) > 0.5
    return np.where(one_hot.any(axis=1), one_hot.argmax(axis=1), -1)
