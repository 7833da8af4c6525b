"""The object store: bags, the Parquet lake and model artifacts, on a local folder or S3."""

from __future__ import annotations

from fleetray.errors import MissingExtraError

try:
    import pyarrow  # noqa: F401
except ImportError as err:  # pragma: no cover - only on an edge-only install
    raise MissingExtraError('fleetray.objectstore needs pyarrow: pip install "fleetray[platform]"') from err

from fleetray.objectstore.store import ObjectInfo, ObjectStore
from fleetray.objectstore.uploads import MultipartUpload

__all__ = ["MultipartUpload", "ObjectInfo", "ObjectStore"]
