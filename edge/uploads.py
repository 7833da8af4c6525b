"""The upload manager: a persistent queue of bags, sent part by part through presigned URLs.

The robot never holds store credentials: it asks the platform for an upload (``POST /v1/device/bags``),
PUTs each part to the URL it was given, at a throttled rate (lower while the robot works), and
completes it. Progress is kept per part in SQLite, so an agent restarted mid-upload sends only the
parts still missing. A bag is deleted only once the platform reports it whole: the same size and the
same SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.config import ApiConfig, read_secret
from edge.errors import UploadFailedError
from edge.uplink import Backoff

logger = logging.getLogger(__name__)
PIECE_BYTES = 64 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    path        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    trigger     TEXT,
    size_bytes  INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    upload_id   TEXT,
    plan        TEXT,
    parts_done  TEXT NOT NULL DEFAULT '[]',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    queued_at   REAL NOT NULL
);
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Throttle:
    """A token bucket in bytes per second; the rate is read anew for every piece (it changes with the robot's work)."""

    def __init__(self, kbit_s: Callable[[], float]) -> None:
        self.kbit_s = kbit_s
        self._allowance = 0.0
        self._last = time.monotonic()

    def take(self, size: int, stop: threading.Event) -> None:
        rate = max(self.kbit_s(), 1.0) * 1000 / 8
        now = time.monotonic()
        self._allowance = min(rate, self._allowance + (now - self._last) * rate)
        self._last = now
        self._allowance -= size
        if self._allowance < 0:
            stop.wait(-self._allowance / rate)


@dataclass(frozen=True)
class Pending:
    path: Path
    name: str
    trigger: str | None
    size_bytes: int
    sha256: str
    recorded_at: str
    upload_id: str | None
    plan: dict[str, Any] | None
    parts_done: list[int]
    attempts: int


class UploadManager:
    """Queues bags and uploads them one at a time, oldest first."""

    def __init__(self, database: Path, api: ApiConfig | None, kbit_s: Callable[[], float]) -> None:
        self.api = api
        self.throttle = Throttle(kbit_s)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self.last_upload_at: datetime | None = None
        self.uploaded = 0
        self.last_error = ""
        self.wake = threading.Event()
        self._client: Any = None

    def enqueue(self, path: Path, trigger: str | None) -> None:
        """Queue a finished file (its checksum is taken now, so a later change of the file is caught)."""
        path = Path(path)
        recorded = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).isoformat()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO uploads (path, name, trigger, size_bytes, sha256, recorded_at, queued_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (str(path), path.name, trigger, path.stat().st_size, sha256_of(path), recorded, time.time()),
            )
        self.wake.set()

    def pending(self) -> list[Pending]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path, name, trigger, size_bytes, sha256, recorded_at, upload_id, plan, parts_done, attempts"
                " FROM uploads ORDER BY queued_at"
            ).fetchall()
        return [
            Pending(
                Path(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                json.loads(r[7]) if r[7] else None,
                json.loads(r[8]),
                r[9],
            )
            for r in rows
        ]

    def _update(self, path: Path, **values: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        with self._lock:
            self._db.execute(f"UPDATE uploads SET {columns} WHERE path = ?", (*values.values(), str(path)))

    def _forget(self, path: Path) -> None:
        with self._lock:
            self._db.execute("DELETE FROM uploads WHERE path = ?", (str(path),))

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(base_s=5.0, cap_s=600.0)
        while not stop.is_set():
            work = self.pending()
            if not work or self.api is None:
                self.wake.wait(5.0)
                self.wake.clear()
                continue
            try:
                self.upload(work[0], stop)
                backoff.reset()
            except UploadFailedError as err:
                self.last_error = str(err)
                self._update(work[0].path, attempts=work[0].attempts + 1, last_error=str(err)[:1000])
                logger.warning("upload of %s: %s", work[0].name, err)
                stop.wait(backoff.next())

    def _http(self) -> Any:
        import httpx

        if self._client is None:
            assert self.api is not None
            key = read_secret(self.api.device_key_file, "device key")
            self._client = httpx.Client(
                base_url=self.api.url,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60.0,
                verify=str(self.api.ca_file) if self.api.ca_file else True,
            )
        return self._client

    def upload(self, job: Pending, stop: threading.Event) -> None:
        """Send one bag (resuming where it stopped); delete it once the platform confirms it whole.

        Raises:
            UploadFailedError: the platform refused, a part failed, or the result does not match.
        """
        import httpx

        if not job.path.exists():
            logger.error("queued bag %s is gone from disk; dropped from the queue", job.path)
            self._forget(job.path)
            return
        client = self._http()
        try:
            plan, done = job.plan, set(job.parts_done)
            if job.upload_id is None or plan is None or plan.get("expires_ts", 0) < time.time() + 60:
                plan, done = self._start(client, job), set()
            for part in plan["parts"]:
                if part["number"] in done or stop.is_set():
                    continue
                self._put_part(client, job, plan, part, stop)
                done.add(part["number"])
                self._update(job.path, parts_done=json.dumps(sorted(done)))
            if stop.is_set():
                return
            response = client.post(f"/v1/device/bags/{plan['upload_id']}/complete")
        except httpx.HTTPError as err:
            raise UploadFailedError(f"the platform did not answer: {err}") from err
        if response.status_code == 409 and "missing parts" in response.text:
            self._update(job.path, parts_done="[]")
            raise UploadFailedError(f"the platform lacks parts: {response.text[:300]}; they are sent again")
        if response.status_code != 202:
            self._update(job.path, upload_id=None, plan=None, parts_done="[]")
            raise UploadFailedError(f"completing the upload failed: {response.status_code} {response.text[:300]}")
        body = response.json()
        if body.get("size_bytes") != job.size_bytes or body.get("sha256") not in (None, job.sha256):
            self._update(job.path, upload_id=None, plan=None, parts_done="[]")
            raise UploadFailedError(
                f"the platform holds {body.get('size_bytes')} bytes (sha256 {body.get('sha256')}), "
                f"the bag has {job.size_bytes} (sha256 {job.sha256}); it is sent again"
            )
        job.path.unlink(missing_ok=True)
        self._forget(job.path)
        self.uploaded += 1
        self.last_upload_at = datetime.now(timezone.utc)
        logger.info("uploaded %s (%s bytes) as %s", job.name, job.size_bytes, body.get("uri"))

    def _start(self, client: Any, job: Pending) -> dict[str, Any]:
        response = client.post(
            "/v1/device/bags",
            json={
                "name": job.name,
                "size_bytes": job.size_bytes,
                "recorded_at": job.recorded_at,
                "trigger": job.trigger,
                "sha256": job.sha256,
            },
        )
        if response.status_code != 201:
            raise UploadFailedError(
                f"the platform refused to start the upload: {response.status_code} {response.text[:300]}"
            )
        started = response.json()
        plan = {
            "upload_id": started["upload_id"],
            "part_size": started["part_size_bytes"],
            "parts": started["parts"],
            "expires_ts": datetime.fromisoformat(started["expires_at"].replace("Z", "+00:00")).timestamp(),
        }
        self._update(job.path, upload_id=started["upload_id"], plan=json.dumps(plan), parts_done="[]")
        return plan

    def _put_part(
        self, client: Any, job: Pending, plan: dict[str, Any], part: dict[str, Any], stop: threading.Event
    ) -> None:
        offset = (part["number"] - 1) * plan["part_size"]
        length = min(plan["part_size"], job.size_bytes - offset)

        def pieces() -> Iterator[bytes]:
            with open(job.path, "rb") as stream:
                stream.seek(offset)
                left = length
                while left > 0:
                    piece = stream.read(min(PIECE_BYTES, left))
                    if not piece:
                        return
                    self.throttle.take(len(piece), stop)
                    left -= len(piece)
                    yield piece

        response = client.put(part["url"], content=pieces(), headers={"Content-Length": str(length)})
        if response.status_code in (401, 403):
            self._update(job.path, upload_id=None, plan=None, parts_done="[]")
            raise UploadFailedError(
                f"part {part['number']} was refused ({response.status_code}); the upload starts anew"
            )
        if response.status_code >= 300:
            raise UploadFailedError(f"part {part['number']}: {response.status_code} {response.text[:300]}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        with self._lock:
            self._db.close()
