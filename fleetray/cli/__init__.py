"""The ``fleetray`` command line; :func:`main` is its entry point."""

from __future__ import annotations

import sys

from fleetray.errors import FleetrayError


def main() -> None:
    """Run the CLI; fleetray's own errors print as one clear line, not a traceback."""
    if sys.version_info < (3, 11):  # the package installs on 3.10 for the edge agent, the platform does not run there
        sys.exit(
            f"error: the fleetray platform needs Python 3.11 or newer, this is {sys.version.split()[0]}; "
            "on a robot, run fleetray-edge"
        )
    from fleetray.cli.app import app, console

    try:
        app(standalone_mode=False)
    except FleetrayError as err:
        console.print(f"[red]error:[/] {err}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as err:
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):
            sys.exit(130)
        raise
