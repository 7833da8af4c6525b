"""Anomaly scores of a whole shard's robots a batch at a time: :class:`~fleetray.features.anomaly.EwmaScore`
over arrays.

A shard scores six-odd signals of every sample it applies. As one ``EwmaScore`` object per robot and signal,
that was a third of the shard's apply step (a Python call per signal per sample). Here every robot's
baselines live in three arrays, one slot per robot and signal, and a batch's values are scored in a handful
of numpy operations. Each slot goes through exactly the operations ``EwmaScore.score`` performs, in the same
order and in the same IEEE doubles, so the scores and baselines are identical to the last bit, however the
samples were batched.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetray.features.anomaly import RUNNING_STATUSES, EwmaScore, is_scored

_DEFAULTS = EwmaScore()


class ScoreBook:
    """The EWMA baselines of every scored signal of a shard's robots, one slot each.

    Args:
        alpha, warmup, floor: as :class:`~fleetray.features.anomaly.EwmaScore`'s.
    """

    def __init__(
        self, alpha: float = _DEFAULTS.alpha, warmup: int = _DEFAULTS.warmup, floor: float = _DEFAULTS.floor
    ) -> None:
        self.alpha, self.warmup, self.floor = alpha, warmup, floor
        self.mean = np.zeros(1024)
        self.var = np.zeros(1024)
        self.n = np.zeros(1024, dtype=np.int64)
        self.size = 0

    def allocate(self) -> int:
        """A new slot: no value learnt yet."""
        if self.size == len(self.mean):
            grown = 2 * self.size
            self.mean, self.var = np.resize(self.mean, grown), np.resize(self.var, grown)
            self.n = np.resize(self.n, grown)
            self.mean[self.size :] = self.var[self.size :] = self.n[self.size :] = 0
        self.size += 1
        return self.size - 1

    def baseline(self, slot: int) -> EwmaScore:
        """A slot's state, as the equivalent ``EwmaScore``."""
        return EwmaScore(
            self.alpha, self.warmup, self.floor, int(self.n[slot]), float(self.mean[slot]), float(self.var[slot])
        )

    def score(self, slots: Sequence[int], values: Sequence[float], rounds: Sequence[int]) -> list[float]:
        """Score ``values[i]`` against slot ``slots[i]``'s baseline, then learn it; return the |z| of each.

        A slot may come several times (a robot's samples of one batch): ``rounds[i]`` says which of them
        ``values[i]`` is (0 for its first), and slots learn their values round after round, in time order.
        """
        if not slots:
            return []
        slot_array = np.asarray(slots, dtype=np.intp)
        value_array = np.asarray(values, dtype=np.float64)
        last_round = max(rounds)
        if last_round == 0:
            return self._score_round(slot_array, value_array).tolist()
        round_array = np.asarray(rounds)
        scores = np.empty(len(value_array))
        for which in range(last_round + 1):
            chosen = round_array == which
            scores[chosen] = self._score_round(slot_array[chosen], value_array[chosen])
        return scores.tolist()

    def _score_round(self, slots: np.ndarray, values: np.ndarray) -> np.ndarray:
        """One value per slot (no slot twice): EwmaScore.score, operation for operation."""
        mean, var, n = self.mean[slots], self.var[slots], self.n[slots]
        deviation = np.abs(values - mean)
        spread = np.sqrt(np.maximum(var, self.floor * np.maximum(1.0, np.abs(mean))))
        scores = np.where(n >= self.warmup, deviation / spread, 0.0)
        delta = values - mean
        first = n == 0
        self.mean[slots] = np.where(first, values, mean + self.alpha * delta)
        self.var[slots] = np.where(first, var, (1 - self.alpha) * (var + self.alpha * delta * delta))
        self.n[slots] = n + 1
        return scores


Pick = Callable[[Sequence[float]], Sequence[float]]


def _picker(places: list[int]) -> Pick:
    """The values at ``places``, picked in one C call (``itemgetter`` gives a bare value for a single place)."""
    if len(places) == 1:
        place = places[0]
        return lambda values: (values[place],)
    return operator.itemgetter(*places) if places else _pick_nothing


def _pick_nothing(values: Sequence[float]) -> tuple[float, ...]:
    return ()


_UNSCORED: tuple[tuple[str, ...], list[int], Pick] = ((), [], _pick_nothing)


@dataclass
class RobotScores:
    """One robot's slots in its shard's :class:`ScoreBook`, by signal name.

    Which of a sample's signals are scored is :class:`~fleetray.features.anomaly.SampleScorer`'s rule: a
    running robot's battery current and temperature and its components' currents and temperatures.
    """

    slots: dict[str, int] = field(default_factory=dict)
    # The signal names of the last sample, and those of them scored with their slots and the getter of their
    # values: a robot reports the same signals sample after sample, so they are looked up once, not for every sample.
    _names: tuple[str, ...] = ()
    _scored: tuple[tuple[str, ...], list[int], Pick] = _UNSCORED

    def scored(self, book: ScoreBook, status: str, names: tuple[str, ...]) -> tuple[tuple[str, ...], list[int], Pick]:
        """Which of a sample's signals (by name) are scored, their slots (allocated for signals new to the
        robot), and a function that picks their values from the sample's values (in ``names`` order). The scored
        names are one tuple while the robot's signals stay the same."""
        if status not in RUNNING_STATUSES:
            return _UNSCORED
        if names != self._names:
            slots = self.slots
            places = [place for place, name in enumerate(names) if is_scored(name)]
            scored = tuple(names[place] for place in places)
            for name in scored:
                if name not in slots:
                    slots[name] = book.allocate()
            self._names, self._scored = names, (scored, [slots[name] for name in scored], _picker(places))
        return self._scored
