"""What is readable in a bag whose index or summary is damaged or missing, found by a linear scan.

A robot that loses power mid-recording leaves a ROS1 bag without its index (the connections and
chunk infos written at the end) and an MCAP file without its summary, often with the last chunk cut
short. Both formats write every record in order, so a scan from the start finds each whole chunk and
the connections or channels before their messages; it stops at the first record that does not fit
the file, and what lies beyond is lost. The index counted the messages; without it, how many were in
the part that is lost cannot be known, only its bytes.

A scanned file offers what the indexed readers offer (contents, chunk weights, messages in a time
range), so a recovered bag decodes like any other, and its :class:`Recovery` says what was lost and why.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipelines.bags.compression import DECOMPRESSORS, ROS1_DECOMPRESSORS
from pipelines.bags.contents import BagContents, Recovery, Topic
from pipelines.bags.ros1_records import MAGIC as ROS1_MAGIC
from pipelines.bags.ros1_records import OP_CHUNK, OP_CONNECTION, OP_MESSAGE, RecordDamage, header_fields, records

MCAP_MAGIC = b"\x89MCAP0\r\n"
MCAP_FOOTER, MCAP_SCHEMA, MCAP_CHANNEL, MCAP_MESSAGE, MCAP_CHUNK = 0x02, 0x03, 0x04, 0x05, 0x06
MCAP_METADATA, MCAP_DATA_END = 0x0C, 0x0F
MESSAGE_HEADER = struct.Struct("<HIQ")  # channel, sequence, log time (then publish time, then the data)
CHUNK_HEADER = struct.Struct("<QQQI")  # start, end, uncompressed size, crc (then compression, records)


class _Stop(Exception):
    """The scan met a record that does not fit the file: from ``at`` on, nothing is read."""

    def __init__(self, at: int, why: str) -> None:
        super().__init__(why)
        self.at = at


@dataclass
class _Chunk:
    """A whole chunk the scan found: where its compressed records are, and its messages' span and count."""

    offset: int
    length: int
    compression: str
    uncompressed: int
    start_ns: int
    end_ns: int
    messages: int


@dataclass
class _Channels:
    """Topics by the id their file gives them: name, type, encoding, definition and its format; counts."""

    topics: dict[int, tuple[str, str, str, str, str]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)


class ScannedFile(ABC):
    """What both scans share: the whole chunks found, the channels in them, and the messages read back."""

    MAGIC = b""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.channels = _Channels()
        self.chunks: list[_Chunk] = []
        self.metadata: dict[str, str] = {}
        self.stream: BinaryIO = path.open("rb")
        self.size = path.stat().st_size
        self.recovery = Recovery(path.name, f"{reason}; read by a scan, nothing lost", 0, 0)
        try:
            if self.stream.read(len(self.MAGIC)) != self.MAGIC:
                raise _Stop(0, "it does not start as its format does")
            self._scan(len(self.MAGIC))
        except _Stop as stop:
            lost = self.size - stop.at
            self.recovery = Recovery(
                path.name, f"{reason}; read by a scan, which stopped at byte {stop.at}: {stop}", lost, None
            )

    @abstractmethod
    def _scan(self, position: int) -> None:
        """Walk the file's records from ``position``, taking whole chunks and channels; :class:`_Stop` at damage."""

    @abstractmethod
    def _records(self, chunk: _Chunk, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        """A chunk's messages as (channel, log time, raw bytes), its channel records taken on the way."""

    def _chunk(self, offset: int, length: int, compression: str, uncompressed: int = 0) -> None:
        """Read a whole chunk once: its channels are taken, its messages counted."""
        self.stream.seek(offset)
        chunk = _Chunk(offset, length, compression, uncompressed, 1 << 64, -1, 0)
        for channel, t_ns, _ in self._records(chunk, self.stream.read(length)):
            chunk.start_ns, chunk.end_ns = min(chunk.start_ns, t_ns), max(chunk.end_ns, t_ns)
            chunk.messages += 1
            self.channels.counts[channel] = self.channels.counts.get(channel, 0) + 1
        if chunk.messages:
            self.chunks.append(chunk)

    def contents(self, into: BagContents, counted: bool = True) -> None:
        for channel, (name, msgtype, encoding, definition, definition_format) in self.channels.topics.items():
            topic = into.topics.setdefault(name, Topic(name, msgtype, encoding, definition, definition_format))
            topic.count += self.channels.counts.get(channel, 0)
        for chunk in self.chunks:
            into.widen(chunk.start_ns, chunk.end_ns)
        into.metadata.update(self.metadata)
        into.recovered.append(self.recovery)

    def chunk_weights(self) -> list[tuple[int, float]]:
        return [(chunk.start_ns, float(chunk.messages)) for chunk in self.chunks]

    def messages(self, start_ns: int | None, end_ns: int | None) -> Iterator[tuple[str, int, bytes]]:
        low, high = start_ns if start_ns is not None else -1, end_ns if end_ns is not None else 1 << 64
        for chunk in self.chunks:
            if chunk.end_ns < low or chunk.start_ns >= high:
                continue
            self.stream.seek(chunk.offset)
            for channel, t_ns, raw in self._records(chunk, self.stream.read(chunk.length)):
                if low <= t_ns < high and channel in self.channels.topics:
                    yield self.channels.topics[channel][0], t_ns, raw

    def close(self) -> None:
        self.stream.close()


class Ros1Scan(ScannedFile):
    """A ROS1 bag read chunk by chunk, its index ignored: recorders write each connection into a chunk too."""

    MAGIC = ROS1_MAGIC

    def _scan(self, position: int) -> None:
        try:
            for at, fields, data_at, data_length in records(self.stream, self.size):
                op = fields.get("op", b"\xff")[0]
                if op == OP_CHUNK:
                    compression = fields.get("compression", b"none").decode()
                    if compression not in ROS1_DECOMPRESSORS:
                        raise _Stop(at, f"a chunk compressed with {compression!r}, which is not read")
                    self._chunk(data_at, data_length, compression)
                elif op == OP_CONNECTION:
                    self.stream.seek(data_at)
                    self._connection(fields, self.stream.read(data_length))
        except RecordDamage as damage:
            raise _Stop(damage.at, str(damage)) from None

    def _connection(self, fields: dict[str, bytes], data: bytes) -> None:
        (connection,) = struct.unpack("<I", fields["conn"])
        details = header_fields(data)
        topic = fields.get("topic", details.get("topic", b"")).decode()
        definition = details.get("message_definition", b"").decode(errors="replace")
        entry = (topic, details.get("type", b"").decode(), "ros1", definition, "ros1msg")
        self.channels.topics.setdefault(connection, entry)

    def _records(self, chunk: _Chunk, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        inner = ROS1_DECOMPRESSORS[chunk.compression](data)
        position, size = 0, len(inner)
        while position + 8 <= size:
            (header_length,) = struct.unpack_from("<I", inner, position)
            fields = header_fields(inner[position + 4 : position + 4 + header_length])
            (data_length,) = struct.unpack_from("<I", inner, position + 4 + header_length)
            data_at = position + 8 + header_length
            op = fields.get("op", b"\xff")[0]
            if op == OP_MESSAGE:
                (connection,) = struct.unpack("<I", fields["conn"])
                seconds, nanoseconds = struct.unpack("<II", fields["time"])
                yield connection, seconds * 1_000_000_000 + nanoseconds, inner[data_at : data_at + data_length]
            elif op == OP_CONNECTION:
                self._connection(fields, inner[data_at : data_at + data_length])
            position = data_at + data_length


class McapScan(ScannedFile):
    """An MCAP file read record by record, its summary ignored: schemas and channels precede their messages."""

    MAGIC = MCAP_MAGIC

    def __init__(self, path: Path, reason: str) -> None:
        self.schemas: dict[int, tuple[str, str, str]] = {}  # id -> name, encoding, text
        super().__init__(path, reason)

    def _scan(self, position: int) -> None:
        while position < self.size:
            self.stream.seek(position)
            head = self.stream.read(9)
            if len(head) < 9:
                raise _Stop(position, "the file ends inside a record (a recording cut short)")
            opcode, length = head[0], int.from_bytes(head[1:], "little")
            if position + 9 + length > self.size:
                what = "a chunk" if opcode == MCAP_CHUNK else "a record"
                raise _Stop(position, f"the file ends inside {what} (a recording cut short)")
            if opcode in (MCAP_FOOTER, MCAP_DATA_END):
                return  # the summary, if any, follows: the scan has all the data
            if opcode == MCAP_CHUNK:
                self._mcap_chunk(position, self.stream.read(length))
            elif opcode == MCAP_MESSAGE:
                # A message outside any chunk: read back as a chunk of one record.
                self._chunk(position, 9 + length, "", 0)
            else:
                self._record(opcode, self.stream.read(length))
            position += 9 + length

    def _mcap_chunk(self, position: int, body: bytes) -> None:
        _, _, uncompressed, _ = CHUNK_HEADER.unpack_from(body)
        compression, at = _string(body, CHUNK_HEADER.size)
        (records_length,) = struct.unpack_from("<Q", body, at)
        if compression not in DECOMPRESSORS:
            raise _Stop(position, f"a chunk compressed with {compression!r}, which is not read")
        self._chunk(position + 9 + at + 8, records_length, compression, uncompressed)

    def _records(self, chunk: _Chunk, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        inner = DECOMPRESSORS[chunk.compression](data, chunk.uncompressed)
        position, size = 0, len(inner)
        while position + 9 <= size:
            opcode, length = inner[position], int.from_bytes(inner[position + 1 : position + 9], "little")
            body = inner[position + 9 : position + 9 + length]
            if opcode == MCAP_MESSAGE:
                channel, _, log_time = MESSAGE_HEADER.unpack_from(body)
                yield channel, log_time, bytes(body[22:])
            else:
                self._record(opcode, bytes(body))
            position += 9 + length

    def _record(self, opcode: int, body: bytes) -> None:
        if opcode == MCAP_SCHEMA:
            (schema,) = struct.unpack_from("<H", body)
            name, at = _string(body, 2)
            encoding, at = _string(body, at)
            (length,) = struct.unpack_from("<I", body, at)
            self.schemas[schema] = (name, encoding, body[at + 4 : at + 4 + length].decode(errors="replace"))
        elif opcode == MCAP_CHANNEL:
            channel, schema = struct.unpack_from("<HH", body)
            topic, at = _string(body, 4)
            encoding, _ = _string(body, at)
            name, schema_encoding, text = self.schemas.get(schema, ("", "", ""))
            entry = (topic, name, "ros1" if encoding == "ros1" else "cdr", text, schema_encoding)
            self.channels.topics.setdefault(channel, entry)
        elif opcode == MCAP_METADATA:
            name, at = _string(body, 0)
            (length,) = struct.unpack_from("<I", body, at)
            at, end = at + 4, at + 4 + length
            while at < end:
                key, at = _string(body, at)
                value, at = _string(body, at)
                self.metadata[f"{name}.{key}"] = value


def _string(body: bytes, at: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", body, at)
    return bytes(body[at + 4 : at + 4 + length]).decode(errors="replace"), at + 4 + length
