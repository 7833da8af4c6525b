"""The ``fleetray`` command line."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fleetray.cli.durations import parse_duration
from fleetray.config import get_settings
from fleetray.errors import ConfigError
from fleetray.plugins import cli_plugins

if TYPE_CHECKING:
    from fleetray.scheduling import ScheduleRequest

console = Console()
app = typer.Typer(help="fleetray: live state, data and plans for fleets of service robots.", no_args_is_help=True)
db_app = typer.Typer(help="The database: migrations and retention.", no_args_is_help=True)
sim_app = typer.Typer(help="The fleet simulator.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants: the customers whose fleets the platform holds.", no_args_is_help=True)
schedule_app = typer.Typer(help="Cleaning schedules: who cleans what and when.", no_args_is_help=True)
mqtt_app = typer.Typer(help="The MQTT broker's logins: robots' per-device credentials.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(mqtt_app, name="mqtt")
app.add_typer(schedule_app, name="schedule")
for _name, _plugin in cli_plugins():
    app.add_typer(_plugin, name=_name)
app.add_typer(sim_app, name="sim")

TenantOption = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")]
RobotsOption = Annotated[int, typer.Option("--robots", "-n", min=1, help="Number of simulated robots.")]
SeedOption = Annotated[int, typer.Option(help="Random seed; the same seed gives the same fleet.")]
WearOption = Annotated[float, typer.Option(help="Ageing speed-up: 1 is realistic, 20 shows failures in hours.")]


@app.callback()
def _configure(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    settings = get_settings()
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("ray", "urllib3", "botocore", "amqtt", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")


def _stop_on_signals() -> None:
    """Ctrl-C and a service manager's SIGTERM both stop the platform cleanly.

    Installed after Ray starts, since ``ray.init`` replaces the SIGTERM handler, and explicitly for
    SIGINT, which a shell's background job inherits as ignored.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)


@app.command()
def up(
    duration: Annotated[str | None, typer.Option(help="Stop after this long (e.g. 10m); default: Ctrl-C.")] = None,
) -> None:
    """Start the platform: database, MQTT broker, Ray and its components (ingestion). Ctrl-C stops it all."""
    from fleetray.services import Platform

    with Platform(get_settings()) as platform:
        _stop_on_signals()
        _print_platform(platform)
        console.print("[green]fleetray is up.[/] Press Ctrl-C to stop.")
        _wait(parse_duration(duration).total_seconds() if duration else None)
    console.print("fleetray stopped.")


@app.command()
def demo(
    robots: RobotsOption = 50,
    tenant: TenantOption = "demo",
    history: Annotated[str, typer.Option(help="Simulated history written before going live.")] = "30m",
    speed: Annotated[float, typer.Option(min=0.1, help="Simulated seconds per wall-clock second.")] = 1.0,
    seed: SeedOption = 7,
    wear_rate: WearOption = 20.0,
    duration: Annotated[str | None, typer.Option(help="Stop after this long; default: Ctrl-C.")] = None,
) -> None:
    """Start the platform and a simulated fleet that reports live; query it with `fleetray robots`."""
    from fleetray.objectstore import ObjectStore
    from fleetray.services import Platform
    from fleetray.sim import FleetSimulator, SimConfig, history_start
    from fleetray.sim.live import MqttPublisher, run_live
    from fleetray.sim.persist import write_history

    started = time.monotonic()
    settings = get_settings()
    history_length = parse_duration(history).total_seconds()
    with Platform(settings) as platform:
        _stop_on_signals()
        assert platform.db is not None
        store = ObjectStore.from_settings(settings)
        history_start_at = history_start(history_length / 86400)
        history_s = int((datetime.now(UTC) - history_start_at).total_seconds())  # live picks up at "now"
        sim = FleetSimulator(
            SimConfig(tenant_id=tenant, robots=robots, seed=seed, wear_rate=wear_rate, start=history_start_at)
        )
        with console.status(f"writing {history} of history for {robots} robots..."):
            report = write_history(sim, platform.db, store, history_s)
        _print_platform(platform)
        if "api" in platform.components:
            from fleetray.storage.api_keys import create_key

            with platform.db.connect() as conn:
                token = create_key(conn, tenant, "admin", description="fleetray demo").token
            console.print(f"REST API key of tenant [bold]{tenant}[/] (admin, shown once; try it at /docs):")
            typer.echo(token)
        console.print(
            f"[green]Demo ready in {time.monotonic() - started:.1f} s:[/] {robots} robots of tenant "
            f"[bold]{tenant}[/], {report.telemetry_rows:,} samples of history; now live at {speed:g}x. "
            f"Try [bold]fleetray robots -t {tenant}[/] in another terminal. Ctrl-C stops."
        )
        # Robots report over MQTT; the ingestors and fleet shards persist what they send.
        assert platform.mqtt_url is not None
        publisher = MqttPublisher(platform.mqtt_url, client_id=f"fleetray-demo-{tenant}")
        try:
            run_live(
                sim, [publisher], speed=speed, duration_s=parse_duration(duration).total_seconds() if duration else None
            )
        except KeyboardInterrupt:
            console.print("stopping...")
        finally:
            publisher.close()
    console.print("fleetray demo stopped.")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the migrations the database lacks (safe to run again)."""
    from fleetray.storage import migrate, open_database

    with open_database(get_settings(), apply_migrations=False) as db:
        applied = migrate(db)
    if applied:
        for migration in applied:
            console.print(f"applied {migration.version:04d}_{migration.name}")
    else:
        console.print("the database is up to date")


@db_app.command("retention")
def db_retention(
    retention: Annotated[str | None, typer.Option(help="Keep this much raw telemetry (default: the setting).")] = None,
) -> None:
    """Drop raw telemetry partitions past retention (their per-minute aggregates are kept)."""
    from fleetray.storage import open_database
    from fleetray.storage.partitions import premake_partitions
    from fleetray.storage.retention import drop_expired_partitions

    settings = get_settings()
    days = parse_duration(retention).total_seconds() / 86400 if retention else settings.telemetry_retention_days
    with open_database(settings) as db, db.connect() as conn:
        now = datetime.now(UTC)
        dropped = drop_expired_partitions(conn, now=now, retention_days=days)
        premake_partitions(conn, now=now, days_ahead=settings.partition_premake_days)
    console.print(f"dropped {len(dropped)} partition(s): {', '.join(dropped) or 'none past retention'}")


@sim_app.command("history")
def sim_history(
    robots: RobotsOption = 50,
    tenant: TenantOption = "demo",
    days: Annotated[float, typer.Option(min=0.001, help="Days of history, ending now.")] = 1.0,
    seed: SeedOption = 7,
    wear_rate: WearOption = 1.0,
    lake: Annotated[bool, typer.Option(help="Also write the Parquet lake and ground truth.")] = True,
) -> None:
    """Write days of simulated history to the database and the Parquet lake, as fast as possible."""
    from fleetray.objectstore import ObjectStore
    from fleetray.sim import FleetSimulator, SimConfig, history_start
    from fleetray.sim.persist import write_history
    from fleetray.storage import open_database

    settings = get_settings()
    start = history_start(days)
    seconds = int((datetime.now(UTC) - start).total_seconds())
    sim = FleetSimulator(SimConfig(tenant_id=tenant, robots=robots, seed=seed, wear_rate=wear_rate, start=start))
    started = time.monotonic()
    progress = Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
    )
    with open_database(settings) as db, progress:
        task = progress.add_task("history", total=seconds)
        store = ObjectStore.from_settings(settings) if lake else None
        report = write_history(sim, db, store, seconds, on_progress=lambda s: progress.advance(task, s))
    elapsed = time.monotonic() - started
    console.print(
        f"{report.telemetry_rows:,} telemetry samples, {report.events:,} events, {report.task_events:,} task events, "
        f"{report.maintenance} maintenance records, {report.failures} failures in {elapsed:.1f} s "
        f"({report.telemetry_rows / elapsed:,.0f} samples/s)"
    )
    for key in report.ground_truth_files:
        console.print(f"ground truth: {settings.resolved_object_store_url}/{key}")


@sim_app.command("live")
def sim_live(
    robots: RobotsOption = 50,
    tenant: TenantOption = "demo",
    speed: Annotated[float, typer.Option(min=0.1, help="Simulated seconds per wall-clock second.")] = 1.0,
    seed: SeedOption = 7,
    wear_rate: WearOption = 1.0,
    mqtt_url: Annotated[str | None, typer.Option(help="Publish to this broker (default: the running one).")] = None,
    duration: Annotated[str | None, typer.Option(help="Stop after this long; default: Ctrl-C.")] = None,
) -> None:
    """Publish a simulated fleet's telemetry, events and tasks over MQTT, as robots would."""
    from fleetray.services import read_state
    from fleetray.sim import FleetSimulator, SimConfig
    from fleetray.sim.live import MqttPublisher, run_live
    from fleetray.sim.persist import utc_now_whole_second

    settings = get_settings()
    state = read_state(settings.data_dir)
    url = mqtt_url or settings.mqtt_url or (state.mqtt_url if state else None)
    if url is None:
        raise ConfigError("no MQTT broker to publish to: start `fleetray up`, or pass --mqtt-url / FLEETRAY_MQTT_URL")
    sim = FleetSimulator(
        SimConfig(tenant_id=tenant, robots=robots, seed=seed, wear_rate=wear_rate, start=utc_now_whole_second())
    )
    publisher = MqttPublisher(url, client_id=f"fleetray-sim-{tenant}")
    console.print(f"publishing {robots} robots to {url} at {speed:g}x; Ctrl-C stops")
    try:
        run_live(
            sim, [publisher], speed=speed, duration_s=parse_duration(duration).total_seconds() if duration else None
        )
    except KeyboardInterrupt:
        pass
    finally:
        publisher.close()
    console.print(f"published {publisher.published:,} messages")


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="Lower-case letters, digits and dashes, e.g. acme-cleaning.")],
    name: Annotated[str, typer.Option(help="The customer's name.")],
) -> None:
    """Add a tenant (or rename one). Then issue its first key: fleetray keys create -t ID --role admin."""
    from pydantic import ValidationError

    from fleetray.inventory import TenantRecord
    from fleetray.storage import open_database
    from fleetray.storage.fleet import upsert_tenant

    try:
        record = TenantRecord(tenant_id=tenant_id, name=name)
    except ValidationError as err:
        raise typer.BadParameter("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in err.errors())) from None
    with open_database(get_settings()) as db, db.connect() as conn:
        upsert_tenant(conn, record)
    console.print(
        f"tenant {tenant_id} ({name}) is ready; issue its first key with "
        f"[bold]fleetray keys create -t {tenant_id} --role admin[/]"
    )


@tenants_app.command("list")
def tenants_list() -> None:
    """Every tenant and its number of robots."""
    from fleetray.storage import open_database
    from fleetray.storage.fleet import list_tenants

    with open_database(get_settings()) as db, db.connect() as conn:
        tenants = list_tenants(conn)
    table = Table("tenant", "name", "robots")
    for tenant in tenants:
        table.add_row(tenant["tenant_id"], tenant["name"], f"{tenant['robots']:,}")
    console.print(table if tenants else "no tenants yet: fleetray tenants create ID --name NAME")


@mqtt_app.command("auth-files")
def mqtt_auth_files(
    directory: Annotated[Path, typer.Argument(help="Where to write `passwd` and `acl`.")],
    platform_user: Annotated[str, typer.Option(help="The login fleetray's ingestors use.")] = "fleetray",
    platform_password: Annotated[
        str,
        typer.Option(
            envvar="FLEETRAY_MQTT_PLATFORM_PASSWORD",
            prompt=True,
            hide_input=True,
            help="Its password (or FLEETRAY_MQTT_PLATFORM_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Write a Mosquitto password file and ACL: each robot may use only its own topics.

    Point Mosquitto's `password_file` and `acl_file` at them (with `allow_anonymous false`), give
    the ingestors the platform login in FLEETRAY_MQTT_URL (mqtt://fleetray:PASSWORD@host:1883), and
    write the files again after registering robots (send Mosquitto a SIGHUP to reload them).
    """
    from fleetray.storage import open_database
    from fleetray.storage.credentials import mosquitto_acl, mosquitto_password_file

    with open_database(get_settings()) as db, db.connect() as conn:
        passwords = mosquitto_password_file(conn, {platform_user: platform_password})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "passwd").write_text(passwords)
    (directory / "passwd").chmod(0o600)
    (directory / "acl").write_text(mosquitto_acl([platform_user]))
    console.print(f"wrote {directory / 'passwd'} ({passwords.count(chr(10)):,} logins) and {directory / 'acl'}")


@schedule_app.command("solve")
def schedule_solve(
    request_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="A schedule request (JSON), or a classic routing instance (Solomon, VRPLIB).",
        ),
    ],
    method: Annotated[str, typer.Option(help="optimize (OR-Tools) or greedy (the baseline).")] = "optimize",
    file_format: Annotated[str, typer.Option("--format", help="auto (by content), json, solomon or vrplib.")] = "auto",
    time_limit: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds the optimiser may take (default: the request's).")
    ] = None,
    gantt: Annotated[Path | None, typer.Option(help="Write the plan as a Gantt chart (HTML).")] = None,
    output: Annotated[Path | None, typer.Option("--json", help="Write the plan as JSON.")] = None,
) -> None:
    """Plan a schedule request and print it: each robot's tasks, what was dropped and why."""
    from pydantic import ValidationError

    from fleetray.scheduling import ScheduleRequestError, solve
    from fleetray.scheduling.classic import ClassicFormatError
    from fleetray.scheduling.gantt import gantt_html

    if method not in ("optimize", "greedy"):
        raise typer.BadParameter(f"method must be optimize or greedy, not {method!r}")
    try:
        request = _read_request(request_file, file_format)
        if time_limit is not None:
            request = request.model_copy(
                update={"options": request.options.model_copy(update={"time_limit_s": time_limit})}
            )
        plan = solve(request, method=method)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5])
        raise typer.BadParameter(f"{request_file}: {problems}") from None
    except ClassicFormatError as err:
        raise typer.BadParameter(str(err)) from None
    except ScheduleRequestError as err:
        raise typer.BadParameter(f"{request_file}: {err}") from None
    table = Table("robot", "start", "end", "task", "location", "battery", title=f"plan ({plan.solver})")
    for itinerary in plan.itineraries:
        for stop in itinerary.stops:
            if stop.kind in ("task", "charge"):
                table.add_row(
                    itinerary.robot_id,
                    _clock(stop.start_s),
                    _clock(stop.end_s),
                    stop.task_id or "charging",
                    stop.location,
                    f"{stop.battery_soc:.0%}" if stop.battery_soc is not None else "",
                )
    console.print(table)
    for dropped in plan.dropped:
        console.print(f"[yellow]dropped[/] {dropped.task_id}: {dropped.reason}")
    kpis = plan.kpis
    console.print(
        f"{kpis.tasks_planned} planned, {kpis.tasks_dropped} dropped, {kpis.robots_used} robots, "
        f"{kpis.charging_stops} charging stops, {kpis.distance_m / 1000:.2f} km; objective "
        f"{plan.objective:g}{_bound_note(plan.lower_bound, plan.objective)}; "
        f"solved in {plan.solve_time_s:.1f} s"
    )
    if gantt is not None:
        gantt.write_text(gantt_html(plan, title=request_file.stem))
        console.print(f"Gantt chart: {gantt}")
    if output is not None:
        output.write_text(plan.model_dump_json(indent=2))


def _read_request(path: Path, file_format: str) -> ScheduleRequest:
    """A request from JSON, or from a classic instance; ``auto`` takes JSON when the file starts with ``{``."""
    from fleetray.scheduling import ScheduleRequest
    from fleetray.scheduling.classic import FORMATS, read_instance

    if file_format not in ("auto", "json", *FORMATS):
        raise typer.BadParameter(f"--format must be auto, json, {', '.join(FORMATS)}; not {file_format!r}")
    if file_format == "json" or (file_format == "auto" and path.read_bytes()[:64].lstrip().startswith(b"{")):
        return ScheduleRequest.model_validate_json(path.read_bytes())
    return read_instance(path, None if file_format == "auto" else file_format)  # type: ignore[arg-type]


def _bound_note(bound: float | None, objective: float) -> str:
    if bound is None:
        return ""
    gap = (objective - bound) / objective * 100 if objective else 0.0
    return f" (proven lower bound {bound:g}, at most {gap:.1f} % from optimal)"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@keys_app.command("create")
def keys_create(
    tenant: TenantOption,
    role: Annotated[str, typer.Option(help="admin, operator, planner, viewer or device.")],
    robot: Annotated[str | None, typer.Option(help="The robot a device key belongs to.")] = None,
    expires_in: Annotated[str | None, typer.Option(help="Lifetime such as 90d; none: until revoked.")] = None,
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Issue an API key. The key is printed once: it is stored only as a hash."""
    from fleetray.storage import open_database
    from fleetray.storage.api_keys import create_key

    try:
        expires_at = datetime.now(UTC) + parse_duration(expires_in) if expires_in else None
        with open_database(get_settings()) as db, db.connect() as conn:
            issued = create_key(conn, tenant, role, robot_id=robot, description=description, expires_at=expires_at)
    except (ConfigError, ValueError) as err:
        raise typer.BadParameter(str(err)) from err
    console.print(
        f"key {issued.key.key_id} ({issued.key.role}) for tenant {tenant}"
        + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "")
    )
    console.print("Store it now; it cannot be shown again:")
    typer.echo(issued.token)


@keys_app.command("list")
def keys_list(tenant: TenantOption) -> None:
    """A tenant's API keys (never their secrets)."""
    from fleetray.storage import open_database
    from fleetray.storage.api_keys import list_keys

    with open_database(get_settings()) as db, db.connect() as conn:
        keys = list_keys(conn, tenant)
    table = Table(title=f"API keys of {tenant}")
    for column in ("key", "role", "state"):  # never cut: these identify the key and say if it works
        table.add_column(column, no_wrap=True)
    for column in ("robot", "created", "expires", "last used", "description"):
        table.add_column(column)
    now = datetime.now(UTC)
    for key in keys:
        state = "revoked" if key.revoked_at else "expired" if not key.usable_at(now) else "active"
        table.add_row(
            key.key_id,
            key.role,
            state,
            key.robot_id or "",
            f"{key.created_at:%Y-%m-%d}",
            f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never",
            _ago(key.last_used_at) if key.last_used_at else "never",
            key.description,
        )
    console.print(table if keys else f"tenant {tenant!r} has no API keys")


@keys_app.command("revoke")
def keys_revoke(tenant: TenantOption, key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key at once."""
    from fleetray.storage import open_database
    from fleetray.storage.api_keys import revoke_key

    with open_database(get_settings()) as db, db.connect() as conn:
        revoked = revoke_key(conn, tenant, key_id)
    if not revoked:
        raise typer.BadParameter(f"tenant {tenant!r} has no active key {key_id!r}")
    console.print(f"key {key_id} revoked")


@app.command()
def robots(tenant: TenantOption = "demo", site: Annotated[str | None, typer.Option(help="One site.")] = None) -> None:
    """List a tenant's robots with their latest reported state."""
    from fleetray.storage import open_database
    from fleetray.storage.fleet import list_robots
    from fleetray.storage.telemetry import latest_telemetry

    with open_database(get_settings()) as db, db.connect() as conn:
        fleet = list_robots(conn, tenant, site_id=site)
        latest = {
            row["robot_id"]: row for row in latest_telemetry(conn, tenant, since=datetime.now(UTC) - timedelta(days=1))
        }
    table = Table(
        "robot",
        "manufacturer",
        "model",
        "site",
        "status",
        "battery",
        "last seen",
        title=f"robots of {tenant}",
    )
    for robot in fleet:
        state = latest.get(robot["robot_id"], {})
        seen = state.get("ts")
        table.add_row(
            robot["robot_id"],
            robot["manufacturer"],
            robot["model"],
            robot["site_id"] or "",
            state.get("status", "-"),
            f"{state['battery_soc']:.0%}" if state.get("battery_soc") is not None else "-",
            _ago(seen) if seen else "never",
        )
    console.print(
        table if fleet else f"tenant {tenant!r} has no robots (run `fleetray demo` or `fleetray sim history`)"
    )


@app.command()
def report(
    tenant: TenantOption = "demo",
    week: Annotated[
        str, typer.Option(help="An ISO week (2026-W48), 'last' (the last full week) or 'current' (so far).")
    ] = "last",
    out: Annotated[Path, typer.Option(help="Folder to write the HTML and PDF into.")] = Path("."),
) -> None:
    """Make a tenant's weekly fleet report (HTML and PDF), store it, and write it to a folder."""
    from fleetray.errors import ReportError
    from fleetray.objectstore import ObjectStore
    from fleetray.reports import ReportWeek, generate_weekly_report
    from fleetray.storage import open_database

    settings = get_settings()
    try:
        chosen = ReportWeek.parse(week, now=datetime.now(UTC))
    except ReportError as err:
        raise typer.BadParameter(str(err), param_hint="--week") from None
    store = ObjectStore.from_settings(settings)
    with open_database(settings) as db:
        try:
            made = generate_weekly_report(db, store, tenant, chosen)
        except ReportError as err:
            raise typer.BadParameter(str(err), param_hint="--tenant") from None
    out.mkdir(parents=True, exist_ok=True)
    figures = made.figures
    for key in (made.html_key, made.pdf_key):
        path = out / f"{tenant}-{figures.week}{Path(key).suffix}"
        path.write_bytes(store.get(key))
        console.print(f"wrote {path}")
    console.print(
        f"{figures.tenant_name}, {figures.week}{'' if figures.complete else ' so far'}: {figures.robots} robots, "
        f"utilisation {figures.utilisation:.0%}, {figures.cleaned_m2:,.0f} m² cleaned, "
        f"{figures.downtime_h:,.1f} h down, {sum(a.raised for a in figures.alerts)} alerts, "
        f"{len(figures.components_due)} components due"
    )


@app.command()
def telemetry(
    robot: Annotated[str, typer.Argument(help="Robot id.")],
    tenant: TenantOption = "demo",
    since: Annotated[str, typer.Option(help="How far back, e.g. 10m, 2h, 1d.")] = "10m",
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
) -> None:
    """Show a robot's latest stored telemetry samples."""
    from fleetray.storage import open_database
    from fleetray.storage.telemetry import read_telemetry

    now = datetime.now(UTC)
    with open_database(get_settings()) as db, db.connect() as conn:
        rows = read_telemetry(
            conn, tenant, robot, start=now - parse_duration(since), end=now + timedelta(minutes=5), limit=1_000_000
        )
    rows = rows[-limit:]
    table = Table(
        "time (UTC)",
        "seq",
        "status",
        "battery",
        "x",
        "y",
        "speed",
        "main brush A",
        "vacuum A",
        title=f"{tenant}/{robot}, last {len(rows)} samples",
    )
    for row in rows:
        parts = row["components"]
        table.add_row(
            f"{row['ts']:%Y-%m-%d %H:%M:%S}",
            str(row["seq"]),
            row["status"],
            f"{row['battery_soc']:.1%}" if row["battery_soc"] is not None else "-",
            _num(row["x"]),
            _num(row["y"]),
            _num(row["linear_velocity"]),
            _num(parts.get("main_brush", {}).get("current_a")),
            _num(parts.get("vacuum", {}).get("current_a")),
        )
    console.print(table if rows else f"no telemetry for {tenant}/{robot} in the last {since}")


@app.command()
def status() -> None:
    """Show what is running and what the database holds."""
    from fleetray.mqtt import broker_reachable
    from fleetray.services import read_state
    from fleetray.storage import open_database
    from fleetray.storage.dead_letters import count_dead_letters
    from fleetray.storage.fleet import list_tenants
    from fleetray.storage.partitions import list_partitions

    settings = get_settings()
    state = read_state(settings.data_dir)
    table = Table("component", "where", "state", title="fleetray status")
    mqtt_url = settings.mqtt_url or (state.mqtt_url if state else None)
    table.add_row(
        "platform",
        f"pid {state.pid} since {state.started_at}" if state else "-",
        "[green]up[/]" if state else "not running (fleetray up)",
    )
    with open_database(settings) as db, db.connect() as conn:
        partitions = list_partitions(conn)
        recent = conn.execute("SELECT count(*) FROM telemetry WHERE ts > now() - interval '5 minutes'").fetchone()[0]
        table.add_row(
            "database",
            db.host,
            f"[green]up[/], {len(partitions)} partitions ({partitions[0]} .. {partitions[-1]})"
            if partitions
            else "[green]up[/]",
        )
        table.add_row("telemetry", "last 5 minutes", f"{recent:,} samples")
        for tenant in list_tenants(conn):
            table.add_row("tenant", tenant["tenant_id"], f"{tenant['robots']} robots")
        dead = count_dead_letters(conn)
        table.add_row("dead letters", "by reason", ", ".join(f"{k}: {v}" for k, v in dead.items()) or "none")
    if mqtt_url:
        table.add_row("mqtt", mqtt_url, "[green]up[/]" if broker_reachable(mqtt_url) else "[red]unreachable[/]")
    table.add_row("ray", (state.ray_address if state else None) or settings.ray_address or "-", "")
    if state and state.ray_address:
        for name, where, figures in _component_rows(state.ray_address):
            table.add_row(name, where, figures)
    table.add_row("object store", settings.resolved_object_store_url, "")
    console.print(table)


def _component_rows(ray_address: str) -> list[tuple[str, str, str]]:
    """Health of the running platform components, read from their actors."""
    if (Path.home() / ".ray" / "auth_token").exists():
        # A cluster started by ray.init() requires its token; Ray reads the mode when it is imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray

    from fleetray.plugins import platform_components

    try:
        ray.init(address=ray_address, namespace="fleetray", log_to_driver=False, logging_level=logging.WARNING)
    except Exception as err:  # the cluster may be gone between the state file and now
        return [("components", ray_address, f"[red]unreachable[/]: {err}")]
    try:
        return [row for component in platform_components() for row in component.status_rows()]
    finally:
        ray.shutdown()


def _print_platform(platform: object) -> None:
    settings = get_settings()
    table = Table("component", "where", title="fleetray")
    table.add_row("database", platform.db.host if platform.db else "-")
    table.add_row("mqtt", platform.mqtt_url or "-")
    table.add_row("ray", platform.ray_address or "-")
    for name, running in platform.components.items():
        table.add_row(name, running.describe())
    table.add_row("object store", settings.resolved_object_store_url)
    table.add_row("data dir", str(settings.data_dir))
    console.print(table)


def _wait(seconds: float | None) -> None:
    stop = threading.Event()
    try:
        stop.wait(seconds) if seconds is not None else stop.wait()
    except KeyboardInterrupt:
        console.print("stopping...")


def _ago(moment: datetime) -> str:
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
