"""Log files tailed across rotation: WARNING and ERROR lines become robot events.

A file is followed by its inode: when the path points at a new file (rotated by logrotate or the
program itself), the rest of the old one is read first, then the new one from its start. Where a
file was at is not kept across restarts: an agent starting anew begins at each file's end.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import IO

from edge.config import LogSource
from edge.mapping import wire_code
from edge.readings import EventReading
from edge.sources.base import Emit, Source

logger = logging.getLogger(__name__)
LEVELS = {"WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR", "FATAL": "FATAL", "CRITICAL": "FATAL"}


class _Followed:
    def __init__(self, path: Path, *, from_start: bool) -> None:
        self.path = path
        self.handle: IO[str] | None = None
        self.inode: int | None = None
        self.partial = ""
        self._open(from_start=from_start)

    def _open(self, *, from_start: bool) -> None:
        try:
            handle = open(self.path, errors="replace")  # noqa: SIM115 (kept open while followed)
        except OSError:
            return
        self.handle, self.inode = handle, os.fstat(handle.fileno()).st_ino
        if not from_start:
            handle.seek(0, os.SEEK_END)

    def lines(self) -> list[str]:
        out = self._drain()
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            return out
        if inode != self.inode or (self.handle is not None and os.stat(self.path).st_size < self.handle.tell()):
            if self.handle is not None:
                self.handle.close()
            self._open(from_start=True)
            out += self._drain()
        return out

    def _drain(self) -> list[str]:
        if self.handle is None:
            return []
        text = self.partial + self.handle.read()
        lines = text.split("\n")
        self.partial = lines.pop()
        return lines


class LogTail(Source):
    """Follows log files; each matching line is an event."""

    name = "logs"

    def __init__(self, config: LogSource) -> None:
        self.config = config
        self.pattern = re.compile(config.pattern)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        followed = [_Followed(Path(path), from_start=False) for path in self.config.paths]
        while not stop.wait(self.config.poll_s):
            for source in followed:
                for line in source.lines():
                    event = self.parse(line, source.path)
                    if event is not None:
                        emit(event)

    def parse(self, line: str, path: Path) -> EventReading | None:
        found = self.pattern.search(line)
        if found is None:
            return None
        level = LEVELS.get(found.group("level").upper(), "WARNING")
        code = found.groupdict().get("code") or wire_code(line) or f"LOG_{level}"
        return EventReading(time.time_ns(), level, code, f"{path.name}: {line.strip()}"[:2000])
