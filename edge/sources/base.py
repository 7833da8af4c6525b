"""The one interface every source implements."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable

from edge.readings import Item

Emit = Callable[[Item], None]


class Source(abc.ABC):
    """Produces messages, readings or events until ``stop`` is set; runs in a thread of its own.

    A source raises :class:`~edge.errors.SourceError` from ``run`` only for what will not mend by
    waiting (a missing bag, ROS not installed); a passing failure it logs and retries.
    """

    name: str = "source"
    #: Whether its stamps keep pace with the wall clock, so that its silence means time passing.
    #: A replay faster than real time stamps from the recording: while it runs, only it tells the time.
    paced_by_wall_clock: bool = True

    @abc.abstractmethod
    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Deliver items through ``emit`` until ``stop`` is set (or the source ends, for a bag)."""
