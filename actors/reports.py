"""The weekly report job: every tenant with robots gets last week's fleet report once that week has ended."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

from fleetray.objectstore import ObjectStore
from fleetray.reports import generate_missing_reports
from fleetray.storage import Database

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1)
class ReportJob:
    """Looks every ``interval_s`` for tenants whose last full week has no report, and makes theirs."""

    def __init__(self, database_url: str, schema: str, object_store: dict[str, Any], interval_s: float) -> None:
        self._db = Database(database_url, schema=schema)
        self._store = ObjectStore(**object_store)
        self._interval_s = interval_s
        self.rounds = 0
        self.made = 0
        self.last_error: str | None = None
        self._task = asyncio.get_event_loop().create_task(self._loop()) if interval_s > 0 else None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as err:  # the next round tries again; one tenant's bad data must not stop the job
                self.last_error = f"{type(err).__name__}: {err}"
                logger.exception("weekly report round failed")
            await asyncio.sleep(self._interval_s)

    async def run_once(self) -> list[str]:
        """Make every missing report of the last full week now; returns the tenants done."""
        tenants = await asyncio.to_thread(generate_missing_reports, self._db, self._store)
        self.rounds += 1
        self.made += len(tenants)
        if tenants:
            logger.info("weekly reports made for %s", ", ".join(tenants))
        return tenants

    def stats(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "made": self.made, "last_error": self.last_error}
