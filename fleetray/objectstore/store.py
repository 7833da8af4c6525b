"""One object store interface over pyarrow.fs, for file:// and s3:// URLs."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pyarrow import fs as pafs

from fleetray.errors import ObjectNotFoundError, ObjectStoreError
from fleetray.objectstore.uploads import LocalUploads, MultipartUpload, S3Uploads, UploadBackend

if TYPE_CHECKING:
    from fleetray.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object's key (relative to the store's root), size and modification time."""

    key: str
    size: int
    modified: datetime | None


class ObjectStore:
    """Objects addressed by key under one root URL (``file:///data/objects``, ``s3://bucket/prefix``).

    Args:
        url: the root of the store.
        s3_endpoint_url: endpoint override for S3-compatible servers (MinIO, moto).
        s3_region: the bucket's region.
        signing_key: secret that signs local upload URLs (unused on S3, which signs its own).
        api_base_url: base of the local upload URLs handed to robots.
    """

    def __init__(
        self,
        url: str,
        *,
        s3_endpoint_url: str | None = None,
        s3_region: str = "us-east-1",
        signing_key: bytes = b"",
        api_base_url: str = "http://127.0.0.1:8000",
    ) -> None:
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.scheme = parts.scheme
        if parts.scheme == "file":
            root = unquote(parts.path).rstrip("/") or "/"
            self._fs: pafs.FileSystem = pafs.LocalFileSystem()
            self._root = root
            self._fs.create_dir(root, recursive=True)
            self._uploads: UploadBackend = LocalUploads(
                self._fs, root, signing_key=signing_key, api_base_url=api_base_url
            )
        elif parts.scheme == "s3":
            if not parts.netloc:
                raise ObjectStoreError(f"object store URL {url!r} names no bucket; expected s3://bucket/prefix")
            self._fs = pafs.S3FileSystem(
                endpoint_override=s3_endpoint_url, region=s3_region, allow_bucket_creation=True
            )
            self._root = f"{parts.netloc}{parts.path}".rstrip("/")
            self._uploads = S3Uploads(
                bucket=parts.netloc,
                prefix=parts.path.strip("/"),
                endpoint_url=s3_endpoint_url,
                region=s3_region,
            )
        else:
            raise ObjectStoreError(f"object store URL {url!r} must start with file:// or s3://")

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """The store the settings name (the data dir's ``objects`` folder by default)."""
        return cls(**cls.arguments(settings))

    @staticmethod
    def arguments(settings: Settings) -> dict[str, Any]:
        """The store's constructor arguments, as plain data: what an actor on another node opens it with."""
        from fleetray.objectstore.signing import load_or_create_signing_key

        return {
            "url": settings.resolved_object_store_url,
            "s3_endpoint_url": settings.s3_endpoint_url,
            "s3_region": settings.s3_region,
            "signing_key": load_or_create_signing_key(settings.data_dir),
            "api_base_url": settings.api_base_url,
        }

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The pyarrow filesystem, for readers that take one (Parquet, Ray Data)."""
        return self._fs

    def path(self, key: str) -> str:
        """The filesystem path of ``key``, for :attr:`filesystem`."""
        return f"{self._root}/{_check_key(key)}"

    def uri(self, key: str) -> str:
        """The full URI of ``key``."""
        return f"{self.url}/{_check_key(key)}"

    def key_of(self, location: str) -> str | None:
        """The key of an object named by its URI (or, in a local store, its path); None if outside this store."""
        prefixes = [self.url + "/"] + ([self._root.rstrip("/") + "/"] if self.scheme == "file" else [])
        for prefix in prefixes:
            if location.startswith(prefix) and len(location) > len(prefix):
                return location[len(prefix) :]
        return None

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Write ``data`` at ``key``, replacing what was there."""
        with self.open_write(key) as out:
            out.write(data)
        return ObjectInfo(key, len(data), None)

    def get(self, key: str) -> bytes:
        """The whole object at ``key``."""
        with self.open_read(key) as stream:
            return stream.read()

    def open_read(self, key: str) -> IO[bytes]:
        """A stream over the object at ``key``."""
        try:
            return self._fs.open_input_stream(self.path(key))
        except FileNotFoundError as err:
            raise ObjectNotFoundError(f"no object at {self.uri(key)}") from err
        except OSError as err:
            raise ObjectStoreError(f"cannot read {self.uri(key)}: {err}") from err

    def open_write(self, key: str) -> IO[bytes]:
        """A stream that becomes the object at ``key`` when closed."""
        path = self.path(key)
        try:
            if self.scheme == "file":
                self._fs.create_dir(posixpath.dirname(path), recursive=True)
            return self._fs.open_output_stream(path)
        except OSError as err:
            raise ObjectStoreError(f"cannot write {self.uri(key)}: {err}") from err

    def exists(self, key: str) -> bool:
        """Whether an object exists at ``key``."""
        return self._fs.get_file_info(self.path(key)).type == pafs.FileType.File

    def delete(self, key: str) -> None:
        """Remove the object at ``key``; a missing object is not an error."""
        try:
            self._fs.delete_file(self.path(key))
        except FileNotFoundError:
            return

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with the folder ``prefix``, sorted by key."""
        return sorted(self._iter(prefix), key=lambda info: info.key)

    def _iter(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.path(prefix) if prefix else self._root
        selector = pafs.FileSelector(base.rstrip("/"), recursive=True, allow_not_found=True)
        for info in self._fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            key = info.path[len(self._root) + 1 :]
            if key.startswith(".uploads/"):
                continue
            yield ObjectInfo(key, info.size, info.mtime)

    def start_multipart_upload(self, key: str, *, parts: int, expires_s: int = 3600) -> MultipartUpload:
        """Prepare an upload in ``parts`` pieces, each PUT to its own presigned URL.

        Robots upload bags this way without holding cloud credentials: on S3 the URLs are S3's own
        presigned ``UploadPart`` URLs; on the local store they are signed URLs of the platform's API.
        """
        if not 1 <= parts <= 10_000:
            raise ObjectStoreError(f"parts must be between 1 and 10000, got {parts}")
        return self._uploads.start(_check_key(key), parts=parts, expires_s=expires_s)

    def complete_multipart_upload(self, upload: MultipartUpload) -> ObjectInfo:
        """Assemble the uploaded parts into the object; every part must have arrived."""
        size = self._uploads.complete(upload)
        return ObjectInfo(upload.key, size, None)

    def abort_multipart_upload(self, upload: MultipartUpload) -> None:
        """Discard an upload and the parts received so far."""
        self._uploads.abort(upload)

    def download_url(self, key: str, *, expires_s: int = 3600) -> str:
        """A URL that reads ``key`` without credentials until it expires (S3's presigned GET, or the API's)."""
        return self._uploads.download_url(_check_key(key), expires_s=expires_s)

    def check_download(self, key: str, *, expires: int, signature: str) -> None:
        """Check a local download URL (the API's download route calls this).

        Raises:
            ObjectStoreError: the store is S3 (its URLs go to S3), or the URL is forged or expired.
        """
        if not isinstance(self._uploads, LocalUploads):
            raise ObjectStoreError("downloads from S3 go to S3 directly, not through fleetray")
        self._uploads.check_download(_check_key(key), expires=expires, signature=signature)

    def receive_part(self, upload_id: str, part_number: int, *, expires: int, signature: str, data: bytes) -> None:
        """Accept one part PUT to a local upload URL (the API's upload route calls this)."""
        if not isinstance(self._uploads, LocalUploads):
            raise ObjectStoreError("parts of S3 uploads go to S3 directly, not through fleetray")
        self._uploads.receive_part(upload_id, part_number, expires=expires, signature=signature, data=data)


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ObjectStoreError(f"object key {key!r} must be a relative path without empty, '.' or '..' parts")
    return key
