"""The fleet simulator: robots of several models at several sites, wearing out plausibly.

It feeds the demo, the tests, the benchmarks and model training, and exports its ground truth
(failure times, per-part wear) beside what the robots report.
"""

from __future__ import annotations

from fleetray.sim.catalog import CATALOG, COMPONENT_NAMES, ComponentSpec, RobotModel
from fleetray.sim.columns import TelemetryColumns, WearSamples
from fleetray.sim.engine import FailureRecord, FleetSimulator, SimChunk, SimConfig, history_start

__all__ = [
    "CATALOG",
    "COMPONENT_NAMES",
    "ComponentSpec",
    "FailureRecord",
    "FleetSimulator",
    "RobotModel",
    "SimChunk",
    "SimConfig",
    "TelemetryColumns",
    "WearSamples",
    "history_start",
]
