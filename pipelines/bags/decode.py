"""Decoding one part of a bag into per-topic Parquet tables, media files and events.

Rows are buffered per topic and written in row groups of ``ROW_GROUP`` rows, so memory stays flat
however large the part: a worker holds one row group per topic and the reader's current chunk.
Outputs of a part go under ``{output}/topics/{topic}/part-{n}.parquet``, ``{output}/media/{topic}/``
and ``{output}/events/part-{n}.parquet``; parts never write the same file, so they run anywhere.
"""

from __future__ import annotations

import re
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines.bags.extract import EVENT_TYPES, MEDIA_TYPES, events_of, rows_of
from pipelines.bags.fastpath import FIXED_LAYOUTS, FixedLayout, fixed_table, header_row
from pipelines.bags.location import filesystem_of
from pipelines.bags.media import MEDIA_WRITERS
from pipelines.bags.readers import BagReader, Part
from pipelines.bags.typesys import MessageDecoder, decoder_for

ROW_GROUP = 5_000


@dataclass(frozen=True)
class DecodeOptions:
    """What to write besides the tables: every n-th image and point cloud (0: none)."""

    image_every: int = 1
    cloud_every: int = 1


@dataclass
class PartResult:
    """What decoding a part did: messages and rows per topic, bytes read, files written, problems."""

    part: int
    messages: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # topic -> the first error decoding it
    error_count: int = 0
    media_files: int = 0
    events: int = 0
    raw_bytes: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # of the process that decoded it, over its life so far


def topic_slug(topic: str) -> str:
    """A topic name as a path segment (``/robot/imu`` -> ``robot.imu``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", topic.strip("/").replace("/", ".")) or "_root"


class _TableWriter:
    """Rows of one topic into one Parquet file, a row group at a time; a new file if the columns change."""

    def __init__(self, filesystem: pafs.FileSystem, path: str) -> None:
        self.filesystem, self.path = filesystem, path
        self.rows: list[dict[str, Any]] = []
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.files = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            table = pa.Table.from_pylist(self.rows)
            self.rows = []
            self.write(table)

    def write(self, table: pa.Table) -> None:
        """Write a table of rows that come after every row added so far."""
        self.flush()
        if self.schema is not None and not table.schema.equals(self.schema):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, ValueError, KeyError):
                self.close()
        if self.writer is None:
            self.schema = table.schema
            suffix = f"-{self.files}" if self.files else ""
            self.writer = pq.ParquetWriter(
                self.path.replace(".parquet", f"{suffix}.parquet"),
                table.schema,
                filesystem=self.filesystem,
                compression="zstd",
            )
            self.files += 1
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def output_filesystem(output: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path of an output URI (a local path, file:// or s3://, with the platform's
    S3 endpoint and region)."""
    filesystem, path = filesystem_of(output)
    return filesystem, path.rstrip("/")


def decode_part(
    path: Path,
    fmt: str,
    part: Part,
    output: str,
    options: DecodeOptions,
    known_definitions: dict[str, tuple[str, str]] | None = None,
) -> PartResult:
    """Decode ``part`` of the bag at ``path`` into ``output``."""
    started = time.perf_counter()
    filesystem, root = output_filesystem(output)
    result = PartResult(part.index)
    with BagReader(path, fmt) as reader:
        contents = reader.contents(counted=False)
        decoder = decoder_for(contents.topics, fmt == "ros1", known_definitions)
        result.undecodable = dict(decoder.undecodable)
        encodings = {name: topic.encoding for name, topic in contents.topics.items()}
        tables = _PartTables(filesystem, root, part.index, decoder, encodings, options, result)
        fixed = {
            name: (FIXED_LAYOUTS[decoder.msgtypes[name]], topic.encoding)
            for name, topic in contents.topics.items()
            if decoder.msgtypes.get(name) in FIXED_LAYOUTS and decoder.standard_layout(name)
        }
        batches: dict[str, tuple[list[int], list[bytes]]] = {name: ([], []) for name in fixed}
        messages: dict[str, int] = {}
        for topic, t_ns, raw in reader.messages(part):
            result.raw_bytes += len(raw)
            messages[topic] = messages.get(topic, 0) + 1
            batch = batches.get(topic)
            if batch is None:
                tables.add_message(topic, t_ns, raw)
                continue
            batch[0].append(t_ns)
            batch[1].append(bytes(raw))  # kept for a row group: a view would keep its whole chunk
            if len(batch[1]) >= ROW_GROUP:
                tables.add_fixed(topic, *fixed[topic], *batch)
                batches[topic] = ([], [])
        for topic, batch in batches.items():
            tables.add_fixed(topic, *fixed[topic], *batch)
        tables.close()
        result.messages = messages
    result.seconds = time.perf_counter() - started
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return result


class _PartTables:
    """The tables, media files and events one part writes, and what it counts into its result."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        root: str,
        index: int,
        decoder: MessageDecoder,
        encodings: dict[str, str],
        options: DecodeOptions,
        result: PartResult,
    ) -> None:
        self.filesystem, self.root, self.index = filesystem, root, index
        self.decoder, self.options, self.result = decoder, options, result
        self.writers: dict[str, _TableWriter] = {}
        self.events: list[dict[str, Any]] = []
        self.media_seen: dict[str, int] = {}
        self.encodings = encodings

    def add_message(self, topic: str, t_ns: int, raw: bytes | memoryview) -> None:
        """Decode one message into its rows (and events); a message that does not decode is counted."""
        msgtype = self.decoder.msgtypes.get(topic)
        if msgtype is None:
            return
        try:
            if msgtype in MEDIA_TYPES:
                rows = self._media_rows(topic, msgtype, t_ns, raw)
            else:
                rows = rows_of(msgtype, self.decoder.decode(topic, bytes(raw)), self.decoder.integer_types(topic))
        except Exception as err:  # one bad message must not stop the bag
            self.result.error_count += 1
            self.result.errors.setdefault(topic, f"{type(err).__name__}: {err}"[:300])
            return
        for row in rows:
            row["t_ns"] = t_ns
        if msgtype in EVENT_TYPES:
            self.events.extend(asdict(event) for event in events_of(msgtype, rows, t_ns, topic))
        self._writer(topic).add(rows)
        self.result.rows[topic] = self.result.rows.get(topic, 0) + len(rows)

    def _media_rows(self, topic: str, msgtype: str, t_ns: int, raw: bytes | memoryview) -> list[dict[str, Any]]:
        """A camera image or point cloud: written as a file when it is the n-th, else only its header.

        A header is read straight from the bytes where the type is the standard one: deserialising a
        whole image or cloud only to skip it would copy every pixel.
        """
        every = self.options.cloud_every if msgtype.endswith("PointCloud2") else self.options.image_every
        count = self.media_seen.get(topic, 0)
        self.media_seen[topic] = count + 1
        if every <= 0 or count % every:
            header = header_row(raw, self.encodings[topic]) if self.decoder.standard_layout(topic) else None
            if header is None:
                header = _header_row(self.decoder.decode(topic, bytes(raw)))
            return [{**header, "file": None}]
        message = self.decoder.decode(topic, bytes(raw))
        data, extension, fields = MEDIA_WRITERS[msgtype](message)
        directory = f"{self.root}/media/{topic_slug(topic)}"
        if count == 0:
            self.filesystem.create_dir(directory, recursive=True)
        name = f"{directory}/{t_ns}.{extension}"
        with self.filesystem.open_output_stream(name) as out:
            out.write(data)
        self.result.media_files += 1
        return [{**_header_row(message), **fields, "file": name.removeprefix(self.root + "/")}]

    def add_fixed(self, topic: str, layout: FixedLayout, encoding: str, t_ns: list[int], raws: list[bytes]) -> None:
        """A row group of a fixed-layout topic, read from the bytes; the general way where that fails."""
        try:
            table = fixed_table(layout, encoding, t_ns, raws)
        except (ValueError, UnicodeDecodeError, pa.ArrowException):
            table = None
        if table is None:
            for stamp, raw in zip(t_ns, raws, strict=True):
                self.add_message(topic, stamp, raw)
            return
        self._writer(topic).write(table)
        self.result.rows[topic] = self.result.rows.get(topic, 0) + table.num_rows

    def _writer(self, topic: str) -> _TableWriter:
        writer = self.writers.get(topic)
        if writer is None:
            directory = f"{self.root}/topics/{topic_slug(topic)}"
            self.filesystem.create_dir(directory, recursive=True)
            writer = self.writers[topic] = _TableWriter(self.filesystem, f"{directory}/part-{self.index:05d}.parquet")
        return writer

    def close(self) -> None:
        for writer in self.writers.values():
            writer.flush()
            writer.close()
        if self.events:
            self.filesystem.create_dir(f"{self.root}/events", recursive=True)
            pq.write_table(
                pa.Table.from_pylist(self.events),
                f"{self.root}/events/part-{self.index:05d}.parquet",
                filesystem=self.filesystem,
            )
        self.result.events = len(self.events)


def _header_row(message: Any) -> dict[str, Any]:
    header = getattr(message, "header", None)
    if header is None:
        return {}
    return {
        "stamp_ns": int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec),
        "frame_id": str(header.frame_id),
    }
