"""Triggered recording: the last minutes of every message at full rate, kept as short MCAP segments on disk.

Messages go into the open segment (only its current chunk is in memory); every ``segment_s`` it is
closed and a new one opened, and the oldest closed segments are deleted past the disk budget. A
trigger (an error, an anomaly, a slow task, an operator) asks for the window from ``before_s`` before
it to ``after_s`` after it; once that has passed, the segments overlapping it are merged into one
compressed MCAP bag with the trigger in its metadata, handed to the uploader. Pending triggers are
kept on disk, and a segment left open by a killed agent is read up to its last whole record, so a
restarted agent finishes the bag.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.errors import RecorderError
from edge.readings import SourceMessage
from fleetray.schemas import RecorderPolicy

logger = logging.getLogger(__name__)
NS = 1_000_000_000
MAX_WINDOW_NS = 2 * 3600 * NS


@dataclass
class Trigger:
    """A window to keep; ``end_ns`` None until the task it waits for ends."""

    trigger_id: str
    reason: str
    code: str
    at_ns: int
    start_ns: int
    end_ns: int | None
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.reason}:{self.code}"[:64]


@dataclass
class _Segment:
    path: Path
    start_ns: int
    end_ns: int

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


def read_segment(path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """``(schema, channel, message)`` records of a segment, up to the last whole one (a killed writer's too)."""
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, Any] = {}
    channels: dict[int, Any] = {}
    with open(path, "rb") as stream:
        try:
            for record in StreamReader(stream).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels[record.channel_id]
                    yield schemas.get(channel.schema_id), channel, record
        except Exception as err:  # a truncated or damaged tail: what came before it stands
            logger.info("segment %s ends in a damaged record (%s); read up to it", path.name, type(err).__name__)


class _Writer:
    """An MCAP file being written, with its schemas and channels registered on first use."""

    def __init__(self, path: Path, compression: str, chunk_size: int) -> None:
        from mcap.writer import CompressionType, Writer

        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 (closed by finish)
        kind = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}[compression]
        self.writer = Writer(self._file, chunk_size=chunk_size, compression=kind)
        self.writer.start(profile="", library="fleetray-edge")
        self._schemas: dict[tuple[str, str], int] = {}
        self._channels: dict[tuple[str, str, str], int] = {}
        self.last_ns = 0

    def channel(self, topic: str, msgtype: str, encoding: str, definition: str, definition_encoding: str) -> int:
        key = (topic, msgtype, encoding)
        channel_id = self._channels.get(key)
        if channel_id is None:
            schema_key = (msgtype, definition_encoding)
            schema_id = self._schemas.get(schema_key)
            if schema_id is None:
                schema_id = self._schemas[schema_key] = self.writer.register_schema(
                    msgtype, definition_encoding, definition.encode()
                )
            channel_id = self._channels[key] = self.writer.register_channel(topic, encoding, schema_id)
        return channel_id

    def add(self, channel_id: int, log_time: int, data: bytes) -> None:
        self.writer.add_message(channel_id, log_time, data, log_time)
        self.last_ns = max(self.last_ns, log_time)

    def finish(self, metadata: dict[str, str] | None = None) -> None:
        if metadata:
            self.writer.add_metadata("fleetray", metadata)
        self.writer.finish()
        self._file.close()


class Recorder:
    """The rolling buffer and the bags cut from it."""

    def __init__(
        self,
        directory: Path,
        policy: Callable[[], RecorderPolicy],
        on_bag: Callable[[Path, Trigger], None],
        *,
        tenant_id: str,
        robot_id: str,
        disk_reserve_bytes: int = 200 * 1024 * 1024,
    ) -> None:
        self.directory = Path(directory)
        self.segments_dir = self.directory / "segments"
        self.bags_dir = self.directory / "bags"
        self.policy = policy
        self.on_bag = on_bag
        self.tenant_id, self.robot_id = tenant_id, robot_id
        self.disk_reserve_bytes = disk_reserve_bytes
        self._open: _Writer | None = None
        self._open_start = 0
        self._closed: list[_Segment] = []
        self.pending: list[Trigger] = []
        self.bags_written = 0
        self.disk_full = False
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        self.bags_dir.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- state on disk ---------------------------------------------------------------------------

    def _recover(self) -> None:
        for path in sorted(self.segments_dir.glob("*.mcap")):
            stem = path.stem
            if "-" in stem:
                start, end = (int(part) for part in stem.split("-"))
                self._closed.append(_Segment(path, start, end))
                continue
            times = [message.log_time for _, _, message in read_segment(path)]  # left open by a killed agent
            if not times:
                path.unlink()
                continue
            closed = path.with_name(f"{int(stem)}-{max(times)}.mcap")
            path.rename(closed)
            self._closed.append(_Segment(closed, int(stem), max(times)))
            logger.info("recovered segment %s (%s messages) left open by the last run", closed.name, len(times))
        for leftover in self.bags_dir.glob("*.partial"):
            leftover.unlink()
        state = self.directory / "triggers.json"
        if state.exists():
            try:
                self.pending = [Trigger(**item) for item in json.loads(state.read_text())]
            except (ValueError, TypeError) as err:
                logger.error("pending triggers in %s are unreadable (%s); they are dropped", state, err)

    def _save_triggers(self) -> None:
        state = self.directory / "triggers.json"
        temporary = state.with_suffix(".tmp")
        temporary.write_text(json.dumps([asdict(t) for t in self.pending]))
        os.replace(temporary, state)

    # -- recording ---------------------------------------------------------------------------------

    def add(self, item: SourceMessage) -> None:
        policy = self.policy()
        if not policy.enabled or self.disk_full:
            return
        if self._open is not None and item.timestamp_ns - self._open_start >= policy.segment_s * NS:
            self._rotate()
        if self._open is None:
            self._open_start = item.timestamp_ns
            self._open = _Writer(self.segments_dir / f"{item.timestamp_ns}.mcap", "lz4", 256 * 1024)
        channel = self._open.channel(item.topic, item.msgtype, item.encoding, item.definition, item.definition_encoding)
        try:
            self._open.add(channel, item.timestamp_ns, item.raw)
        except OSError as err:
            self._disk_problem(err)

    def _rotate(self) -> None:
        if self._open is None:
            return
        writer, self._open = self._open, None
        try:
            writer.finish()
        except OSError as err:
            self._disk_problem(err)
            return
        end = max(writer.last_ns, self._open_start)
        closed = writer.path.with_name(f"{self._open_start}-{end}.mcap")
        writer.path.rename(closed)
        self._closed.append(_Segment(closed, self._open_start, end))
        self._enforce_budget()

    def _disk_problem(self, err: OSError) -> None:
        self.disk_full = True
        logger.error(
            "the recorder stops: cannot write to %s (%s); free disk space, then restart the agent",
            self.segments_dir,
            err.strerror,
        )

    def _enforce_budget(self) -> None:
        budget = int(self.policy().budget_mb * 1024 * 1024)
        free = shutil.disk_usage(self.directory).free
        total = sum(segment.size for segment in self._closed)
        pinned_from = min((t.start_ns for t in self.pending), default=None)
        while self._closed and (total > budget or free < self.disk_reserve_bytes):
            oldest = self._closed[0]
            if pinned_from is not None and oldest.end_ns >= pinned_from and total <= budget:
                break  # a pending trigger needs it, and only the disk reserve asked: keep it
            self._closed.pop(0)
            size = oldest.size
            oldest.path.unlink(missing_ok=True)
            total -= size
            free += size

    @property
    def bytes_on_disk(self) -> int:
        return sum(segment.size for segment in self._closed) + (self._open.path.stat().st_size if self._open else 0)

    # -- triggers and bags -------------------------------------------------------------------------

    def trigger(
        self,
        reason: str,
        code: str,
        at_ns: int,
        *,
        before_s: float | None = None,
        after_s: float | None = None,
        until_task_end: bool = False,
    ) -> Trigger:
        """Ask for a bag around ``at_ns``; one overlapping a pending trigger widens it instead."""
        policy = self.policy()
        start = at_ns - int((policy.before_s if before_s is None else before_s) * NS)
        end = None if until_task_end else at_ns + int((policy.after_s if after_s is None else after_s) * NS)
        for pending in self.pending:
            if pending.end_ns is None or start <= pending.end_ns:
                if pending.end_ns is not None:
                    pending.end_ns = None if end is None else max(pending.end_ns, end)
                pending.start_ns = min(pending.start_ns, start)
                pending.reasons.append(f"{reason}:{code}")
                self._save_triggers()
                return pending
        trigger = Trigger(uuid.uuid4().hex[:12], reason, code, at_ns, start, end, [f"{reason}:{code}"])
        self.pending.append(trigger)
        self._save_triggers()
        logger.info("recording triggered by %s %s", reason, code)
        return trigger

    def task_ended(self, at_ns: int) -> None:
        """Close the windows that waited for the current task to end."""
        changed = False
        for pending in self.pending:
            if pending.end_ns is None:
                pending.end_ns, changed = at_ns, True
        if changed:
            self._save_triggers()

    def poll(self, now_ns: int) -> list[Path]:
        """Finish the bags whose window has passed; returns their paths."""
        finished = []
        for pending in list(self.pending):
            if pending.end_ns is None and now_ns - pending.start_ns > MAX_WINDOW_NS:
                pending.end_ns = now_ns
            if pending.end_ns is None or now_ns < pending.end_ns:
                continue
            if self._open is not None and self._open_start <= pending.end_ns:
                self._rotate()
            try:
                path = self._write_bag(pending)
            except (OSError, RecorderError) as err:
                logger.error("cannot write the bag of trigger %s: %s; it is retried", pending.label, err)
                continue
            self.pending.remove(pending)
            self._save_triggers()
            if path is not None:
                finished.append(path)
                self.on_bag(path, pending)
        return finished

    def _write_bag(self, trigger: Trigger) -> Path | None:
        assert trigger.end_ns is not None
        segments = [s for s in self._closed if s.end_ns >= trigger.start_ns and s.start_ns <= trigger.end_ns]
        if not segments:
            logger.warning("trigger %s: nothing was recorded in its window", trigger.label)
            return None
        when = datetime.fromtimestamp(trigger.at_ns / NS, tz=timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
        name = f"{self.robot_id}_{when}_{trigger.code.lower()}_{trigger.trigger_id}.mcap"
        target = self.bags_dir / name
        partial = target.with_suffix(".partial")
        writer = _Writer(partial, self.policy().compression, 1024 * 1024)
        count = 0
        for segment in segments:
            for schema, channel, message in read_segment(segment.path):
                if trigger.start_ns <= message.log_time <= trigger.end_ns:
                    channel_id = writer.channel(
                        channel.topic,
                        schema.name if schema else "",
                        channel.message_encoding,
                        schema.data.decode() if schema else "",
                        schema.encoding if schema else "",
                    )
                    writer.add(channel_id, message.log_time, message.data)
                    count += 1
        writer.finish(
            {
                "tenant_id": self.tenant_id,
                "robot_id": self.robot_id,
                "trigger": trigger.label,
                "reasons": ",".join(trigger.reasons)[:2000],
                "trigger_at": str(trigger.at_ns),
                "window_start": str(trigger.start_ns),
                "window_end": str(trigger.end_ns),
                "messages": str(count),
            }
        )
        os.replace(partial, target)
        self.bags_written += 1
        logger.info("bag %s: %s messages around %s", name, count, trigger.label)
        return target

    def close(self) -> None:
        """Close the open segment (a later run finds it closed, and its pending triggers)."""
        self._rotate()
