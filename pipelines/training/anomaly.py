"""Offline anomaly detection on feature windows: an Isolation Forest and an autoencoder, trained on normal operation.

Normal operation is what the labels say it is: rows where every part the unit has is known to survive
the horizon (a part renewed before the horizon ended is not known to, and its row is left out). Both
detectors are fitted on the training units' normal rows, their alarm threshold is set on the validation
units' normal rows (the score a ``target_fpr`` share of normal windows exceeds), and
they are measured on the test units: the false-positive rate on normal rows, the detection rate on rows
whose part fails within the horizon. The shards keep their online EWMA scores; these run in batch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetray.errors import RegistryError, TrainingDataError
from fleetray.learning.splits import Standardizer, UnitSplit
from fleetray.learning.table import TrainingTable
from pipelines.training.bundle import ModelBundle


def normal_rows(table: TrainingTable) -> np.ndarray:
    """Rows where every part the unit has is known to survive the horizon.

    A part whose label is withheld there (renewed before the horizon ended, or the data ends) may have been
    near failure, saved only by maintenance: such rows are not known to be normal. A unit has a part if
    the part is labelled anywhere in its history.
    """
    labelled = np.isfinite(table.failure_within)
    _, unit_of_row = np.unique(table.units, return_inverse=True)
    has = np.zeros((unit_of_row.max() + 1, labelled.shape[1]), bool)
    np.logical_or.at(has, unit_of_row, labelled)
    has = has[unit_of_row]
    survives = labelled & (np.nan_to_num(table.failure_within) == 0)
    return has.any(axis=1) & np.where(has, survives, True).all(axis=1)


def fault_rows(table: TrainingTable, window: float | None = None) -> np.ndarray:
    """Rows with a component failing within ``window`` (default: the horizon): the known faults."""
    if window is None:
        return (np.nan_to_num(table.failure_within) > 0).any(axis=1)
    return (np.nan_to_num(table.rul, nan=np.inf) <= window).any(axis=1)


@dataclass
class AnomalyResult:
    """A fitted detector, its threshold and its figures on the test units."""

    bundle: ModelBundle
    metrics: dict[str, float]


def _score_split(
    table: TrainingTable, split: UnitSplit, score: Any, threshold_fpr: float, fault_window: float | None
) -> tuple[float, dict[str, float]]:
    normal = normal_rows(table)
    validation_scores = score(table.features[split.validation & normal])
    if not len(validation_scores):
        raise TrainingDataError("no normal rows among the validation units to set the alarm threshold on")
    threshold = float(np.quantile(validation_scores, 1 - threshold_fpr))
    test_normal = score(table.features[split.test & normal])
    test_faults = score(table.features[split.test & fault_rows(table, fault_window)])
    return threshold, {
        "anomaly_fpr": float((test_normal > threshold).mean()) if len(test_normal) else float("nan"),
        "anomaly_detection_rate": float((test_faults > threshold).mean()) if len(test_faults) else float("nan"),
        "test_normal_rows": len(test_normal),
        "test_fault_rows": len(test_faults),
    }


def _normal_training(table: TrainingTable, split: UnitSplit) -> tuple[np.ndarray, Standardizer]:
    """The training units' normal windows, standardised with their own statistics."""
    rows = split.train & normal_rows(table)
    if rows.sum() < 10:
        raise TrainingDataError(
            f"only {int(rows.sum())} normal rows among the training units: anomaly detectors learn normal "
            "operation, so they need a history where parts are known to survive the horizon"
        )
    standardizer = Standardizer.fit(table.features[rows])
    return standardizer.transform(table.features[rows]), standardizer


def _bundle(table: TrainingTable, kind: str, params: dict[str, Any], info: dict[str, Any], blob: bytes) -> ModelBundle:
    return ModelBundle.of_table(
        table, kind=kind, task="anomaly", components=[], params=params, info=info, blobs={"model": blob}
    )


def train_isolation_forest(
    table: TrainingTable,
    split: UnitSplit,
    *,
    target_fpr: float = 0.05,
    trees: int = 200,
    seed: int = 0,
    fault_window: float | None = None,
) -> AnomalyResult:
    """An Isolation Forest on the training units' normal windows (scikit-learn), saved with skops."""
    from sklearn.ensemble import IsolationForest
    from skops.io import dumps

    normal, standardizer = _normal_training(table, split)
    forest = IsolationForest(n_estimators=trees, random_state=seed, n_jobs=1).fit(normal)

    def score(features: np.ndarray) -> np.ndarray:
        return -forest.score_samples(standardizer.transform(features)) if len(features) else np.zeros(0)

    threshold, metrics = _score_split(table, split, score, target_fpr, fault_window)
    bundle = _bundle(
        table,
        "isolation_forest",
        {"trees": trees, "target_fpr": target_fpr, "seed": seed},
        {"threshold": threshold, "standardizer": standardizer.to_dict()},
        dumps(forest),
    )
    bundle.metrics = metrics
    return AnomalyResult(bundle, metrics)


def _autoencoder(width: int, hidden: int, bottleneck: int) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Linear(width, hidden),
        nn.ReLU(),
        nn.Linear(hidden, bottleneck),
        nn.ReLU(),
        nn.Linear(bottleneck, hidden),
        nn.ReLU(),
        nn.Linear(hidden, width),
    )


def train_autoencoder(
    table: TrainingTable,
    split: UnitSplit,
    *,
    target_fpr: float = 0.05,
    bottleneck: int = 8,
    epochs: int = 30,
    seed: int = 0,
    fault_window: float | None = None,
) -> AnomalyResult:
    """A small autoencoder (torch) on the training units' normal windows; its score is the reconstruction error."""
    import torch

    torch.manual_seed(seed)
    normal, standardizer = _normal_training(table, split)
    inputs = torch.from_numpy(normal)
    width = inputs.shape[1]
    hidden = max(bottleneck * 2, min(64, width))
    network = _autoencoder(width, hidden, bottleneck)
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs), generator=generator).split(256):
            loss = ((network(inputs[batch]) - inputs[batch]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    network.eval()

    def score(features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        with torch.no_grad():
            x = torch.from_numpy(standardizer.transform(features))
            return ((network(x) - x) ** 2).mean(dim=1).numpy()

    threshold, metrics = _score_split(table, split, score, target_fpr, fault_window)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: value.numpy() for name, value in network.state_dict().items()})
    bundle = _bundle(
        table,
        "autoencoder",
        {"bottleneck": bottleneck, "hidden": hidden, "epochs": epochs, "target_fpr": target_fpr, "seed": seed},
        {"threshold": threshold, "standardizer": standardizer.to_dict()},
        buffer.getvalue(),
    )
    bundle.metrics = metrics
    return AnomalyResult(bundle, metrics)


class AnomalyPredictor:
    """A loaded detector: anomaly scores of feature rows, and whether each crosses the alarm threshold."""

    def __init__(self, bundle: ModelBundle) -> None:
        bundle.check_features()
        self.bundle = bundle
        self.standardizer = Standardizer.from_dict(bundle.info["standardizer"])
        self.threshold = float(bundle.info["threshold"])
        blob = bundle.blobs["model"]
        if bundle.kind == "isolation_forest":
            from skops.io import get_untrusted_types, loads

            unexpected = [t for t in get_untrusted_types(data=blob) if not t.startswith(("sklearn.", "numpy."))]
            if unexpected:
                raise RegistryError(f"the forest's file holds types other than scikit-learn's: {unexpected}")
            forest = loads(blob, trusted=get_untrusted_types(data=blob))
            self._score = lambda x: -forest.score_samples(x)
        else:
            import torch

            params = bundle.params
            network = _autoencoder(len(bundle.feature_names), int(params["hidden"]), int(params["bottleneck"]))
            with np.load(io.BytesIO(blob), allow_pickle=False) as weights:
                network.load_state_dict({name: torch.from_numpy(weights[name]) for name in weights.files})
            network.eval()

            def reconstruction_error(x: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    tensor = torch.from_numpy(x)
                    return ((network(tensor) - tensor) ** 2).mean(dim=1).numpy()

            self._score = reconstruction_error

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's anomaly score, and whether it is an anomaly."""
        scores = self._score(self.standardizer.transform(features)) if len(features) else np.zeros(0)
        return scores, scores > self.threshold
