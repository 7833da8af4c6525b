"""Anomaly scores of a signal, sample by sample, in constant memory."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
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
