"""MQTT client connections from a ``mqtt://user:password@host:port`` URL (``mqtts://`` for TLS)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from fleetray.errors import ServiceError


def broker_address(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of a broker URL."""
    parts = urlsplit(url)
    tls = parts.scheme in {"mqtts", "ssl"}
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls


def broker_reachable(url: str, *, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at the broker's address."""
    host, port, _ = broker_address(url)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def connect(
    url: str,
    client_id: str,
    *,
    clean_start: bool = True,
    manual_ack: bool = False,
    on_connect: Callable[[Any], None] | None = None,
    on_message: Callable[[Any, Any, Any], None] | None = None,
    max_inflight: int = 20,
    timeout_s: float = 10.0,
):
    """A connected paho-mqtt client with its network loop running in a thread.

    ``clean_start=False`` keeps the session (subscriptions and queued QoS 1 messages) across
    reconnects; ``manual_ack`` defers each PUBACK until the caller's ``client.ack(mid, qos)``;
    ``on_connect(client)`` runs after every (re)connection, the place to subscribe;
    ``on_message`` is installed before connecting: a resumed session delivers its queued messages
    right after CONNACK, and a message arriving with no handler would be dropped unacknowledged.
    ``max_inflight`` bounds this client's unacknowledged outgoing QoS 1 messages.

    Raises:
        ServiceError: the broker refused the connection or did not answer in ``timeout_s``.
    """
    import paho.mqtt.client as mqtt

    parts = urlsplit(url)
    host, port, tls = broker_address(url)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_start,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
    if tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    connected = threading.Event()
    outcome: dict[str, object] = {}

    def handle_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        outcome["reason"] = reason_code
        if on_connect is not None and not reason_code.is_failure:
            on_connect(client)
        connected.set()

    client.on_connect = handle_connect
    if on_message is not None:
        client.on_message = on_message
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=10)  # back within seconds of a broker's restart, not minutes
    client.max_inflight_messages_set(max_inflight)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as err:
        raise ServiceError(f"cannot reach the MQTT broker at {host}:{port}: {err} (check FLEETRAY_MQTT_URL)") from err
    client.loop_start()
    if not connected.wait(timeout_s) or getattr(outcome.get("reason"), "is_failure", True):
        client.loop_stop()
        raise ServiceError(f"the MQTT broker at {host}:{port} refused the connection: {outcome.get('reason')}")
    return client
