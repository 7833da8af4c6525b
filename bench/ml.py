"""Learning on the simulator's fleet: failure prediction, RUL, anomaly detection and scoring on Ray Serve.

Runs on one machine, seeded: days of a simulated fleet with failures (``fleetray.learning.simulated``, the
same windows, warnings, failures and maintenance ``fleetray sim history`` writes to PostgreSQL), a
training table (failure within H = ``--horizon-h`` hours, 24 by default; RUL capped at 30 days; one row
per robot every 10 minutes), split by robot into training, validation and test robots. On a local Ray
with 2 CPUs:

- XGBoost failure-within-H per component (one booster learnt from every part's failures,
  ``pipelines.training.shared_parts``), tuned on Ray Tune (ASHA), measured on the test robots, pooled over
  components at each component's threshold;
- XGBoost and an LSTM for RUL (RMSE in hours, test robots);
- an Isolation Forest and an autoencoder per part on normal windows, the alarm threshold cross-fitted
  over the training and validation robots at ``--target-fpr`` (false-positive rate on the test robots'
  normal windows, detection rate on the windows of the last ``--fault-window-h`` hours before a failure);
- scoring: the two XGBoost models registered and promoted, a fleet of ``--fleet`` robots registered with
  the shards (``--live`` of them reporting a few minutes of telemetry, so they have live features), the
  ``Scorer`` deployment on Ray Serve: one robot's predictions at ``--rate`` requests per second (open loop,
  through the deployment's handle), and the whole fleet at once.

The last line is JSON with ``xgb_rul_rmse``, ``lstm_rul_rmse`` (hours), ``failure_precision``,
``failure_recall``, ``failure_pr_auc``, ``anomaly_fpr``, ``anomaly_detection_rate``, ``tune_trials_per_min``,
``score_p50_ms``, ``score_p99_ms``, ``score_rps``, ``fleet_score_10k_s`` (the whole fleet's scoring, seconds).
``failure_brier`` and ``failure_ece`` (expected calibration error) say how well the failure probabilities
match how often failures follow; ``failure_brier_uncalibrated`` and ``failure_ece_uncalibrated`` say it of
the boosters' own scores, before the model's calibration. Precision and recall count rows;
``failure_precision_interval`` and ``failure_recall_interval`` (and each part's ``precision_interval`` and
``recall_interval``) are 90 % intervals over the test robots resampled with replacement. ``test_failures``,
``test_failures_warned`` and ``test_median_lead_h`` count the test robots' failures as events (how many had an
alarm in the H hours before them, and how early the first came), and ``per_component`` gives every figure per
part, with the failures its model learnt from.

``--quick`` learns from a few hours of a faster-ageing fleet and predicts failure within 6 h: a 24-hour
horizon needs over a day of history, and the simulator takes about 0.2 ms a simulated second for a small
fleet: a day of it alone is 17 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from fleetray.learning.splits import UnitSplit
    from fleetray.learning.table import Events

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TENANT = "bench"
MINUTES_PER_HOUR = 60.0


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def learn(args: argparse.Namespace) -> tuple[dict, dict]:
    """Train and measure every model; return the figures and the two XGBoost bundles to serve."""
    import numpy as np

    from fleetray.learning import split_units
    from fleetray.learning.simulated import simulated_history
    from fleetray.sim import SimConfig, history_start
    from pipelines.training.anomaly import train_autoencoder, train_isolation_forest
    from pipelines.training.lstm import tune_lstm
    from pipelines.training.tuning import tune_xgboost

    started = time.monotonic()
    config = SimConfig(
        tenant_id=TENANT, robots=args.robots, seed=args.seed, wear_rate=args.wear_rate, start=history_start(args.days)
    )
    history = simulated_history(config, int(args.days * 86400))
    table = history.training_table(horizon_h=args.horizon_h, rul_cap_h=args.rul_cap_h, sample_every_min=10.0)
    described = table.describe()
    _log(
        f"history of {args.robots} robots x {args.days} days in {time.monotonic() - started:.0f} s: "
        f"{len(history.failures.time)} failures; table {described['rows']} rows x {described['features']} features"
    )
    split = split_units(table.units, seed=args.seed)
    storage = tempfile.mkdtemp(prefix="fleetray-bench-tune-")
    failure = tune_xgboost(
        table,
        task="failure",
        trials=args.trials,
        max_rounds=args.rounds,
        split=split,
        seed=args.seed,
        storage_path=storage,
    )
    _log(f"failure: {len(failure.trials)} trials in {failure.seconds:.0f} s: {_short(failure.bundle.metrics)}")
    rul = tune_xgboost(
        table,
        task="rul",
        trials=max(2, args.trials // 2),
        max_rounds=args.rounds,
        split=split,
        seed=args.seed,
        storage_path=storage,
    )
    _log(f"rul (xgboost): {_short(rul.bundle.metrics)}")
    lstm = tune_lstm(
        table, trials=args.lstm_trials, max_epochs=args.epochs, split=split, seed=args.seed, storage_path=storage
    )
    _log(f"rul (lstm): {_short(lstm.bundle.metrics)}")
    fault_window = args.fault_window_h * MINUTES_PER_HOUR
    forest = train_isolation_forest(
        table, split, target_fpr=args.target_fpr, trees=args.trees, seed=args.seed, fault_window=fault_window
    )
    autoencoder = train_autoencoder(
        table, split, target_fpr=args.target_fpr, epochs=args.ae_epochs, seed=args.seed, fault_window=fault_window
    )
    _log(f"anomaly: isolation forest {forest.metrics}; autoencoder {autoencoder.metrics}")
    searches = (failure, rul, lstm)
    figures = {
        "xgb_rul_rmse": round(rul.bundle.metrics["rmse"] / MINUTES_PER_HOUR, 2),
        "lstm_rul_rmse": round(lstm.bundle.metrics["rmse"] / MINUTES_PER_HOUR, 2),
        "failure_precision": round(failure.bundle.metrics["precision"], 3),
        "failure_recall": round(failure.bundle.metrics["recall"], 3),
        "failure_pr_auc": round(failure.bundle.metrics["pr_auc"], 3),
        **_intervals(failure.bundle.metrics, prefix="failure_"),
        **_calibration(failure.bundle.metrics),
        "anomaly_fpr": round(forest.metrics["anomaly_fpr"], 3),
        "anomaly_detection_rate": round(forest.metrics["anomaly_detection_rate"], 3),
        "autoencoder_fpr": round(autoencoder.metrics["anomaly_fpr"], 3),
        "autoencoder_detection_rate": round(autoencoder.metrics["anomaly_detection_rate"], 3),
        "tune_trials_per_min": round(60 * sum(len(s.trials) for s in searches) / sum(s.seconds for s in searches), 2),
        "failures": len(history.failures.time),
        "horizon_h": args.horizon_h,
        "rul_cap_h": args.rul_cap_h,
        **_warnings(failure.bundle.metrics, prefix="test_"),
        "per_component": {
            c: {
                **{k: round(v, 3) for k, v in m.items() if k in ("precision", "recall", "pr_auc", "positives")},
                **_intervals(m),
                "ece": round(m["ece"], 4),
                "calibrated": c in failure.bundle.calibration,
                "failures_train": _training_failures(history.failures, table.units, split, c),
                **_warnings(m),
            }
            for c, m in failure.bundle.metrics["components"].items()
        },
        "baseline_rul_rmse": round(
            float(np.sqrt(np.nanmean((table.rul[split.test] - np.nanmean(table.rul[split.train], axis=0)) ** 2)))
            / MINUTES_PER_HOUR,
            2,
        ),
    }
    return figures, {"failure": failure.bundle, "rul": rul.bundle}


def _training_failures(failures: Events, units: np.ndarray, split: UnitSplit, component: str) -> int:
    """How many times ``component`` failed on the training robots: what its model learnt from."""
    import numpy as np

    of_component = failures.unit[failures.component == component]
    return int(np.isin(of_component, np.unique(units[split.train])).sum())


def _warnings(metrics: dict, prefix: str = "") -> dict:
    """The test robots' failures, how many an alarm came before, and how early (hours, median)."""
    lead = metrics["median_lead"]
    return {
        f"{prefix}failures": metrics["failures"],
        f"{prefix}failures_warned": metrics["failures_warned"],
        f"{prefix}median_lead_h": None if lead is None else round(lead / MINUTES_PER_HOUR, 1),
    }


def _intervals(metrics: dict, prefix: str = "") -> dict:
    """90 % intervals of precision and recall over the test robots resampled: how much a few robots decide."""
    return {
        f"{prefix}{name}_interval": [
            None if bound is None else round(bound, 3) for bound in metrics[f"{name}_interval"]
        ]
        for name in ("precision", "recall")
    }


def _calibration(metrics: dict) -> dict:
    """How well the failure probabilities say how often failures follow, before and after calibration."""
    return {
        f"failure_{key}": round(metrics[key], 4)
        for key in ("brier", "ece", "brier_uncalibrated", "ece_uncalibrated")
        if key in metrics
    }


def _short(metrics: dict) -> str:
    return json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items() if k != "components"})


def serve_scores(args: argparse.Namespace, bundles: dict, work: Path) -> dict:
    """Register the models, hold a fleet in the shards, and measure the Scorer deployment."""
    import numpy as np
    import ray
    from ray import serve

    from actors.ingestion import start_ingestion
    from actors.intake import RawMessage
    from actors.router import ShardRouter
    from fleetray.config import load_settings
    from fleetray.objectstore import ObjectStore
    from fleetray.schemas import encode_batch, mqtt_topic
    from fleetray.sim import FleetSimulator, SimConfig
    from fleetray.sim.persist import register_fleet
    from fleetray.storage import Database, EmbeddedPostgres, migrate
    from fleetray.storage.partitions import premake_partitions
    from pipelines.training.registry import register
    from serve_apps.scoring.deployment import Scorer

    embedded = None
    url = os.environ.get("FLEETRAY_DATABASE_URL")
    if not url:
        embedded = EmbeddedPostgres(work / "pg")
        url = embedded.start()
    db = Database(url, schema=f"bench_{uuid.uuid4().hex[:8]}")
    try:
        migrate(db)
        settings = load_settings(database_url=url, database_schema=db.schema, data_dir=work / "data")
        store = ObjectStore.from_settings(settings)
        for bundle in bundles.values():
            register(bundle, db=db, store=store, stage="production")
        now = time.time()
        start = _whole_minute(now - 240)
        fleet = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.fleet, seed=args.seed + 1, start=start))
        register_fleet(db, fleet)
        with db.connect() as conn:
            from datetime import UTC, datetime

            premake_partitions(conn, now=datetime.now(UTC), days_ahead=1)
        ingestion = start_ingestion(db, shards=2, prefix="bench")
        router = ShardRouter(2, prefix="bench")
        # The first robots of the fleet report (a fleet of their own, simulated alone: same ids, so the
        # shards take them as the registered robots).
        reporting = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.live, seed=args.seed + 1, start=start))
        started = time.monotonic()
        for chunk in reporting.run(210, chunk_s=30):
            per_robot: dict[str, list] = {}
            for message in chunk.telemetry.to_messages():
                per_robot.setdefault(message.robot_id, []).append(message)
            batch = [
                RawMessage("telemetry", TENANT, robot, encode_batch(rows), mqtt_topic(TENANT, robot, "telemetry"))
                for robot, rows in per_robot.items()
            ]
            router.deliver(batch)
        _log(f"{args.live} of {args.fleet} robots reported 3.5 minutes in {time.monotonic() - started:.0f} s")
        values = settings.model_dump(mode="json", exclude={"data_dir"})
        values["object_store_url"] = settings.resolved_object_store_url  # replicas find the models where they are
        handle = serve.run(
            Scorer.options(num_replicas=1).bind(values, "bench", ray.get_runtime_context().namespace),
            name="bench-scorer",
            route_prefix=None,
        )
        answers, fleet_seconds, load = asyncio.run(_measure(handle, reporting.robot_ids, args.rate, args.seconds))
        ingestion.stop()
        serve.delete("bench-scorer")
        return {
            "score_p50_ms": round(load["p50_ms"], 1),
            "score_p99_ms": round(load["p99_ms"], 1),
            "score_rps": round(load["rps"], 1),
            "score_errors": load["errors"],
            "fleet_score_10k_s": round(float(np.median(fleet_seconds)), 2),
            "fleet_robots": len(answers),
        }
    finally:
        db.drop_schema()
        if embedded is not None:
            embedded.stop()


def _whole_minute(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch - epoch % 60, UTC)


async def _measure(handle, robot_ids: list[str], rate: float, seconds: float) -> tuple[list, list[float], dict]:
    """The whole fleet scored three times, then single robots at a fixed rate; inside one event loop, as
    Serve's throughput-optimised handles require."""
    fleet_seconds = []
    for _ in range(3):
        began = time.perf_counter()
        answers = await handle.options(multiplexed_model_id=TENANT).fleet.remote(TENANT)
        fleet_seconds.append(time.perf_counter() - began)
    scored = sum(1 for a in answers if a["risk"] is not None)
    _log(f"fleet of {len(answers)} scored ({scored} with a risk) in {[round(s, 2) for s in fleet_seconds]} s")
    return answers, fleet_seconds, await _open_loop(handle, robot_ids, rate, seconds)


async def _open_loop(handle, robot_ids: list[str], rate: float, seconds: float) -> dict:
    """Single-robot requests at a fixed rate (``bench/open_loop.py``), each for a random robot."""
    import random

    from bench.open_loop import offer

    rnd = random.Random(0)
    scorer = handle.options(multiplexed_model_id=TENANT)

    async def one(robot_id: str) -> bool:
        answer = await scorer.robot.remote(TENANT, robot_id)
        return answer is not None and bool(answer["components"])

    for robot_id in robot_ids[:20]:  # warm up: models loaded, batches formed
        await one(robot_id)
    return await offer(rate, seconds, lambda: one(rnd.choice(robot_ids)))


def main() -> None:
    from fleetray.services.serve_ingress import HAPROXY, INGRESSES, apply_serve_environment

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small fleet, few trials: under a minute")
    parser.add_argument("--robots", type=int, default=100, help="simulated robots to learn from")
    parser.add_argument("--days", type=float, default=5.0, help="days of history")
    parser.add_argument("--wear-rate", type=float, default=5.0, help="ageing speed-up of the simulated parts")
    parser.add_argument("--horizon-h", type=float, default=24.0, help="failure within this many hours")
    parser.add_argument("--rul-cap-h", type=float, default=720.0)
    parser.add_argument("--trials", type=int, default=8, help="Tune trials of the failure search")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--lstm-trials", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--trees", type=int, default=200, help="Isolation Forest trees per part")
    parser.add_argument("--ae-epochs", type=int, default=30, help="autoencoder training epochs")
    parser.add_argument("--target-fpr", type=float, default=0.05, help="alarm threshold: this share of normal windows")
    parser.add_argument(
        "--fault-window-h", type=float, default=6.0, help="known faults: windows this close to a failure"
    )
    parser.add_argument("--fleet", type=int, default=10_000, help="robots scored at once")
    parser.add_argument("--live", type=int, default=500, help="of them, robots reporting live telemetry")
    parser.add_argument("--rate", type=float, default=200.0, help="single-robot scoring requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ingress", choices=INGRESSES, default=HAPROXY, help="Serve's data plane (the platform's default: haproxy)"
    )
    args = parser.parse_args()
    if args.quick:
        args.robots, args.days, args.wear_rate, args.horizon_h, args.rul_cap_h = 60, 0.4, 40.0, 6.0, 24.0
        args.trials, args.rounds, args.lstm_trials, args.epochs = 2, 40, 1, 2
        args.trees, args.ae_epochs, args.fault_window_h = 50, 5, 3.0
        args.fleet, args.live, args.seconds = 1000, 30, 5.0
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    serve_environment = apply_serve_environment(args.ingress)  # before Ray starts, as `fleetray up` does
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="fleetray-bench-ml")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fleetray-bench-ml-") as folder:
        figures, bundles = learn(args)
        figures |= serve_scores(args, bundles, Path(folder))
    figures["seconds"] = round(time.monotonic() - began, 1)
    figures["serve_environment"] = serve_environment
    ray.shutdown()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
