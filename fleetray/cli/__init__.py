"""The ``fleetray`` command line; :func:`main` is its entry point."""

from __future__ import annotations

import sys

from fleetray.errors import FleetrayError


def main() -> None:
    """Run the CLI; fleetray's own errors print as one clear line, not a traceback."""
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
