"""Bag uploads: a robot asks for presigned part URLs, PUTs the parts, and completes the upload.

Robots never hold store credentials. Each upload goes to ``bags/{tenant}/{robot}/{date}/{name}``, under
the robot's own prefix only. On S3 the part URLs are S3's own; on the local store they point at
``PUT /v1/uploads/{upload_id}/parts/{n}`` here, signed and expiring. Completing an upload hands the bag
to the bag watcher at once, which decodes and indexes it exactly once (by content hash).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from fleetray.errors import ObjectStoreError
from fleetray.objectstore import MultipartUpload
from fleetray.storage.bag_uploads import BagUpload, finish_upload, read_upload, record_upload
from serve_apps.api import auth
from serve_apps.api.context import ApiContext, Context
from serve_apps.api.problems import ApiProblem, problem_responses

router = APIRouter(tags=["bags"], responses=problem_responses(401, 403, 404, 409, 422, 429, 503))
PART_BYTES = 16 * 1024 * 1024  # S3 takes 5 MiB to 5 GiB; local parts pass through the API, so keep them modest
MAX_BAG_BYTES = 10_000 * PART_BYTES
BAG_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,119}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,119})?$"  # no ".", "..", hidden
UploadId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,200}$", description="The id POST /v1/device/bags returned.")]


class BagUploadRequest(BaseModel):
    """A bag a robot is about to upload: a file, or one file of a rosbag2 directory (``dir/file``)."""

    name: str = Field(
        pattern=BAG_NAME,
        examples=["2026-11-27T10-15-00.mcap", "run_42/metadata.yaml"],
        description="A file name, or `directory/file` for a file of a rosbag2 directory.",
    )
    size_bytes: int = Field(gt=0, le=MAX_BAG_BYTES, description="The file's exact size.")
    recorded_at: datetime | None = Field(
        default=None, description="When recording started (the date folder); now if not given."
    )
    trigger: str | None = Field(
        default=None,
        max_length=64,
        examples=["error:E_BRUSH_JAM"],
        description="What made the robot record; searchable in the bag index.",
    )
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="The file's SHA-256; completing checks the bag against it."
    )


class UploadPart(BaseModel):
    number: int
    url: str


class BagUploadStarted(BaseModel):
    upload_id: str
    key: str
    part_size_bytes: int
    parts: list[UploadPart]
    expires_at: datetime


class BagUploadCompleted(BaseModel):
    upload_id: str
    key: str
    uri: str
    size_bytes: int
    sha256: str | None = Field(description="The assembled object's SHA-256, where the robot gave one to check.")
    processing: str = Field(
        description="`queued`: the bag watcher has it now; `waiting`: the bag directory lacks "
        "files still; `next_scan`: no watcher answered here, the next scan of the store finds it."
    )


def _object_key(tenant_id: str, robot_id: str, body: BagUploadRequest) -> str:
    day = (body.recorded_at or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    return f"bags/{tenant_id}/{robot_id}/{day}/{body.name}"


@router.post(
    "/v1/device/bags",
    response_model=BagUploadStarted,
    status_code=201,
    summary="Start uploading a bag: presigned URLs, one per part of `part_size_bytes`",
)
def start_bag_upload(key: auth.Device, context: Context, body: BagUploadRequest) -> BagUploadStarted:
    assert key.robot_id is not None
    object_key = _object_key(key.tenant_id, key.robot_id, body)
    parts = max(1, math.ceil(body.size_bytes / PART_BYTES))
    expires_s = context.settings.upload_url_ttl_s
    try:
        started = context.store.start_multipart_upload(object_key, parts=parts, expires_s=expires_s)
    except ObjectStoreError as err:
        raise ApiProblem(503, "Service unavailable", f"the object store refused the upload: {err}") from err
    now = datetime.now(UTC)
    with context.connection() as conn:
        record_upload(
            conn,
            BagUpload(
                started.upload_id,
                key.tenant_id,
                key.robot_id,
                object_key,
                parts,
                body.size_bytes,
                body.trigger,
                "uploading",
                now,
                now + timedelta(seconds=expires_s),
                None,
                body.sha256,
            ),
        )
    return BagUploadStarted(
        upload_id=started.upload_id,
        key=object_key,
        part_size_bytes=PART_BYTES,
        parts=[UploadPart(number=n, url=url) for n, url in enumerate(started.part_urls, start=1)],
        expires_at=datetime.fromtimestamp(started.expires_at, UTC),
    )


def _multipart(upload: BagUpload) -> MultipartUpload:
    return MultipartUpload(upload.upload_id, upload.object_key, [""] * upload.parts, int(upload.expires_at.timestamp()))


@router.post(
    "/v1/device/bags/{upload_id}/complete",
    response_model=BagUploadCompleted,
    status_code=202,
    summary="Finish an upload: the parts become the bag, and the bag is processed",
)
def complete_bag_upload(key: auth.Device, context: Context, upload_id: UploadId) -> BagUploadCompleted:
    assert key.robot_id is not None
    with context.connection() as conn:
        upload = read_upload(conn, key.tenant_id, key.robot_id, upload_id)
    if upload.status != "uploading":
        raise ApiProblem(409, "Conflict", f"upload {upload_id!r} is {upload.status} already")
    try:  # no database connection held meanwhile: assembling a local upload copies the whole bag
        info = context.store.complete_multipart_upload(_multipart(upload))
    except ObjectStoreError as err:
        raise ApiProblem(409, "Conflict", str(err)) from err
    digest = _sha256(context, upload.object_key) if upload.sha256 else None
    if digest is not None and digest != upload.sha256:
        context.store.delete(upload.object_key)
        with context.connection() as conn:
            finish_upload(conn, upload, "aborted")
        raise ApiProblem(
            409,
            "Conflict",
            f"the assembled bag's SHA-256 is {digest}, not {upload.sha256} as the robot "
            "said: a part was corrupted on the way; start the upload again",
        )
    with context.connection() as conn:
        finish_upload(conn, upload, "completed")
    return BagUploadCompleted(
        upload_id=upload_id,
        key=upload.object_key,
        uri=context.store.uri(upload.object_key),
        size_bytes=info.size,
        sha256=digest,
        processing=_hand_over(context, upload),
    )


def _sha256(context: ApiContext, key: str) -> str:
    digest = hashlib.sha256()
    with context.store.open_read(key) as stream:
        while chunk := stream.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _hand_over(context: ApiContext, upload: BagUpload) -> str:
    """Tell the watcher about the bag the upload completed: a file, or a rosbag2 directory once it is whole."""
    from pipelines.bags.location import BAG_SUFFIXES, missing_files

    relative = upload.object_key.split("/", 4)[4]
    if "/" in relative:
        bag_uri = context.store.uri(upload.object_key.rsplit("/", 1)[0])
        if missing_files(bag_uri):
            return "waiting"
    elif upload.object_key.endswith(BAG_SUFFIXES):
        bag_uri = context.store.uri(upload.object_key)
    else:
        return "waiting"  # not a bag file by its name: nothing to decode on its own
    return "queued" if context.notify_bag(bag_uri, upload.tenant_id, upload.trigger) else "next_scan"


@router.delete("/v1/device/bags/{upload_id}", status_code=204, summary="Abandon an upload and the parts sent")
def abort_bag_upload(key: auth.Device, context: Context, upload_id: UploadId) -> None:
    assert key.robot_id is not None
    with context.connection() as conn:
        upload = read_upload(conn, key.tenant_id, key.robot_id, upload_id)
        finish_upload(conn, upload, "aborted")
    context.store.abort_multipart_upload(_multipart(upload))


@router.put(
    "/v1/uploads/{upload_id}/parts/{number}",
    status_code=204,
    include_in_schema=True,
    summary="Receive one part of an upload to the local store (the URL's signature is its authority)",
    responses=problem_responses(403, 413),
)
async def receive_upload_part(
    context: Context,
    request: Request,
    upload_id: UploadId,
    number: Annotated[int, Path(ge=1, le=10_000)],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=200)],
) -> None:
    data = await request.body()
    if len(data) > PART_BYTES:
        raise ApiProblem(413, "Request body too large", f"a part holds at most {PART_BYTES:,} bytes")
    try:
        await run_in_threadpool(
            context.store.receive_part, upload_id, number, expires=expires, signature=signature, data=data
        )
    except ObjectStoreError as err:
        raise ApiProblem(403, "Forbidden", str(err)) from err
