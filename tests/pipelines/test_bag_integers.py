"""Integers keep their ROS width and sign in the tables: unsigned 64-bit maxima included, as real recorders write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from fleetray.storage import Database
from pipelines.bags.decode import topic_slug
from pipelines.bags.process import process_bag

UINT64_MAX = (1 << 64) - 1
COUNTER = """uint64 count
int8 delta
uint16[] small
uint64[] big
byte flags
"""


def _messages(fmt: str) -> tuple[object, dict[str, tuple[str, list]]]:
    """Three messages per topic: std_msgs UInt64 and UInt64MultiArray, and a custom type of mixed widths."""
    store = get_typestore(Stores.ROS1_NOETIC if fmt == "ros1" else Stores.LATEST)
    store.register(get_types_from_msg(COUNTER, "robot_msgs/msg/Counter"))
    types = store.types
    layout = types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    odometers = [
        types["std_msgs/msg/UInt64MultiArray"](layout=layout, data=np.array([v, UINT64_MAX], np.uint64))
        for v in (0, 7, 9)
    ]
    counters = [
        types["robot_msgs/msg/Counter"](
            count=UINT64_MAX - i,
            delta=-1 - i,
            small=np.array([65535, i], np.uint16),
            big=np.array([UINT64_MAX], np.uint64),
            flags=100 + i,
        )
        for i in range(3)
    ]
    if fmt == "ros1":
        time = types["builtin_interfaces/msg/Time"](sec=1, nanosec=0)
        header = types["std_msgs/msg/Header"](seq=0, stamp=time, frame_id="")
        log = types["rosgraph_msgs/msg/Log"](
            header=header, level=8, name="brush", msg="E_BRUSH_JAM", file="", function="", line=7, topics=[]
        )
        logs = ("rosgraph_msgs/msg/Log", [log])
    else:
        time = types["builtin_interfaces/msg/Time"](sec=1, nanosec=0)
        log = types["rcl_interfaces/msg/Log"](
            stamp=time, level=40, name="brush", msg="E_BRUSH_JAM", file="", function="", line=7
        )
        logs = ("rcl_interfaces/msg/Log", [log])
    return store, {
        "/rosout": logs,
        "/odometer": ("std_msgs/msg/UInt64", [types["std_msgs/msg/UInt64"](data=v) for v in (0, 1 << 63, UINT64_MAX)]),
        "/odometers": ("std_msgs/msg/UInt64MultiArray", odometers),
        "/counter": ("robot_msgs/msg/Counter", counters),
    }


def write_bag(path: Path, fmt: str) -> None:
    store, messages = _messages(fmt)
    if fmt == "ros1":
        from rosbags.rosbag1 import Writer as Ros1Writer

        with Ros1Writer(path) as writer:
            for topic, (msgtype, items) in messages.items():
                connection = writer.add_connection(topic, msgtype, typestore=store)
                for i, message in enumerate(items):
                    writer.write(connection, 1_000 + i, store.serialize_ros1(message, msgtype))
        return
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugin = StoragePlugin.MCAP if fmt == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for topic, (msgtype, items) in messages.items():
            connection = writer.add_connection(topic, msgtype, typestore=store)
            for i, message in enumerate(items):
                writer.write(connection, 1_000 + i, store.serialize_cdr(message, msgtype))


@pytest.mark.parametrize("fmt", ["ros1", "mcap", "sqlite3"])
def test_unsigned_64_bit_maxima_decode_into_columns_of_their_own_width(db: Database, tmp_path: Path, fmt: str) -> None:
    bag = tmp_path / "bags" / "acme" / "robot-1" / "2026-01-01" / ("counters.bag" if fmt == "ros1" else "counters")
    bag.parent.mkdir(parents=True)
    write_bag(bag, fmt)
    outcome = process_bag(db, str(bag), str(tmp_path / "out"))
    assert outcome.status == "done", outcome.error

    def table(topic: str) -> pa.Table:
        return pads.dataset(next((tmp_path / "out").rglob(f"topics/{topic_slug(topic)}"))).to_table()

    odometer = table("/odometer")
    assert odometer.schema.field("data").type == pa.uint64()
    assert odometer["data"].to_pylist() == [0, 1 << 63, UINT64_MAX]
    odometers = table("/odometers")
    assert odometers.schema.field("data").type == pa.list_(pa.uint64())
    assert odometers["data"].to_pylist()[2] == [9, UINT64_MAX]
    counter = table("/counter")
    widths = {name: counter.schema.field(name).type for name in ("count", "delta", "small", "big", "flags")}
    flags = pa.int8() if fmt == "ros1" else pa.uint8()  # byte: signed in ROS 1, an octet in ROS 2
    assert widths == {
        "count": pa.uint64(),
        "delta": pa.int8(),
        "small": pa.list_(pa.uint16()),
        "big": pa.list_(pa.uint64()),
        "flags": flags,
    }
    assert counter["count"].to_pylist() == [UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2]
    assert counter["delta"].to_pylist() == [-1, -2, -3] and counter["small"].to_pylist()[1] == [65535, 1]
    rosout = table("/rosout")  # a typed table: the log level is a byte (ROS 1) or a uint8 (ROS 2)
    assert rosout.schema.field("level").type == flags and rosout.schema.field("line").type == pa.uint32()
