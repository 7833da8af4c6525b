"""What a bag holds, as its indexes (or a scan, where they are damaged) tell it: topics, span, metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recovery:
    """Why a storage file was read by a scan, and what of it could not be read."""

    file: str
    reason: str  # what is wrong with its index or summary, and where the scan stopped
    bytes_lost: int  # at the end of the file, in no whole record
    messages_lost: int | None  # known to be lost; None: unknown (the index that counted them is gone)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Topic:
    """One topic of a bag: its type, how its messages are encoded, and the definition the bag carries."""

    name: str
    msgtype: str
    encoding: str  # cdr | ros1
    definition: str = ""
    definition_encoding: str = ""  # ros1msg | ros2msg | ros2idl | "" (none in the bag)
    count: int = 0


@dataclass
class BagContents:
    """What a bag holds, read from its indexes and summaries (no message is decoded)."""

    topics: dict[str, Topic] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    recovered: list[Recovery] = field(default_factory=list)  # storage files read by a scan, and what was lost

    @property
    def message_count(self) -> int:
        return sum(topic.count for topic in self.topics.values())

    def widen(self, start_ns: int | None, end_ns: int | None) -> None:
        if start_ns is not None:
            self.start_ns = start_ns if self.start_ns is None else min(self.start_ns, start_ns)
        if end_ns is not None:
            self.end_ns = end_ns if self.end_ns is None else max(self.end_ns, end_ns)
