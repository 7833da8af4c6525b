"""The running platform on one machine: database, broker and Ray, started and stopped together."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fleetray.errors import ConfigError, ServiceError
from fleetray.mqtt import broker_reachable
from fleetray.services.mqtt_broker import embedded_broker
from fleetray.services.serve_ingress import apply_serve_environment

if TYPE_CHECKING:
    from fleetray.config import Settings
    from fleetray.plugins import RunningComponent
    from fleetray.storage import Database

logger = logging.getLogger(__name__)

STATE_FILE = "run/platform.json"


@dataclass
class PlatformState:
    """What ``fleetray up`` is running; other commands read it from the data dir."""

    pid: int
    started_at: str
    database: str
    mqtt_url: str | None
    ray_address: str | None
    object_store_url: str


class Platform:
    """Starts what the settings leave to the embedded defaults, and stops it all on exit.

    Use it as a context manager; leaving the block (Ctrl-C included) stops the plugged-in
    components (``fleetray.plugins``), shuts Ray down, stops the broker and lets go of the embedded
    PostgreSQL, in that order.
    """

    def __init__(
        self, settings: Settings, *, with_ray: bool = True, with_mqtt: bool = True, with_components: bool = True
    ) -> None:
        self.settings = settings
        self.with_ray = with_ray
        self.with_mqtt = with_mqtt
        self.with_components = with_components and with_ray
        self.db: Database | None = None
        self.mqtt_url: str | None = None
        self.mqtt_shared_subscriptions = settings.mqtt_shared_subscriptions
        self.ray_address: str | None = None
        self.components: dict[str, RunningComponent] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Platform:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        from fleetray.storage import open_database

        settings = self.settings
        self.db = self._stack.enter_context(open_database(settings))
        if self.with_mqtt:
            if settings.mqtt_url:
                if not broker_reachable(settings.mqtt_url):
                    raise ServiceError(f"no MQTT broker answers at {settings.mqtt_url} (FLEETRAY_MQTT_URL)")
                self.mqtt_url = settings.mqtt_url
            else:
                broker, self.mqtt_url = embedded_broker(settings.data_dir)
                broker.start()
                self._stack.callback(broker.stop)
                self.mqtt_shared_subscriptions = broker.name == "mosquitto"  # amqtt has no $share/
        if self.with_ray:
            self.ray_address = self._start_ray()
        if self.with_components:
            self._start_components()
        self._write_state()

    def _start_components(self) -> None:
        from fleetray.plugins import PlatformContext, platform_components

        assert self.db is not None
        context = PlatformContext(
            self.settings, self.db, self.mqtt_url, self.mqtt_shared_subscriptions, self.ray_address
        )
        installed = platform_components()
        wanted = self.settings.component_names
        unknown = sorted((wanted or set()) - {component.name for component in installed})
        if unknown:
            raise ConfigError(
                f"components (FLEETRAY_COMPONENTS) names {', '.join(unknown)}; the installed ones are "
                f"{', '.join(sorted(component.name for component in installed))}"
            )
        for component in installed:
            if wanted is not None and component.name not in wanted:
                continue
            running = component.start(context)
            self.components[component.name] = running
            self._stack.callback(running.stop)

    def _start_ray(self) -> str:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().gcs_address
        address = self.settings.ray_address
        if not address:  # a cluster's nodes carry their own (cluster/)
            apply_serve_environment(self.settings.serve_ingress)
        if address:
            ray.init(address=address, namespace="fleetray", log_to_driver=False)
        else:
            ray.init(namespace="fleetray", include_dashboard=False, log_to_driver=False)
        self._stack.callback(ray.shutdown)
        return ray.get_runtime_context().gcs_address

    def _write_state(self) -> None:
        assert self.db is not None
        path = self.settings.data_dir / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        state = PlatformState(
            pid=os.getpid(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            database=self.db.host,
            mqtt_url=self.mqtt_url,
            ray_address=self.ray_address,
            object_store_url=self.settings.resolved_object_store_url,
        )
        path.write_text(json.dumps(asdict(state), indent=2))
        self._stack.callback(path.unlink, missing_ok=True)


def read_state(data_dir: Path) -> PlatformState | None:
    """The state of the platform running from ``data_dir``, or None when none is running."""
    path = data_dir / STATE_FILE
    try:
        state = PlatformState(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return None
    return state
