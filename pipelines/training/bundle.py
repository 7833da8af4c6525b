"""A trained model as one file: a manifest (what it predicts, from which features) and its weights.

The file is a zip of ``manifest.json`` and one member per weight blob (an XGBoost booster per component
in its own JSON format, a torch state dict, a scikit-learn forest as skops-free numpy arrays): no pickle,
so loading a model never runs code from the registry.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fleetray.errors import FeatureVersionError, RegistryError
from fleetray.features.featureset import FeatureSet
from fleetray.learning.calibration import PlattScaling
from fleetray.learning.relative import TypicalLevels, model_columns

if TYPE_CHECKING:
    from fleetray.learning.table import TrainingTable

TASKS = ("failure", "rul", "anomaly")
KINDS = ("xgboost", "lstm", "isolation_forest", "autoencoder")


@dataclass
class ModelBundle:
    """What a model predicts and from what; the weights ride along in ``blobs``.

    Attributes:
        kind: the algorithm (``xgboost``, ``lstm``, ``isolation_forest``, ``autoencoder``).
        task: ``failure`` (probability of failing within ``horizon``), ``rul`` or ``anomaly``.
        feature_set: the definition of the features it was trained on; ``feature_version`` its hash then.
        feature_names: the input columns, conditions included, in order.
        condition_levels: the categories of each categorical condition, in one-hot order.
        components: what it predicts for (one output per component).
        horizon, rul_cap, time_unit: the label policy it was trained with.
        thresholds: per component, the probability above which a failure is predicted (calibrated, where
            ``info["calibration"]`` holds the component's map).
        params: the hyper-parameters; ``metrics``: measured on held-back units; ``info``: anything else
            (units per split, rounds, standardisation).
    """

    kind: str
    task: str
    feature_set: FeatureSet
    feature_version: str
    feature_names: list[str]
    condition_levels: dict[str, list[str]]
    components: list[str]
    horizon: float
    rul_cap: float
    time_unit: str
    params: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of_table(
        cls, table: TrainingTable, *, kind: str, task: str, components: list[str], **fields: Any
    ) -> ModelBundle:
        """A bundle for a model trained on ``table``: its features and label policy, and ``fields``."""
        return cls(
            kind=kind,
            task=task,
            feature_set=table.feature_set,
            feature_version=table.feature_set.version,
            feature_names=table.feature_names,
            condition_levels=table.condition_levels,
            components=components,
            horizon=table.policy.horizon,
            rul_cap=table.policy.rul_cap,
            time_unit=table.time_unit,
            **fields,
        )

    def columns_for(self, component: str) -> np.ndarray:
        """The input columns its model of ``component`` reads (``SignalFeature.informs``)."""
        typical = self.typical_levels
        width = len(self.feature_names) - (len(typical.columns) if typical is not None else 0)
        return model_columns(self.feature_set, width, component, typical)

    @property
    def typical_levels(self) -> TypicalLevels | None:
        """The robot models' typical levels its relative input columns divide by, if it has any."""
        saved = self.info.get("typical_levels")
        return None if saved is None else TypicalLevels.from_dict(saved)

    @property
    def calibration(self) -> dict[str, PlattScaling]:
        """Per component, the map from its booster's scores to calibrated probabilities (none: the scores)."""
        return {
            component: PlattScaling.from_dict(saved) for component, saved in self.info.get("calibration", {}).items()
        }

    def check_features(self) -> None:
        """Refuse a model whose features this code computes differently (or not at all).

        Raises:
            FeatureVersionError: names both versions and what to do.
        """
        current = self.feature_set.version
        if current != self.feature_version:
            raise FeatureVersionError(
                f"model was trained on feature version {self.feature_version} but this code computes "
                f"{current} for its feature set {self.feature_set.name!r}: retrain it (fleetray train) "
                "or score it with the fleetray version that trained it"
            )

    def to_bytes(self) -> bytes:
        """The model as a zip file."""
        manifest = {
            "format": 1,
            "kind": self.kind,
            "task": self.task,
            "feature_set": self.feature_set.model_dump(mode="json"),
            "feature_version": self.feature_version,
            "feature_names": self.feature_names,
            "condition_levels": self.condition_levels,
            "components": self.components,
            "horizon": self.horizon,
            "rul_cap": self.rul_cap,
            "time_unit": self.time_unit,
            "params": self.params,
            "thresholds": self.thresholds,
            "metrics": self.metrics,
            "info": self.info,
            "blobs": sorted(self.blobs),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest, default=float))
            for name, blob in self.blobs.items():
                archive.writestr(f"blobs/{name}", blob)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelBundle:
        """A model from its zip file.

        Raises:
            RegistryError: the bytes are not a model file of a format this code reads.
        """
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                manifest = json.loads(archive.read("manifest.json"))
                blobs = {name: archive.read(f"blobs/{name}") for name in manifest["blobs"]}
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
            raise RegistryError(f"not a fleetray model file ({err})") from err
        if manifest.get("format") != 1:
            raise RegistryError(f"model file format {manifest.get('format')!r} is not one this version reads (1)")
        return cls(
            kind=manifest["kind"],
            task=manifest["task"],
            feature_set=FeatureSet.model_validate(manifest["feature_set"]),
            feature_version=manifest["feature_version"],
            feature_names=manifest["feature_names"],
            condition_levels=manifest["condition_levels"],
            components=manifest["components"],
            horizon=manifest["horizon"],
            rul_cap=manifest["rul_cap"],
            time_unit=manifest["time_unit"],
            params=manifest["params"],
            thresholds=manifest["thresholds"],
            metrics=manifest["metrics"],
            info=manifest["info"],
            blobs=blobs,
        )
