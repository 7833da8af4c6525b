"""Bag replay: a ROS 1 bag, a rosbag2 directory or an MCAP file played as if live.

At ``rate`` 1 the messages come at their recorded pace, stamped from now on. Faster than that the
bag is placed so that its end is now (nothing is stamped in the future, which the platform refuses).
Only the topics that feed telemetry are deserialised; every message goes to the recorder raw.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from edge.config import BagSource
from edge.errors import SourceError
from edge.readings import SourceMessage
from edge.sources.base import Emit, Source

logger = logging.getLogger(__name__)


class BagReplay(Source):
    """Replays one bag (or loops over it)."""

    def __init__(self, config: BagSource, decode_topics: set[str]) -> None:
        self.config = config
        self.name = f"bag:{Path(config.path).name}"
        self.decode_topics = decode_topics
        self.replayed = 0
        self.paced_by_wall_clock = config.rate <= 1.0

    def messages(self) -> Iterator[tuple[int, SourceMessage]]:
        """``(recorded time, message)`` in recorded order from ``start_offset_s`` on, message times as recorded."""
        from rosbags.highlevel import AnyReader, AnyReaderError
        from rosbags.typesys import Stores, get_typestore

        path = Path(self.config.path)
        if not path.exists():
            raise SourceError(f"bag source: {path} does not exist")
        try:
            with AnyReader([path], default_typestore=get_typestore(Stores.LATEST)) as reader:
                start = reader.start_time + int(self.config.start_offset_s * 1e9)  # skipped unread, not decoded
                for connection, timestamp, raw in reader.messages(start=start):
                    encoding = "ros1" if reader.is2 is False else "cdr"
                    msgdef = connection.msgdef
                    definition = getattr(msgdef, "data", "") or ""
                    def_encoding = "ros1msg" if encoding == "ros1" else _definition_encoding(msgdef)
                    message = None
                    if connection.topic in self.decode_topics:
                        message = reader.deserialize(raw, connection.msgtype)
                    yield (
                        timestamp,
                        SourceMessage(
                            connection.topic,
                            connection.msgtype,
                            timestamp,
                            message,
                            bytes(raw),
                            encoding,
                            definition,
                            def_encoding,
                        ),
                    )
        except AnyReaderError as err:
            raise SourceError(f"bag source: cannot read {path}: {err}") from err

    def run(self, emit: Emit, stop: threading.Event) -> None:
        first = True
        while first or (self.config.loop and not stop.is_set()):
            first = False
            self._play_once(emit, stop)

    def _play_once(self, emit: Emit, stop: threading.Event) -> None:
        start_ns = bag_start = None
        offset = 0
        rate = self.config.rate
        for recorded, item in self.messages():
            if stop.is_set():
                return
            if bag_start is None:
                bag_start, start_ns = recorded, time.time_ns()
                if self.config.start_at == "now":
                    offset = start_ns - bag_start if rate <= 1.0 else start_ns - self._end_ns()
            due_ns = start_ns + (recorded - bag_start) / rate
            wait_s = (due_ns - time.time_ns()) / 1e9
            if wait_s > 0.002 and stop.wait(wait_s):
                return
            emit(_shifted(item, recorded + offset))
            self.replayed += 1

    def _end_ns(self) -> int:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        with AnyReader([Path(self.config.path)], default_typestore=get_typestore(Stores.LATEST)) as reader:
            return reader.end_time


def _shifted(item: SourceMessage, timestamp_ns: int) -> SourceMessage:
    return SourceMessage(
        item.topic,
        item.msgtype,
        timestamp_ns,
        item.message,
        item.raw,
        item.encoding,
        item.definition,
        item.definition_encoding,
    )


def _definition_encoding(msgdef: object) -> str:
    fmt = str(getattr(getattr(msgdef, "format", None), "name", "MSG")).upper()
    return "ros2idl" if fmt == "IDL" else "ros2msg"
