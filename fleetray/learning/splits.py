"""Splits by unit (no unit in two splits) and normalisation fitted on training units only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetray.errors import TrainingDataError


@dataclass(frozen=True)
class UnitSplit:
    """Row masks of the training, validation and test units."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @classmethod
    def held_out(cls, rows: int) -> UnitSplit:
        """Every row a test row: a trained model measured on a table of its own (a held-out file)."""
        none = np.zeros(rows, bool)
        return cls(train=none, validation=none, test=np.ones(rows, bool))

    def units(self, units: np.ndarray) -> dict[str, list[str]]:
        """Which units went where (recorded with a model)."""
        return {name: sorted(set(units[mask].tolist())) for name, mask in self.__dict__.items()}


def split_units(units: np.ndarray, *, validation: float = 0.2, test: float = 0.2, seed: int = 0) -> UnitSplit:
    """Assign whole units to training, validation and test at random (seeded).

    Raises:
        TrainingDataError: fewer than three units, or shares that leave a split empty.
    """
    names = np.unique(units)
    if len(names) < 3:
        raise TrainingDataError(f"splitting by unit needs at least 3 units, the data has {len(names)}")
    if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
        raise TrainingDataError(f"validation ({validation}) and test ({test}) shares must be in (0, 1) and sum below 1")
    shuffled = np.random.default_rng(seed).permutation(names)
    n_test = max(1, round(len(names) * test))
    n_validation = max(1, round(len(names) * validation))
    if n_test + n_validation >= len(names):
        n_test = n_validation = 1
    test_units = set(shuffled[:n_test].tolist())
    validation_units = set(shuffled[n_test : n_test + n_validation].tolist())
    in_test = np.isin(units, list(test_units))
    in_validation = np.isin(units, list(validation_units))
    return UnitSplit(train=~in_test & ~in_validation, validation=in_validation, test=in_test)


@dataclass(frozen=True)
class Standardizer:
    """Per-feature centring and scaling, fitted on training rows; NaN becomes 0 (the mean) after scaling."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Standardizer:
        with np.errstate(invalid="ignore"):
            mean = np.nan_to_num(np.nanmean(features, axis=0)) if len(features) else np.zeros(features.shape[1])
            std = np.nan_to_num(np.nanstd(features, axis=0)) if len(features) else np.ones(features.shape[1])
        return cls(mean=mean, scale=np.where(std > 1e-12, std, 1.0))

    def transform(self, features: np.ndarray) -> np.ndarray:
        scaled = (features - self.mean) / self.scale
        return np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Standardizer:
        return cls(mean=np.asarray(data["mean"]), scale=np.asarray(data["scale"]))
