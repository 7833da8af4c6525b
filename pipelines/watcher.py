"""The bag watcher: a Ray actor that processes each bag landing in the object store, once.

It scans the store's ``bags/`` prefix every ``interval_s`` seconds, and processes a bag at once when
told an upload completed (``notify``). Content already processed is skipped by its hash, so a bag
seen by both paths, or by two watchers, is decoded once. A scan processes as many bags at once as the
cluster has CPUs, uploads are processed as they come (up to ``UPLOADS_AT_ONCE`` at once), and every
bag's parts run as Ray tasks.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import ray

logger = logging.getLogger(__name__)


UPLOADS_AT_ONCE = 16


@ray.remote(num_cpus=0, max_concurrency=UPLOADS_AT_ONCE + 1)  # the uploads, and a scan
class BagWatcher:
    """Processes new bags under ``{store_url}/bags`` into ``{store_url}/decoded``."""

    def __init__(self, db_url: str, schema: str, store_url: str, interval_s: float) -> None:
        from fleetray.storage import Database

        self.db = Database(db_url, schema=schema)
        self.store_url = store_url.rstrip("/")
        self.interval_s = interval_s
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "scans": 0}
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._scanning = threading.Lock()  # one scan at a time
        self._counting = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="bag-watcher", daemon=True)
        if interval_s > 0:
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scan()

    def scan(self) -> dict[str, int]:
        """Process what is new under the bags/ prefix now; the counts so far."""
        from pipelines.bags.dataset import cluster_cpus
        from pipelines.bags.location import BagNotFoundError
        from pipelines.bags.process import run_on_ray, scan

        with self._scanning:
            try:
                outcomes = scan(
                    self.db,
                    f"{self.store_url}/bags",
                    f"{self.store_url}/decoded",
                    runner=run_on_ray,
                    bags_at_once=cluster_cpus(),
                )
            except BagNotFoundError:
                outcomes = []
            except Exception as err:  # the database or the store is away: try again next time
                self.last_error = f"{type(err).__name__}: {err}"
                logger.warning("bag scan failed: %s", self.last_error)
                outcomes = []
        with self._counting:
            self.counts["scans"] += 1
            for outcome in outcomes:
                self.counts[outcome.status] += 1
            return dict(self.counts)

    def notify(self, uri: str, tenant_id: str | None = None, trigger: str | None = None) -> dict[str, Any]:
        """An upload completed at ``uri``: process it now. Returns the outcome."""
        from pipelines.bags.process import process_bag, run_on_ray

        outcome = process_bag(
            self.db,
            uri,
            f"{self.store_url}/decoded",
            tenant_id=tenant_id,
            trigger=trigger,
            received_via="upload",
            runner=run_on_ray,
        )
        with self._counting:
            self.counts[outcome.status] += 1
        return {"bag_id": outcome.bag_id, "status": outcome.status, "error": outcome.error}

    def stats(self) -> dict[str, Any]:
        with self._counting:
            return {**self.counts, "last_error": self.last_error}

    def stop(self) -> None:
        self._stop.set()
