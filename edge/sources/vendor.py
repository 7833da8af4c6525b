"""A manufacturer's local robot API, polled over HTTP: JSON fields mapped to telemetry by configuration.

``fields`` maps a telemetry name to a dotted JSON path, optionally scaled: ``battery.soc =
"battery.level_pct/100"``; ``status_map`` translates the vendor's states into fleetray's.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from edge.config import VendorSource
from edge.readings import Reading
from edge.sources.base import Emit, Source

logger = logging.getLogger(__name__)


def pick(document: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``), divided by what follows a ``/``; None where absent."""
    path, _, divisor = path.partition("/")
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if divisor and isinstance(value, int | float) and not isinstance(value, bool):
        return value / float(divisor)
    return value


class VendorPoller(Source):
    name = "vendor_http"

    def __init__(self, config: VendorSource) -> None:
        self.config = config
        self.failures = 0

    def readings(self, document: Any) -> Reading:
        values: dict[str, Any] = {}
        for name, path in self.config.fields.items():
            value = pick(document, path)
            if value is None:
                continue
            if name == "status":
                value = self.config.status_map.get(str(value), str(value).lower())
            values[name] = value
        return Reading("vendor", time.time_ns(), values)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        import httpx

        with httpx.Client(timeout=5.0, headers=self.config.headers) as client:
            while not stop.is_set():
                try:
                    response = client.get(self.config.url)
                    response.raise_for_status()
                    reading = self.readings(response.json())
                    if reading.values:
                        emit(reading)
                    self.failures = 0
                except (httpx.HTTPError, ValueError) as err:
                    self.failures += 1
                    if self.failures in (1, 10) or self.failures % 100 == 0:
                        logger.warning("the robot's API at %s failed %s times: %s", self.config.url, self.failures, err)
                stop.wait(self.config.interval_s)
