"""The platform's own history as a training table: per-minute windows, warnings, failures and maintenance.

Windows are the per-minute statistics the shards store in ``telemetry_1m`` (``window_summary``); each
window stands at its minute's end, when its figures are known, so nothing after a moment reaches its
features. Warnings are counted per minute and component (``events.warnings.{component}``, statistic
``n``). A failure is an ERROR event naming a component; maintenance renews the part it names (a repair
after a failure too), which is where a part's life is cut short without failing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from fleetray.errors import TrainingDataError
from fleetray.features.featureset import FeatureSet, SignalFeature
from fleetray.learning.table import Events, LabelPolicy, TrainingTable, assemble_table

if TYPE_CHECKING:
    from fleetray.storage import Database

MOTORS = ("main_brush", "side_brush", "vacuum", "pump", "wheels")
COMPONENTS = (*MOTORS, "filter", "battery")
WARNING_SIGNAL = "events.warnings.{component}"
MINUTES_PER_HOUR = 60.0


@functools.cache
def platform_feature_set() -> FeatureSet:
    """The features live scoring computes for every robot: wear shows in running currents and speeds,
    filter pressure, vibration, battery sag and health, hours of use and warnings. Each signal names the
    parts it speaks of, so a part's model does not learn from another part's coincidences (with a few
    failures of a rare part in the history, the rest would be noise it overfits)."""
    signals: list[SignalFeature] = []
    for motor in MOTORS:
        # A clogged filter makes the vacuum motor draw more: its current speaks of both.
        informs = (motor, "filter") if motor == "vacuum" else (motor,)
        signals += [
            SignalFeature(signal=f"components.{motor}.current_a", statistic="max", active_above=0.0, informs=informs),
            SignalFeature(signal=f"components.{motor}.rpm", statistic="max", active_above=0.0, informs=(motor,)),
            SignalFeature(signal=f"components.{motor}.temp_c", statistic="max", informs=informs),
            SignalFeature(signal=f"components.{motor}.usage_h", statistic="last", informs=(motor,), cumulative=True),
        ]
    battery = ("battery",)
    signals += [
        SignalFeature(signal="components.filter.usage_h", statistic="last", informs=("filter",), cumulative=True),
        SignalFeature(signal="metrics.filter_dp_pa", statistic="max", active_above=0.0, informs=("filter", "vacuum")),
        SignalFeature(signal="metrics.wheel_vibration_g", statistic="max", active_above=0.02, informs=("wheels",)),
        SignalFeature(signal="metrics.battery_cycles", statistic="last", informs=battery, cumulative=True),
        SignalFeature(signal="metrics.battery_health", statistic="min", informs=battery),
        SignalFeature(signal="battery.voltage", statistic="min", informs=battery),
        SignalFeature(signal="battery.current", statistic="min", informs=battery),
        SignalFeature(signal="battery.temp", statistic="max", informs=battery),
    ]
    signals += [
        SignalFeature(signal=WARNING_SIGNAL.format(component=c), statistic="n", missing=0.0, informs=(c,))
        for c in COMPONENTS
    ]
    return FeatureSet(name="platform", signals=tuple(signals), half_lives=(20.0, 240.0, 1440.0), conditions=("model",))


@dataclass
class PlatformHistory:
    """A fleet's history, gathered for training.

    Attributes:
        units: robot id per window; ``minutes``: the window's end, in minutes since the epoch.
        statistics: per followed signal statistic (``signal:statistic``), its value in each window.
        models: each robot's ``manufacturer/model``.
        warnings: (robot, component, minute) of each WARNING event naming a component.
        failures, renewals: of each robot's components, in minutes since the epoch.
    """

    units: np.ndarray
    minutes: np.ndarray
    statistics: dict[str, np.ndarray]
    models: dict[str, str]
    warnings: Events
    failures: Events
    renewals: Events
    meta: dict[str, object] = field(default_factory=dict)

    def training_table(
        self,
        feature_set: FeatureSet | None = None,
        *,
        horizon_h: float = 24.0,
        rul_cap_h: float = 30 * 24.0,
        sample_every_min: float | None = 10.0,
        components: list[str] | None = None,
    ) -> TrainingTable:
        """Features and labels of every robot's minutes, in minutes (RUL too).

        Args:
            components: which parts to label; default: every part that failed at least once.

        Raises:
            TrainingDataError: no windows, or no failure of a named component.
        """
        feature_set = feature_set or platform_feature_set()
        if not len(self.units):
            raise TrainingDataError("the history holds no per-minute windows (is telemetry_1m empty for it?)")
        statistics = np.column_stack([self.signal_values(s) for s in feature_set.signals])
        failed = sorted(set(self.failures.component.tolist()))
        if not failed and components is None:
            raise TrainingDataError(
                "no component failed in this history: a model cannot learn failures from a fleet that had none "
                "(train on a longer period or on more robots)"
            )
        table = assemble_table(
            feature_set,
            self.units,
            self.minutes,
            statistics,
            conditions={"model": np.array([self.models.get(u, "unknown") for u in self.units], dtype=object)},
            components=components or failed,
            failures=self.failures,
            renewals=self.renewals,
            policy=LabelPolicy(
                horizon=horizon_h * MINUTES_PER_HOUR,
                rul_cap=rul_cap_h * MINUTES_PER_HOUR,
                sample_every=sample_every_min,
                repairs_recorded=True,
            ),
            time_unit="min",
        )
        table.meta.update(self.meta)
        return table

    def signal_values(self, feature: SignalFeature) -> np.ndarray:
        """The followed statistic of ``feature`` in every window (warnings counted; NaN where absent)."""
        if feature.signal.startswith("events.warnings."):
            return self._warning_counts(feature.signal.removeprefix("events.warnings."))
        values = self.statistics.get(feature.key)
        return values if values is not None else np.full(len(self.units), np.nan)

    def _warning_counts(self, component: str) -> np.ndarray:
        """Warnings of ``component`` per window: a warning counts in the window it falls in."""
        counts = np.zeros(len(self.units))
        mine = self.warnings.component == component
        if not mine.any():
            return counts
        window_key = {key: k for k, key in enumerate(zip(self.units.tolist(), self.minutes.tolist(), strict=True))}
        ends = np.floor(self.warnings.time[mine]) + 1  # a warning at 10:00:30 counts in the window ending 10:01
        for unit, end in zip(self.warnings.unit[mine].tolist(), ends.tolist(), strict=True):
            k = window_key.get((unit, end))
            if k is not None:
                counts[k] += 1
        return counts


def _minutes(moment: datetime) -> float:
    return moment.timestamp() / 60.0


def history_from_database(
    db: Database,
    tenant_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    feature_set: FeatureSet | None = None,
) -> PlatformHistory:
    """A tenant's history from PostgreSQL: ``telemetry_1m``, events, maintenance and robots.

    Only the statistics ``feature_set`` follows are read. Rows in ``[start, end)`` (all by default).
    """
    from psycopg import sql

    feature_set = feature_set or platform_feature_set()
    needed = {s.signal: s for s in feature_set.signals if not s.signal.startswith("events.")}
    statistic_columns = sorted({s.statistic for s in needed.values()})
    bounds = sql.SQL(" AND bucket >= %(start)s" if start else "") + sql.SQL(" AND bucket < %(end)s" if end else "")
    query = sql.SQL(
        "SELECT robot_id, extract(epoch FROM bucket) / 60 + 1, metric, {columns} FROM telemetry_1m "
        "WHERE tenant_id = %(tenant)s AND metric = ANY(%(metrics)s){bounds} ORDER BY robot_id, bucket"
    ).format(columns=sql.SQL(", ").join(map(sql.Identifier, statistic_columns)), bounds=bounds)
    params = {"tenant": tenant_id, "metrics": list(needed), "start": start, "end": end}
    with db.connect() as conn:
        rows = conn.execute(query, params).fetchall()
        models = dict(
            conn.execute(
                "SELECT robot_id, manufacturer || '/' || model FROM robots WHERE tenant_id = %s", (tenant_id,)
            ).fetchall()
        )
        event_bounds = sql.SQL(" AND ts >= %(start)s" if start else "") + sql.SQL(" AND ts < %(end)s" if end else "")
        events = conn.execute(
            sql.SQL(
                "SELECT robot_id, component, extract(epoch FROM ts) / 60, level FROM events "
                "WHERE tenant_id = %(tenant)s AND component IS NOT NULL AND level IN ('WARNING', 'ERROR', 'FATAL')"
                "{bounds}"
            ).format(bounds=event_bounds),
            params,
        ).fetchall()
        maintenance_bounds = sql.SQL(" AND performed_at >= %(start)s" if start else "") + sql.SQL(
            " AND performed_at < %(end)s" if end else ""
        )
        maintenance = conn.execute(
            sql.SQL(
                "SELECT robot_id, component, extract(epoch FROM performed_at) / 60 FROM maintenance_records "
                "WHERE tenant_id = %(tenant)s AND kind IN ('replacement', 'repair', 'cleaning'){bounds}"
            ).format(bounds=maintenance_bounds),
            params,
        ).fetchall()
    return _gather(rows, statistic_columns, feature_set, models, events, maintenance, tenant_id)


def _gather(rows, statistic_columns, feature_set, models, events, maintenance, tenant_id) -> PlatformHistory:
    wanted = feature_set.statistics_needed
    windows: dict[tuple[str, float], int] = {}
    for robot, minute, *_ in rows:
        windows.setdefault((robot, float(minute)), len(windows))
    statistics: dict[str, np.ndarray] = {}
    for robot, minute, metric, *values in rows:
        k = windows[(robot, float(minute))]
        for column, value in zip(statistic_columns, values, strict=True):
            if column in wanted[metric]:
                key = f"{metric}:{column}"
                statistics.setdefault(key, np.full(len(windows), np.nan))[k] = np.nan if value is None else value
    keys = list(windows)
    units = np.array([u for u, _ in keys], dtype=object)
    minutes = np.array([m for _, m in keys], dtype=np.float64)

    def events_of(selected: list[tuple]) -> Events:
        if not selected:
            return Events.empty()
        robot, component, minute = zip(*selected, strict=True)
        return Events(np.array(robot, dtype=object), np.array(component, dtype=object), np.array(minute, float))

    warnings = events_of([(r, c, float(m)) for r, c, m, level in events if level == "WARNING"])
    failures = events_of([(r, c, float(m)) for r, c, m, level in events if level != "WARNING"])
    renewals = events_of([(r, c, float(m)) for r, c, m in maintenance])
    return PlatformHistory(
        units, minutes, statistics, models, warnings, failures, renewals, meta={"tenant_id": tenant_id}
    )
