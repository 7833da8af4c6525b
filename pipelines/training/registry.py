"""Registering trained models: the artifact in the object store, its metadata in PostgreSQL.

Nothing is written unless both succeed: the artifact goes up first under a key of its own, and a failed
insert leaves no row pointing at it (an orphaned file at worst, never a row without its file).
"""

from __future__ import annotations

import functools
import getpass
import logging
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetray.errors import RegistryError
from fleetray.storage import models as model_rows
from pipelines.training.bundle import ModelBundle

if TYPE_CHECKING:
    from fleetray.objectstore import ObjectStore
    from fleetray.storage import Database

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """fleetray's version, and the git commit when running from a checkout."""
    version = metadata.version("fleetray")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+{commit}"


def default_name(bundle: ModelBundle) -> str:
    """``{task}-{kind}``: the name scoring looks for (``failure-xgboost``, ``rul-xgboost``…)."""
    return f"{bundle.task}-{bundle.kind}"


def register(
    bundle: ModelBundle,
    *,
    db: Database,
    store: ObjectStore,
    data_hash: str | None = None,
    name: str | None = None,
    tenant_id: str | None = None,
    created_by: str | None = None,
    stage: str | None = None,
) -> dict[str, Any]:
    """Store the model and record it as the next version of ``name``; returns its registry row.

    Raises:
        FeatureVersionError: the bundle's features are not what this code computes.
        RegistryError: an unknown task.
    """
    bundle.check_features()
    data_hash = data_hash or bundle.info.get("data_hash")
    if not data_hash:
        raise RegistryError("the model does not say what data trained it: pass data_hash (TrainingTable.data_hash)")
    if bundle.task not in ("failure", "rul", "anomaly"):
        raise RegistryError(f"task {bundle.task!r} is not one of failure, rul, anomaly")
    name = name or default_name(bundle)
    created_by = created_by or getpass.getuser()
    scope = tenant_id or "fleet"
    key = f"models/{name}/{scope}/{bundle.feature_version}-{data_hash}-{_nonce()}.zip"
    store.put(key, bundle.to_bytes())
    record = {
        "name": name,
        "tenant_id": tenant_id,
        "kind": bundle.kind,
        "task": bundle.task,
        "uri": key,
        "feature_version": bundle.feature_version,
        "data_hash": data_hash,
        "code_version": code_version(),
        "components": bundle.components,
        "metrics": bundle.metrics,
        "params": bundle.params,
        "info": {**bundle.info, "horizon": bundle.horizon, "rul_cap": bundle.rul_cap, "time_unit": bundle.time_unit},
        "created_by": created_by,
    }
    with db.connect() as conn:
        row = model_rows.insert_model(conn, record)
        if stage is not None and stage != "none":
            row = model_rows.set_stage(conn, row["model_id"], stage, changed_by=created_by, reason="registered")
    logger.info("registered %s version %s (%s)", name, row["version"], key)
    return row


def load(store: ObjectStore, row: dict[str, Any]) -> ModelBundle:
    """The bundle a registry row points at."""
    return ModelBundle.from_bytes(store.get(row["uri"]))


def _nonce() -> str:
    import secrets

    return secrets.token_hex(4)
