"""Every numeric signal of a telemetry sample under one flat name (``components.vacuum.current_a``).

The names match the per-minute rollup in PostgreSQL, the simulator's aggregates and the features
pipelines compute, so a signal is called the same everywhere.
"""

from __future__ import annotations

import functools
import operator

from fleetray.schemas import SystemStats, Telemetry

COMPONENT_FIELDS = ("current_a", "temp_c", "rpm", "usage_h")
SYSTEM_FIELDS = tuple(SystemStats.model_fields)
SYSTEM_SIGNALS = tuple(f"system.{field}" for field in SYSTEM_FIELDS)
# One C call reads all of a reading's fields: cheaper than a getattr per field, sample after sample.
_component_values = operator.attrgetter(*COMPONENT_FIELDS)
_system_values = operator.attrgetter(*SYSTEM_FIELDS)


@functools.lru_cache(maxsize=4096)
def component_signal_names(component: str) -> tuple[str, ...]:
    """The signal names of a component's readings, in :data:`COMPONENT_FIELDS` order (cached: names repeat
    every sample)."""
    return tuple(f"components.{component}.{field}" for field in COMPONENT_FIELDS)


@functools.lru_cache(maxsize=4096)
def metric_signal_name(metric: str) -> str:
    """A robot metric's signal name (cached: names repeat every sample)."""
    return f"metrics.{metric}"


def telemetry_signals(message: Telemetry) -> dict[str, float]:
    """The sample's numeric signals by flat name; absent values are left out.

    Reads attributes only, so the shards' compiled structs of telemetry (:mod:`fleetray.wire`) work as well.
    """
    signals: dict[str, float] = {}
    battery = message.battery
    if battery is not None:
        signals["battery.soc"] = battery.soc
        if battery.voltage is not None:
            signals["battery.voltage"] = battery.voltage
        if battery.current is not None:
            signals["battery.current"] = battery.current
        if battery.temp is not None:
            signals["battery.temp"] = battery.temp
    velocity = message.velocity
    if velocity is not None:
        signals["velocity.linear"] = velocity.linear
        signals["velocity.angular"] = velocity.angular
    for name, reading in message.components.items():
        for signal, value in zip(component_signal_names(name), _component_values(reading), strict=True):
            if value is not None:
                signals[signal] = value
    for name, value in message.metrics.items():
        signals[metric_signal_name(name)] = value
    if message.system is not None:
        for signal, value in zip(SYSTEM_SIGNALS, _system_values(message.system), strict=True):
            if value is not None:
                signals[signal] = value
    return signals
