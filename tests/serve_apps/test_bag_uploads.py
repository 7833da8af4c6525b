"""Robots upload bags through presigned URLs; a completed upload is decoded and indexed at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from fleetray.sim.bags import BagSpec, write_bag
from fleetray.storage import Database
from fleetray.storage.bags import search_bags
from serve_apps.api.app import create_app
from serve_apps.api.context import ApiContext
from serve_apps.api.routes import bags as bag_routes
from tests.serve_apps.conftest import World

SMALL_PARTS = 64 * 1024


@pytest.fixture
def uploads(api_context: ApiContext, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API with small parts, so a test bag goes up in several."""
    monkeypatch.setattr(bag_routes, "PART_BYTES", SMALL_PARTS)
    with TestClient(create_app(api_context), raise_server_exceptions=False) as test_client:
        yield test_client


def upload(
    client: TestClient,
    headers: dict[str, str],
    path: Path,
    name: str,
    *,
    trigger: str | None = None,
    skip_parts: tuple[int, ...] = (),
) -> dict:
    data = path.read_bytes()
    started = client.post(
        "/v1/device/bags",
        headers=headers,
        json={"name": name, "size_bytes": len(data), "trigger": trigger, "recorded_at": "2026-11-27T09:00:00Z"},
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["key"].endswith(f"/2026-11-27/{name}")
    for part in body["parts"]:
        if part["number"] in skip_parts:
            continue
        size = body["part_size_bytes"]
        url = urlsplit(part["url"])
        chunk = data[(part["number"] - 1) * size : part["number"] * size]
        assert client.put(f"{url.path}?{url.query}", content=chunk).status_code == 204
    return body


def test_a_robot_uploads_a_bag_in_parts_under_its_own_prefix(
    uploads: TestClient, world: World, tmp_path: Path, api_context: ApiContext
) -> None:
    bag = write_bag(tmp_path / "run.mcap", "mcap", BagSpec(duration_s=5))
    device = world.auth("acme", "device")
    started = upload(uploads, device, bag, "run.mcap", trigger="error:E_BRUSH_JAM")
    assert len(started["parts"]) == -(-bag.stat().st_size // SMALL_PARTS) > 1
    assert started["key"] == "bags/acme/acme-r1/2026-11-27/run.mcap"
    complete = f"/v1/device/bags/{started['upload_id']}/complete"
    assert uploads.post(complete, headers=world.auth("globex", "device")).status_code == 404
    done = uploads.post(complete, headers=device)
    assert done.status_code == 202, done.text
    assert done.json()["size_bytes"] == bag.stat().st_size
    assert done.json()["processing"] == "next_scan"  # no watcher runs in this test
    assert api_context.store.get(started["key"]) == bag.read_bytes()
    again = uploads.post(complete, headers=device)
    assert again.status_code == 409 and "completed already" in again.json()["detail"]


def test_uploads_refuse_what_they_should(uploads: TestClient, world: World, tmp_path: Path) -> None:
    device = world.auth("acme", "device")
    bad_name = uploads.post("/v1/device/bags", headers=device, json={"name": "../other/x.bag", "size_bytes": 10})
    assert bad_name.status_code == 422 and "name" in bad_name.text
    operator = uploads.post(
        "/v1/device/bags", headers=world.auth("acme", "operator"), json={"name": "x.bag", "size_bytes": 10}
    )
    assert operator.status_code == 403
    bag = write_bag(tmp_path / "run.bag", "ros1", BagSpec(duration_s=5))
    started = upload(uploads, device, bag, "run.bag", skip_parts=(2,))
    incomplete = uploads.post(f"/v1/device/bags/{started['upload_id']}/complete", headers=device)
    assert incomplete.status_code == 409 and "missing parts [2]" in incomplete.json()["detail"]
    url = urlsplit(started["parts"][1]["url"])
    forged = uploads.put(f"{url.path}?{url.query.replace('signature=', 'signature=x')}", content=b"x")
    assert forged.status_code == 403
    too_big = uploads.put(f"{url.path}?{url.query}", content=b"x" * (SMALL_PARTS + 1))
    assert too_big.status_code == 413
    assert uploads.delete(f"/v1/device/bags/{started['upload_id']}", headers=device).status_code == 204
    aborted = uploads.post(f"/v1/device/bags/{started['upload_id']}/complete", headers=device)
    assert aborted.status_code == 409 and "aborted" in aborted.json()["detail"]


@pytest.mark.slow
def test_a_completed_upload_is_decoded_and_indexed_at_once(
    uploads: TestClient, world: World, tmp_path: Path, api_context: ApiContext, db: Database, ray_session: None
) -> None:
    import ray

    from pipelines.component import WATCHER
    from pipelines.watcher import BagWatcher

    store_url = api_context.settings.resolved_object_store_url
    watcher = BagWatcher.options(name=WATCHER).remote(db.url, db.schema, store_url, 0)  # no timer: uploads only
    try:
        device = world.auth("acme", "device")
        directory = write_bag(tmp_path / "run_7", "ros2-mcap", BagSpec(duration_s=5, trigger="schedule"))
        first = upload(uploads, device, directory / "metadata.yaml", "run_7/metadata.yaml", trigger="manual")
        waiting = uploads.post(f"/v1/device/bags/{first['upload_id']}/complete", headers=device)
        assert waiting.json()["processing"] == "waiting"  # the directory's storage file is not there yet
        (storage,) = [p for p in directory.iterdir() if p.suffix == ".mcap"]
        second = upload(uploads, device, storage, f"run_7/{storage.name}", trigger="manual")
        queued = uploads.post(f"/v1/device/bags/{second['upload_id']}/complete", headers=device)
        assert queued.json()["processing"] == "queued"
        deadline = time.monotonic() + 120
        rows: list = []
        while time.monotonic() < deadline and not rows:
            with db.connect() as conn:
                rows = [r for r in search_bags(conn, "acme", robot_id="acme-r1") if r["status"] == "done"]
            time.sleep(0.5)
        assert len(rows) == 1, "the uploaded bag was not processed"
        assert rows[0]["received_via"] == "upload" and rows[0]["uri"].endswith("/2026-11-27/run_7")
        assert rows[0]["trigger"] == "manual"  # the robot said so when it uploaded
    finally:
        ray.kill(watcher)
