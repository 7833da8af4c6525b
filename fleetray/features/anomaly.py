"""Anomaly scores of a signal, sample by sample, in constant memory."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field


@dataclass(slots=True)
class EwmaScore:
    """An exponentially weighted mean and variance; scores a value by its z-score before learning it.

    ``warmup`` samples pass before any score is given, so a new robot does not alert on its first
    readings; the variance has a floor so a constant signal does not make every change infinite.
    """

    alpha: float = 0.02
    warmup: int = 60
    floor: float = 1e-6
    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def score(self, value: float) -> float:
        """The |z| of ``value`` against what came before (0 while warming up); then learn it."""
        z = 0.0
        if self.n >= self.warmup:
            z = abs(value - self.mean) / math.sqrt(max(self.var, self.floor * max(1.0, abs(self.mean))))
        if self.n == 0:
            self.mean = value
        else:
            delta = value - self.mean
            self.mean += self.alpha * delta
            self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)
        self.n += 1
        return z


ANOMALY_SIGNALS = ("battery.current", "battery.temp")
ANOMALY_COMPONENT_FIELDS = ("current_a", "temp_c")
RUNNING_STATUSES = frozenset({"cleaning", "moving"})


@functools.lru_cache(maxsize=4096)
def is_scored(signal: str) -> bool:
    """Whether the shards score ``signal`` (cached: the same few dozen names come with every sample)."""
    component_reading = signal.startswith("components.") and signal.rsplit(".", 1)[1] in ANOMALY_COMPONENT_FIELDS
    return signal in ANOMALY_SIGNALS or component_reading


@dataclass
class SampleScorer:
    """A robot's anomaly scores, sample by sample: the shards' and the edge agent's one implementation.

    Only a running robot's battery current and temperature and its components' currents and
    temperatures are scored: idle readings are another regime, and would only teach the baseline noise.
    """

    scores: dict[str, EwmaScore] = field(default_factory=dict)
    # The signal names of the last sample, and the trackers of those scored: a robot reports the same
    # signals sample after sample, so they are looked up once, not for every sample.
    _names: tuple[str, ...] = ()
    _scored: list[tuple[str, EwmaScore]] = field(default_factory=list)

    def score(self, status: str, signals: dict[str, float]) -> dict[str, float]:
        """The EWMA z-score of each scored signal of one sample (``signals`` by flat name)."""
        if status not in RUNNING_STATUSES:
            return {}
        names = tuple(signals)
        if names != self._names:
            scores = self.scores
            self._names = names
            self._scored = [(name, scores.setdefault(name, EwmaScore())) for name in names if is_scored(name)]
        return {name: tracker.score(signals[name]) for name, tracker in self._scored}
