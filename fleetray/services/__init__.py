"""Local services for the embedded defaults: the MQTT broker and the platform's life cycle."""

from __future__ import annotations

from fleetray.services.mqtt_broker import embedded_broker
from fleetray.services.platform import Platform, PlatformState, read_state

__all__ = ["Platform", "PlatformState", "embedded_broker", "read_state"]
