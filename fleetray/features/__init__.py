"""Features: one implementation for the live shards, the batch pipelines and the edge agent.

The online statistics need numpy; the anomaly score does not, and the edge agent imports it on
robots, so the numpy-backed names load only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fleetray.features.anomaly import EwmaScore
from fleetray.features.signals import telemetry_signals

if TYPE_CHECKING:
    from fleetray.features.online import Aggregate, MinuteAggregator

_LAZY = {"Aggregate": "online", "MinuteAggregator": "online"}

__all__ = ["Aggregate", "EwmaScore", "MinuteAggregator", "telemetry_signals"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"fleetray.features.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'fleetray.features' has no attribute {name!r}")
