"""A PyTorch LSTM for remaining useful life over sequences of feature windows, tuned on Ray Tune.

Each labelled row becomes the sequence of its unit's last ``seq_len`` rows (the first row repeated where
the unit's history is shorter), standardised with statistics of the training units only. One network
predicts every component's RUL at once (a masked loss skips the unknown labels), scaled by the cap.
Trials run on a GPU each where the cluster has them, else on a CPU each.
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import tune
from torch import nn

from fleetray.errors import TrainingDataError
from fleetray.learning.metrics import rmse, rul_score
from fleetray.learning.splits import Standardizer, UnitSplit, split_units
from fleetray.learning.table import TrainingTable
from pipelines.training.bundle import ModelBundle
from pipelines.training.tuning import TuneOutcome, cluster_gpus, ensure_ray, run_search, trial_rows
from pipelines.training.xgb import score_scale

DEFAULT_CONFIG: dict[str, Any] = {"hidden": 64, "layers": 1, "dropout": 0.0, "lr": 3e-3, "seq_len": 30, "batch": 256}


def lstm_space() -> dict[str, Any]:
    """The LSTM's search space."""
    return {
        "hidden": tune.choice([32, 64, 128]),
        "layers": tune.choice([1, 2]),
        "dropout": tune.choice([0.0, 0.2]),
        "lr": tune.loguniform(1e-3, 1e-2),
        "seq_len": tune.choice([20, 30, 40]),
        "batch": tune.choice([128, 256]),
    }


class RulLstm(nn.Module):
    """LSTM over the sequence, a linear head on its last state, one RUL (as a share of the cap) per component."""

    def __init__(self, inputs: int, outputs: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, outputs), nn.Sigmoid())

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(sequences)
        return self.head(states[:, -1])


@dataclass
class Sequences:
    """Every labelled row's window of rows: ``index`` (rows, seq_len) into the table, targets and their mask."""

    rows: np.ndarray
    index: np.ndarray
    targets: np.ndarray
    mask: np.ndarray


def sequences(table: TrainingTable, rows: np.ndarray, seq_len: int) -> Sequences:
    """The windows ending at each of ``rows`` (a mask) that has a RUL label for some component."""
    order = np.lexsort((table.times, table.units))
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    sorted_units = table.units[order]
    unit_start = np.r_[0, np.flatnonzero(sorted_units[1:] != sorted_units[:-1]) + 1]
    start_of = np.repeat(unit_start, np.diff(np.r_[unit_start, len(order)]))
    chosen = np.flatnonzero(rows & np.isfinite(table.rul).any(axis=1))
    ends = position[chosen]
    steps = ends[:, None] - np.arange(seq_len - 1, -1, -1)[None, :]
    steps = np.maximum(steps, start_of[ends][:, None])
    targets = np.nan_to_num(table.rul[chosen] / table.policy.rul_cap, nan=0.0).astype(np.float32)
    return Sequences(chosen, order[steps], targets, np.isfinite(table.rul[chosen]).astype(np.float32))


def _device(use_gpu: bool) -> torch.device:
    return torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")


def _predict(
    model: RulLstm, features: np.ndarray, index: np.ndarray, device: torch.device, batch: int = 2048
) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for first in range(0, len(index), batch):
            chunk = torch.from_numpy(features[index[first : first + batch]]).to(device)
            out.append(model(chunk).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.head[1].out_features), np.float32)


def _validation_rmse(table: TrainingTable, predicted: np.ndarray, data: Sequences) -> dict[str, Any]:
    per_component = {}
    cap, scale = table.policy.rul_cap, score_scale(table)
    for j, component in enumerate(table.components):
        known = data.mask[:, j] > 0
        if known.any():
            actual = table.rul[data.rows[known], j]
            value = predicted[known, j] * cap
            per_component[component] = {"rmse": rmse(value, actual), "score": rul_score(value / scale, actual / scale)}
    mean = float(np.mean([c["rmse"] for c in per_component.values()])) if per_component else float("nan")
    return {"components": per_component, "mean_rmse": mean}


def train_lstm(
    table: TrainingTable,
    split: UnitSplit,
    config: dict[str, Any],
    *,
    epochs: int,
    seed: int = 0,
    use_gpu: bool = False,
    on_epoch: Any = None,
    fit_rows: np.ndarray | None = None,
) -> tuple[RulLstm, Standardizer, dict[str, Any]]:
    """Train on the training units (or ``fit_rows``), scoring the validation units after every epoch.

    Raises:
        TrainingDataError: no labelled training rows.
    """
    config = {**DEFAULT_CONFIG, **config}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_rows = split.train if fit_rows is None else fit_rows
    standardizer = Standardizer.fit(table.features[train_rows])
    features = standardizer.transform(table.features)
    train = sequences(table, train_rows, int(config["seq_len"]))
    check = sequences(table, split.validation, int(config["seq_len"]))
    if not len(train.rows):
        raise TrainingDataError("no labelled training rows: no training unit has a known remaining useful life")
    device = _device(use_gpu)
    model = RulLstm(
        features.shape[1], len(table.components), int(config["hidden"]), int(config["layers"]), float(config["dropout"])
    ).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    targets, mask = torch.from_numpy(train.targets).to(device), torch.from_numpy(train.mask).to(device)
    validation: dict[str, Any] = {}
    batch = int(config["batch"])
    for epoch in range(1, epochs + 1):
        model.train()
        shuffled = rng.permutation(len(train.rows))
        for first in range(0, len(train.rows), batch):
            picked = shuffled[first : first + batch]
            inputs = torch.from_numpy(features[train.index[picked]]).to(device)
            error = (model(inputs) - targets[picked]) ** 2 * mask[picked]
            loss = error.sum() / mask[picked].sum().clamp(min=1.0)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if len(check.rows):
            validation = _validation_rmse(table, _predict(model, features, check.index, device), check)
        if on_epoch is not None:
            on_epoch(epoch, validation, model)
    return model, standardizer, validation


def _state_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: value.detach().cpu().numpy() for name, value in model.state_dict().items()})
    return buffer.getvalue()


def bundle_of(table: TrainingTable, model: RulLstm, standardizer: Standardizer, config: dict[str, Any]) -> ModelBundle:
    """The network as a registry-ready bundle (weights as numpy arrays, no pickle)."""
    return ModelBundle.of_table(
        table,
        kind="lstm",
        task="rul",
        components=list(table.components),
        params={**DEFAULT_CONFIG, **config},
        info={"standardizer": standardizer.to_dict()},
        blobs={"weights.npz": _state_bytes(model)},
    )


class LstmPredictor:
    """A loaded LSTM bundle: RUL per component for rows of a training table (each with its history)."""

    def __init__(self, bundle: ModelBundle, *, use_gpu: bool = False) -> None:
        bundle.check_features()
        self.bundle = bundle
        params = bundle.params
        self.device = _device(use_gpu)
        self.model = RulLstm(
            len(bundle.feature_names),
            len(bundle.components),
            int(params["hidden"]),
            int(params["layers"]),
            float(params["dropout"]),
        )
        with np.load(io.BytesIO(bundle.blobs["weights.npz"]), allow_pickle=False) as weights:
            self.model.load_state_dict({name: torch.from_numpy(weights[name]) for name in weights.files})
        self.model.to(self.device)
        self.standardizer = Standardizer.from_dict(bundle.info["standardizer"])

    def predict_table(self, table: TrainingTable, rows: np.ndarray) -> tuple[Sequences, np.ndarray]:
        """RUL (in the table's time unit) of every labelled row among ``rows``, per component."""
        data = sequences(table, rows, int(self.bundle.params["seq_len"]))
        features = self.standardizer.transform(table.features)
        return data, _predict(self.model, features, data.index, self.device) * self.bundle.rul_cap


def test_metrics(table: TrainingTable, split: UnitSplit, bundle: ModelBundle) -> dict[str, Any]:
    """RMSE and the asymmetric score on the test units, per component and pooled."""
    data, predicted = LstmPredictor(bundle).predict_table(table, split.test)
    metrics = _validation_rmse(table, predicted / bundle.rul_cap, data)
    known = data.mask > 0
    actual = table.rul[data.rows][known]
    value = predicted[known]
    scale = score_scale(table)
    return {
        "split": "test",
        "components": metrics["components"],
        "rmse": rmse(value, actual),
        "score": rul_score(value / scale, actual / scale),
    }


def tune_lstm(
    table: TrainingTable,
    *,
    trials: int = 4,
    max_epochs: int = 30,
    seed: int = 0,
    split: UnitSplit | None = None,
    storage_path: str | None = None,
    verbose: int = 0,
) -> TuneOutcome:
    """Search LSTM configurations on Ray Tune (ASHA over epochs), fit the best on training and validation
    units for its best epoch count, and measure it on the test units."""
    ensure_ray()
    split = split or split_units(table.units, seed=seed)
    use_gpu = cluster_gpus() > 0

    def trainable(config: dict[str, Any], table: TrainingTable, split: UnitSplit) -> None:
        torch.set_num_threads(1)

        def report(epoch: int, validation: dict[str, Any], model: RulLstm) -> None:
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / "weights.npz").write_bytes(_state_bytes(model))
                tune.report(
                    {"mean_rmse": validation.get("mean_rmse", float("nan")), "epochs": epoch},
                    checkpoint=tune.Checkpoint.from_directory(folder),
                )

        train_lstm(table, split, config, epochs=max_epochs, seed=seed, use_gpu=use_gpu, on_epoch=report)

    started = time.monotonic()
    results = run_search(
        tune.with_parameters(trainable, table=table, split=split),
        lstm_space(),
        metric="mean_rmse",
        mode="min",
        trials=trials,
        max_t=max_epochs,
        grace_period=max(2, max_epochs // 6),
        seed=seed,
        name=f"lstm-rul-{int(time.time())}",
        storage_path=storage_path,
        verbose=verbose,
        gpu_per_trial=1.0 if use_gpu else 0.0,
    )
    best = results.get_best_result(metric="mean_rmse", mode="min", scope="all")
    frame = best.metrics_dataframe
    epochs = int(frame["epochs"].to_numpy()[np.nanargmin(frame["mean_rmse"].to_numpy())])
    config = dict(best.config)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, standardizer, _ = train_lstm(
        table, split, config, epochs=epochs, seed=seed, use_gpu=use_gpu, fit_rows=split.train | split.validation
    )
    bundle = bundle_of(table, model, standardizer, {**config, "epochs": epochs})
    bundle.metrics = test_metrics(table, split, bundle)
    seconds = time.monotonic() - started
    bundle.info.update(
        units=split.units(table.units),
        data_hash=table.data_hash,
        tune={"trials": trials, "seconds": round(seconds, 1), "trials_per_min": round(60 * trials / seconds, 2)},
        device=str(_device(use_gpu)),
    )
    return TuneOutcome(bundle, config, trial_rows(results, "mean_rmse"), seconds, split)
