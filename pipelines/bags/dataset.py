"""Bags on Ray: one row per bag as a Ray Data dataset (``read_bags``), and decoding spread over the cluster.

Decoding runs one Ray task per part, so many bags run in parallel and one large bag (split by
chunk or row range) keeps every worker busy too. Each task reads its part straight from the bag's
location (for s3://, the machine's cached copy), so nothing but the part's address travels.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from pipelines.bags.contents import Recovery
from pipelines.bags.decode import DecodeOptions, PartResult, decode_part
from pipelines.bags.location import BagLocation, find_bags, local_copy
from pipelines.bags.readers import PART_BYTES, TAIL_SHARES, BagReader, BagReadError, Part, part_count
from pipelines.bags.summary import bag_summary

if TYPE_CHECKING:
    import ray.data


def _bag_of(row: dict[str, Any]) -> BagLocation:
    return BagLocation(row["uri"], row["format"], tuple(row["files"]), int(row["size_bytes"]), row.get("modified_ns"))


def _summary_row(row: dict[str, Any]) -> dict[str, Any]:
    summary = bag_summary(_bag_of(row))
    summary["metadata"] = json.dumps(summary["metadata"])
    summary["recovery"] = json.dumps(summary["recovery"])
    return summary


def read_bags(uri_or_glob: str) -> ray.data.Dataset:
    """One row per bag under ``uri_or_glob`` (file:// or s3://): uri, format, size_bytes, start, end,
    duration_s, message_count, topics (topic, msgtype, count, frequency_hz), tenant, robot, trigger, metadata,
    recovery (JSON: per storage file read by a scan because its index was damaged, what was lost and why).

    Tenant and robot come from a ``bags/{tenant}/{robot}/{date}/`` path, else from the bag's metadata.
    """
    import ray.data

    bags = [
        {
            "uri": b.uri,
            "format": b.format,
            "files": list(b.files),
            "size_bytes": b.size_bytes,
            "modified_ns": b.modified_ns,
        }
        for b in find_bags(uri_or_glob)
    ]
    return ray.data.from_items(bags, override_num_blocks=len(bags)).map(_summary_row, num_cpus=0.25)


def _decode_unit(
    bag: BagLocation, part: Part, output: str, options: DecodeOptions, known: dict[str, tuple[str, str]] | None
) -> PartResult:
    with local_copy(bag) as path:
        return decode_part(path, bag.format, part, output, options, known)


@functools.cache
def _remote_decode_unit() -> Any:
    """The decode task, made once per process: each new remote function is exported to the cluster again,
    and every worker fetches it again before its first part."""
    import ray

    return ray.remote(num_cpus=1)(_decode_unit)


def cluster_cpus() -> int:
    """How many parts can decode at once: the Ray cluster's CPUs, or 1 where Ray is not started."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1))) if ray.is_initialized() else 1


def decode_parts(
    units: list[tuple[BagLocation, Part]],
    output: str | list[str],
    options: DecodeOptions,
    known: dict[str, tuple[str, str]] | None = None,
    concurrency: int | None = None,
) -> list[PartResult]:
    """Decode each (bag, part) as a Ray task (1 CPU), at most ``concurrency`` at a time (default: as the
    cluster's CPUs allow); ``output`` per unit, or one for all. Results come back in the units' order.

    Plain tasks rather than a Ray Data map: on two cores, Ray Data's streaming executor took enough of
    the driver's CPU that two workers decoded only 1.2 times as fast as one; tasks gave 1.8 times.
    """
    import ray

    outputs = output if isinstance(output, list) else [output] * len(units)
    decode = _remote_decode_unit()
    limit = concurrency or cluster_cpus()
    known_ref = ray.put(known or {})
    refs: dict[int, ray.ObjectRef] = {}
    running: list[ray.ObjectRef] = []
    for index in _costliest_first(units):
        ended: list[ray.ObjectRef] = []
        if len(running) >= limit:
            ended, running = ray.wait(running, num_returns=1)
        refs[index] = decode.remote(*units[index], outputs[index], options, known_ref)
        running.append(refs[index])
        ray.get(ended)  # a part that failed stops the rest; read after the next part is on its way
    return ray.get([refs[index] for index in range(len(units))])


def _costliest_first(units: list[tuple[BagLocation, Part]]) -> list[int]:
    """The units' indexes in the order they run: costliest first (by messages, else bytes), so that the
    last to finish are small ones. Bytes alone mislead: a camera's images are many bytes but few, cheap messages."""
    parts_of = Counter(bag.uri for bag, _ in units)

    def cost(index: int) -> tuple[int, float]:
        bag, part = units[index]
        return part.messages, bag.size_bytes / parts_of[bag.uri]

    return sorted(range(len(units)), key=cost, reverse=True)


def plan_parts(
    bags: list[BagLocation],
    part_bytes: int = PART_BYTES,
    workers: int = 1,
    unreadable: dict[str, str] | None = None,
    recovered: dict[str, list[Recovery]] | None = None,
) -> list[tuple[BagLocation, Part]]:
    """The bags cut into parts of about ``part_bytes``, for ``workers`` decoding them at once.

    A bag that cannot be opened raises :class:`BagReadError`, or, given ``unreadable``, is left out and
    recorded there (uri -> what is wrong with it), so that one damaged bag does not stop the others.
    Bags read by a scan (their index damaged or missing) go into ``recovered``, with what was lost.

    With several workers, the last round of parts to run (one per worker: a large bag's last parts, or
    the smallest bags) is cut into halves, quarters and eighths (``TAIL_SHARES``), so that the workers
    finish together rather than one decoding a last whole part while the others wait. Each bag's parts
    are numbered from 0 in their order in the bag.
    """
    units: list[tuple[BagLocation, Part]] = []
    for bag in bags:
        try:
            with local_copy(bag) as path, BagReader(path, bag.format) as reader:
                units += [(bag, part) for part in reader.parts(part_count(bag.size_bytes, part_bytes))]
                if recovered is not None and reader.recovered:
                    recovered[bag.uri] = reader.recovered
        except BagReadError as err:
            if unreadable is None:
                raise
            unreadable[bag.uri] = str(err)
    if workers > 1 and len(units) > workers:  # within one round there is nothing to even out
        ordered = [units[index] for index in _costliest_first(units)]
        units = ordered[:-workers]
        for bag, part in ordered[-workers:]:
            with local_copy(bag) as path, BagReader(path, bag.format) as reader:
                units += [(bag, piece) for piece in reader.split(part, TAIL_SHARES)]
    numbers: dict[tuple[str, Part], int] = {}
    numbered: Counter[str] = Counter()
    for bag, part in sorted(units, key=lambda unit: (unit[0].uri, unit[1].file_index, _position(unit[1]))):
        numbers[bag.uri, part] = numbered[bag.uri]
        numbered[bag.uri] += 1
    return [(bag, dataclasses.replace(part, index=numbers[bag.uri, part])) for bag, part in units]


def _position(part: Part) -> int:
    return part.first_row if part.first_row is not None else part.start_ns if part.start_ns is not None else -1


@dataclasses.dataclass
class DecodedBags:
    """What :func:`decode_bags` did: a result per part, the bags it could not open with the reason, and the
    bags it read by a scan (their index damaged or missing) with what was lost."""

    parts: list[PartResult]
    unreadable: dict[str, str]
    recovered: dict[str, list[Recovery]]


def split_bags(
    uri_or_glob: str,
    part_bytes: int = PART_BYTES,
    workers: int = 1,
    unreadable: dict[str, str] | None = None,
    recovered: dict[str, list[Recovery]] | None = None,
) -> list[tuple[BagLocation, Part]]:
    """Every bag under ``uri_or_glob`` cut into parts for ``workers`` (:func:`plan_parts`)."""
    return plan_parts(find_bags(uri_or_glob), part_bytes, workers, unreadable, recovered)


def decode_bags(
    uri_or_glob: str,
    output_root: str,
    options: DecodeOptions | None = None,
    part_bytes: int = PART_BYTES,
    concurrency: int | None = None,
) -> DecodedBags:
    """Decode every bag under ``uri_or_glob`` into ``{output_root}/{bag name}/``, bags and parts in parallel.

    This is the notebook's entry: no index, no exactly-once bookkeeping (``process_bag`` does that). A bag
    that cannot be opened is reported in the answer, and the others are decoded.
    """
    unreadable: dict[str, str] = {}
    recovered: dict[str, list[Recovery]] = {}
    units = split_bags(uri_or_glob, part_bytes, concurrency or cluster_cpus(), unreadable, recovered)
    outputs = [f"{output_root.rstrip('/')}/{bag.uri.rstrip('/').rsplit('/', 1)[-1]}" for bag, _ in units]
    parts = decode_parts(units, outputs, options or DecodeOptions(), None, concurrency) if units else []
    return DecodedBags(parts, unreadable, recovered)
