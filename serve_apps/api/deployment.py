"""The REST API as a Ray Serve application: ``fleetray up`` runs it, and a Serve config file deploys it.

``cluster/serve_config.yaml`` names :func:`app_builder` as its ``import_path``; its ``args`` are
fleetray settings (``database_url``, ``api_replicas``...), and what they leave out comes from the
``FLEETRAY_*`` environment as everywhere else.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import ray
from ray import serve
from ray.serve import Application

from fleetray.config import Settings, load_settings
from fleetray.errors import ConfigError, ServiceError
from fleetray.services.ports import port_open
from fleetray.storage import Database
from serve_apps.api.app import create_app
from serve_apps.api.context import ApiContext
from serve_apps.schedules.deployment import ScheduleOptimizer
from serve_apps.scoring.deployment import Scorer

logger = logging.getLogger(__name__)

APP_NAME = "fleetray-api"
PLATFORM_NAMESPACE = "fleetray"  # the Ray namespace `fleetray up` runs in
TARGET_ONGOING_REQUESTS = 32


def _settings_values(settings: Settings) -> dict[str, Any]:
    """What a replica needs to rebuild the settings (it may run on another machine, with another environment)."""
    return settings.model_dump(mode="json", exclude={"data_dir"})


def _log_to_worker_stderr(level: str) -> None:
    """The platform's loggers (the access log among them) at the configured level, on the replica process's stderr.

    A replica's root logger stays at WARNING, and Serve redirects ``sys.stderr`` into its own log, which the
    throughput-optimised mode buffers a thousand lines at a time; the process's real stderr is Ray's worker
    log file (``worker-*.err`` in the session's logs), written as lines come.
    """
    for name in ("fleetray", "serve_apps"):
        platform_logger = logging.getLogger(name)
        platform_logger.setLevel(level)
        if not platform_logger.handlers:
            handler = logging.StreamHandler(sys.__stderr__)
            handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
            platform_logger.addHandler(handler)
            platform_logger.propagate = False


def build_application(
    settings: Settings,
    *,
    database_url: str | None = None,
    shard_prefix: str = "fleetray",
    shard_namespace: str | None = None,
    replica_cpus: float = 0.0,
) -> Application:
    """The API bound to a database, with replicas (and autoscaling) as the settings say.

    Replicas run in Serve's own Ray namespace; ``shard_namespace`` is where they find the fleet
    shards (by default the namespace of the process building the application, where ``fleetray up``
    starts them).

    Raises:
        ConfigError: no database URL (replicas cannot start an embedded PostgreSQL of their own).
    """
    if shard_namespace is None and ray.is_initialized():
        shard_namespace = ray.get_runtime_context().namespace
    url = database_url or settings.database_url
    if url is None:
        raise ConfigError("the API needs FLEETRAY_DATABASE_URL (or `fleetray up`, which passes its database)")
    # Replicas read models and bags from the store the platform writes to, whatever their own data dir.
    values = {**_settings_values(settings), "database_url": url, "object_store_url": settings.resolved_object_store_url}

    @serve.ingress()
    class FleetApi:
        """One replica: its own connection pool, key cache and rate limiter, and the app built around them."""

        def __init__(
            self, settings_values: dict[str, Any], prefix: str, namespace: str | None, optimizer: Any, scorer: Any
        ) -> None:
            replica_settings = load_settings(**settings_values)
            _log_to_worker_stderr(replica_settings.log_level)
            assert replica_settings.database_url is not None
            database = Database(replica_settings.database_url, schema=replica_settings.database_schema)
            self._context = ApiContext(
                replica_settings,
                database,
                shard_prefix=prefix,
                shard_namespace=namespace,
                optimizer=optimizer,
                scorer=scorer,
            )

        def __serve_build_asgi_app__(self) -> Any:
            return create_app(self._context)

        def __del__(self) -> None:
            self._context.close()

    # Serve's own access log is off: the API writes one of its own (JSON, with the key id and never the key).
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": replica_cpus, "resources": dict(settings.api_replica_resources)},
        "max_ongoing_requests": 200,
        "logging_config": {"enable_access_log": False},
    }
    if settings.api_max_replicas and settings.api_max_replicas > settings.api_replicas:
        options["autoscaling_config"] = {
            "min_replicas": settings.api_replicas,
            "max_replicas": settings.api_max_replicas,
            "target_ongoing_requests": TARGET_ONGOING_REQUESTS,
        }
    else:
        options["num_replicas"] = settings.api_replicas
    deployment = serve.deployment(name="FleetApi", **options)(FleetApi)
    optimizer = ScheduleOptimizer.options(num_replicas=settings.schedule_replicas).bind()
    scorer = Scorer.bind(values, shard_prefix, shard_namespace)
    return deployment.bind(values, shard_prefix, shard_namespace, optimizer, scorer)


def app_builder(args: dict[str, Any]) -> Application:
    """The entry point of a Serve config file (``import_path: serve_apps.api.deployment:app_builder``).

    ``args`` are fleetray settings by name, e.g. ``{"database_url": "postgresql://...", "api_replicas": 2}``,
    and optionally ``replica_cpus`` and ``shard_namespace`` (default ``fleetray``, where ``fleetray up``
    runs the shards).
    """
    extra = {"replica_cpus", "shard_namespace"}
    settings = load_settings(**{name: value for name, value in args.items() if name not in extra})
    return build_application(
        settings,
        replica_cpus=float(args.get("replica_cpus", 0.0)),
        shard_namespace=str(args.get("shard_namespace", PLATFORM_NAMESPACE)),
    )


def run_api(settings: Settings, *, database_url: str, shard_prefix: str = "fleetray") -> str:
    """Deploy the API on the connected Ray cluster and return its URL.

    Raises:
        ServiceError: the API's port is taken by another program.
    """
    if port_open(settings.api_host if settings.api_host != "0.0.0.0" else "127.0.0.1", settings.api_port):
        raise ServiceError(
            f"port {settings.api_port} is in use by another program; set FLEETRAY_API_PORT to a free one"
        )
    serve.start(http_options={"host": settings.api_host, "port": settings.api_port})
    serve.run(
        build_application(settings, database_url=database_url, shard_prefix=shard_prefix),
        name=APP_NAME,
        route_prefix="/",
    )
    return f"http://{settings.api_host}:{settings.api_port}"
