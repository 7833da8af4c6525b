"""Sending a batch of raw messages to the shards that own their robots, and waiting until durable."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence

import ray

from actors.intake import RawBatch, RawMessage
from actors.registry import shard_of
from actors.shard import shard_name
from actors.shard_core import IngestReport

logger = logging.getLogger(__name__)

RETRY_BACKOFF_S = (0.5, 1, 2, 5, 10)


class ShardRouter:
    """Routes by ``shard_of(tenant, robot)``; a message whose topic named no robot goes to shard 0."""

    def __init__(self, shard_count: int, *, prefix: str = "fleetray", namespace: str | None = None) -> None:
        self.shard_count = shard_count
        self.shards = [ray.get_actor(shard_name(i, prefix), namespace=namespace) for i in range(shard_count)]

    def deliver(self, messages: Sequence[RawMessage]) -> list[IngestReport]:
        """Hand every message to its shard; return once all shards have persisted them.

        Transient failures (a shard restarting, the database away) are retried with backoff; the
        caller acknowledges the messages only after this returns.
        """
        by_shard: dict[int, list[RawMessage]] = defaultdict(list)
        for message in messages:
            index = shard_of(message.tenant_id, message.robot_id, self.shard_count) if message.robot_id else 0
            by_shard[index].append(message)
        pending = {index: RawBatch.of(batch) for index, batch in by_shard.items()}
        reports: list[IngestReport] = []
        for delay in (*RETRY_BACKOFF_S, None):
            refs = {index: self.shards[index].ingest.remote(batch) for index, batch in pending.items()}
            failed = {}
            for index, ref in refs.items():
                try:
                    reports.append(ray.get(ref))
                except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as err:
                    logger.warning(
                        "shard %s did not take a batch of %s (%s); retrying", index, len(pending[index].payloads), err
                    )
                    failed[index] = pending[index]
            if not failed:
                return reports
            if delay is None:
                raise RuntimeError(f"shards {sorted(failed)} refused a batch after {len(RETRY_BACKOFF_S)} retries")
            pending = failed
            time.sleep(delay)
        return reports
