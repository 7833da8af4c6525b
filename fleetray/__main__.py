"""``python -m fleetray`` runs the CLI."""

from fleetray.cli import main

main()
