"""One row per bag, read from its indexes alone: what `read_bags` lists and `process_bag` stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipelines.bags.contents import BagContents
from pipelines.bags.location import BagLocation, local_copy
from pipelines.bags.readers import BagReader


def _iso(ns: int | None) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns is not None else None


def summarise(bag: BagLocation, contents: BagContents) -> dict[str, Any]:
    """The bag's row: format, size, time span, topics with types, counts and rates, tenant and robot, and for each
    storage file read by a scan (its index damaged or missing) what was lost and why."""
    fields = bag.path_fields()
    duration = (contents.end_ns - contents.start_ns) / 1e9 if contents.start_ns is not None else 0.0
    metadata = contents.metadata
    return {
        "uri": bag.uri,
        "format": bag.format,
        "size_bytes": bag.size_bytes,
        "start": _iso(contents.start_ns),
        "end": _iso(contents.end_ns),
        "duration_s": duration,
        "message_count": contents.message_count,
        "tenant": fields["tenant"] or metadata.get("fleetray.tenant") or metadata.get("tenant"),
        "robot": fields["robot"] or metadata.get("fleetray.robot") or metadata.get("robot"),
        "trigger": metadata.get("fleetray.trigger") or metadata.get("trigger"),
        "metadata": metadata,
        "recovery": [recovered.as_json() for recovered in contents.recovered],
        "topics": [
            {
                "topic": t.name,
                "msgtype": t.msgtype,
                "count": t.count,
                "frequency_hz": (t.count - 1) / duration if duration > 0 and t.count > 1 else 0.0,
            }
            for t in sorted(contents.topics.values(), key=lambda t: t.name)
        ],
    }


def bag_summary(bag: BagLocation) -> dict[str, Any]:
    """:func:`summarise` for a bag found by :func:`find_bags`, read from its indexes only."""
    with local_copy(bag) as path, BagReader(path, bag.format) as reader:
        return summarise(bag, reader.contents())
