"""``fleetray train ...`` and ``fleetray models ...``: tune and register models, move them between stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fleetray.config import get_settings
from fleetray.errors import DataSpecError, FleetrayError

train_app = typer.Typer(help="Train models on Ray Tune and register the best.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: versions, stages, promotion and rollback.", no_args_is_help=True)
console = Console()

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="A data spec (YAML) naming a run-to-failure file's columns, or `platform` for the tenant's history.",
    ),
]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Whose history (with --data platform), and who owns the model.")
]
TrialsOption = Annotated[int, typer.Option(min=1, max=1000, help="Tune trials (ASHA stops poor ones early).")]
DaysOption = Annotated[float, typer.Option(help="History to train on (--data platform).")]
HorizonOption = Annotated[float, typer.Option(help="Failure horizon in hours (--data platform).")]
RulCapOption = Annotated[float, typer.Option(help="RUL cap in hours (--data platform).")]
RegisterOption = Annotated[bool, typer.Option(help="Register the best model.")]
StageOption = Annotated[str | None, typer.Option(help="Stage to register it in (staging, production).")]
NameOption = Annotated[str | None, typer.Option(help="Registry name (default: {task}-{kind}).")]


def _table(data: str, tenant: str | None, days: float, horizon_h: float, rul_cap_h: float) -> Any:
    from fleetray.learning import load_training_table
    from pipelines.training import platform_table

    if data == "platform":
        if tenant is None:
            raise DataSpecError("--data platform trains on a tenant's history: name it with --tenant")
        return platform_table(tenant, days=days, horizon_h=horizon_h, rul_cap_h=rul_cap_h)
    if not Path(data).is_file():
        raise DataSpecError(f"--data {data!r} is neither `platform` nor a data spec file")
    return load_training_table(data)


def _finish(outcome: Any, *, register: bool, tenant: str | None, stage: str | None, name: str | None) -> None:
    metrics = {k: v for k, v in outcome.bundle.metrics.items() if k != "components"}
    console.print(f"best of {len(outcome.trials)} trials in {outcome.seconds:.0f} s: {outcome.best_config}")
    table = Table("component", *[k for k in next(iter(outcome.bundle.metrics["components"].values()), {})])
    for component, figures in outcome.bundle.metrics["components"].items():
        table.add_row(component, *[_figure(v) for v in figures.values()])
    console.print(table)
    console.print("test units:", json.dumps(metrics, default=float))
    if register:
        _register(outcome, tenant=tenant, stage=stage, name=name)


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):  # an interval
        return " to ".join(_figure(v) for v in value)
    return str(value)


def _register(model: Any, *, tenant: str | None, stage: str | None, name: str | None) -> None:
    from pipelines.training import register as register_model

    row = register_model(model, tenant_id=tenant, stage=stage, name=name)
    scope = tenant or "fleet-wide"
    console.print(
        f"registered [bold]{row['name']}[/] version {row['version']} ({scope}, stage {row['stage']}): "
        f"model id {row['model_id']}"
    )


def _train(
    search: Any,
    data: str,
    tenant: str | None,
    days: float,
    horizon_h: float,
    rul_cap_h: float,
    *,
    register: bool,
    stage: str | None,
    name: str | None,
) -> None:
    """Build the table, run ``search`` on it (a Tune search returning its outcome), report and register."""
    try:
        table = _table(data, tenant, days, horizon_h, rul_cap_h)
        console.print(f"training table: {json.dumps(table.describe())}")
        _finish(search(table), register=register, tenant=tenant, stage=stage, name=name)
    except FleetrayError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from err


@train_app.command("xgboost")
def train_xgboost(
    data: DataOption = "platform",
    tenant: TenantOption = None,
    task: Annotated[str, typer.Option(help="failure (within the horizon, per component) or rul.")] = "failure",
    trials: TrialsOption = 8,
    rounds: Annotated[int, typer.Option(min=10, help="Boosting rounds at most.")] = 300,
    days: DaysOption = 30.0,
    horizon_h: HorizonOption = 24.0,
    rul_cap_h: RulCapOption = 720.0,
    seed: int = 0,
    shared_parts: Annotated[
        bool,
        typer.Option(
            "--shared-parts/--separate-parts",
            help="Failure models: learn from every part's failures in one booster, or train each part apart.",
        ),
    ] = True,
    register: RegisterOption = True,
    stage: StageOption = None,
    name: NameOption = None,
) -> None:
    """Tune XGBoost (one booster per component) on Ray Tune, fit the best, measure it on held-back units."""
    from pipelines.training.tuning import tune_xgboost

    def search(table: Any) -> Any:
        return tune_xgboost(
            table, task=task, trials=trials, max_rounds=rounds, seed=seed, shared_parts=shared_parts, verbose=1
        )

    _train(search, data, tenant, days, horizon_h, rul_cap_h, register=register, stage=stage, name=name)


@train_app.command("lstm")
def train_lstm(
    data: DataOption = "platform",
    tenant: TenantOption = None,
    trials: TrialsOption = 4,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs at most per trial.")] = 30,
    days: DaysOption = 30.0,
    horizon_h: HorizonOption = 24.0,
    rul_cap_h: RulCapOption = 720.0,
    seed: int = 0,
    register: RegisterOption = True,
    stage: StageOption = None,
    name: NameOption = None,
) -> None:
    """Tune an LSTM on sequences of feature windows for remaining useful life (GPU when the cluster has one)."""
    from pipelines.training.lstm import tune_lstm

    def search(table: Any) -> Any:
        return tune_lstm(table, trials=trials, max_epochs=epochs, seed=seed, verbose=1)

    _train(search, data, tenant, days, horizon_h, rul_cap_h, register=register, stage=stage, name=name)


@train_app.command("anomaly")
def train_anomaly(
    data: DataOption = "platform",
    tenant: TenantOption = None,
    kind: Annotated[str, typer.Option(help="isolation_forest (scikit-learn) or autoencoder (torch).")] = (
        "isolation_forest"
    ),
    target_fpr: Annotated[
        float, typer.Option(min=0.001, max=0.5, help="Share of normal windows the alarm threshold lets through.")
    ] = 0.05,
    fault_window: Annotated[
        float | None,
        typer.Option(
            help="Detection is measured on rows this close to a failure, in the table's time unit (minutes for "
            "--data platform, the spec's otherwise); default: the horizon."
        ),
    ] = None,
    days: DaysOption = 30.0,
    horizon_h: HorizonOption = 24.0,
    rul_cap_h: RulCapOption = 720.0,
    seed: int = 0,
    register: RegisterOption = True,
    stage: StageOption = None,
    name: NameOption = None,
) -> None:
    """Fit an anomaly detector per part on normal operation, set its alarm on windows of units each fold's
    detectors never saw, and measure it on the test units (false-positive rate on normal rows, detection
    near failures)."""
    from fleetray.learning import split_units
    from pipelines.training.anomaly import train_autoencoder, train_isolation_forest

    trainers = {"isolation_forest": train_isolation_forest, "autoencoder": train_autoencoder}
    try:
        if kind not in trainers:
            raise DataSpecError(f"--kind {kind!r} is not one of {', '.join(trainers)}")
        table = _table(data, tenant, days, horizon_h, rul_cap_h)
        console.print(f"training table: {json.dumps(table.describe())}")
        result = trainers[kind](
            table, split_units(table.units, seed=seed), target_fpr=target_fpr, seed=seed, fault_window=fault_window
        )
        console.print("test units:", json.dumps(result.metrics, default=float))
        if register:
            _register(result.bundle, tenant=tenant, stage=stage, name=name)
    except FleetrayError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from err


@train_app.command("retrain")
def retrain_models(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Whose history, and whose production model.")],
    task: Annotated[str, typer.Option(help="failure or rul.")] = "failure",
    trials: TrialsOption = 8,
    days: DaysOption = 30.0,
    horizon_h: HorizonOption = 24.0,
    rul_cap_h: RulCapOption = 720.0,
    promote: Annotated[bool, typer.Option(help="Promote the candidate if it beats production.")] = True,
    every: Annotated[str | None, typer.Option(help="Retrain again every this long (e.g. 24h); default once.")] = None,
) -> None:
    """Retrain on the latest history; the candidate replaces production only if it does better on the same
    held-back robots (never a worse model automatically)."""
    import time

    from fleetray.cli.durations import parse_duration
    from fleetray.objectstore import ObjectStore
    from fleetray.storage import open_database
    from pipelines.training.retrain import retrain

    interval_s = parse_duration(every).total_seconds() if every else None
    settings = get_settings()
    while True:
        try:
            table = _table("platform", tenant, days, horizon_h, rul_cap_h)
            with open_database(settings) as db:
                result = retrain(
                    table,
                    db=db,
                    store=ObjectStore.from_settings(settings),
                    tenant_id=tenant,
                    task=task,
                    trials=trials,
                    promote=promote,
                )
            row = result["candidate"]
            console.print(
                f"{row['name']} version {row['version']}: {result['why']}; "
                f"{'promoted to production' if result['promoted'] else 'left in ' + row['stage']}"
            )
        except FleetrayError as err:
            console.print(f"[red]error:[/] {err}")
            if interval_s is None:
                raise typer.Exit(1) from err
        if interval_s is None:
            return
        time.sleep(interval_s)


@models_app.command("diagnose")
def diagnose_code(
    error_code: Annotated[str, typer.Argument(help="The error code, e.g. VACUUM_OVERCURRENT.")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Whose fleet.")],
    days: Annotated[float, typer.Option(help="How far back to look.")] = 30.0,
    before_h: Annotated[float, typer.Option(help="Hours before each error compared with normal.")] = 6.0,
    as_json: Annotated[bool, typer.Option("--json", help="The whole report as JSON.")] = False,
) -> None:
    """Root cause of an error code: what differed from normal operation before it, since when, on which robots."""
    from fleetray.storage import open_database
    from pipelines.training.rootcause import diagnose

    try:
        with open_database(get_settings()) as db:
            report = diagnose(db, tenant, error_code, days=days, before_h=before_h)
    except FleetrayError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from err
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    console.print(
        f"{error_code}: {report['occurrences']} times on {len(report['robots'])} robots "
        f"({', '.join(report['models'])}) from {report['first_seen']:%Y-%m-%d %H:%M} "
        f"to {report['last_seen']:%Y-%m-%d %H:%M}"
    )
    table = Table("feature", "importance", "before error", "normal", "shift (sd)", "out of range (h before)")
    for finding in report["features"]:
        table.add_row(
            finding["feature"],
            f"{finding['importance']:.3f}",
            str(finding["pre_error_mean"]),
            str(finding["normal_mean"]),
            str(finding["shift_sd"]),
            str(finding["outside_normal_before_error_h"]),
        )
    console.print(table)
    for bag in report["bags"]:
        console.print(f"bag {bag['bag_id']} {bag['robot_id']} {bag['start_time']} {bag['uri']}")


@models_app.command("list")
def list_models(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only what this tenant sees.")] = None,
    name: str | None = None,
    stage: str | None = None,
) -> None:
    """Model versions with their stage, scope and test metrics."""
    from fleetray.storage import models as model_rows
    from fleetray.storage import open_database

    with open_database(get_settings()) as db, db.connect() as conn:
        rows = model_rows.list_models(conn, tenant_id=tenant, name=name, stage=stage)
    table = Table("id", "name", "version", "scope", "stage", "features", "created", "metrics")
    for row in rows:
        figures = {k: round(v, 4) for k, v in row["metrics"].items() if isinstance(v, float)}
        table.add_row(
            str(row["model_id"]),
            row["name"],
            str(row["version"]),
            row["tenant_id"] or "fleet",
            row["stage"],
            row["feature_version"],
            f"{row['created_at']:%Y-%m-%d %H:%M}",
            json.dumps(figures),
        )
    console.print(table)


@models_app.command("promote")
def promote(
    model_id: Annotated[int, typer.Argument(help="The version's model id (fleetray models list).")],
    stage: Annotated[str, typer.Option(help="staging, production or archived.")] = "production",
    reason: str = "",
) -> None:
    """Move a version to a stage; promoting to production archives the version it replaces in its scope."""
    from fleetray.storage import models as model_rows
    from fleetray.storage import open_database

    try:
        with open_database(get_settings()) as db, db.connect() as conn:
            row = model_rows.set_stage(conn, model_id, stage, changed_by="cli", reason=reason)
    except FleetrayError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from err
    console.print(f"{row['name']} version {row['version']} ({row['tenant_id'] or 'fleet'}) is now {row['stage']}")


@models_app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="The model's name, e.g. failure-xgboost.")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="The tenant's own model; default fleet-wide.")
    ] = None,
) -> None:
    """Put back in production the version that was there before the current one."""
    from fleetray.storage import models as model_rows
    from fleetray.storage import open_database

    try:
        with open_database(get_settings()) as db, db.connect() as conn:
            row = model_rows.rollback(conn, name, tenant, changed_by="cli")
    except FleetrayError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from err
    console.print(f"{row['name']} version {row['version']} ({row['tenant_id'] or 'fleet'}) is back in production")
