"""The bag pipeline on real bags from other projects and on generated ones, against real PostgreSQL."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fleetray.sim.bags import BagSpec, write_bag
from fleetray.storage import Database
from fleetray.storage.bags import bag_events, bag_topics, search_bags
from pipelines.bags.dataset import plan_parts
from pipelines.bags.decode import topic_slug
from pipelines.bags.location import find_bags, local_copy
from pipelines.bags.process import process_bag, scan
from pipelines.bags.readers import TAIL_SHARES, BagReader, BagReadError, _cut_points
from tests.pipelines.test_damaged_bags import with_bad_index_count

REAL_BAGS = Path(__file__).resolve().parents[1] / "data" / "bags"  # copies of shared/data/bags
FORMATS = [
    ("ros1", "plain.bag", None),
    ("ros1", "lz4.bag", "lz4"),
    ("ros1", "bz2.bag", "bz2"),
    ("ros2-sqlite3", "sqlite", None),
    ("ros2-mcap", "mcap-dir", None),
    ("mcap", "bare.mcap", None),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 20 s bag in every format, under bags/acme/robot-7/2026-01-01/."""
    root = tmp_path_factory.mktemp("generated")
    day = root / "bags" / "acme" / "robot-7" / "2026-01-01"
    for fmt, name, compression in FORMATS:
        write_bag(
            day / name,
            fmt,
            BagSpec(duration_s=20, robot="robot-7", tenant="acme", trigger="error"),
            compression=compression,
        )
    return root


@pytest.mark.slow
def test_every_real_bag_is_read_decoded_and_indexed(db: Database, tmp_path: Path) -> None:
    outcomes = scan(db, str(REAL_BAGS), str(tmp_path / "out"), tenant_id="public")
    assert len(outcomes) == 23 and all(o.status == "done" for o in outcomes), [o for o in outcomes if o.error]
    with db.connect() as conn:
        rows = {row["uri"].removeprefix(str(REAL_BAGS) + "/"): row for row in search_bags(conn, "public", limit=100)}
        assert rows["ros1/rosbagjs_no-messages.bag"]["message_count"] == 0  # an empty bag, not an error
        example = rows["ros1/rosbagjs_example-lz4.bag"]
        assert example["message_count"] == 8647 and 21 < example["duration_s"] < 22
        for name in ("rosbagjs_example.bag", "rosbagjs_example-bz2.bag", "rosbagjs_example-lz4.bag"):
            topics = {t["topic"]: t for t in bag_topics(conn, rows[f"ros1/{name}"]["bag_id"])}
            assert topics["/turtle1/cmd_vel"]["decoded_rows"] == topics["/turtle1/cmd_vel"]["message_count"]
            assert "linear_x" in topics["/turtle1/cmd_vel"]["stats"]
        # rosbag2's service events decode from the service definition the MCAP bag carries
        services = {
            t["topic"]: t
            for t in bag_topics(conn, rows["ros2/rosbag2_cpp/test/rosbag2_cpp/bags/only_services.mcap"]["bag_id"])
        }
        event = services["/add_two_ints/_service_event"]
        assert event["decoded_rows"] == event["message_count"] == 12
        # this SQLite bag carries no definitions: its types decode with those the MCAP twin brought earlier
        sqlite = {
            t["topic"]: t for t in bag_topics(conn, rows["ros2/rosbag2_py/test/resources/sqlite3/convert_a"]["bag_id"])
        }
        assert sqlite["b_basictypes"]["decoded_rows"] == sqlite["b_basictypes"]["message_count"] == 50
        decoded = sum(t["decoded_rows"] for row in rows.values() for t in bag_topics(conn, row["bag_id"]))
        total = sum(row["message_count"] for row in rows.values())
        problems = [
            (uri, t["topic"], t["problem"])
            for uri, row in rows.items()
            for t in bag_topics(conn, row["bag_id"])
            if t["problem"]
        ]
    # Every message decodes: SQLite bags without definitions borrow those their MCAP twins brought.
    assert problems == [] and decoded == total == 38671


def test_generated_bags_decode_into_typed_tables_media_events_and_features(
    db: Database, generated: Path, tmp_path: Path
) -> None:
    outcomes = scan(db, str(generated), str(tmp_path / "out"))
    assert [o.status for o in outcomes] == ["done"] * 6
    with db.connect() as conn:
        found = search_bags(conn, "acme", robot_id="robot-7")
        assert len(found) == 6 and {row["trigger"] for row in found} >= {"error"}
        for row in found:
            assert (
                row["message_count"] == 3404 + (row["format"] == "ros1") and row["status"] == "done"
            )  # + the ROS1 label
            topics = {t["topic"]: t for t in bag_topics(conn, row["bag_id"])}
            assert all(t["decoded_rows"] >= t["message_count"] for t in topics.values()), row["uri"]
            assert 99 <= topics["/imu/data"]["frequency_hz"] <= 101
            events = bag_events(conn, row["bag_id"])
            assert {e["code"] for e in events} >= {"E-BRUSH-201", "E-BUMP-101"}
            assert any(e["level"] == "error" and "path blocked" in e["message"] for e in events)
            output = Path(row["output_uri"])
            imu = pq.read_table(output / "topics" / topic_slug("/imu/data"))
            assert {"angular_velocity_x", "linear_acceleration_z", "orientation_w", "stamp_ns"} <= set(imu.column_names)
            assert abs(float(np.mean(imu["linear_acceleration_z"].to_numpy())) - 9.81) < 0.05
            battery = pq.read_table(output / "topics" / "battery")
            assert battery["percentage"][0].as_py() == pytest.approx(0.95, abs=0.01)
            scan_table = pq.read_table(output / "topics" / "scan")
            assert 0.9 < scan_table["valid_fraction"][0].as_py() < 1.0  # inf beams are left out
            brush = pq.read_table(output / "topics" / "brush.status")  # the custom type, from the bag's definition
            assert {"current_a", "rpm", "wear_percent", "mode", "header.frame_id"} <= set(brush.column_names)
            images = sorted((output / "media" / "camera.image_raw").glob("*.png"))
            clouds = sorted((output / "media" / "points").glob("*.pcd"))
            jpegs = sorted((output / "media" / "camera.image_raw.compressed").glob("*.jpg"))
            assert len(images) == 100 and len(clouds) == 40 and len(jpegs) == 20
            assert Image.open(jpegs[0]).format == "JPEG"
            assert Image.open(images[0]).size == (64, 48)
            assert b"FIELDS x y z" in clouds[0].read_bytes()[:200]
            features = pq.read_table(output / "features" / "imu.data.parquet").to_pydict()
            assert {"mean", "std", "p95", "slope_per_s", "rate_hz", "anomaly"} <= set(features)
        for flt in (
            {"topic": "/brush/status"},
            {"msgtype": "sensor_msgs/msg/PointCloud2"},
            {"error_code": "E-BUMP-101"},
            {"trigger": "error"},
        ):
            assert len(search_bags(conn, "acme", **flt)) == 6, flt
        assert search_bags(conn, "acme", error_code="E-NOPE") == []
        assert search_bags(conn, "globex") == []  # another tenant sees none of them


def test_the_same_content_is_processed_once_and_a_corrupt_bag_never_stops_the_scan(
    db: Database, generated: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "bags" / "acme" / "robot-7" / "2026-01-02"
    inbox.mkdir(parents=True)
    source = generated / "bags" / "acme" / "robot-7" / "2026-01-01" / "lz4.bag"
    shutil.copy(source, inbox / "first.bag")
    shutil.copy(source, inbox / "again.bag")  # the same recording uploaded twice
    data = source.read_bytes()
    (inbox / "truncated.bag").write_bytes(data[: len(data) // 2])  # whole chunks up to the cut: partial
    (inbox / "headless.bag").write_bytes(data[:3000])  # not one whole chunk
    (inbox / "garbage.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 100)
    outcomes = {Path(o.uri).name: o for o in scan(db, str(tmp_path / "bags"), str(tmp_path / "out"))}
    assert outcomes["again.bag"].status == "done" and outcomes["first.bag"].status == "skipped"
    assert outcomes["first.bag"].bag_id == outcomes["again.bag"].bag_id
    assert outcomes["truncated.bag"].status == "partial"
    assert outcomes["headless.bag"].status == "failed" and "BagReadError" in outcomes["headless.bag"].error
    assert outcomes["garbage.mcap"].status == "failed"
    with db.connect() as conn:
        failed = search_bags(conn, "acme", status="failed")
        assert {Path(row["uri"]).name for row in failed} == {"headless.bag", "garbage.mcap"}
        assert all(row["error"] and row["finished_at"] for row in failed)
        [partial] = search_bags(conn, "acme", status="partial")
        assert 0 < partial["message_count"] < 3404 and partial["recovery"][0]["bytes_lost"] > 0
    again = scan(db, str(tmp_path / "bags"), str(tmp_path / "out"))
    assert {o.status for o in again} == {"skipped"}  # nothing is processed twice, failures included
    retried = process_bag(db, str(inbox / "headless.bag"), str(tmp_path / "out"), retry_failed=True)
    assert retried.status == "failed" and retried.bag_id == outcomes["headless.bag"].bag_id


@pytest.mark.slow
def test_a_scan_on_ray_processes_several_bags_at_once_and_each_recording_once(
    ray_session: None, db: Database, generated: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "bags" / "acme" / "robot-8" / "2026-01-03"
    inbox.mkdir(parents=True)
    day = generated / "bags" / "acme" / "robot-7" / "2026-01-01"
    for name in ("plain.bag", "bare.mcap", "lz4.bag"):
        shutil.copy(day / name, inbox / name)
    shutil.copy(day / "lz4.bag", inbox / "copy.bag")  # found twice in one scan, raced for by two tasks
    (inbox / "garbage.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 100)
    outcomes = scan(db, str(tmp_path / "bags"), str(tmp_path / "out"), bags_at_once=2)
    assert [Path(o.uri).name for o in outcomes] == ["bare.mcap", "copy.bag", "garbage.mcap", "lz4.bag", "plain.bag"]
    by_name = {Path(o.uri).name: o for o in outcomes}
    assert {by_name["copy.bag"].status, by_name["lz4.bag"].status} == {"done", "skipped"}
    assert by_name["copy.bag"].bag_id == by_name["lz4.bag"].bag_id
    assert by_name["garbage.mcap"].status == "failed" and by_name["plain.bag"].status == "done"
    with db.connect() as conn:
        rows = sorted(search_bags(conn, "acme", robot_id="robot-8"), key=lambda row: row["started_at"])
    assert len(rows) == 4 and sum(row["status"] == "done" for row in rows) == 3
    assert any(later["started_at"] < earlier["finished_at"] for earlier, later in itertools.pairwise(rows))


@pytest.mark.parametrize("name", ["plain.bag", "sqlite", "mcap-dir", "bare.mcap"])
def test_a_bag_splits_into_parts_that_hold_every_message_once(generated: Path, name: str) -> None:
    (bag,) = find_bags(str(generated / "bags" / "acme" / "robot-7" / "2026-01-01" / name))
    with local_copy(bag) as path, BagReader(path, bag.format) as reader:
        whole = sorted((topic, t) for topic, t, _ in reader.messages())
        parts = reader.parts(4)
        assert len(parts) >= 2, "a 3 MB bag has several chunks (or many rows) to split"
        split = sorted((topic, t) for part in parts for topic, t, _ in reader.messages(part))
        pieces = [piece for part in parts for piece in reader.split(part, TAIL_SHARES)]
        cut_again = sorted((topic, t) for piece in pieces for topic, t, _ in reader.messages(piece))
        count = reader.contents().message_count
    assert split == whole == cut_again and len(whole) == count == 3404 + (bag.format == "ros1")  # ROS1: a label
    assert [part.index for part in parts] == list(range(len(parts)))


def test_the_last_round_of_parts_is_cut_finer_so_that_workers_finish_together(generated: Path) -> None:
    bags = find_bags(str(generated / "bags" / "acme" / "robot-7" / "2026-01-01"))
    one = plan_parts(bags, part_bytes=1 << 20, workers=1)
    two = plan_parts(bags, part_bytes=1 << 20, workers=2)
    assert len(two) > len(one)
    for plan in (one, two):  # each bag's parts are numbered from 0, as they come in the bag
        for bag in bags:
            parts = [part for b, part in plan if b.uri == bag.uri]
            assert sorted(part.index for part in parts) == list(range(len(parts)))
    # The two cheapest parts (of 851 messages, in the SQLite bag, whose rows split anywhere) run last, each
    # cut into halves, quarters and eighths; the other bags keep their parts.
    sqlite = sorted((part.index, part.messages) for bag, part in two if bag.uri.endswith("/sqlite"))
    assert [messages for _, messages in sqlite] == [851, 851, 426, 212, 107, 106, 426, 212, 107, 106]
    assert {unit for unit in two if not unit[0].uri.endswith("/sqlite")} == {
        unit for unit in one if not unit[0].uri.endswith("/sqlite")
    }


def test_chunks_are_cut_where_the_running_weight_reaches_each_share() -> None:
    chunks = [(start, 10.0) for start in range(1000, 0, -10)]  # their order in the file does not matter
    assert _cut_points(chunks, [0.5, 0.25, 0.25]) == [510, 760]
    assert _cut_points(chunks, [1.0]) == [] and _cut_points([], [0.5, 0.5]) == []


def test_bags_in_s3_are_found_read_and_processed(
    db: Database, generated: Path, s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from fleetray.config import get_settings

    monkeypatch.setenv("FLEETRAY_S3_ENDPOINT_URL", s3_endpoint)
    get_settings.cache_clear()
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    day = generated / "bags" / "acme" / "robot-7" / "2026-01-01"
    client.upload_file(str(day / "bare.mcap"), s3_bucket, "bags/acme/robot-7/2026-01-01/bare.mcap")
    for file in (day / "mcap-dir").iterdir():
        client.upload_file(str(file), s3_bucket, f"bags/acme/robot-7/2026-01-01/mcap-dir/{file.name}")
    bags = find_bags(f"s3://{s3_bucket}/bags")
    assert sorted(b.format for b in bags) == ["mcap", "ros2-mcap"]
    assert all(b.path_fields() == {"tenant": "acme", "robot": "robot-7", "date": "2026-01-01"} for b in bags)
    outcomes = scan(db, f"s3://{s3_bucket}/bags", f"s3://{s3_bucket}/decoded")  # outputs to S3 as well
    assert [o.status for o in outcomes] == ["done", "done"]
    with db.connect() as conn:
        rows = search_bags(conn, "acme")
        assert {row["message_count"] for row in rows} == {3404}
        assert all(bag_topics(conn, row["bag_id"])[0]["stats"] for row in rows)  # features read back from S3
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="decoded/acme/")["Contents"]]
    assert any(key.endswith(".parquet") and "/topics/imu.data/" in key for key in keys)
    assert any(key.endswith(".png") for key in keys)


@pytest.mark.parametrize("name", ["plain.bag", "mcap-dir"])
def test_media_headers_read_from_the_bytes_are_the_deserialised_ones(generated: Path, name: str) -> None:
    from pipelines.bags.decode import _header_row
    from pipelines.bags.fastpath import header_row
    from pipelines.bags.typesys import MessageDecoder

    (bag,) = find_bags(str(generated / "bags" / "acme" / "robot-7" / "2026-01-01" / name))
    media = ("/camera/image_raw", "/camera/image_raw/compressed", "/points")
    with BagReader(Path(bag.uri), bag.format) as reader:
        contents = reader.contents()
        decoder = MessageDecoder(contents.topics, bag.format == "ros1")
        checked = 0
        for topic, _, raw in reader.messages():
            if topic in media:
                encoding = contents.topics[topic].encoding
                assert header_row(raw, encoding) == _header_row(decoder.decode(topic, raw)), topic
                checked += 1
    assert checked == 20 * (5 + 1 + 2)
    assert header_row(raw[:14], encoding) is None
    if encoding == "cdr":
        assert header_row(b"\x00\x00" + raw[2:], encoding) is None  # big-endian CDR


@pytest.mark.parametrize("name", ["sqlite", "mcap-dir"])
def test_rosbag2_bags_compressed_file_by_file_are_decompressed_once_and_read(
    generated: Path, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import tempfile

    import yaml
    import zstandard

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    original = generated / "bags" / "acme" / "robot-7" / "2026-01-01" / name
    compressed = shutil.copytree(original, tmp_path / name)
    metadata = yaml.safe_load((compressed / "metadata.yaml").read_text())
    info = metadata["rosbag2_bagfile_information"]
    for relative in info["relative_file_paths"]:
        plain = compressed / relative
        (compressed / f"{relative}.zstd").write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
        plain.unlink()
    info["relative_file_paths"] = [f"{relative}.zstd" for relative in info["relative_file_paths"]]
    info["compression_format"], info["compression_mode"] = "zstd", "FILE"
    (compressed / "metadata.yaml").write_text(yaml.safe_dump(metadata))
    (bag,) = find_bags(str(compressed))
    with BagReader(original, bag.format) as reader:
        expected = list(reader.messages())
    with BagReader(compressed, bag.format) as first, BagReader(compressed, bag.format) as second:
        assert list(first.messages()) == expected
        assert list(second.messages()) == expected
    assert len(list((tmp_path / "tmp" / "fleetray-bag-cache").glob("*/*"))) == 2  # one copy: the file and its mark
    info["compression_format"] = "lz4"
    (compressed / "metadata.yaml").write_text(yaml.safe_dump(metadata))
    with pytest.raises(BagReadError, match="only zstd is read"):
        BagReader(compressed, bag.format)


def test_a_remote_bag_is_copied_once_per_machine_and_evicted_least_recently_used(
    generated: Path, s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    import boto3

    from fleetray.config import get_settings
    from pipelines.bags import location

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    day = generated / "bags" / "acme" / "robot-7" / "2026-01-01"
    for name in ("bare.mcap", "plain.bag"):
        client.upload_file(str(day / name), s3_bucket, f"bags/acme/robot-7/2026-01-01/{name}")
    monkeypatch.setenv("FLEETRAY_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    downloads = []
    download = location._download
    monkeypatch.setattr(location, "_download", lambda *args: downloads.append(args[1]) or download(*args))
    mcap, ros1 = sorted(find_bags(f"s3://{s3_bucket}/bags"), key=lambda b: b.format)
    monkeypatch.setenv("FLEETRAY_BAG_CACHE_BYTES", str(mcap.size_bytes + ros1.size_bytes - 1))  # room for one
    get_settings.cache_clear()
    with local_copy(mcap) as path:
        assert path.read_bytes() == (day / "bare.mcap").read_bytes()
    with local_copy(ros1):  # the MCAP copy is not in use: evicted to make room
        assert not path.exists()
    with local_copy(mcap) as first:
        with local_copy(mcap) as second:  # another part on this machine: the same copy, no second download
            assert second == first
        with local_copy(ros1):  # over the budget, but the MCAP copy is in use and stays
            assert first.exists()
    assert len(downloads) == 4


@pytest.mark.slow
def test_read_bags_and_decoding_run_on_ray_data(ray_session: None, generated: Path, tmp_path: Path) -> None:
    from pipelines.bags.dataset import decode_bags, read_bags

    rows = read_bags(str(generated / "bags")).take_all()
    assert len(rows) == 6
    for row in rows:
        assert (row["tenant"], row["robot"], row["trigger"]) == ("acme", "robot-7", "error")
        assert row["message_count"] == 3404 + (row["format"] == "ros1")
        assert {t["topic"] for t in row["topics"]} >= {"/imu/data", "/brush/status", "/rosout"}
    decoded = decode_bags(str(generated / "bags"), str(tmp_path / "out"), part_bytes=1024 * 1024, concurrency=2)
    results = decoded.parts
    assert len(results) > 6 and decoded.unreadable == {}  # the 3 MB bags split into parts
    assert sum(sum(r.messages.values()) for r in results) == 6 * 3404 + 3  # and the 3 ROS1 bags' labels
    imu = pads.dataset(tmp_path / "out" / "plain.bag" / "topics" / "imu.data", format="parquet")
    assert imu.count_rows() == 2000
    mixed = tmp_path / "mixed"  # a damaged bag among good ones is reported; the others decode
    mixed.mkdir()
    shutil.copy(next((generated / "bags").rglob("plain.bag")), mixed / "plain.bag")
    at = with_bad_index_count(mixed / "plain.bag", mixed / "damaged.bag")
    (mixed / "garbage.bag").write_bytes(b"#ROSBAG V2.0\n" + b"\x00" * 100)
    decoded = decode_bags(str(mixed), str(tmp_path / "mixed-out"), concurrency=2)
    assert sum(sum(r.messages.values()) for r in decoded.parts) == 2 * (3404 + 1)  # the damaged one by a scan
    [(uri, [recovery])] = decoded.recovered.items()
    assert uri.endswith("damaged.bag") and f"index record at byte {at} claims" in recovery.reason
    [(uri, reason)] = decoded.unreadable.items()
    assert uri.endswith("garbage.bag") and "no whole chunk" in reason


def test_window_statistics_match_numpy_and_score_samples_as_the_shards_do() -> None:
    from fleetray.features.anomaly import EwmaScore
    from fleetray.features.windows import sample_scores, window_statistics

    t = np.arange(0, 30, 0.01)
    values = 2.0 * t + np.sin(t)
    windows = window_statistics(t, values, 10.0)
    assert list(windows["window_start_s"]) == [0.0, 10.0, 20.0]
    first = values[t < 10]
    assert windows["mean"][0] == pytest.approx(first.mean())
    assert windows["p95"][0] == pytest.approx(np.percentile(first, 95))
    assert windows["slope_per_s"][0] == pytest.approx(np.polyfit(t[t < 10], first, 1)[0])
    assert windows["rate_hz"][0] == pytest.approx(100, rel=1e-6)
    noise = 1.0 + np.random.default_rng(1).normal(0, 0.01, 200)
    spiky = np.r_[noise, 5.0, noise[:99]]
    shard = EwmaScore()  # what a live shard would have scored, sample by sample
    assert sample_scores(spiky).tolist() == [shard.score(v) for v in spiky.tolist()]
    scored = window_statistics(np.arange(300) * 0.1, spiky, 10.0)
    assert scored["anomaly"][2] > 10 > scored["anomaly"][1]  # the spike's window stands out


@pytest.mark.slow
def test_the_watcher_processes_bags_landing_in_the_store_once(ray_session: None, db: Database, tmp_path: Path) -> None:
    import ray

    from pipelines.watcher import BagWatcher

    store = tmp_path / "objects"
    day = store / "bags" / "acme" / "robot-3" / "2026-02-01"
    write_bag(day / "scanned.mcap", "mcap", BagSpec(duration_s=5))
    watcher = BagWatcher.remote(db.url, db.schema, store.as_uri(), 0)  # no timer: scans when told
    try:
        assert ray.get(watcher.scan.remote())["done"] == 1
        write_bag(day / "uploaded.bag", "ros1", BagSpec(duration_s=5, seed=2))
        write_bag(day / "uploaded-too.bag", "ros1", BagSpec(duration_s=5, seed=3))
        notified = [watcher.notify.remote((day / name).as_uri()) for name in ("uploaded.bag", "uploaded-too.bag")]
        assert [outcome["status"] for outcome in ray.get(notified)] == ["done", "done"]
        assert ray.get(watcher.scan.remote()) == {"done": 3, "failed": 0, "skipped": 3, "scans": 2}
    finally:
        ray.kill(watcher)
    with db.connect() as conn:
        rows = search_bags(conn, "acme", robot_id="robot-3")
    assert {(Path(r["uri"]).name, r["received_via"]) for r in rows} == {
        ("scanned.mcap", "scan"),
        ("uploaded.bag", "upload"),
        ("uploaded-too.bag", "upload"),
    }
    assert all(r["output_uri"].startswith(store.as_uri() + "/decoded/acme/") for r in rows)
    uploads = sorted((r for r in rows if r["received_via"] == "upload"), key=lambda row: row["started_at"])
    assert uploads[1]["started_at"] < uploads[0]["finished_at"]  # the uploads were processed at once


@pytest.mark.parametrize("name", ["plain.bag", "mcap-dir"])
@pytest.mark.parametrize("topic_name", ["/imu/data", "/odom"])
def test_fixed_layout_tables_are_the_typed_extractors_rows(generated: Path, name: str, topic_name: str) -> None:
    import dataclasses

    import pyarrow as pa

    from pipelines.bags.extract import rows_of
    from pipelines.bags.fastpath import FIXED_LAYOUTS, fixed_table
    from pipelines.bags.typesys import MessageDecoder

    (bag,) = find_bags(str(generated / "bags" / "acme" / "robot-7" / "2026-01-01" / name))
    with local_copy(bag) as path, BagReader(path, bag.format) as reader:
        contents = reader.contents()
        decoder = MessageDecoder(contents.topics, bag.format == "ros1")
        topic = contents.topics[topic_name]
        msgtype = decoder.msgtypes[topic_name]
        assert decoder.standard_layout(topic_name)
        stamps, raws = zip(*((t_ns, raw) for name_, t_ns, raw in reader.messages() if name_ == topic_name), strict=True)
    serialize = decoder.store.serialize_ros1 if topic.encoding == "ros1" else decoder.store.serialize_cdr

    def expected(stamps: list[int], raws: list[bytes]) -> pa.Table:
        rows = [
            {**row, "t_ns": t_ns}
            for t_ns, raw in zip(stamps, raws, strict=True)
            for row in rows_of(msgtype, decoder.decode(topic_name, raw))
        ]
        return pa.Table.from_pylist(rows)

    layout = FIXED_LAYOUTS[msgtype]
    assert fixed_table(layout, topic.encoding, list(stamps), list(raws)).equals(expected(stamps, raws))
    # Frame ids that differ in content and in length (so in message size) within one row group.
    renamed = []
    for i, raw in enumerate(raws[:50]):
        message = decoder.decode(topic_name, raw)
        header = dataclasses.replace(message.header, frame_id=["base", "imu_link", "bas2"][i % 3])
        renamed.append(serialize(dataclasses.replace(message, header=header), msgtype))
    mixed = fixed_table(layout, topic.encoding, list(stamps[:50]), renamed)
    assert mixed.equals(expected(stamps[:50], renamed))
    assert mixed.column("frame_id").to_pylist()[:4] == ["base", "imu_link", "bas2", "base"]
    # Anything unexpected goes the general way.
    assert fixed_table(layout, topic.encoding, [stamps[0]], [raws[0][:-8]]) is None
    if topic.encoding == "cdr":
        assert fixed_table(layout, topic.encoding, [stamps[0]], [b"\x00\x00" + raws[0][2:]]) is None
