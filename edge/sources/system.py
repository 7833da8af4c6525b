"""The robot computer's own load (psutil): CPU, memory, disk, network and the hottest temperature."""

from __future__ import annotations

import threading
import time

from edge.config import SystemSource
from edge.readings import Reading
from edge.sources.base import Emit, Source


class SystemStats(Source):
    name = "system"

    def __init__(self, config: SystemSource) -> None:
        self.config = config

    def run(self, emit: Emit, stop: threading.Event) -> None:
        import psutil

        psutil.cpu_percent()  # the first call only starts the measurement
        last_net, last_t = psutil.net_io_counters(), time.monotonic()
        while not stop.wait(self.config.interval_s):
            net, now = psutil.net_io_counters(), time.monotonic()
            values = {
                "system.cpu": psutil.cpu_percent(),
                "system.mem": psutil.virtual_memory().percent,
                "system.disk": psutil.disk_usage(str(self.config.disk_path)).percent,
                "system.net": max(
                    0.0,
                    (net.bytes_sent + net.bytes_recv - last_net.bytes_sent - last_net.bytes_recv)
                    / max(now - last_t, 1e-3),
                ),
            }
            last_net, last_t = net, now
            temperatures = getattr(psutil, "sensors_temperatures", dict)()
            readings = [t.current for sensors in temperatures.values() for t in sensors if t.current is not None]
            if readings:
                values["metrics.cpu_temp_c"] = max(readings)
            emit(Reading("system", time.time_ns(), values, stats=("mean", "last")))
