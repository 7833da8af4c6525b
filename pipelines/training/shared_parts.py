"""One failure booster learnt from every part's failures, served as each part's own booster.

A rare part fails a handful of times in a fleet's history: too few for a booster of its own to learn what
wear looks like. Wear looks much alike on every part, though (its current and temperature climb against its
robot model's typical level, its warnings come more and more often), so one booster learns it from all the
parts' failures together: each part's rows stacked, each part's columns in a slot named alike for every part
(``components.{part}.current_a:max:last``), and which part a row belongs to in one-hot columns.

For serving, each part gets the shared trees cut down to the branches its rows take (its part column fixed,
the slots only other parts have missing): a booster on the part's own columns that predicts exactly what the
shared one predicts for it. Bundles, the predictor, calibration and explanations stay as they were, and a
part's model still reads only the signals that inform it.

Measured on a simulated 100-robot history (three splits by robot, default hyper-parameters, thresholds out of
fold): the rare parts' PR-AUC on the test robots rose from 0.89 and 0.67 to 0.99 and 0.98 (pump), 0.60 to 0.72
(vacuum) and 0.97 to 1.00 (wheels), and the parts at precision and recall of 0.8 or more from 5 of 16 to 9.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PART_SLOT = "part={component}"
PART_TOKEN = "{part}"
# XGBoost's parent of a tree's root.
NO_PARENT = 2147483647


def slot_name(feature: str, component: str) -> str:
    """A feature's name with the part it speaks of written as ``{part}`` (``components.pump.current_a:max:last``
    becomes ``components.{part}.current_a:max:last``), so that every part's like feature shares a slot."""
    signal, separator, rest = feature.partition(":")
    tokens = [PART_TOKEN if token == component else token for token in signal.split(".")]
    return ".".join(tokens) + separator + rest


@dataclass(frozen=True)
class PartLayout:
    """Where each part's columns go in the shared booster's input.

    Attributes:
        components: the parts, in the order of their one-hot columns (after the slots).
        slots: the shared input's feature columns, named as :func:`slot_name` gives them.
        columns: per part, the columns of the features its model reads (``model_columns``).
        positions: per part, the slot each of those columns fills.
    """

    components: list[str]
    slots: list[str]
    columns: dict[str, np.ndarray]
    positions: dict[str, np.ndarray]

    @classmethod
    def of(cls, feature_names: Sequence[str], columns: dict[str, np.ndarray]) -> PartLayout:
        """The layout of parts whose models read ``columns`` of features named ``feature_names``."""
        slots: dict[str, int] = {}
        positions = {}
        for component, own in columns.items():
            names = [slot_name(feature_names[k], component) for k in own]
            positions[component] = np.array([slots.setdefault(name, len(slots)) for name in names], dtype=np.intp)
        return cls(list(columns), list(slots), dict(columns), positions)

    @property
    def width(self) -> int:
        """Columns of the shared input: the slots, then a one-hot column per part."""
        return len(self.slots) + len(self.components)

    @property
    def names(self) -> list[str]:
        """The shared input's column names: the slots, then ``part={component}``."""
        return self.slots + [PART_SLOT.format(component=c) for c in self.components]

    def inputs(self, features: np.ndarray, component: str) -> np.ndarray:
        """Rows of ``features`` as the shared booster reads them for ``component``: its columns in their slots,
        its one-hot column set, every other slot missing."""
        out = np.full((len(features), self.width), np.nan)
        out[:, self.positions[component]] = features[:, self.columns[component]]
        out[:, len(self.slots) :] = 0.0
        out[:, len(self.slots) + self.components.index(component)] = 1.0
        return out

    def fixed(self, component: str) -> dict[int, float]:
        """The shared input's columns that are the same on every row of ``component``: the one-hot columns, and
        (missing) the slots it has no column for."""
        own = set(self.positions[component].tolist())
        values = {slot: math.nan for slot in range(len(self.slots)) if slot not in own}
        for k, other in enumerate(self.components):
            values[len(self.slots) + k] = 1.0 if other == component else 0.0
        return values

    def specialise(self, model: dict[str, Any], component: str, feature_names: Sequence[str]) -> dict[str, Any]:
        """The shared booster's JSON model cut down to ``component``'s branches, reading its own columns (in the
        order of ``columns[component]``, named ``feature_names``): the same predictions on its rows."""
        fixed = self.fixed(component)
        own_position = {int(slot): k for k, slot in enumerate(self.positions[component])}
        out = copy.deepcopy(model)
        learner = out["learner"]
        width = str(len(feature_names))
        learner["feature_names"] = list(feature_names)
        learner["feature_types"] = ["float"] * len(feature_names)
        learner["learner_model_param"]["num_feature"] = width
        for tree in learner["gradient_booster"]["model"]["trees"]:
            _prune(tree, fixed, own_position)
            tree["tree_param"]["num_feature"] = width
        return out


def _prune(tree: dict[str, Any], fixed: dict[int, float], own_position: dict[int, int]) -> None:
    """Rewrite ``tree`` in place: a split on a fixed column is replaced by the branch its value takes, and the
    splits left read the part's own columns."""
    per_node = ("base_weights", "default_left", "loss_changes", "split_conditions", "split_type", "sum_hessian")
    left, right = tree["left_children"], tree["right_children"]
    kept: dict[str, list[Any]] = {key: [] for key in (*per_node, "split_indices", "left", "right", "parents")}

    def taken(node: int) -> int:
        while left[node] != -1 and tree["split_indices"][node] in fixed:
            value = fixed[tree["split_indices"][node]]
            goes_left = (
                bool(tree["default_left"][node]) if math.isnan(value) else value < tree["split_conditions"][node]
            )
            node = left[node] if goes_left else right[node]
        return node

    # Breadth first, a node's two children numbered one after the other: XGBoost's explanations find the right
    # child next to the left one.
    order = [(taken(0), NO_PARENT)]
    for new, (node, parent) in enumerate(order):  # grows as it goes
        for key in per_node:
            kept[key].append(tree[key][node])
        kept["parents"].append(parent)
        if left[node] == -1:
            kept["split_indices"].append(0)
            kept["left"].append(-1)
            kept["right"].append(-1)
            continue
        kept["split_indices"].append(own_position[tree["split_indices"][node]])
        kept["left"].append(len(order))
        kept["right"].append(len(order) + 1)
        order += [(taken(left[node]), new), (taken(right[node]), new)]
    for key in per_node:
        tree[key] = kept[key]
    tree["split_indices"] = kept["split_indices"]
    tree["left_children"], tree["right_children"], tree["parents"] = kept["left"], kept["right"], kept["parents"]
    tree["tree_param"]["num_nodes"] = str(len(kept["parents"]))
    tree["tree_param"]["num_deleted"] = "0"
