"""``python -m edge``: the same as ``fleetray-edge``."""

from edge.cli import main

main()
