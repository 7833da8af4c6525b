"""Bag uploads in progress and done: the record that ties a presigned upload to the robot that started it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from fleetray.errors import ConflictError, NotFoundError


@dataclass(frozen=True)
class BagUpload:
    """One upload: its object key, how many parts, and where it stands."""

    upload_id: str
    tenant_id: str
    robot_id: str
    object_key: str
    parts: int
    size_bytes: int
    trigger: str | None
    status: str  # uploading | completed | aborted
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    sha256: str | None = None  # what the robot computed; checked when the upload completes


def record_upload(conn: psycopg.Connection, upload: BagUpload) -> None:
    """Remember an upload just started."""
    conn.execute(
        "INSERT INTO bag_uploads (upload_id, tenant_id, robot_id, object_key, parts, size_bytes, trigger, status,"
        " created_at, expires_at, sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            upload.upload_id,
            upload.tenant_id,
            upload.robot_id,
            upload.object_key,
            upload.parts,
            upload.size_bytes,
            upload.trigger,
            upload.status,
            upload.created_at,
            upload.expires_at,
            upload.sha256,
        ),
    )


def read_upload(conn: psycopg.Connection, tenant_id: str, robot_id: str, upload_id: str) -> BagUpload:
    """The robot's upload ``upload_id``.

    Raises:
        NotFoundError: no such upload, or another robot's.
    """
    with conn.cursor(row_factory=class_row(BagUpload)) as cur:
        cur.execute(
            "SELECT * FROM bag_uploads WHERE upload_id = %s AND tenant_id = %s AND robot_id = %s",
            (upload_id, tenant_id, robot_id),
        )
        upload = cur.fetchone()
    if upload is None:
        raise NotFoundError(f"no upload {upload_id!r} of robot {robot_id!r}")
    return upload


def finish_upload(conn: psycopg.Connection, upload: BagUpload, status: str) -> None:
    """Mark an upload completed or aborted; only one in progress can be.

    Raises:
        ConflictError: it was completed or aborted already.
    """
    finished = conn.execute(
        "UPDATE bag_uploads SET status = %s, completed_at = now() WHERE upload_id = %s AND status = 'uploading'",
        (status, upload.upload_id),
    ).rowcount
    if not finished:
        raise ConflictError(f"upload {upload.upload_id!r} is {upload.status} already")
