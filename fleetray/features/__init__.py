"""Features: one implementation for the live shards and the batch pipelines."""

from __future__ import annotations

from fleetray.features.anomaly import EwmaScore
from fleetray.features.online import Aggregate, MinuteAggregator
from fleetray.features.signals import telemetry_signals

__all__ = ["Aggregate", "EwmaScore", "MinuteAggregator", "telemetry_signals"]
