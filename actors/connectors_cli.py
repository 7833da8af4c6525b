"""``fleetray connectors ...``: connect tenants to manufacturers' clouds (polled, and pushing webhooks)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from actors.connectors import connectors, get_connector
from fleetray.config import get_settings
from fleetray.errors import ConfigError

app = typer.Typer(help="Manufacturer clouds: robots that run no fleetray agent.", no_args_is_help=True)
console = Console()


@app.command("add")
def add(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")],
    connector: Annotated[str, typer.Option(help="The manufacturer's connector, e.g. nimbus.")],
    url: Annotated[str, typer.Option(help="Base URL of the manufacturer's API.")],
    token: Annotated[
        str, typer.Option(help="The API token the manufacturer issued.", envvar="FLEETRAY_CONNECTOR_TOKEN")
    ],
    interval: Annotated[float, typer.Option(min=1, help="Seconds between polls.")] = 30.0,
    rate: Annotated[float, typer.Option(min=0.1, help="Requests per second allowed to the manufacturer.")] = 5.0,
    site: Annotated[str | None, typer.Option(help="Site for robots the manufacturer lists without one.")] = None,
) -> None:
    """Connect a tenant to a manufacturer's cloud (or change the connection). A running platform polls it within
    FLEETRAY_CONNECTOR_SYNC_S seconds."""
    from fleetray.storage import open_database
    from fleetray.storage.connectors import add_account

    try:
        get_connector(connector)
        with open_database(get_settings()) as db, db.connect() as conn:
            account = add_account(
                conn,
                tenant,
                connector,
                base_url=url,
                api_token=token,
                poll_interval_s=interval,
                requests_per_s=rate,
                site_id=site,
            )
    except ConfigError as err:
        raise typer.BadParameter(str(err)) from err
    settings = get_settings()
    console.print(f"{tenant} is connected to {connector}; polled every {interval:g} s at most {rate:g} requests/s.")
    console.print("For pushed webhooks, give the manufacturer this URL and signing secret:")
    typer.echo(f"{settings.api_base_url}/v1/connectors/{connector}/webhooks/{tenant}")
    typer.echo(account["webhook_secret"])


@app.command("remove")
def remove(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")],
    connector: Annotated[str, typer.Option(help="The manufacturer's connector, e.g. nimbus.")],
) -> None:
    """Disconnect a tenant from a manufacturer's cloud; its robots and their history stay."""
    from fleetray.errors import NotFoundError
    from fleetray.storage import open_database
    from fleetray.storage.connectors import remove_account

    try:
        with open_database(get_settings()) as db, db.connect() as conn:
            remove_account(conn, tenant, connector)
    except NotFoundError as err:
        raise typer.BadParameter(str(err)) from err
    console.print(f"{tenant} is no longer connected to {connector}; a running platform stops polling it shortly.")


@app.command("list")
def list_accounts() -> None:
    """Installed connectors, and every tenant's connection with its last poll."""
    from fleetray.storage import open_database
    from fleetray.storage.connectors import list_accounts as accounts_of

    with open_database(get_settings()) as db, db.connect() as conn:
        accounts = accounts_of(conn)
    console.print(
        "installed connectors: " + ", ".join(f"{name} ({c.manufacturer})" for name, c in sorted(connectors().items()))
    )
    table = Table("tenant", "connector", "every", "last poll", "last error")
    table.add_column("url", no_wrap=True)  # a URL cut in two is a URL nobody can copy
    for account in accounts:
        polled = f"{account['last_polled_at']:%Y-%m-%d %H:%M:%S}" if account["last_polled_at"] else "never"
        table.add_row(
            account["tenant_id"],
            account["connector"],
            f"{account['poll_interval_s']:g} s",
            polled,
            account["last_error"] or "",
            account["base_url"],
        )
    console.print(table if accounts else "no tenant is connected to a manufacturer's cloud")
