"""Every numeric signal of a telemetry sample under one flat name (``components.vacuum.current_a``).

The names match the per-minute rollup in PostgreSQL, the simulator's aggregates and the features
pipelines compute, so a signal is called the same everywhere.
"""

from __future__ import annotations

import functools

from fleetray.schemas import SystemStats, Telemetry

COMPONENT_FIELDS = ("current_a", "temp_c", "rpm", "usage_h")
SYSTEM_SIGNALS = tuple((field, f"system.{field}") for field in SystemStats.model_fields)


@functools.lru_cache(maxsize=4096)
def component_signal_names(component: str) -> tuple[tuple[str, str], ...]:
    """``(field, signal name)`` of each of a component's readings (cached: names repeat every sample)."""
    return tuple((field, f"components.{component}.{field}") for field in COMPONENT_FIELDS)


@functools.lru_cache(maxsize=4096)
def metric_signal_name(metric: str) -> str:
    """A robot metric's signal name (cached: names repeat every sample)."""
    return f"metrics.{metric}"


def telemetry_signals(message: Telemetry) -> dict[str, float]:
    """The sample's numeric signals by flat name; absent values are left out.

    Reads attributes only, so the shards' compiled structs of telemetry (:mod:`fleetray.wire`) work as well.
    """
    signals: dict[str, float] = {}
    if message.battery is not None:
        battery = message.battery
        signals["battery.soc"] = battery.soc
        for name, value in (
            ("battery.voltage", battery.voltage),
            ("battery.current", battery.current),
            ("battery.temp", battery.temp),
        ):
            if value is not None:
                signals[name] = value
    if message.velocity is not None:
        signals["velocity.linear"] = message.velocity.linear
        signals["velocity.angular"] = message.velocity.angular
    for name, reading in message.components.items():
        for field, signal in component_signal_names(name):
            value = getattr(reading, field)
            if value is not None:
                signals[signal] = value
    for name, value in message.metrics.items():
        signals[metric_signal_name(name)] = value
    if message.system is not None:
        system = message.system
        for field, signal in SYSTEM_SIGNALS:
            value = getattr(system, field)
            if value is not None:
                signals[signal] = value
    return signals
