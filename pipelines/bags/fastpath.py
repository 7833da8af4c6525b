"""Tables straight from the serialised bytes, a row group at a time, for high-rate types of a fixed layout.

An IMU at 100 Hz and odometry at 20 Hz are most of the messages a cleaning robot records. Both are a
header, perhaps another string, then a fixed block of doubles. Building a message object for each one,
reading its fields back into a row and the rows into columns costs several times what it takes to stack
a row group's messages into one byte matrix and read every column out of it with numpy.

The tables hold exactly the typed extractor's columns (a test holds the two equal). Anything
unexpected (big-endian CDR, strings whose lengths differ within a row group, a size that does not add
up) gives None, and the caller decodes those messages the general way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

CDR_LITTLE_ENDIAN = (0, 1)
CDR_PREFIX = bytes(CDR_LITTLE_ENDIAN)
CDR_HEADER = struct.Struct("<iII")  # sec (signed), nanosec, frame id length (with its NUL)
ROS1_HEADER = struct.Struct("<III")  # after the sequence number: secs, nsecs, frame id length
STRINGS_START = 12  # CDR: 4 bytes of encapsulation, then sec, nanosec; ROS1: seq, sec, nsec


def _xyz(prefix: str, first: int) -> tuple[tuple[str, int], ...]:
    return tuple((f"{prefix}_{axis}", first + i) for i, axis in enumerate("xyz"))


def _xyzw(prefix: str, first: int) -> tuple[tuple[str, int], ...]:
    return tuple((f"{prefix}_{axis}", first + i) for i, axis in enumerate("xyzw"))


@dataclass(frozen=True)
class FixedLayout:
    """A header (stamp and frame), then ``strings`` more strings, then ``doubles`` float64 values, of
    which ``columns`` names the ones a row keeps (by their index in the block)."""

    strings: tuple[str, ...]
    doubles: int
    columns: tuple[tuple[str, int], ...]


IMU = FixedLayout(
    strings=(),
    doubles=37,  # orientation 4, covariance 9, angular velocity 3, covariance 9, acceleration 3, covariance 9
    columns=(*_xyzw("orientation", 0), *_xyz("angular_velocity", 13), *_xyz("linear_acceleration", 25)),
)
ODOMETRY = FixedLayout(
    strings=("child_frame_id",),
    doubles=85,  # position 3, orientation 4, covariance 36, linear 3, angular 3, covariance 36
    columns=(*_xyz("position", 0), *_xyzw("orientation", 3), *_xyz("linear", 43), *_xyz("angular", 46)),
)
FIXED_LAYOUTS: dict[str, FixedLayout] = {"sensor_msgs/msg/Imu": IMU, "nav_msgs/msg/Odometry": ODOMETRY}


class _Unexpected(Exception):
    """A message is not laid out as its type says."""


def fixed_table(layout: FixedLayout, encoding: str, t_ns: list[int], raws: list[bytes]) -> pa.Table | None:
    """The table of these messages (in this order), or None where one of them is not as expected."""
    if encoding not in ("cdr", "ros1") or not raws:
        return None
    by_size: dict[int, list[int]] = {}
    for index, raw in enumerate(raws):
        by_size.setdefault(len(raw), []).append(index)
    groups: list[tuple[np.ndarray, dict[str, pa.Array]]] = []
    try:
        for size, indexes in by_size.items():
            block = np.frombuffer(b"".join(raws[i] for i in indexes), dtype=np.uint8).reshape(len(indexes), size)
            groups.extend(_read_block(layout, encoding == "cdr", block, np.asarray(indexes)))
    except _Unexpected:
        return None
    columns = groups[0][1]
    if len(groups) > 1:  # frame ids of different lengths, read apart: put the rows back in order
        order = pa.array(np.argsort(np.concatenate([indexes for indexes, _ in groups]), kind="stable"))
        columns = {name: pa.concat_arrays([group[name] for _, group in groups]).take(order) for name in columns}
    columns["t_ns"] = pa.array(np.asarray(t_ns, dtype=np.int64))
    return pa.table(columns)


def _read_block(
    layout: FixedLayout, cdr: bool, block: np.ndarray, indexes: np.ndarray
) -> list[tuple[np.ndarray, dict[str, pa.Array]]]:
    """The columns of equally long messages (their ``indexes`` in the row group), in one group per set of
    string lengths."""
    size = block.shape[1]
    if size < STRINGS_START + 4 or (cdr and not (block[:, :2] == CDR_LITTLE_ENDIAN).all()):
        raise _Unexpected
    seconds = _u32(block, 4)
    seconds = (seconds.view(np.int32) if cdr else seconds).astype(np.int64)  # CDR's sec is signed
    columns: dict[str, pa.Array] = {"stamp_ns": pa.array(seconds * 1_000_000_000 + _u32(block, 8))}
    position = STRINGS_START
    for name in ("frame_id", *layout.strings):
        if cdr:
            position += -(position - 4) % 4
        if position + 4 > size:
            raise _Unexpected
        lengths = _u32(block, position)
        length = int(lengths[0])
        if (lengths != length).any():
            groups = []
            for value in np.unique(lengths):
                groups.extend(_read_block(layout, cdr, block[lengths == value], indexes[lengths == value]))
            return groups
        if position + 4 + length > size or (cdr and length == 0):
            raise _Unexpected
        columns[name] = _strings(block[:, position + 4 : position + 4 + length - (1 if cdr else 0)])
        position += 4 + length
    if cdr:
        position += -(position - 4) % 8  # doubles align to 8 within the payload, after the encapsulation
    if position + 8 * layout.doubles != size:
        raise _Unexpected
    values = np.ascontiguousarray(block[:, position:]).view("<f8")
    for name, index in layout.columns:
        columns[name] = pa.array(values[:, index])
    return [(indexes, columns)]


def _u32(block: np.ndarray, offset: int) -> np.ndarray:
    return np.ascontiguousarray(block[:, offset : offset + 4]).view("<u4").ravel()


def _strings(text: np.ndarray) -> pa.Array:
    """A string column from a matrix of equally long UTF-8 strings (usually one frame id, repeated)."""
    if (text == text[0]).all():
        return pa.repeat(pa.scalar(text[0].tobytes().decode()), len(text))
    return pa.array([row.tobytes().decode() for row in text], type=pa.string())


def header_row(raw: bytes | memoryview, encoding: str) -> dict[str, Any] | None:
    """``stamp_ns`` and ``frame_id`` of a message that starts with a std_msgs/Header (images, point clouds),
    read from its first bytes; None where they are not as expected."""
    cdr = encoding == "cdr"
    if encoding not in ("cdr", "ros1") or len(raw) < STRINGS_START + 4 or (cdr and raw[:2] != CDR_PREFIX):
        return None
    sec, nanosec, length = (CDR_HEADER if cdr else ROS1_HEADER).unpack_from(raw, 4)
    end = STRINGS_START + 4 + length - (1 if cdr else 0)
    if end > len(raw) or (cdr and length == 0):
        return None
    try:
        frame_id = bytes(raw[STRINGS_START + 4 : end]).decode()
    except UnicodeDecodeError:
        return None
    return {"stamp_ns": sec * 1_000_000_000 + nanosec, "frame_id": frame_id}
