"""Model features of every robot a shard holds, folded as each robot's minute closes.

The same :class:`~fleetray.features.featureset.FeatureState` arithmetic a training table is built with,
over the same per-minute statistics (``window_summary``) and warnings counted per minute, so a robot is
scored on exactly the features its model learned from, without a database round trip.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from fleetray.features.featureset import FeatureSet, FeatureState
from fleetray.features.online import Aggregate
from fleetray.learning.platform import WARNING_SIGNAL, platform_feature_set

RobotKey = tuple[str, str]


class LiveFeatures:
    """Feature rows of a shard's robots; a robot gets its row when it is first seen."""

    def __init__(self, feature_set: FeatureSet | None = None) -> None:
        self.feature_set = feature_set or platform_feature_set()
        signals = self.feature_set.signals
        self.state = FeatureState(self.feature_set, 0)
        self.rows: dict[RobotKey, int] = {}
        self._warning_column = {
            s.signal.removeprefix(WARNING_SIGNAL.format(component="")): k
            for k, s in enumerate(signals)
            if s.signal.startswith(WARNING_SIGNAL.format(component=""))
        }
        self._pending = np.zeros((0, len(signals)))  # warnings seen in each robot's open minute

    def _row(self, key: RobotKey) -> int:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = len(self.rows)
            if row >= len(self._pending):
                capacity = max(64, 2 * len(self._pending))
                self.state.grow(capacity)
                extra = np.zeros((capacity - len(self._pending), len(self.feature_set.signals)))
                self._pending = np.vstack([self._pending, extra])
        return row

    def on_warning(self, key: RobotKey, component: str | None) -> None:
        """Count a WARNING event of ``component`` in the robot's open minute."""
        column = self._warning_column.get(component or "")
        if column is not None:
            self._pending[self._row(key), column] += 1

    def on_minute(self, key: RobotKey, bucket: datetime, aggregates: dict[str, Aggregate]) -> None:
        """Fold a closed minute (its statistics, and the warnings counted since the last one)."""
        row = self._row(key)
        statistics = self._pending[row].copy()
        self._pending[row] = 0.0
        for k, signal in enumerate(self.feature_set.signals):
            if signal.signal.startswith("events."):
                continue
            aggregate = aggregates.get(signal.signal)
            statistics[k] = aggregate.as_dict()[signal.statistic] if aggregate is not None else np.nan
        minute_end = bucket.timestamp() / 60 + 1
        self.state.fold(np.array([row]), minute_end, statistics[None, :])

    def matrix(self, keys: list[RobotKey]) -> np.ndarray:
        """Feature rows of ``keys`` (NaN rows for robots not seen yet), columns as ``feature_names``."""
        known = [self.rows.get(key, -1) for key in keys]
        out = np.full((len(keys), len(self.feature_set.feature_names)), np.nan)
        present = [i for i, row in enumerate(known) if row >= 0]
        if present:
            out[present] = self.state.features(np.array([known[i] for i in present]))
        return out
