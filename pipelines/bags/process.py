"""Processing a bag end to end, exactly once: hash, claim, decode (parts in parallel), features, index.

A bag is identified by its tenant and the SHA-256 of its content, so the same recording uploaded
twice, or seen by both the upload hook and a periodic scan, is processed once. Its status, timing
and error are kept in the index; a corrupt or truncated bag is marked failed with the reason and
the caller goes on with the next one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from fleetray.errors import FleetrayError
from fleetray.storage import Database
from fleetray.storage import bags as index
from pipelines.bags.dataset import cluster_cpus, decode_parts, plan_parts
from pipelines.bags.decode import DecodeOptions, PartResult, decode_part, output_filesystem
from pipelines.bags.features import json_safe, topic_features
from pipelines.bags.location import BagLocation, filesystem_of, find_bags, local_copy
from pipelines.bags.readers import BagReader, Part
from pipelines.bags.summary import summarise
from pipelines.bags.typesys import normalise

logger = logging.getLogger(__name__)

HASH_BUFFER = 8 * 1024 * 1024


class BagProcessingError(FleetrayError):
    """A bag could not be processed (the index holds the reason)."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one offered bag."""

    uri: str
    bag_id: int | None
    status: str  # done | partial (read by a scan: see the index's recovery) | failed | skipped (already processed)
    error: str | None = None
    seconds: float = 0.0


def content_hash(bag: BagLocation) -> str:
    """SHA-256 over the bag's storage files in order, streamed."""
    filesystem, path = filesystem_of(bag.uri)
    digest = hashlib.sha256()
    for name in bag.files:
        with filesystem.open_input_stream(posixpath.join(path, name) if bag.is_directory else path) as stream:
            while chunk := stream.read(HASH_BUFFER):
                digest.update(chunk)
    return digest.hexdigest()


Runner = Callable[[Path, BagLocation, list[Part], str, DecodeOptions, dict[str, tuple[str, str]]], list[PartResult]]


def run_locally(
    path: Path,
    bag: BagLocation,
    parts: list[Part],
    output: str,
    options: DecodeOptions,
    known: dict[str, tuple[str, str]],
) -> list[PartResult]:
    """Decode the parts one after another in this process."""
    return [decode_part(path, bag.format, part, output, options, known) for part in parts]


def run_on_ray(
    path: Path,
    bag: BagLocation,
    parts: list[Part],
    output: str,
    options: DecodeOptions,
    known: dict[str, tuple[str, str]],
) -> list[PartResult]:
    """Decode the parts as Ray tasks (each reads its own part from the bag's location)."""
    return decode_parts([(bag, part) for part in parts], output, options, known)


def process_bag(
    db: Database,
    uri: str,
    output_root: str,
    *,
    tenant_id: str | None = None,
    trigger: str | None = None,
    received_via: str = "manual",
    retry_failed: bool = False,
    options: DecodeOptions | None = None,
    runner: Runner | None = None,
) -> Outcome:
    """Process the bag at ``uri`` unless its content was processed already; never raises for a bad bag.

    ``trigger`` is what made the robot record it, when the caller knows (else the bag's metadata says);
    ``received_via`` how the bag reached the pipeline (upload, scan, manual).

    Outputs go to ``{output_root}/{tenant}/{bag_id}/``. Without ``runner``, parts run on Ray when
    Ray is initialised in this process and locally otherwise.

    Raises:
        BagProcessingError: ``uri`` holds no single bag, or no tenant is given or found in its path.
    """
    started = time.perf_counter()
    bags = find_bags(uri)
    if len(bags) != 1:
        raise BagProcessingError(f"{uri}: holds {len(bags)} bags; process them one at a time (or use scan)")
    bag = bags[0]
    fields = bag.path_fields()
    tenant = tenant_id or fields["tenant"]
    if tenant is None:
        raise BagProcessingError(f"{uri}: no tenant given, and the path is not bags/{{tenant}}/{{robot}}/{{date}}/...")
    digest = content_hash(bag)
    with db.connect() as conn:
        claim = index.claim_bag(
            conn,
            tenant_id=tenant,
            content_hash=digest,
            uri=bag.uri,
            robot_id=fields["robot"],
            trigger=trigger,
            received_via=received_via,
            size_bytes=bag.size_bytes,
            retry_failed=retry_failed,
        )
        known = index.known_definitions(conn)
    if not claim.process:
        return Outcome(bag.uri, claim.bag_id, "skipped", None, time.perf_counter() - started)
    output = f"{output_root.rstrip('/')}/{tenant}/{claim.bag_id}"
    try:
        summary, topics, events, definitions = _decode(bag, output, options or DecodeOptions(), known, runner)
    except Exception as err:  # whatever breaks one bag is recorded, and the pipeline goes on
        reason = f"{type(err).__name__}: {err}"
        logger.warning("bag %s failed: %s", bag.uri, reason)
        with db.connect() as conn:
            index.fail_bag(conn, claim.bag_id, reason)
        return Outcome(bag.uri, claim.bag_id, "failed", reason, time.perf_counter() - started)
    with db.connect() as conn:
        index.finish_bag(
            conn,
            claim.bag_id,
            summary=summary,
            topics=topics,
            events=events,
            output_uri=output,
            decode_s=time.perf_counter() - started,
            recovery=summary["recovery"],
        )
        index.remember_definitions(conn, definitions)
    status = "partial" if summary["recovery"] else "done"
    return Outcome(bag.uri, claim.bag_id, status, None, time.perf_counter() - started)


def _decode(
    bag: BagLocation, output: str, options: DecodeOptions, known: dict[str, tuple[str, str]], runner: Runner | None
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], dict[str, tuple[str, str]]]:
    import ray

    with local_copy(bag) as path:
        with BagReader(path, bag.format) as reader:
            contents = reader.contents()
        parts = [part for _, part in plan_parts([bag], workers=1 if runner is run_locally else cluster_cpus())]
        if runner is None:
            runner = run_on_ray if ray.is_initialized() and len(parts) > 1 else run_locally
        results = runner(path, bag, parts, output, options, known)
    summary = summarise(bag, contents)
    rows: dict[str, int] = {}
    problems: dict[str, str] = {}
    for result in results:
        for topic, count in result.rows.items():
            rows[topic] = rows.get(topic, 0) + count
        problems.update({t: f"not decoded: {why}" for t, why in result.undecodable.items()})
        problems.update({t: f"some messages failed to decode: {why}" for t, why in result.errors.items()})
    for topic in summary["topics"]:
        topic["rows"] = rows.get(topic["topic"], 0)
        topic["problem"] = problems.get(topic["topic"])
        topic["stats"] = json_safe(topic_features(output, topic["topic"])) if topic["rows"] else {}
    events = _events(output)
    definitions = {
        normalise(t.msgtype): (t.definition, t.definition_encoding)
        for t in contents.topics.values()
        if t.definition_encoding  # an empty text with an encoding defines a type without fields
    }
    return summary, summary["topics"], events, definitions


def _events(output: str) -> list[dict[str, Any]]:
    filesystem, root = output_filesystem(output)
    try:
        table = pads.dataset(f"{root}/events", filesystem=filesystem, format="parquet").to_table()
    except FileNotFoundError:
        return []
    return [{**row, "ts": datetime.fromtimestamp(row["t_ns"] / 1e9, UTC)} for row in table.to_pylist()]


def _offer(db: Database, uri: str, output_root: str, tenant_id: str | None, runner: Runner | None) -> Outcome:
    try:
        return process_bag(db, uri, output_root, tenant_id=tenant_id, received_via="scan", runner=runner)
    except BagProcessingError as err:
        return Outcome(uri, None, "failed", str(err))


@functools.cache
def _remote_offer() -> Any:
    import ray

    # No CPU of its own: it hashes, claims and indexes; its parts are tasks that take a CPU each.
    return ray.remote(num_cpus=0)(_offer)


def scan(
    db: Database,
    uri_or_glob: str,
    output_root: str,
    *,
    tenant_id: str | None = None,
    runner: Runner | None = None,
    bags_at_once: int = 1,
) -> list[Outcome]:
    """Offer every bag under ``uri_or_glob``: new content is processed, known content skipped, bad bags failed.

    With ``bags_at_once`` over 1 (Ray started), that many bags are processed at once, each as a Ray task
    whose parts run as tasks on the cluster; a recording found twice in one scan is still processed once.
    Outcomes come in the bags' order.
    """
    bags = find_bags(uri_or_glob)
    if bags_at_once <= 1:
        return [_offer(db, bag.uri, output_root, tenant_id, runner) for bag in bags]
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # A bag's offer claims it in the index: were its node to go, Ray's retry would find the bag claimed and
    # skip it. Offers stay on this node, so only their parts (which may run twice) spread over the cluster.
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    offer = _remote_offer().options(scheduling_strategy=here)
    refs: list[ray.ObjectRef] = []
    running: list[ray.ObjectRef] = []
    for bag in bags:
        if len(running) >= bags_at_once:
            _, running = ray.wait(running, num_returns=1)
        refs.append(offer.remote(db, bag.uri, output_root, tenant_id, run_on_ray))
        running.append(refs[-1])
    return ray.get(refs)
