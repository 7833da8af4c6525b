"""Remaining useful life on public data: NASA C-MAPSS FD001 (sensor 11 only, as HiMAP ships it).

The training contract as a new user meets it: the column spec ``tests/data/cmapss/fd001_s11.yaml`` and
nothing else. Ray Tune searches XGBoost and the LSTM on the 80 training engines (split by engine into
training and validation; the search's own test engines are put back for the final fit), and both are
measured on the 20 engines of the held-out file, which no trial and no fit saw: RMSE in cycles over
every cycle of those engines, the true RUL capped at the spec's 125 as usual for this set. The baseline
predicts the training engines' mean RUL.

The last line is JSON with ``xgb_rul_rmse_cycles``, ``lstm_rul_rmse_cycles``, ``baseline_rul_rmse_cycles``,
the asymmetric RUL scores ``xgb_rul_score`` and ``lstm_rul_score``, and ``held_out_engines``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "cmapss"
HELD_OUT = "test_FD001_disc_20_mod.csv"


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def measure(args: argparse.Namespace) -> dict:
    """Tune both models on the training engines, then score them on the held-out engines."""
    import numpy as np

    from fleetray.learning import load_spec, load_training_table, split_units
    from fleetray.learning.splits import UnitSplit
    from pipelines.training import lstm, xgb
    from pipelines.training.tuning import tune_xgboost

    spec = DATA / "fd001_s11.yaml"
    training = load_training_table(spec)
    held_out = load_training_table(load_spec(spec, source=HELD_OUT))
    searched = split_units(training.units, seed=args.seed)
    # The held-out file is the test set: the split's test engines join the final fit (the validation
    # engines already do), so the models learn from all 80.
    split = UnitSplit(train=searched.train | searched.test, validation=searched.validation, test=searched.test)
    storage = tempfile.mkdtemp(prefix="fleetray-bench-public-")
    _log(f"training table {training.describe()}; held out: {len(np.unique(held_out.units))} engines")
    boosted = tune_xgboost(
        training,
        task="rul",
        trials=args.trials,
        max_rounds=args.rounds,
        split=split,
        seed=args.seed,
        storage_path=storage,
    )
    _log(f"xgboost: {boosted.best_config}")
    sequenced = lstm.tune_lstm(
        training, trials=args.lstm_trials, max_epochs=args.epochs, split=split, seed=args.seed, storage_path=storage
    )
    _log(f"lstm: {sequenced.best_config}")
    on_held_out = UnitSplit.held_out(len(held_out))
    boosted_figures = xgb.test_metrics(held_out, on_held_out, boosted.bundle)
    sequenced_figures = lstm.test_metrics(held_out, on_held_out, sequenced.bundle)
    actual = held_out.rul[:, 0]
    baseline = float(np.sqrt(np.mean((actual - np.mean(training.rul[:, 0])) ** 2)))
    return {
        "xgb_rul_rmse_cycles": round(boosted_figures["rmse"], 2),
        "lstm_rul_rmse_cycles": round(sequenced_figures["rmse"], 2),
        "baseline_rul_rmse_cycles": round(baseline, 2),
        "xgb_rul_score": round(boosted_figures["score"], 1),
        "lstm_rul_score": round(sequenced_figures["score"], 1),
        "held_out_engines": len(np.unique(held_out.units)),
        "held_out_cycles": len(held_out),
        "xgb_config": boosted.best_config,
        "lstm_config": sequenced.best_config,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few trials and epochs: under a minute")
    parser.add_argument("--trials", type=int, default=8, help="Tune trials of the XGBoost search")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--lstm-trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.trials, args.rounds, args.lstm_trials, args.epochs = 1, 30, 1, 2
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="fleetray-bench-public-rul")
    began = time.monotonic()
    figures = measure(args)
    figures["seconds"] = round(time.monotonic() - began, 1)
    ray.shutdown()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
