"""Extension points: packages above ``fleetray`` plug into the platform and the CLI by entry points.

``fleetray`` never imports ``actors``, ``pipelines`` or ``serve_apps`` (dependencies flow one way);
they declare themselves in ``pyproject.toml`` instead:

- ``fleetray.platform``: a :class:`PlatformComponent` that ``fleetray up`` starts after Ray;
- ``fleetray.cli``: a ``typer.Typer`` added as a sub-command.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetray.config import Settings
    from fleetray.storage import Database

logger = logging.getLogger(__name__)

PLATFORM_GROUP = "fleetray.platform"
CLI_GROUP = "fleetray.cli"


@dataclass(frozen=True)
class PlatformContext:
    """What a component gets to start with: settings, the database, the broker, Ray."""

    settings: Settings
    db: Database
    mqtt_url: str | None
    mqtt_shared_subscriptions: bool
    ray_address: str | None


class RunningComponent(abc.ABC):
    """A started component."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the start-up table."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop cleanly (commit offsets, flush buffers)."""


class PlatformComponent(abc.ABC):
    """Something ``fleetray up`` runs on Ray (ingestion, the API...)."""

    name: str

    @abc.abstractmethod
    def start(self, context: PlatformContext) -> RunningComponent:
        """Start on the connected Ray cluster."""

    def status_rows(self) -> list[tuple[str, str, str]]:
        """Rows for ``fleetray status``, read from the running cluster (Ray is connected)."""
        return []


def platform_components() -> list[PlatformComponent]:
    """Every installed platform component, in name order."""
    return [entry.load()() for entry in sorted(entry_points(group=PLATFORM_GROUP), key=lambda e: e.name)]


def cli_plugins() -> list[tuple[str, Any]]:
    """``(command name, typer app)`` of every installed CLI plugin."""
    return [(entry.name, entry.load()) for entry in sorted(entry_points(group=CLI_GROUP), key=lambda e: e.name)]
