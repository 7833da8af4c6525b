"""``fleetray shards ...``: how robots are spread over fleet shards."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from actors.registry import set_shard_layout
from fleetray.config import get_settings
from fleetray.errors import ConfigError

app = typer.Typer(help="How robots are spread over fleet shards.", no_args_is_help=True)
console = Console()


@app.command("reshard")
def reshard(count: Annotated[int, typer.Argument(min=1, max=4096, help="The new number of shards.")]) -> None:
    """Lay the fleet out over COUNT shards. Restart `fleetray up` with FLEETRAY_SHARDS=COUNT afterwards.

    Robots move to the shard their hash now names; each shard rebuilds its robots' state from
    PostgreSQL when it starts, so nothing is lost, but do it while ingestion is stopped.
    """
    from fleetray.services import read_state
    from fleetray.storage import open_database

    settings = get_settings()
    if read_state(settings.data_dir) is not None:
        raise ConfigError("fleetray is running from this data dir; stop it before resharding")
    with open_database(settings) as db, db.connect() as conn:
        old = set_shard_layout(conn, count)
    console.print(f"fleet laid out over {count} shards (was {old}); start with FLEETRAY_SHARDS={count}")
