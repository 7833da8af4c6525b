"""The bag watcher as a platform component: ``fleetray up`` processes bags as they land."""

from __future__ import annotations

import logging

import ray

from fleetray.plugins import PlatformComponent, PlatformContext, RunningComponent

logger = logging.getLogger(__name__)
WATCHER = "fleetray-bags"


class RunningBags(RunningComponent):
    def __init__(self, watcher: ray.actor.ActorHandle, interval_s: float) -> None:
        self.watcher, self.interval_s = watcher, interval_s

    def describe(self) -> str:
        return f"bag watcher: the object store's bags/ every {self.interval_s:g} s, and uploads as they complete"

    def stop(self) -> None:
        try:
            ray.get(self.watcher.stop.remote(), timeout=10)
        except Exception:
            logger.warning("the bag watcher did not stop cleanly", exc_info=True)
        ray.kill(self.watcher, no_restart=True)


class BagsComponent(PlatformComponent):
    """Decodes and indexes each bag that lands under the object store's bags/ prefix."""

    name = "bags"

    def start(self, context: PlatformContext) -> RunningBags:
        from pipelines.watcher import BagWatcher

        settings, db = context.settings, context.db
        watcher = BagWatcher.options(name=WATCHER, get_if_exists=True).remote(
            db.url, db.schema, settings.resolved_object_store_url, settings.bag_scan_s
        )
        ray.get(watcher.stats.remote())
        return RunningBags(watcher, settings.bag_scan_s)

    def status_rows(self) -> list[tuple[str, str, str]]:
        try:
            stats = ray.get(ray.get_actor(WATCHER).stats.remote(), timeout=10)
        except ValueError:
            return [("bags", "", "watcher not running")]
        return [
            (
                "bags",
                f"{stats['scans']} scans",
                f"{stats['done']} processed, {stats['failed']} failed, {stats['skipped']} already known",
            )
        ]
