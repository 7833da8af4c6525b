"""The REST API as a platform component: ``fleetray up`` serves it, ``fleetray status`` shows it."""

from __future__ import annotations

from typing import Any

import ray
from ray import serve

from fleetray.plugins import PlatformComponent, PlatformContext, RunningComponent
from serve_apps.api.deployment import APP_NAME, run_api

WATCH = "fleetray-maintenance-watch"


class RunningApi(RunningComponent):
    """The deployed API."""

    def __init__(self, url: str, replicas: str) -> None:
        self.url = url
        self.replicas = replicas

    def describe(self) -> str:
        return f"REST API and dashboard at {self.url} ({self.replicas}; docs at {self.url}/docs)"

    def stop(self) -> None:
        serve.delete(APP_NAME)
        serve.shutdown()


class ApiComponent(PlatformComponent):
    """The REST API on Ray Serve."""

    name = "api"

    def start(self, context: PlatformContext) -> RunningApi:
        settings = context.settings
        if context.mqtt_url and context.mqtt_url != settings.mqtt_url:  # replicas publish commands and configs
            settings = settings.model_copy(update={"mqtt_url": context.mqtt_url})
        url = run_api(settings, database_url=context.db.url)
        if settings.api_max_replicas and settings.api_max_replicas > settings.api_replicas:
            replicas = f"{settings.api_replicas}-{settings.api_max_replicas} replicas, autoscaling"
        else:
            replicas = f"{settings.api_replicas} replica{'s' if settings.api_replicas > 1 else ''}"
        return RunningApi(url, replicas)

    def status_rows(self) -> list[tuple[str, str, str]]:
        status = serve.status().applications.get(APP_NAME)
        if status is None:
            return [("api", "", "not deployed")]
        deployments = ", ".join(f"{name}: {d.status}" for name, d in status.deployments.items())
        return [("api", str(status.status), deployments)]


class RunningWatch(RunningComponent):
    """The maintenance watch actor."""

    def __init__(self, watch: Any, interval_s: float) -> None:
        self.watch, self.interval_s = watch, interval_s

    def describe(self) -> str:
        return f"maintenance watch: every fleet scored every {self.interval_s:g} s for maintenance_due alerts"

    def stop(self) -> None:
        ray.kill(self.watch, no_restart=True)


class MaintenanceComponent(PlatformComponent):
    """Raises and clears ``maintenance_due`` alerts from the production failure models' predictions."""

    name = "maintenance"

    def start(self, context: PlatformContext) -> RunningWatch:
        from fleetray.objectstore import ObjectStore
        from serve_apps.scoring.watch import MaintenanceWatch

        settings, db = context.settings, context.db
        watch = MaintenanceWatch.options(name=WATCH, get_if_exists=True).remote(
            db.url, db.schema, ObjectStore.arguments(settings), settings.maintenance_watch_s
        )
        ray.get(watch.stats.remote())
        return RunningWatch(watch, settings.maintenance_watch_s)

    def status_rows(self) -> list[tuple[str, str, str]]:
        try:
            stats = ray.get(ray.get_actor(WATCH).stats.remote(), timeout=10)
        except ValueError:
            return [("maintenance", "", "watch not running")]
        return [("maintenance", f"{stats['rounds']} rounds", f"{stats['raised']} maintenance_due alerts raised")]
