"""Every numeric signal of a telemetry sample under one flat name (``components.vacuum.current_a``).

The names match the per-minute rollup in PostgreSQL, the simulator's aggregates and the features
pipelines compute, so a signal is called the same everywhere.
"""

from __future__ import annotations

import functools
import operator

from fleetray.schemas import SystemStats, Telemetry

COMPONENT_FIELDS = ("current_a", "temp_c", "rpm", "usage_h")
BATTERY_FIELDS = ("soc", "voltage", "current", "temp")
BATTERY_SIGNALS = tuple(f"battery.{field}" for field in BATTERY_FIELDS)
VELOCITY_FIELDS = ("linear", "angular")
VELOCITY_SIGNALS = tuple(f"velocity.{field}" for field in VELOCITY_FIELDS)
SYSTEM_FIELDS = tuple(SystemStats.model_fields)
SYSTEM_SIGNALS = tuple(f"system.{field}" for field in SYSTEM_FIELDS)
# One C call reads all of a reading's fields: cheaper than a getattr per field, sample after sample.
_component_values = operator.attrgetter(*COMPONENT_FIELDS)
_battery_values = operator.attrgetter(*BATTERY_FIELDS)
_velocity_values = operator.attrgetter(*VELOCITY_FIELDS)
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
    return dict(zip(*telemetry_signal_row(message), strict=True))


def telemetry_signal_row(message: Telemetry) -> tuple[tuple[str, ...], list[float]]:
    """:func:`telemetry_signals` as a tuple of names and a list of values in the same order.

    What a shard does with every sample: the values are read a reading at a time, and the names come from a
    cache of the shapes samples take (which readings, components and metrics they have), as a robot's samples
    keep one shape. Only a sample that lacks some value has its names and values picked one by one.
    """
    battery, velocity, system = message.battery, message.velocity, message.system
    components, metrics = message.components, message.metrics
    values = [*_battery_values(battery)] if battery is not None else []
    if velocity is not None:
        values += _velocity_values(velocity)
    for reading in components.values():
        values += _component_values(reading)
    values += metrics.values()
    if system is not None:
        values += _system_values(system)
    shape = (battery is not None, velocity is not None, tuple(components), tuple(metrics), system is not None)
    names = _shape_names(*shape)
    if None in values:
        present = [i for i, value in enumerate(values) if value is not None]
        return tuple(names[i] for i in present), [values[i] for i in present]
    return names, values


@functools.lru_cache(maxsize=4096)
def _shape_names(
    battery: bool, velocity: bool, components: tuple[str, ...], metrics: tuple[str, ...], system: bool
) -> tuple[str, ...]:
    """Every signal name of a sample of this shape, in the order :func:`telemetry_signal_row` reads values."""
    names = (BATTERY_SIGNALS if battery else ()) + (VELOCITY_SIGNALS if velocity else ())
    for component in components:
        names += component_signal_names(component)
    names += tuple(map(metric_signal_name, metrics))
    return names + (SYSTEM_SIGNALS if system else ())
