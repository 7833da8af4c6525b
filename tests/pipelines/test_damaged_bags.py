"""Bags that real recorders leave damaged: each is reported with what is wrong, and the others go on."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from fleetray.storage import Database
from pipelines.bags.process import scan
from pipelines.bags.readers import BagReader, BagReadError
from pipelines.bags.ros1_records import MAGIC, describe_damage
from tests.pipelines.test_bag_integers import write_bag


def with_bad_index_count(bag: Path, damaged: Path, extra: int = 5) -> int:
    """A copy of ``bag`` whose first index record claims ``extra`` entries more than it holds; its byte."""
    data = bytearray(bag.read_bytes())
    position = len(MAGIC)
    while True:
        (header_length,) = struct.unpack_from("<I", data, position)
        header = bytes(data[position + 4 : position + 4 + header_length])
        (data_length,) = struct.unpack_from("<I", data, position + 4 + header_length)
        if b"op=\x04" in header:
            at = position + 4 + header.index(b"count=") + len(b"count=")
            struct.pack_into("<I", data, at, struct.unpack_from("<I", data, at)[0] + extra)
            damaged.write_bytes(bytes(data))
            return position
        position += 8 + header_length + data_length


def test_a_damaged_ros1_index_is_named_by_its_byte_and_the_scan_goes_on(db: Database, tmp_path: Path) -> None:
    inbox = tmp_path / "bags" / "acme" / "robot-1" / "2026-01-01"
    inbox.mkdir(parents=True)
    write_bag(inbox / "good.bag", "ros1")
    at = with_bad_index_count(inbox / "good.bag", inbox / "damaged.bag")
    message = f"index record at byte {at} claims 8 entries but holds 36 bytes"
    assert describe_damage(inbox / "damaged.bag") == message and describe_damage(inbox / "good.bag") is None
    with pytest.raises(BagReadError, match=re.escape(f"damaged.bag: not a readable ROS1 bag ({message})")):
        BagReader(inbox / "damaged.bag", "ros1")
    outcomes = {Path(o.uri).name: o for o in scan(db, str(tmp_path / "bags"), str(tmp_path / "out"))}
    assert outcomes["good.bag"].status == "done"
    assert outcomes["damaged.bag"].status == "failed" and message in outcomes["damaged.bag"].error


def test_a_ros1_bag_cut_short_or_of_another_kind_says_so(tmp_path: Path) -> None:
    write_bag(tmp_path / "whole.bag", "ros1")
    data = (tmp_path / "whole.bag").read_bytes()
    (tmp_path / "cut.bag").write_bytes(data[: len(data) - 100])
    assert describe_damage(tmp_path / "cut.bag").endswith("(a recording cut short)")
    (tmp_path / "old.bag").write_bytes(b"#ROSBAG V1.2\n" + data[13:])
    assert "legacy V1.2" in describe_damage(tmp_path / "old.bag")
