"""Manufacturer-cloud connectors: each manufacturer is one module, found through the ``fleetray.connectors``
entry point group (see :mod:`actors.connectors.base` for what a module provides)."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from actors.connectors.base import CloudConnector
from fleetray.errors import ConfigError

CONNECTOR_GROUP = "fleetray.connectors"


@functools.cache
def connectors() -> dict[str, CloudConnector]:
    """Every installed connector, by name."""
    return {entry.name: entry.load()() for entry in entry_points(group=CONNECTOR_GROUP)}


def get_connector(name: str) -> CloudConnector:
    """The connector called ``name``.

    Raises:
        ConfigError: no such connector is installed; the message lists those that are.
    """
    try:
        return connectors()[name]
    except KeyError:
        raise ConfigError(f"no connector {name!r}; installed: {', '.join(sorted(connectors())) or 'none'}") from None
