"""Simulated fleet history straight into a :class:`~fleetray.learning.platform.PlatformHistory`.

The same windows, warnings, failures and maintenance the simulator writes to PostgreSQL
(``fleetray sim history``), gathered in memory: benchmarks and tests train on days of a fleet without
the round trip through the database (``history_from_database`` reads them back identically).
"""

from __future__ import annotations

import numpy as np

from fleetray.features.featureset import FeatureSet
from fleetray.learning.platform import PlatformHistory, platform_feature_set
from fleetray.learning.table import Events
from fleetray.schemas import EventLevel
from fleetray.sim.columns import minute_statistics
from fleetray.sim.engine import FleetSimulator, SimConfig


def simulated_history(
    config: SimConfig, seconds: int, *, feature_set: FeatureSet | None = None, chunk_s: int = 900
) -> PlatformHistory:
    """Run a fleet for ``seconds`` (from a whole minute, ``chunk_s`` a multiple of 60) and gather it."""
    feature_set = feature_set or platform_feature_set()
    wanted = feature_set.statistics_needed
    sim = FleetSimulator(config)
    robot_ids = np.asarray(sim.robot_ids, dtype=object)
    units: list[np.ndarray] = []
    minutes: list[np.ndarray] = []
    statistics: dict[str, list[np.ndarray]] = {}
    warnings: list[tuple[str, str, float]] = []
    failures: list[tuple[str, str, float]] = []
    renewals: list[tuple[str, str, float]] = []
    for chunk in sim.run(seconds, chunk_s=chunk_s):
        figures = minute_statistics(chunk.telemetry)
        units.append(robot_ids[figures.robot])
        minutes.append(figures.minute.astype(np.float64) + 1)  # a window stands at its end
        for signal, by_statistic in wanted.items():
            for statistic in by_statistic:
                source = figures.signals.get(signal, {}).get(statistic)
                column = source if source is not None else np.full(len(figures.robot), np.nan)
                statistics.setdefault(f"{signal}:{statistic}", []).append(column.astype(np.float64))
        for event in chunk.events:
            if event.component is None or event.level == EventLevel.INFO:
                continue
            target = warnings if event.level == EventLevel.WARNING else failures
            target.append((event.robot_id, event.component, event.ts.timestamp() / 60))
        renewals += [(m.robot_id, m.component, m.performed_at.timestamp() / 60) for m in chunk.maintenance]
    return PlatformHistory(
        units=np.concatenate(units),
        minutes=np.concatenate(minutes),
        statistics={key: np.concatenate(parts) for key, parts in statistics.items()},
        models={r.robot_id: f"{r.manufacturer}/{r.model}" for r in sim.robots},
        warnings=_events(warnings),
        failures=_events(failures),
        renewals=_events(renewals),
        meta={"tenant_id": config.tenant_id, "simulated": {"robots": config.robots, "seed": config.seed}},
    )


def _events(rows: list[tuple[str, str, float]]) -> Events:
    if not rows:
        return Events.empty()
    robot, component, minute = zip(*rows, strict=True)
    return Events(np.array(robot, dtype=object), np.array(component, dtype=object), np.array(minute, float))
