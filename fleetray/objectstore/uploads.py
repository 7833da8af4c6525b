"""Multipart uploads through presigned URLs: S3's own, or signed URLs for the local store."""

from __future__ import annotations

import abc
import contextlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from pyarrow import fs as pafs

from fleetray.errors import UploadError
from fleetray.objectstore.signing import sign, verify


@dataclass(frozen=True)
class MultipartUpload:
    """An upload in progress: PUT part ``i`` (1-based) to ``part_urls[i - 1]``, then complete it."""

    upload_id: str
    key: str
    part_urls: list[str]
    expires_at: int


class UploadBackend(abc.ABC):
    """Where multipart uploads are staged and assembled."""

    @abc.abstractmethod
    def start(self, key: str, *, parts: int, expires_s: int) -> MultipartUpload:
        """Open an upload and sign one URL per part."""

    @abc.abstractmethod
    def complete(self, upload: MultipartUpload) -> int:
        """Assemble the parts into the object; return its size."""

    @abc.abstractmethod
    def abort(self, upload: MultipartUpload) -> None:
        """Drop the upload and its parts."""

    @abc.abstractmethod
    def download_url(self, key: str, *, expires_s: int) -> str:
        """A URL that reads the object without credentials, until it expires."""


class S3Uploads(UploadBackend):
    """S3 multipart uploads with presigned ``UploadPart`` URLs (boto3)."""

    def __init__(self, *, bucket: str, prefix: str, endpoint_url: str | None, region: str) -> None:
        import boto3

        self._client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self._bucket = bucket
        self._prefix = prefix

    def _object_key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def start(self, key: str, *, parts: int, expires_s: int) -> MultipartUpload:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._object_key(key))
            upload_id = created["UploadId"]
            urls = [
                self._client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self._bucket,
                        "Key": self._object_key(key),
                        "UploadId": upload_id,
                        "PartNumber": number,
                    },
                    ExpiresIn=expires_s,
                )
                for number in range(1, parts + 1)
            ]
        except (BotoCoreError, ClientError) as err:
            raise UploadError(f"S3 refused to start an upload of s3://{self._bucket}/{key}: {err}") from err
        return MultipartUpload(upload_id, key, urls, int(time.time()) + expires_s)

    def complete(self, upload: MultipartUpload) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        object_key = self._object_key(upload.key)
        try:
            listed = self._client.list_parts(Bucket=self._bucket, Key=object_key, UploadId=upload.upload_id)
            received = {part["PartNumber"]: part for part in listed.get("Parts", [])}
            missing = [n for n in range(1, len(upload.part_urls) + 1) if n not in received]
            if missing:
                raise UploadError(f"upload of {upload.key!r} is missing parts {missing}; PUT them and complete again")
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=object_key,
                UploadId=upload.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": received[n]["ETag"]} for n in sorted(received)]},
            )
            return self._client.head_object(Bucket=self._bucket, Key=object_key)["ContentLength"]
        except (BotoCoreError, ClientError) as err:
            raise UploadError(f"S3 could not complete the upload of {upload.key!r}: {err}") from err

    def abort(self, upload: MultipartUpload) -> None:
        self._client.abort_multipart_upload(
            Bucket=self._bucket, Key=self._object_key(upload.key), UploadId=upload.upload_id
        )

    def download_url(self, key: str, *, expires_s: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self._object_key(key)}, ExpiresIn=expires_s
        )


class LocalUploads(UploadBackend):
    """Uploads into a local store: parts arrive through the API's signed upload URLs.

    Parts are staged under ``.uploads/{upload_id}/`` in the store and concatenated on completion.
    A URL carries its expiry and an HMAC over (upload id, part number, expiry), so a robot can
    write exactly the parts it was given, and only until they expire.
    """

    def __init__(self, filesystem: pafs.FileSystem, root: str, *, signing_key: bytes, api_base_url: str) -> None:
        if not signing_key:
            raise UploadError("local uploads need a signing key; build the store with ObjectStore.from_settings")
        self._fs = filesystem
        self._root = root
        self._key = signing_key
        self._api_base_url = api_base_url.rstrip("/")

    def _staging(self, upload_id: str) -> str:
        if not upload_id.replace("-", "").replace("_", "").isalnum():
            raise UploadError(f"upload id {upload_id!r} is not one fleetray issued")
        return f"{self._root}/.uploads/{upload_id}"

    def start(self, key: str, *, parts: int, expires_s: int) -> MultipartUpload:
        upload_id = secrets.token_urlsafe(16)
        expires_at = int(time.time()) + expires_s
        urls = [
            f"{self._api_base_url}/v1/uploads/{upload_id}/parts/{number}"
            f"?expires={expires_at}&signature={sign(self._key, upload_id, number, expires_at)}"
            for number in range(1, parts + 1)
        ]
        upload = MultipartUpload(upload_id, key, urls, expires_at)
        staging = self._staging(upload_id)
        self._fs.create_dir(staging, recursive=True)
        with self._fs.open_output_stream(f"{staging}/manifest.json") as out:
            out.write(json.dumps(asdict(upload)).encode())
        return upload

    def _manifest(self, upload_id: str) -> MultipartUpload:
        try:
            with self._fs.open_input_stream(f"{self._staging(upload_id)}/manifest.json") as stream:
                return MultipartUpload(**json.loads(stream.read()))
        except FileNotFoundError as err:
            raise UploadError(f"no upload {upload_id!r} is in progress (completed, aborted or never started)") from err

    def receive_part(self, upload_id: str, part_number: int, *, expires: int, signature: str, data: bytes) -> None:
        """Store one part after checking its URL's signature and expiry."""
        if not verify(self._key, signature, upload_id, part_number, expires):
            raise UploadError(f"signature of part {part_number} of upload {upload_id!r} does not match")
        if expires < time.time():
            raise UploadError(f"the URL of part {part_number} of upload {upload_id!r} expired; ask for a new upload")
        manifest = self._manifest(upload_id)
        if not 1 <= part_number <= len(manifest.part_urls):
            raise UploadError(f"part {part_number} is outside 1..{len(manifest.part_urls)}")
        with self._fs.open_output_stream(f"{self._staging(upload_id)}/{part_number:05d}.part") as out:
            out.write(data)

    def complete(self, upload: MultipartUpload) -> int:
        manifest = self._manifest(upload.upload_id)
        staging = self._staging(upload.upload_id)
        part_paths = [f"{staging}/{n:05d}.part" for n in range(1, len(manifest.part_urls) + 1)]
        infos = self._fs.get_file_info(part_paths)
        missing = [n for n, info in enumerate(infos, start=1) if info.type != pafs.FileType.File]
        if missing:
            raise UploadError(f"upload of {manifest.key!r} is missing parts {missing}; PUT them and complete again")
        target = f"{self._root}/{manifest.key}"
        self._fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        size = 0
        with self._fs.open_output_stream(target) as out:
            for path in part_paths:
                with self._fs.open_input_stream(path) as part:
                    while chunk := part.read(8 * 1024 * 1024):
                        out.write(chunk)
                        size += len(chunk)
        self._fs.delete_dir(staging)
        return size

    def download_url(self, key: str, *, expires_s: int) -> str:
        expires_at = int(time.time()) + expires_s
        signature = sign(self._key, "download", key, expires_at)
        query = urlencode({"key": key, "expires": expires_at, "signature": signature})
        return f"{self._api_base_url}/v1/downloads?{query}"

    def check_download(self, key: str, *, expires: int, signature: str) -> None:
        """Check a download URL's signature and expiry.

        Raises:
            UploadError: the signature does not match, or the URL expired.
        """
        if not verify(self._key, signature, "download", key, expires):
            raise UploadError(f"the signature of the download URL of {key!r} does not match")
        if expires < time.time():
            raise UploadError(f"the download URL of {key!r} expired; ask for a new one")

    def abort(self, upload: MultipartUpload) -> None:
        self._fs.delete_dir_contents(self._staging(upload.upload_id), missing_dir_ok=True)
        with contextlib.suppress(FileNotFoundError):  # no part ever arrived, or aborted already
            self._fs.delete_dir(self._staging(upload.upload_id))
