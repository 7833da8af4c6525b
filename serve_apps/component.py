"""The REST API as a platform component: ``fleetray up`` serves it, ``fleetray status`` shows it."""

from __future__ import annotations

from ray import serve

from fleetray.plugins import PlatformComponent, PlatformContext, RunningComponent
from serve_apps.api.deployment import APP_NAME, run_api


class RunningApi(RunningComponent):
    """The deployed API."""

    def __init__(self, url: str, replicas: str) -> None:
        self.url = url
        self.replicas = replicas

    def describe(self) -> str:
        return f"REST API at {self.url} ({self.replicas}; docs at {self.url}/docs)"

    def stop(self) -> None:
        serve.delete(APP_NAME)
        serve.shutdown()


class ApiComponent(PlatformComponent):
    """The REST API on Ray Serve."""

    name = "api"

    def start(self, context: PlatformContext) -> RunningApi:
        settings = context.settings
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
