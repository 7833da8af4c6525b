"""Learning from the fleet's history: training tables, features, labels, splits and metrics.

Plain Python and numpy (no Ray, torch or xgboost at import): :mod:`pipelines.training` tunes and
trains models on these tables, :mod:`serve_apps.scoring` serves them.
"""

from __future__ import annotations

from fleetray.learning.labels import component_labels
from fleetray.learning.spec import DataSpec, load_spec, load_training_table
from fleetray.learning.splits import Standardizer, UnitSplit, split_units
from fleetray.learning.table import LabelPolicy, TrainingTable

__all__ = [
    "DataSpec",
    "LabelPolicy",
    "Standardizer",
    "TrainingTable",
    "UnitSplit",
    "component_labels",
    "load_spec",
    "load_training_table",
    "split_units",
]
