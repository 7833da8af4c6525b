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
        self._window_signals = [(k, s) for k, s in enumerate(signals) if not s.signal.startswith("events.")]
        # Warnings not folded yet, per robot and window end (minutes since the epoch), as the batch counts them.
        self._pending: dict[int, dict[float, np.ndarray]] = {}

    def _row(self, key: RobotKey) -> int:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = len(self.rows)
            if row >= len(self.state.last):
                self.state.grow(max(64, 2 * len(self.state.last)))
        return row

    def on_warning(self, key: RobotKey, component: str | None, ts: datetime) -> None:
        """Count a WARNING event of ``component`` in the minute it happened (folded when that minute closes;
        in the next one to close if it arrives after its minute did)."""
        column = self._warning_column.get(component or "")
        if column is None:
            return
        window_end = ts.timestamp() // 60 + 1
        pending = self._pending.setdefault(self._row(key), {})
        counts = pending.get(window_end)
        if counts is None:
            counts = pending[window_end] = np.zeros(len(self.feature_set.signals))
        counts[column] += 1

    def on_minutes(self, closed: list[tuple[RobotKey, datetime, dict[str, Aggregate]]]) -> None:
        """Fold closed minutes (each robot's in time order): their statistics, and the warnings of each minute
        (or earlier, arrived late). Robots are folded together, a robot's second minute in a second round."""
        rounds: list[list[tuple[int, float, np.ndarray]]] = []
        seen: dict[int, int] = {}
        for key, bucket, aggregates in closed:
            row = self._row(key)
            minute_end = bucket.timestamp() / 60 + 1
            turn = seen[row] = seen.get(row, -1) + 1
            if turn == len(rounds):
                rounds.append([])
            rounds[turn].append((row, minute_end, self._statistics(row, minute_end, aggregates)))
        for folded in rounds:
            rows, ends, statistics = zip(*folded, strict=True)
            self.state.fold(np.array(rows), np.array(ends), np.vstack(statistics))

    def _statistics(self, row: int, minute_end: float, aggregates: dict[str, Aggregate]) -> np.ndarray:
        statistics = np.zeros(len(self.feature_set.signals))
        pending = self._pending.get(row)
        if pending:
            for window_end in [end for end in pending if end <= minute_end]:
                statistics += pending.pop(window_end)
        for k, signal in self._window_signals:
            aggregate = aggregates.get(signal.signal)
            statistics[k] = aggregate.statistic(signal.statistic) if aggregate is not None else np.nan
        return statistics

    def matrix(self, keys: list[RobotKey]) -> np.ndarray:
        """Feature rows of ``keys`` (NaN rows for robots not seen yet), columns as ``feature_names``."""
        known = [self.rows.get(key, -1) for key in keys]
        out = np.full((len(keys), len(self.feature_set.feature_names)), np.nan)
        present = [i for i, row in enumerate(known) if row >= 0]
        if present:
            out[present] = self.state.features(np.array([known[i] for i in present]))
        return out
