from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fleetray.config import get_settings
from fleetray.errors import ObjectNotFoundError, ObjectStoreError, UploadError
from fleetray.objectstore import ObjectStore

PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "file":
        return ObjectStore.from_settings(get_settings())
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return ObjectStore(f"s3://{bucket}/fleet", s3_endpoint_url=endpoint)


def test_put_get_list_delete(store: ObjectStore) -> None:
    store.put("bags/acme/r1/2026-11-27/a.bag", b"alpha")
    store.put("bags/acme/r2/2026-11-27/b.bag", b"bravo!")
    store.put("lake/telemetry/x.parquet", b"x")
    assert store.get("bags/acme/r1/2026-11-27/a.bag") == b"alpha"
    assert store.exists("bags/acme/r2/2026-11-27/b.bag")
    listed = store.list("bags/acme")
    assert [(o.key, o.size) for o in listed] == [
        ("bags/acme/r1/2026-11-27/a.bag", 5),
        ("bags/acme/r2/2026-11-27/b.bag", 6),
    ]
    store.delete("bags/acme/r1/2026-11-27/a.bag")
    store.delete("bags/acme/r1/2026-11-27/a.bag")
    assert not store.exists("bags/acme/r1/2026-11-27/a.bag")
    assert store.uri("lake/telemetry/x.parquet").endswith("/lake/telemetry/x.parquet")


def test_streams(store: ObjectStore) -> None:
    with store.open_write("big/blob.bin") as out:
        for _ in range(4):
            out.write(b"0123456789" * 100_000)
    with store.open_read("big/blob.bin") as stream:
        assert len(stream.read()) == 4_000_000


def test_missing_objects_and_bad_keys(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError, match="nothing/here"):
        store.get("nothing/here")
    for key in ("", "/abs", "a/../b", "a//b"):
        with pytest.raises(ObjectStoreError, match="object key"):
            store.put(key, b"x")


def test_multipart_upload_through_presigned_urls(store: ObjectStore) -> None:
    parts = [b"a" * PART_SIZE, b"b" * PART_SIZE, b"tail"]
    upload = store.start_multipart_upload("bags/acme/r1/2026-11-27/big.bag", parts=len(parts))
    assert len(upload.part_urls) == 3
    for number, (url, data) in enumerate(zip(upload.part_urls, parts, strict=True), start=1):
        if store.scheme == "s3":
            response = httpx.put(url, content=data, timeout=30)
            assert response.status_code == 200, response.text
        else:
            deliver_local_part(store, url, number, data)
    info = store.complete_multipart_upload(upload)
    assert info.size == sum(map(len, parts))
    assert store.get("bags/acme/r1/2026-11-27/big.bag") == b"".join(parts)
    assert [o.key for o in store.list()] == ["bags/acme/r1/2026-11-27/big.bag"]


def test_completing_with_a_missing_part_is_refused(store: ObjectStore) -> None:
    upload = store.start_multipart_upload("bags/acme/r1/x.bag", parts=2)
    if store.scheme == "s3":
        httpx.put(upload.part_urls[0], content=b"a" * PART_SIZE, timeout=30).raise_for_status()
    else:
        deliver_local_part(store, upload.part_urls[0], 1, b"a")
    with pytest.raises(UploadError, match=r"missing parts \[2\]"):
        store.complete_multipart_upload(upload)
    assert not store.exists("bags/acme/r1/x.bag")


def deliver_local_part(store: ObjectStore, url: str, number: int, data: bytes) -> None:
    """What the API's upload route does with a PUT to a local upload URL."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    upload_id = parts.path.split("/")[3]
    store.receive_part(upload_id, number, expires=int(query["expires"][0]), signature=query["signature"][0], data=data)


def test_local_upload_urls_cannot_be_tampered_with_or_reused_late() -> None:
    store = ObjectStore.from_settings(get_settings())
    upload = store.start_multipart_upload("bags/acme/r1/y.bag", parts=2, expires_s=60)
    parts = urlsplit(upload.part_urls[0])
    query = parse_qs(parts.query)
    expires, signature = int(query["expires"][0]), query["signature"][0]
    with pytest.raises(UploadError, match="signature"):
        store.receive_part(upload.upload_id, 2, expires=expires, signature=signature, data=b"x")
    with pytest.raises(UploadError, match="signature"):
        store.receive_part(upload.upload_id, 1, expires=expires + 3600, signature=signature, data=b"x")
    late = ObjectStore.from_settings(get_settings())
    expired = late.start_multipart_upload("bags/acme/r1/z.bag", parts=1, expires_s=60)
    query = parse_qs(urlsplit(expired.part_urls[0]).query)
    past = int(time.time()) - 1
    from fleetray.objectstore.signing import load_or_create_signing_key, sign

    key = load_or_create_signing_key(get_settings().data_dir)
    with pytest.raises(UploadError, match="expired"):
        late.receive_part(
            expired.upload_id, 1, expires=past, signature=sign(key, expired.upload_id, 1, past), data=b"x"
        )


def test_local_upload_can_be_aborted() -> None:
    store = ObjectStore.from_settings(get_settings())
    upload = store.start_multipart_upload("bags/acme/r1/gone.bag", parts=1)
    deliver_local_part(store, upload.part_urls[0], 1, b"data")
    store.abort_multipart_upload(upload)
    with pytest.raises(UploadError, match="no upload"):
        store.complete_multipart_upload(upload)


def test_the_signing_key_is_private_to_its_owner() -> None:
    ObjectStore.from_settings(get_settings())
    key_file = get_settings().data_dir / "upload-signing.key"
    assert key_file.stat().st_mode & 0o077 == 0


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ObjectStoreError, match="file:// or s3://"):
        ObjectStore("gs://bucket/x")
    with pytest.raises(ObjectStoreError, match="names no bucket"):
        ObjectStore("s3:///prefix")
