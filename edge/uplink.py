"""Getting queued messages to the platform: MQTT (TCP or WebSockets, TLS, client certificates), HTTPS as fallback.

The sender takes a channel's oldest messages from the spool, publishes them as one zstd batch at QoS 1
and removes them only once the broker acknowledged the batch (PUBACK); the HTTPS routes answer 202 for
the same. A message sent twice (the agent died between the acknowledgement and the removal) is stored
once: the platform keys it by (robot, seq). Reconnection waits grow exponentially with jitter, so a
fleet coming back from a broker outage does not reconnect in lockstep.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from edge.config import AgentConfig, read_secret
from edge.spool import Queued, Spool
from fleetray.schemas import mqtt_topic
from fleetray.schemas.encoding import MAX_PAYLOAD_BYTES

logger = logging.getLogger(__name__)
CHANNELS = ("events", "ack", "tasks", "telemetry")  # events first: an error matters more than a sample
IMMEDIATE = ("events", "ack")
HTTPS_CHANNELS = ("events", "tasks", "telemetry")  # acks wait for MQTT: they answer commands that came by it


class Backoff:
    """Exponential waits with jitter: half the step fixed, half random (``base_s * 2**n``, capped)."""

    def __init__(self, base_s: float = 1.0, cap_s: float = 60.0) -> None:
        self.base_s, self.cap_s, self.attempt = base_s, cap_s, 0

    def next(self) -> float:
        step = min(self.cap_s, self.base_s * 2**self.attempt)
        self.attempt += 1
        return step / 2 + random.uniform(0, step / 2)

    def reset(self) -> None:
        self.attempt = 0


def batch_payload(messages: list[Queued]) -> bytes:
    """One message as itself, several as a zstd batch of JSON lines (the wire format's two forms)."""
    import zstandard

    if len(messages) == 1:
        return messages[0].payload
    return zstandard.ZstdCompressor(level=3).compress(b"\n".join(m.payload for m in messages))


class MqttLink:
    """A persistent MQTT session to the broker, reconnecting on its own; subscribes to cmd and config."""

    def __init__(self, config: AgentConfig, on_message: Callable[[str, bytes], None]) -> None:
        import paho.mqtt.client as mqtt

        broker = config.broker
        parts = urlsplit(broker.url)
        self.host = parts.hostname or "127.0.0.1"
        secure = parts.scheme in ("mqtts", "wss")
        websockets = parts.scheme in ("ws", "wss")
        self.port = parts.port or {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}[parts.scheme]
        self.config = config
        self.connected = threading.Event()
        self.last_error = ""
        self.down_since: float | None = time.monotonic()
        self.refusals = 0
        self._backoff = Backoff(cap_s=config.broker.reconnect_max_s)
        self._on_message = on_message
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"fleetray-edge-{config.tenant_id}-{config.robot_id}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
            transport="websockets" if websockets else "tcp",
        )
        if websockets:
            client.ws_set_options(path=broker.ws_path)
        if secure:
            client.tls_set(
                ca_certs=str(broker.ca_file) if broker.ca_file else None,
                certfile=str(broker.cert_file) if broker.cert_file else None,
                keyfile=str(broker.key_file) if broker.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        username = broker.username or f"{config.tenant_id}/{config.robot_id}"
        password = read_secret(broker.password_file, "MQTT password")
        if password is not None or broker.username:
            client.username_pw_set(username, password)
        client.max_inflight_messages_set(20)
        client.max_queued_messages_set(0)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self.client = client
        self.down_topics = [
            mqtt_topic(config.tenant_id, config.robot_id, "cmd"),
            mqtt_topic(config.tenant_id, config.robot_id, "config"),
        ]

    def start(self) -> None:
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect_async(self.host, self.port, keepalive=self.config.broker.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _connected(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if reason.is_failure:
            self.refusals += 1
            self.last_error = f"the broker refused the connection: {reason}"
            if self.refusals in (1, 10) or self.refusals % 100 == 0:
                logger.error("%s (check the device's credentials; refused %s times)", self.last_error, self.refusals)
            delay = self._backoff.next()
            client.reconnect_delay_set(min_delay=delay, max_delay=delay)
            return
        self.refusals = 0
        self._backoff.reset()
        self.last_error = ""
        self.down_since = None
        client.subscribe([(topic, 1) for topic in self.down_topics])
        self.connected.set()
        logger.info("connected to the broker at %s:%s", self.host, self.port)

    def _disconnected(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if self.connected.is_set():
            logger.warning("lost the broker at %s:%s (%s); messages wait in the queue", self.host, self.port, reason)
            self.down_since = time.monotonic()
        self.connected.clear()
        delay = self._backoff.next()
        client.reconnect_delay_set(min_delay=delay, max_delay=delay)

    def _message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self._on_message(message.topic.rsplit("/", 1)[-1], message.payload)

    def publish(self, channel: str, payload: bytes, *, qos: int = 1, timeout_s: float = 10.0) -> bool:
        """Publish and wait for the broker's acknowledgement; False if it did not come."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(mqtt_topic(self.config.tenant_id, self.config.robot_id, channel), payload, qos=qos)
        if qos == 0:
            return info.rc == 0
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError):  # paho: the message was dropped when the connection went
            return False
        return info.is_published()


class HttpsLink:
    """The device routes (``POST /v1/device/{channel}``) with the robot's device key."""

    def __init__(self, config: AgentConfig) -> None:
        import httpx

        assert config.api is not None
        key = read_secret(config.api.device_key_file, "device key")
        verify: Any = str(config.api.ca_file) if config.api.ca_file else True
        self.client = httpx.Client(
            base_url=config.api.url, headers={"Authorization": f"Bearer {key}"}, timeout=15.0, verify=verify
        )
        self.last_error = ""

    def send(self, channel: str, messages: list[Queued]) -> bool:
        import httpx

        body = b"[" + b",".join(m.payload for m in messages) + b"]"
        try:
            response = self.client.post(
                f"/v1/device/{channel}", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as err:
            self.last_error = f"HTTPS fallback: {err}"
            return False
        if response.status_code == 202:
            return True
        self.last_error = f"HTTPS fallback: {response.status_code} {response.text[:300]}"
        logger.warning("%s", self.last_error)
        return False

    def close(self) -> None:
        self.client.close()


class Sender:
    """Drains the spool through MQTT, or through HTTPS while MQTT has been down for long enough."""

    def __init__(
        self,
        config: AgentConfig,
        spool: Spool,
        mqtt: MqttLink | None,
        https: HttpsLink | None,
        max_delay_s: Callable[[], float],
    ) -> None:
        self.config = config
        self.spool = spool
        self.mqtt = mqtt
        self.https = https
        self.max_delay_s = max_delay_s
        self.sent_bytes = 0
        self.sent_messages = 0
        self.wake = threading.Event()
        self._oldest_wait: dict[str, float] = {}

    def _use_https(self) -> bool:
        if self.https is None:
            return False
        if self.mqtt is None or self.config.transport == "https":
            return True
        down = self.mqtt.down_since
        return (
            self.config.transport == "auto"
            and down is not None
            and time.monotonic() - down > self.config.fallback_after_s
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            progressed = self.drain_once(force=False)
            if not progressed:
                self.wake.wait(0.5)
                self.wake.clear()

    def drain_once(self, *, force: bool) -> bool:
        """Send what is due; True if anything went."""
        progressed = False
        waiting = set(self.spool.channels())
        https = self._use_https()
        for channel in [c for c in CHANNELS if c in waiting and not (https and c not in HTTPS_CHANNELS)]:
            batch = self.spool.oldest(channel, self.config.spool.batch_max_messages)
            if not batch:
                continue
            now = time.monotonic()
            first_seen = self._oldest_wait.setdefault(channel, now)
            due = channel in IMMEDIATE or len(batch) >= self.config.spool.batch_max_messages
            if not (force or due or now - first_seen >= self.max_delay_s()):
                continue
            if not self._send(channel, batch):
                return progressed
            self._oldest_wait.pop(channel, None)
            progressed = True
        return progressed

    def _send(self, channel: str, batch: list[Queued]) -> bool:
        if self._use_https():
            assert self.https is not None
            ok = self.https.send(channel, batch)
            size = sum(len(m.payload) for m in batch)
        else:
            if self.mqtt is None:
                return False
            payload = batch_payload(batch)
            while len(payload) > MAX_PAYLOAD_BYTES and len(batch) > 1:
                batch = batch[: len(batch) // 2]
                payload = batch_payload(batch)
            ok = self.mqtt.publish(channel, payload)
            size = len(payload)
        if ok:
            self.spool.remove([m.id for m in batch])
            self.sent_bytes += size
            self.sent_messages += len(batch)
        return ok
