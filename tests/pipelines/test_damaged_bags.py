"""Bags that real recorders leave damaged: what is readable is decoded, and the index says exactly what was lost."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter
from rosbags.typesys import Stores, get_typestore

from fleetray.storage import Database
from fleetray.storage.bags import search_bags
from pipelines.bags.process import process_bag, scan
from pipelines.bags.readers import BagReader, BagReadError
from pipelines.bags.ros1_records import MAGIC, describe_damage
from tests.pipelines.test_bag_integers import write_bag

MESSAGES = 400
STORE = get_typestore(Stores.LATEST)


def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "bags" / "acme" / "robot-1" / "2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def top_level_records(data: bytes) -> list[tuple[int, bytes, int]]:
    """A ROS1 bag's top-level records: byte, header, data length."""
    records, position = [], len(MAGIC)
    while position < len(data):
        (header_length,) = struct.unpack_from("<I", data, position)
        header = data[position + 4 : position + 4 + header_length]
        (data_length,) = struct.unpack_from("<I", data, position + 4 + header_length)
        records.append((position, header, data_length))
        position += 8 + header_length + data_length
    return records


def with_bad_index_count(bag: Path, damaged: Path, extra: int = 5) -> int:
    """A copy of ``bag`` whose first index record claims ``extra`` entries more than it holds; its byte."""
    data = bytearray(bag.read_bytes())
    position, header, _ = next(r for r in top_level_records(bytes(data)) if b"op=\x04" in r[1])
    at = position + 4 + header.index(b"count=") + len(b"count=")
    struct.pack_into("<I", data, at, struct.unpack_from("<I", data, at)[0] + extra)
    damaged.write_bytes(bytes(data))
    return position


def ros1_bag(path: Path, compression: str | None = None) -> None:
    """MESSAGES odometer readings over chunks of about 2 kB, as `rosbag record` writes them."""
    from rosbags.rosbag1 import Writer

    store = get_typestore(Stores.ROS1_NOETIC)
    writer = Writer(path)
    writer.chunk_threshold = 2048
    if compression:
        writer.set_compression(Writer.CompressionFormat[compression])
    with writer:
        connection = writer.add_connection("/odometer", "std_msgs/msg/UInt64", typestore=store)
        for i in range(MESSAGES):
            raw = store.serialize_ros1(store.types["std_msgs/msg/UInt64"](data=i), "std_msgs/msg/UInt64")
            writer.write(connection, 1_000_000_000 + i * 10_000_000, raw)


def mcap_file(path: Path) -> None:
    """MESSAGES odometer readings in lz4 chunks of about 2 kB, with a summary."""
    with path.open("wb") as stream:
        writer = McapWriter(stream, chunk_size=2048, compression=CompressionType.LZ4)
        writer.start(profile="ros2", library="fleetray-tests")
        schema = writer.register_schema(name="std_msgs/msg/UInt64", encoding="ros2msg", data=b"uint64 data")
        channel = writer.register_channel(topic="/odometer", message_encoding="cdr", schema_id=schema)
        for i in range(MESSAGES):
            raw = STORE.serialize_cdr(STORE.types["std_msgs/msg/UInt64"](data=i), "std_msgs/msg/UInt64")
            writer.add_message(channel, log_time=1_000_000_000 + i, data=raw, publish_time=1_000_000_000 + i)
        writer.finish()


def odometer_values(output: Path) -> list[int]:
    """The odometer readings a processed bag's table holds, in order."""
    import pyarrow.dataset as pads

    return sorted(pads.dataset(next(output.rglob("topics/odometer"))).to_table()["data"].to_pylist())


def test_a_damaged_ros1_index_is_named_by_its_byte_and_the_bag_read_by_a_scan(db: Database, tmp_path: Path) -> None:
    folder = inbox(tmp_path)
    ros1_bag(folder / "good.bag", "LZ4")
    at = with_bad_index_count(folder / "good.bag", folder / "damaged.bag")
    message = f"index record at byte {at} claims "
    assert message in describe_damage(folder / "damaged.bag") and describe_damage(folder / "good.bag") is None
    with BagReader(folder / "damaged.bag", "ros1") as reader:
        contents = reader.contents()
        assert contents.message_count == MESSAGES and sum(1 for _ in reader.messages()) == MESSAGES
        [recovered] = contents.recovered
        assert message in recovered.reason and (recovered.bytes_lost, recovered.messages_lost) == (0, 0)
    outcomes = {Path(o.uri).name: o for o in scan(db, str(tmp_path / "bags"), str(tmp_path / "out"))}
    assert outcomes["good.bag"].status == "done" and outcomes["damaged.bag"].status == "partial"
    with db.connect() as conn:
        [row] = search_bags(conn, "acme", status="partial")
    assert row["message_count"] == MESSAGES and row["recovery"][0]["bytes_lost"] == 0
    assert message in row["recovery"][0]["reason"]


@pytest.mark.parametrize("compression", [None, "BZ2", "LZ4"])
def test_a_ros1_bag_cut_short_in_its_last_chunk_keeps_every_whole_chunk(
    db: Database, tmp_path: Path, compression: str | None
) -> None:
    folder = inbox(tmp_path)
    whole = tmp_path / "whole.bag"
    ros1_bag(whole, compression)
    data = whole.read_bytes()
    chunks = [(position, length) for position, header, length in top_level_records(data) if b"op=\x05" in header]
    last = chunks[-1][0]
    (folder / "cut.bag").write_bytes(data[: last + 40])  # power lost while the last chunk was written
    with BagReader(whole, "ros1") as reader:
        before_last = sum(1 for _, t, _ in reader.messages() if t < _first_time_in_chunk(data, last, compression))
    outcome = process_bag(db, str(folder / "cut.bag"), str(tmp_path / "out"))
    assert outcome.status == "partial", outcome.error
    with db.connect() as conn:
        [row] = search_bags(conn, "acme")
    [recovery] = row["recovery"]
    assert recovery["bytes_lost"] == 40 and recovery["messages_lost"] is None
    assert "stopped at byte" in recovery["reason"] and "cut short" in recovery["reason"]
    assert row["message_count"] == before_last > 0
    assert odometer_values(tmp_path / "out") == list(range(before_last))


def _first_time_in_chunk(data: bytes, position: int, compression: str | None) -> int:
    from pipelines.bags.compression import ROS1_DECOMPRESSORS
    from pipelines.bags.ros1_records import header_fields

    (header_length,) = struct.unpack_from("<I", data, position)
    (length,) = struct.unpack_from("<I", data, position + 4 + header_length)
    body = data[position + 8 + header_length : position + 8 + header_length + length]
    records = ROS1_DECOMPRESSORS[(compression or "none").lower()](body)
    at = 0
    while True:
        (inner,) = struct.unpack_from("<I", records, at)
        fields = header_fields(records[at + 4 : at + 4 + inner])
        (size,) = struct.unpack_from("<I", records, at + 4 + inner)
        if fields["op"] == b"\x02":
            seconds, nanoseconds = struct.unpack("<II", fields["time"])
            return seconds * 1_000_000_000 + nanoseconds
        at += 8 + inner + size


def test_an_mcap_file_cut_short_or_without_its_summary_is_read_by_a_scan(db: Database, tmp_path: Path) -> None:
    folder = inbox(tmp_path)
    whole = tmp_path / "whole.mcap"
    mcap_file(whole)
    data = whole.read_bytes()
    with whole.open("rb") as stream:
        summary = make_reader(stream).get_summary()
    last = max(summary.chunk_indexes, key=lambda chunk: chunk.chunk_start_offset)
    (folder / "cut.mcap").write_bytes(data[: last.chunk_start_offset + last.chunk_length // 2])
    # Without a summary: the data section, then a footer that points at none.
    (summary_start,) = struct.unpack_from("<Q", data, len(data) - 8 - 20)
    footer = bytes([0x02]) + struct.pack("<QQQI", 20, 0, 0, 0) + data[-8:]
    (folder / "bare.mcap").write_bytes(data[:summary_start] + footer)
    outcomes = {Path(o.uri).name: o for o in scan(db, str(tmp_path / "bags"), str(tmp_path / "out"))}
    assert {name: o.status for name, o in outcomes.items()} == {"cut.mcap": "partial", "bare.mcap": "partial"}
    with db.connect() as conn:
        rows = {Path(row["uri"]).name: row for row in search_bags(conn, "acme")}
    bare, cut = rows["bare.mcap"], rows["cut.mcap"]
    assert bare["message_count"] == MESSAGES and bare["recovery"][0]["bytes_lost"] == 0
    assert "without a summary" in bare["recovery"][0]["reason"]
    assert cut["recovery"][0]["bytes_lost"] == len(data[: last.chunk_start_offset + last.chunk_length // 2]) - (
        last.chunk_start_offset
    )
    assert 0 < cut["message_count"] < MESSAGES
    assert cut["end_time"].timestamp() * 1e9 < last.message_start_time


def test_a_rosbag2_database_left_without_its_wal_checkpoint_is_replayed(db: Database, tmp_path: Path) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    recorded = tmp_path / "recorded"
    with Writer(recorded, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        connection = writer.add_connection("/odometer", "std_msgs/msg/UInt64", typestore=STORE)
        for i in range(100):
            raw = STORE.serialize_cdr(STORE.types["std_msgs/msg/UInt64"](data=i), "std_msgs/msg/UInt64")
            writer.write(connection, 1_000_000_000 + i, raw)
    database = next(recorded.glob("*.db3"))
    folder = inbox(tmp_path)
    # The recorder writes 50 more; power is lost before SQLite moves them from its log into the database.
    with contextlib.closing(sqlite3.connect(database)) as live:
        live.execute("PRAGMA journal_mode=WAL")
        live.execute("PRAGMA wal_autocheckpoint=0")
        rows = live.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id LIMIT 50").fetchall()
        live.executemany(
            "INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)",
            [(topic, stamp + 1_000, data) for topic, stamp, data in rows],
        )
        live.commit()
        shutil.copyfile(database, folder / "crashed.db3")
        shutil.copyfile(f"{database}-wal", folder / "crashed.db3-wal")
    outcome = process_bag(db, str(folder / "crashed.db3"), str(tmp_path / "out"))
    assert outcome.status == "partial", outcome.error
    with db.connect() as conn:
        [row] = search_bags(conn, "acme")
    assert row["message_count"] == 150 and row["recovery"][0]["bytes_lost"] == 0
    assert "50 messages replayed" in row["recovery"][0]["reason"]


def test_what_no_scan_can_read_still_fails_with_what_is_wrong(tmp_path: Path) -> None:
    write_bag(tmp_path / "whole.bag", "ros1")
    data = (tmp_path / "whole.bag").read_bytes()
    (tmp_path / "cut.bag").write_bytes(data[:500])  # cut inside the first chunk: nothing whole remains
    assert describe_damage(tmp_path / "cut.bag").endswith("(a recording cut short)")
    with pytest.raises(BagReadError, match="a scan of its records found no whole chunk either"):
        BagReader(tmp_path / "cut.bag", "ros1")
    (tmp_path / "old.bag").write_bytes(b"#ROSBAG V1.2\n" + data[13:])
    assert "legacy V1.2" in describe_damage(tmp_path / "old.bag")
    with pytest.raises(BagReadError, match=r"legacy V1\.2"):
        BagReader(tmp_path / "old.bag", "ros1")
