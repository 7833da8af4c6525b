"""A walk over a ROS1 bag's records that says where and how the file is damaged.

rosbags refuses a damaged bag with whatever its parser tripped on (a bare ``AssertionError`` for an
index record whose length does not match its entry count). This walk reads only record headers and
lengths, from the start of the file to its end, and names the first record that does not add up.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAGIC = b"#ROSBAG V2.0\n"
OP_BAG_HEADER, OP_INDEX_DATA, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION, OP_MESSAGE = 3, 4, 5, 6, 7, 2
KNOWN_OPS = {OP_MESSAGE, OP_BAG_HEADER, OP_INDEX_DATA, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION}
INDEX_ENTRY_BYTES = 12  # time (sec, nsec) and offset
CHUNK_INFO_ENTRY_BYTES = 8  # connection and count
MAX_HEADER_BYTES = 1 << 20


def header_fields(header: bytes) -> dict[str, bytes]:
    """A record header's ``name=value`` fields (each prefixed by its length), values as raw bytes."""
    fields, position = {}, 0
    while position + 4 <= len(header):
        (length,) = struct.unpack_from("<I", header, position)
        name, _, value = header[position + 4 : position + 4 + length].partition(b"=")
        fields[name.decode("latin-1")] = value
        position += 4 + length
    return fields


def _u32(fields: dict[str, bytes], name: str) -> int | None:
    value = fields.get(name)
    return struct.unpack("<I", value)[0] if value is not None and len(value) == 4 else None


class RecordDamage(Exception):
    """The first record that does not fit the file: from byte ``at`` on, nothing can be read."""

    def __init__(self, at: int, why: str) -> None:
        super().__init__(why)
        self.at = at


def records(file: BinaryIO, size: int) -> Iterator[tuple[int, dict[str, bytes], int, int]]:
    """Each top-level record's byte, header fields, data offset and data length; :class:`RecordDamage` where
    one does not fit the file."""
    position = len(MAGIC)
    while position < size:
        file.seek(position)
        prefix = file.read(4)
        (header_length,) = struct.unpack("<I", prefix) if len(prefix) == 4 else (size,)
        if header_length > MAX_HEADER_BYTES or position + 8 + header_length > size:
            raise RecordDamage(position, f"the file ends inside the record at byte {position} (a recording cut short)")
        fields = header_fields(file.read(header_length))
        (data_length,) = struct.unpack("<I", file.read(4))
        data_at = position + 8 + header_length
        if data_at + data_length > size:
            raise RecordDamage(
                position,
                f"the record at byte {position} claims {data_length} bytes of data but the file ends "
                f"{size - data_at} bytes later (a recording cut short)",
            )
        yield position, fields, data_at, data_length
        position = data_at + data_length


def describe_damage(path: Path) -> str | None:
    """What is wrong with the ROS1 bag at ``path``, naming the byte where it starts; None when every record adds up."""
    size = path.stat().st_size
    with path.open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            return "it does not start with '#ROSBAG V2.0' (legacy V1.2 bags, and other files, are not read)"
        try:
            for position, fields, _, data_length in records(file, size):
                problem = _problem(fields, data_length, size)
                if problem:
                    return problem.format(position=position)
        except RecordDamage as damage:
            return str(damage)
    return None


def _problem(fields: dict[str, bytes], data_length: int, size: int) -> str | None:
    """What does not add up in one record (``{position}`` left to fill in)."""
    op = fields.get("op", b"\xff")[0]
    if op not in KNOWN_OPS:
        return f"the record at byte {{position}} has an unknown op code {op}"
    claimed = _entries(fields, op, data_length)
    if claimed:
        return f"{claimed[0]} at byte {{position}} claims {claimed[1]} entries but holds {data_length} bytes"
    index_at = fields.get("index_pos")
    if op == OP_BAG_HEADER and index_at is not None and len(index_at) == 8:
        (where,) = struct.unpack("<Q", index_at)
        if where > size:
            return f"the bag header at byte {{position}} points its index at byte {where}, past the end ({size} bytes)"
    return None


def _entries(fields: dict[str, bytes], op: int, data_length: int) -> tuple[str, int] | None:
    """The record's name and its claimed entry count, where that count does not fit its data."""
    count = _u32(fields, "count")
    if count is None:
        return None
    if op == OP_INDEX_DATA and count * INDEX_ENTRY_BYTES != data_length:
        return "index record", count
    if op == OP_CHUNK_INFO and count * CHUNK_INFO_ENTRY_BYTES != data_length:
        return "chunk info record", count
    return None
