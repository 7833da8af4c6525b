"""Reading any bag as a stream of raw messages, whole or one part at a time.

One interface over three storages: ROS1 bags (rosbags' reader: uncompressed, bz2 and lz4 chunks),
MCAP files (the ``mcap`` library for the summary; chunks, uncompressed, zstd or lz4, parsed here) and
rosbag2 SQLite files (``sqlite3``), a ROS2 bag directory being one or more of the latter two (files
rosbag2 compressed whole, with zstd, are decompressed into the machine's cache first).
Messages come out raw, with their topic and log time; :mod:`pipelines.bags.typesys` deserialises them.

A bag splits into parts so that one large bag keeps several workers busy: ROS1 and MCAP bags by
chunk (a part is a run of chunks, read as the time range they cover, which the readers' chunk
indexes serve without touching other chunks), SQLite files by row range. Every message belongs to
exactly one part.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleetray.errors import FleetrayError
from pipelines.bags.cache import cached
from pipelines.bags.compression import DECOMPRESSORS
from pipelines.bags.contents import BagContents, Recovery, Topic
from pipelines.bags.recovery import MCAP_CHUNK, MCAP_MESSAGE, MESSAGE_HEADER, McapScan, Ros1Scan, ScannedFile
from pipelines.bags.ros1_records import describe_damage

PART_BYTES = 64 * 1024 * 1024  # a bag splits into parts of about this much, so big bags use every worker


YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where built in: many times faster
# ROS1 bags have no metadata records: robots label a recording with one std_msgs/String of JSON here.
RECORDING_TOPIC = "/fleetray/recording"


class BagReadError(FleetrayError):
    """A bag cannot be read: corrupt, truncated, or not the format its name says."""


@dataclass(frozen=True)
class Part:
    """A slice of a bag: one storage file, and a time range ``[start_ns, end_ns)`` or a row range."""

    index: int
    file_index: int = 0
    start_ns: int | None = None
    end_ns: int | None = None
    first_row: int | None = None
    end_row: int | None = None
    messages: int = 0  # about how many messages it holds: what it costs to decode, for scheduling


# The last round of parts (one per worker) is cut into these shares: parts run costliest first, so the
# small ones come last and the workers finish within about an eighth of a part of one another, instead
# of one worker decoding a last whole part while the others wait.
TAIL_SHARES = (1 / 2, 1 / 4, 1 / 8, 1 / 8)


def part_count(size_bytes: int, part_bytes: int = PART_BYTES) -> int:
    """How many parts of about ``part_bytes`` a bag of ``size_bytes`` makes."""
    return max(1, -(-size_bytes // part_bytes))


def _cut_points(weights: list[tuple[int, float]], shares: list[float]) -> list[int]:
    """Chunk start times that cut the chunks, in time order, into runs holding about ``shares`` of the weight."""
    chunks = sorted(weights)
    if not chunks:
        return []
    if not any(weight for _, weight in chunks):
        chunks = [(start, 1.0) for start, _ in chunks]
    total = sum(weight for _, weight in chunks)
    before = list(itertools.accumulate((weight for _, weight in chunks), initial=0.0))[:-1]
    points = {
        chunks[min(len(chunks) - 1, bisect.bisect_left(before, share * total))][0]
        for share in itertools.accumulate(shares[:-1])
    }
    return sorted(points - {chunks[0][0]})


CACHED_FILES = 8
# Opening a ROS1 bag reads the index of every chunk; a worker decoding several parts of one bag keeps it
# open between them (one at a time: parts run one after another in a worker).
_ROS1_READERS: dict[tuple[int, str, int, int], Any] = {}


class _Ros1File:
    def __init__(self, path: Path) -> None:
        from rosbags.rosbag1 import Reader, ReaderError

        self._error = ReaderError
        try:
            stat = path.stat()
        except OSError as err:
            raise BagReadError(f"{path.name}: cannot open ({err})") from err
        # The process id too: a forked child must not share its parent's open file (and its file offset).
        key = (os.getpid(), str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        self.reader = _ROS1_READERS.pop(key, None)
        if self.reader is None:
            self.reader = Reader(path)
            try:
                self.reader.open()
            except Exception as err:  # rosbags trips on damage with whatever its parser meets (AssertionError too)
                plain = str(err) if isinstance(err, ReaderError) else f"{type(err).__name__}: {err}"
                reason = describe_damage(path) or plain
                raise BagReadError(f"{path.name}: not a readable ROS1 bag ({reason})") from err
        self.key = key

    def contents(self, into: BagContents, counted: bool = True) -> None:
        for connection in self.reader.connections:
            topic = into.topics.setdefault(
                connection.topic, Topic(connection.topic, connection.msgtype, "ros1", connection.msgdef.data, "ros1msg")
            )
            topic.count += connection.msgcount
        if self.reader.message_count:
            into.widen(self.reader.start_time, self.reader.end_time)
        labels = [c for c in self.reader.connections if c.topic == RECORDING_TOPIC]
        for _, _, raw in self.reader.messages(connections=labels[:1]) if labels else ():
            length = int.from_bytes(raw[:4], "little")  # a ROS1 std_msgs/String: length, then UTF-8
            with contextlib.suppress(ValueError):
                label = json.loads(raw[4 : 4 + length])
                if isinstance(label, dict):
                    into.metadata.update({f"fleetray.{k}": str(v) for k, v in label.items()})
            break

    def chunk_weights(self) -> list[tuple[int, float]]:
        """Each chunk's start time and message count."""
        return [(chunk.start_time, sum(chunk.connection_counts.values())) for chunk in self.reader.chunk_infos]

    def messages(self, start_ns: int | None, end_ns: int | None) -> Iterator[tuple[str, int, bytes]]:
        try:
            for connection, timestamp, raw in self.reader.messages(start=start_ns, stop=end_ns):
                yield connection.topic, timestamp, raw
        except self._error as err:
            raise BagReadError(f"ROS1 bag unreadable past this point ({err})") from err

    def close(self) -> None:
        """Keep the reader open for this worker's next part of the same bag; close the least recent beyond a few."""
        _ROS1_READERS[self.key] = self.reader
        while len(_ROS1_READERS) > CACHED_FILES:
            _ROS1_READERS.pop(next(iter(_ROS1_READERS))).close()


# A worker often decodes several parts of one large file: its summary (every chunk's index) is parsed once.
_MCAP_SUMMARIES: dict[tuple[str, int, int], tuple[Any, dict[str, dict[str, str]]]] = {}


class _McapFile:
    def __init__(self, path: Path) -> None:
        from mcap.exceptions import McapError
        from mcap.reader import make_reader

        self._error = McapError
        self.stream = open(path, "rb")  # noqa: SIM115 (closed by close())
        stat = os.fstat(self.stream.fileno())
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        try:
            self.reader = make_reader(self.stream)
            if key not in _MCAP_SUMMARIES:
                if len(_MCAP_SUMMARIES) >= CACHED_FILES:
                    _MCAP_SUMMARIES.pop(next(iter(_MCAP_SUMMARIES)))
                metadata = {m.name: dict(m.metadata) for m in self.reader.iter_metadata()}
                _MCAP_SUMMARIES[key] = (self.reader.get_summary(), metadata)
            self.summary, self.header_metadata = _MCAP_SUMMARIES[key]
        except (McapError, ValueError, EOFError, OSError) as err:
            self.stream.close()
            raise BagReadError(f"{path.name}: not a readable MCAP file ({err})") from err
        if self.summary is None:
            self.stream.close()
            raise BagReadError(f"{path.name}: an MCAP file without a summary (truncated, or still being written)")

    def contents(self, into: BagContents, counted: bool = True) -> None:
        summary = self.summary
        counts = summary.statistics.channel_message_counts if summary.statistics else {}
        for channel_id, channel in summary.channels.items():
            schema = summary.schemas.get(channel.schema_id)
            encoding = "ros1" if channel.message_encoding == "ros1" else "cdr"
            topic = into.topics.setdefault(
                channel.topic,
                Topic(
                    channel.topic,
                    schema.name if schema else "",
                    encoding,
                    schema.data.decode(errors="replace") if schema else "",
                    schema.encoding if schema else "",
                ),
            )
            topic.count += counts.get(channel_id, 0)
        if summary.statistics and summary.statistics.message_count:
            into.widen(summary.statistics.message_start_time, summary.statistics.message_end_time)
        for name, values in self.header_metadata.items():
            into.metadata.update({f"{name}.{key}": value for key, value in values.items()})

    def chunk_weights(self) -> list[tuple[int, float]]:
        """Each chunk's start time and (the file's messages shared out by uncompressed size) message count."""
        chunks = self.summary.chunk_indexes
        total = self.summary.statistics.message_count if self.summary.statistics else 0
        size = sum(chunk.uncompressed_size for chunk in chunks) or 1
        return [(chunk.message_start_time, total * chunk.uncompressed_size / size) for chunk in chunks]

    def messages(self, start_ns: int | None, end_ns: int | None) -> Iterator[tuple[str, int, bytes]]:
        try:
            if self.summary.chunk_indexes and all(c.compression in DECOMPRESSORS for c in self.summary.chunk_indexes):
                yield from self._chunked_messages(start_ns, end_ns)
                return
            for _, channel, message in self.reader.iter_messages(
                start_time=start_ns, end_time=end_ns, log_time_order=False
            ):
                yield channel.topic, message.log_time, message.data
        except (self._error, ValueError, EOFError, struct.error, KeyError) as err:
            raise BagReadError(f"MCAP file unreadable past this point ({err})") from err

    def _chunked_messages(self, start_ns: int | None, end_ns: int | None) -> Iterator[tuple[str, int, bytes]]:
        """Messages straight from the chunks the range needs, parsed in a tight loop.

        The mcap library parses every record through a general-purpose stream; reading a chunk's
        message records directly is several times faster, and decoding is bound by it otherwise.
        """
        low, high = start_ns if start_ns is not None else -1, end_ns if end_ns is not None else 1 << 64
        topics = {channel_id: channel.topic for channel_id, channel in self.summary.channels.items()}
        for chunk in sorted(self.summary.chunk_indexes, key=lambda c: c.chunk_start_offset):
            if chunk.message_end_time < low or chunk.message_start_time >= high:
                continue
            self.stream.seek(chunk.chunk_start_offset)
            record = memoryview(self.stream.read(chunk.chunk_length))  # slices of a view copy nothing
            if len(record) < chunk.chunk_length or record[0] != MCAP_CHUNK:
                raise BagReadError(f"MCAP chunk at byte {chunk.chunk_start_offset} is cut short or not a chunk")
            # opcode, length, start, end, uncompressed size, crc, compression (string), records (bytes)
            (compression_length,) = struct.unpack_from("<I", record, 1 + 8 + 8 + 8 + 8 + 4)
            offset = 1 + 8 + 8 + 8 + 8 + 4 + 4 + compression_length
            (records_length,) = struct.unpack_from("<Q", record, offset)
            body = record[offset + 8 : offset + 8 + records_length]
            data = DECOMPRESSORS[chunk.compression](body, chunk.uncompressed_size)
            position, size = 0, len(data)
            view = memoryview(data)
            while position < size:
                opcode, length = data[position], int.from_bytes(data[position + 1 : position + 9], "little")
                if opcode == MCAP_MESSAGE:
                    channel_id, _, log_time = MESSAGE_HEADER.unpack_from(data, position + 9)
                    if low <= log_time < high:  # a view, not a copy: an image is often skipped unread
                        yield topics[channel_id], log_time, view[position + 9 + 22 : position + 9 + length]
                position += 9 + length

    def close(self) -> None:
        self.stream.close()


class _SqliteFile:
    def __init__(self, path: Path, compressed_messages: bool) -> None:
        self.recovery: Recovery | None = None
        self._replayed: tempfile.TemporaryDirectory | None = None
        wal = path.with_name(f"{path.name}-wal")
        if wal.is_file() and wal.stat().st_size:
            path = self._replay(path, wal)
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            raise BagReadError(f"{path.name}: not a readable rosbag2 SQLite file ({err})") from err
        if not {"topics", "messages"} <= tables:
            raise BagReadError(f"{path.name}: a SQLite file without rosbag2's topics and messages tables")
        self.definitions: dict[str, tuple[str, str]] = {}
        if "message_definitions" in tables:
            for msgtype, encoding, text in self.db.execute(
                "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
            ):
                self.definitions[msgtype] = (text, encoding)
        self.topic_names = {row[0]: row[1] for row in self.db.execute("SELECT id, name FROM topics")}
        self.decompress = None
        if compressed_messages:
            import zstandard

            self.decompress = zstandard.ZstdDecompressor().decompress

    def _replay(self, path: Path, wal: Path) -> Path:
        """A copy of the database with its write-ahead log checkpointed into it.

        A recorder that stopped without closing its bag (power lost) leaves the last messages in the
        ``-wal`` file beside the database; read as it is (immutable), the database does not show them.
        """
        self._replayed = tempfile.TemporaryDirectory(prefix="fleetray-wal-")
        copy = Path(self._replayed.name) / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(f"{copy.name}-wal"))
        try:
            before = _message_rows(f"file:{path}?mode=ro&immutable=1")
            with contextlib.closing(sqlite3.connect(copy)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            replayed = _message_rows(f"file:{copy}?mode=ro&immutable=1") - before
        except sqlite3.DatabaseError as err:
            raise BagReadError(f"{path.name}: its write-ahead log cannot be replayed ({err})") from err
        reason = (
            f"{path.name} was left without its write-ahead log checkpointed (a recording cut short): "
            f"{replayed} messages replayed from {wal.stat().st_size} bytes of log"
        )
        self.recovery = Recovery(path.name, reason, 0, 0)
        return copy

    def contents(self, into: BagContents, counted: bool = True) -> None:
        if self.recovery is not None:
            into.recovered.append(self.recovery)
        counts = {}
        if counted:  # a full scan of the messages table: only when counts are asked for
            counts = dict(self.db.execute("SELECT topic_id, count(*) FROM messages GROUP BY topic_id").fetchall())
        for topic_id, name, msgtype, serialization in self.db.execute(
            "SELECT id, name, type, serialization_format FROM topics"
        ):
            definition, encoding = self.definitions.get(msgtype, ("", ""))
            topic = into.topics.setdefault(
                name, Topic(name, msgtype, "ros1" if serialization == "ros1" else "cdr", definition, encoding)
            )
            topic.count += counts.get(topic_id, 0)
        if counted:
            start, end = self.db.execute("SELECT min(timestamp), max(timestamp) FROM messages").fetchone()
            into.widen(start, end)

    def row_range(self) -> tuple[int, int]:
        first, last = self.db.execute("SELECT min(id), max(id) FROM messages").fetchone()
        return (first or 0, (last or -1) + 1)

    def messages(self, first_row: int | None, end_row: int | None) -> Iterator[tuple[str, int, bytes]]:
        query, args = "SELECT topic_id, timestamp, data FROM messages", ()
        if first_row is not None:
            query, args = query + " WHERE id >= ? AND id < ?", (first_row, end_row)
        try:
            for topic_id, timestamp, data in self.db.execute(query + " ORDER BY id", args):
                yield self.topic_names[topic_id], timestamp, self.decompress(data) if self.decompress else data
        except sqlite3.DatabaseError as err:
            raise BagReadError(f"SQLite file unreadable past this point ({err})") from err

    def close(self) -> None:
        self.db.close()
        if self._replayed is not None:
            self._replayed.cleanup()


def _message_rows(uri: str) -> int:
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]


def _indexed_or_scanned(
    indexed: Callable[[Path], _Ros1File | _McapFile], scanned: Callable[[Path, str], ScannedFile], file: Path
) -> _Ros1File | _McapFile | ScannedFile:
    """The file read by its index; where that is damaged or missing, by a scan of the chunks that are whole."""
    try:
        return indexed(file)
    except BagReadError as err:
        scan = scanned(file, str(err))
        if not scan.chunks:
            scan.close()
            raise BagReadError(f"{err}; a scan of its records found no whole chunk either") from err
        return scan


class BagReader:
    """A bag opened for reading: ``contents`` from its indexes, ``messages(part)`` as a stream.

    Raises (on opening):
        BagReadError: a file is corrupt, truncated or not in the format its name says.
    """

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.format = path, fmt
        self.metadata: dict[str, Any] = {}
        self._decompressed = contextlib.ExitStack()
        self.files: list[_Ros1File | _McapFile | _SqliteFile | ScannedFile] = []
        compressed_messages = False
        if fmt.startswith("ros2-"):
            try:
                info = yaml.load((path / "metadata.yaml").read_text(), Loader=YAML_LOADER)
                info = info["rosbag2_bagfile_information"]
            except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
                raise BagReadError(f"{path.name}/metadata.yaml: not rosbag2 metadata ({err})") from err
            self.metadata = info
            files = [path / name for name in info.get("relative_file_paths", [])]
            mode = str(info.get("compression_mode", "")).upper()
            compressed_messages = mode == "MESSAGE"
        else:
            files, mode = [path], ""
        storage = fmt.removeprefix("ros2-")
        try:
            if mode == "FILE":
                files = [self._decompress(file, str(self.metadata.get("compression_format", ""))) for file in files]
            for file in files:
                if storage == "ros1":
                    self.files.append(_indexed_or_scanned(_Ros1File, Ros1Scan, file))
                elif storage == "mcap":
                    self.files.append(_indexed_or_scanned(_McapFile, McapScan, file))
                else:
                    self.files.append(_SqliteFile(file, compressed_messages))
        except BagReadError:
            self.close()
            raise
        except OSError as err:
            self.close()
            raise BagReadError(f"{path.name}: cannot open ({err})") from err

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _decompress(self, file: Path, compression: str) -> Path:
        """A storage file compressed as a whole, decompressed into this machine's cache (once per machine)."""
        if compression != "zstd":
            raise BagReadError(
                f"{file.name}: compressed as a whole file with {compression or 'nothing named'!r}; only zstd is read"
            )
        try:
            stat = file.stat()
        except OSError as err:
            raise BagReadError(f"{file.name}: cannot open ({err})") from err
        name = file.name.removesuffix(".zstd")

        def fill(entry: Path) -> None:
            import zstandard

            with open(file, "rb") as source, open(entry / name, "wb") as out:
                try:
                    zstandard.ZstdDecompressor().copy_stream(source, out)
                except zstandard.ZstdError as err:
                    raise BagReadError(f"{file.name}: not a zstd file ({err})") from err

        key = f"decompressed|{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        # The decompressed size is unknown until done; storage files compress three to four times.
        return self._decompressed.enter_context(cached(key, 4 * stat.st_size, fill)) / name

    def close(self) -> None:
        for file in self.files:
            file.close()
        self._decompressed.close()

    @property
    def recovered(self) -> list[Recovery]:
        """The storage files read by a scan (or with their write-ahead log replayed): what was lost and why."""
        return [f.recovery for f in self.files if isinstance(f, ScannedFile | _SqliteFile) and f.recovery is not None]

    def contents(self, counted: bool = True) -> BagContents:
        """Topics, counts, time span and metadata; ``counted=False`` skips what needs a scan (SQLite counts)."""
        contents = BagContents()
        for file in self.files:
            file.contents(contents, counted)
        custom = self.metadata.get("custom_data") if isinstance(self.metadata, dict) else None
        if isinstance(custom, dict):
            contents.metadata.update({str(k): str(v) for k, v in custom.items()})
        return contents

    def parts(self, count: int) -> list[Part]:
        """The bag cut into about ``count`` equal parts, each a whole number of chunks or rows."""
        per_file = max(1, round(count / max(1, len(self.files))))
        pieces = [
            piece for index in range(len(self.files)) for piece in self.split(Part(0, index), [1 / per_file] * per_file)
        ]
        return [dataclasses.replace(piece, index=index) for index, piece in enumerate(pieces)]

    def split(self, part: Part, shares: Sequence[float]) -> list[Part]:
        """``part`` cut into parts holding about ``shares`` of its messages, fewer where it has fewer chunks
        (or rows); all numbered as ``part`` is, so number them before they are decoded."""
        file = self.files[part.file_index]
        if isinstance(file, _SqliteFile):
            first, end = file.row_range()
            first, end = max(first, part.first_row or first), min(end, end if part.end_row is None else part.end_row)
            rows = [first + round(done * (end - first)) for done in itertools.accumulate(shares[:-1])]
            edges = sorted({first, *rows, end})
            if len(edges) < 2:
                return [dataclasses.replace(part, first_row=first, end_row=end, messages=0)]
            return [
                dataclasses.replace(part, first_row=row, end_row=last, messages=last - row)
                for row, last in itertools.pairwise(edges)
            ]

        def within(start: int | None, end: int | None, t: int) -> bool:
            return (start is None or t >= start) and (end is None or t < end)

        weights = [(t, w) for t, w in file.chunk_weights() if within(part.start_ns, part.end_ns, t)]
        edges = [part.start_ns, *_cut_points(weights, list(shares)), part.end_ns]
        return [
            dataclasses.replace(
                part, start_ns=start, end_ns=end, messages=round(sum(w for t, w in weights if within(start, end, t)))
            )
            for start, end in itertools.pairwise(edges)
        ]

    def messages(self, part: Part | None = None) -> Iterator[tuple[str, int, bytes | memoryview]]:
        """``(topic, log time in ns, raw bytes)`` of every message, or of one part's.

        MCAP messages come as views into their decompressed chunk: copy (``bytes(raw)``) what is kept
        beyond the next few messages, or it keeps the whole chunk alive."""
        if part is None:
            for index in range(len(self.files)):
                yield from self.messages(Part(0, index))
            return
        file = self.files[part.file_index]
        if isinstance(file, _SqliteFile):
            yield from file.messages(part.first_row, part.end_row)
        else:
            yield from file.messages(part.start_ns, part.end_ns)
