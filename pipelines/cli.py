"""``fleetray bags ...``: process recorded bags, scan a prefix for new ones, search the index."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fleetray.config import Settings, get_settings

app = typer.Typer(help="Recorded ROS bags: decode, index and search.", no_args_is_help=True)
console = Console()


def _store_url(settings: Settings) -> str:
    from fleetray.objectstore import ObjectStore

    return ObjectStore.from_settings(settings).url


def _ray_if_wanted(workers: int) -> None:
    if workers > 1:
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)


@app.command("process")
def process(
    uri: Annotated[
        str, typer.Argument(help="A bag: a .bag, .mcap or .db3 file or a rosbag2 directory (file:// or s3://).")
    ],
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Default: from bags/{tenant}/... in the path.")
    ] = None,
    trigger: Annotated[str | None, typer.Option(help="What made the robot record it (default: from the bag).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Process it again if it failed before.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Ray workers for a large bag's parts (1: this process).")] = 1,
) -> None:
    """Decode a bag into Parquet, media and features, and index it (once per content: a repeat is skipped)."""
    from fleetray.storage import open_database
    from pipelines.bags.process import BagProcessingError, process_bag

    settings = get_settings()
    _ray_if_wanted(workers)
    try:
        with open_database(settings) as db:
            outcome = process_bag(
                db, uri, f"{_store_url(settings)}/decoded", tenant_id=tenant, trigger=trigger, retry_failed=retry_failed
            )
    except BagProcessingError as err:
        raise typer.BadParameter(str(err)) from err
    colour = {"done": "green", "failed": "red", "skipped": "yellow"}[outcome.status]
    console.print(f"[{colour}]{outcome.status}[/] bag {outcome.bag_id} ({outcome.seconds:.1f} s) {outcome.error or ''}")
    if outcome.status == "failed":
        raise typer.Exit(1)


@app.command("scan")
def scan(
    uri: Annotated[str | None, typer.Argument(help="Where to look; default: the object store's bags/ prefix.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Default: from each bag's path.")] = None,
    every: Annotated[float, typer.Option(min=0, help="Scan again every this many seconds (0: once).")] = 0.0,
    workers: Annotated[
        int, typer.Option(min=1, help="Ray workers: bags processed at once, and their parts (1: this process).")
    ] = 1,
) -> None:
    """Process every bag not seen before under a prefix; bad bags are marked failed and the scan goes on."""
    from fleetray.storage import open_database
    from pipelines.bags.location import BagNotFoundError
    from pipelines.bags.process import scan as scan_bags

    settings = get_settings()
    _ray_if_wanted(workers)
    root, output = uri or f"{_store_url(settings)}/bags", f"{_store_url(settings)}/decoded"
    with open_database(settings) as db:
        while True:
            try:
                outcomes = scan_bags(db, root, output, tenant_id=tenant, bags_at_once=workers)
            except BagNotFoundError:
                outcomes = []
            for o in outcomes:
                if o.status != "skipped":
                    console.print(f"{o.status:7} {o.uri} {o.error or ''}")
            console.print(
                f"{sum(o.status == 'done' for o in outcomes)} processed, "
                f"{sum(o.status == 'failed' for o in outcomes)} failed, "
                f"{sum(o.status == 'skipped' for o in outcomes)} already known"
            )
            if not every:
                return
            time.sleep(every)


@app.command("search")
def search(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")],
    robot: Annotated[str | None, typer.Option(help="Robot id.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Bags ending at or after this time.")] = None,
    until: Annotated[datetime | None, typer.Option(help="Bags starting at or before this time.")] = None,
    topic: Annotated[str | None, typer.Option(help="Bags with this topic.")] = None,
    msgtype: Annotated[str | None, typer.Option("--type", help="Bags with this message type.")] = None,
    error_code: Annotated[str | None, typer.Option(help="Bags with an event of this code.")] = None,
    trigger: Annotated[str | None, typer.Option(help="What made the robot record.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, running, done or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per bag.")] = False,
) -> None:
    """Find indexed bags by robot, time, topic, type, error code, trigger or status."""
    from fleetray.storage import open_database
    from fleetray.storage.bags import search_bags

    with open_database(get_settings()) as db, db.connect() as conn:
        rows = search_bags(
            conn,
            tenant,
            robot_id=robot,
            since=since,
            until=until,
            topic=topic,
            msgtype=msgtype,
            error_code=error_code,
            trigger=trigger,
            status=status,
            limit=limit,
        )
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table("id", "robot", "start", "duration", "messages", "events", "status", "trigger")
    table.add_column("uri", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["bag_id"]),
            row["robot_id"] or "",
            str(row["start_time"] or ""),
            f"{row['duration_s'] or 0:.1f} s",
            str(row["message_count"] or 0),
            str(row["events"]),
            row["status"],
            row["trigger"] or "",
            row["uri"],
        )
    console.print(table)
