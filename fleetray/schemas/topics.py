"""MQTT and Kafka topic names.

MQTT: ``fr/v1/{tenant}/{robot}/{channel}``; robots publish the up channels and subscribe to the
down ones. Kafka: ``robot.{kind}.{tenant}``, keyed by robot id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fleetray.errors import TopicError
from fleetray.schemas.messages import ROBOT_ID_PATTERN, TENANT_ID_PATTERN

MQTT_PREFIX = "fr/v1"
UP_CHANNELS = ("telemetry", "events", "tasks", "heartbeat", "bags", "ack")
DOWN_CHANNELS = ("cmd", "config")
KAFKA_KINDS = ("telemetry", "events", "tasks")

Channel = Literal["telemetry", "events", "tasks", "heartbeat", "bags", "ack", "cmd", "config"]
KafkaKind = Literal["telemetry", "events", "tasks"]

_TENANT = re.compile(TENANT_ID_PATTERN)
_ROBOT = re.compile(ROBOT_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class MqttTopic:
    """A parsed MQTT topic."""

    tenant_id: str
    robot_id: str
    channel: Channel

    def __str__(self) -> str:
        return f"{MQTT_PREFIX}/{self.tenant_id}/{self.robot_id}/{self.channel}"


def mqtt_topic(tenant_id: str, robot_id: str, channel: Channel) -> str:
    """The topic one robot publishes ``channel`` on (or receives it on, for cmd and config)."""
    _check_ids(tenant_id, robot_id)
    if channel not in UP_CHANNELS + DOWN_CHANNELS:
        raise TopicError(f"channel {channel!r} is not one of {', '.join(UP_CHANNELS + DOWN_CHANNELS)}")
    return str(MqttTopic(tenant_id, robot_id, channel))


def parse_mqtt_topic(topic: str) -> MqttTopic:
    """Split ``fr/v1/{tenant}/{robot}/{channel}``.

    Raises:
        TopicError: the topic is outside the scheme, or an id is not valid.
    """
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != MQTT_PREFIX:
        raise TopicError(f"topic {topic!r} does not match {MQTT_PREFIX}/{{tenant}}/{{robot}}/{{channel}}")
    _, _, tenant_id, robot_id, channel = parts
    _check_ids(tenant_id, robot_id)
    if channel not in UP_CHANNELS + DOWN_CHANNELS:
        raise TopicError(f"topic {topic!r} has unknown channel {channel!r}")
    return MqttTopic(tenant_id, robot_id, channel)  # type: ignore[arg-type]


def mqtt_subscription(channel: Channel, *, tenant_id: str = "+", shared_group: str | None = None) -> str:
    """A subscription filter for one channel of every robot (of one tenant, or all with ``+``).

    With ``shared_group`` the filter is a shared subscription (``$share/{group}/...``), so several
    ingestors split the messages between them.
    """
    if tenant_id != "+":
        _check_ids(tenant_id, None)
    topic_filter = f"{MQTT_PREFIX}/{tenant_id}/+/{channel}"
    if shared_group is None:
        return topic_filter
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", shared_group):
        raise TopicError(f"shared group {shared_group!r} must be 1-64 letters, digits, '_' or '-'")
    return f"$share/{shared_group}/{topic_filter}"


def kafka_topic(kind: KafkaKind, tenant_id: str) -> str:
    """``robot.{kind}.{tenant}``; messages on it are keyed by robot id."""
    if kind not in KAFKA_KINDS:
        raise TopicError(f"Kafka kind {kind!r} is not one of {', '.join(KAFKA_KINDS)}")
    _check_ids(tenant_id, None)
    return f"robot.{kind}.{tenant_id}"


def parse_kafka_topic(topic: str) -> tuple[KafkaKind, str]:
    """Split ``robot.{kind}.{tenant}`` into its kind and tenant."""
    parts = topic.split(".")
    if len(parts) != 3 or parts[0] != "robot" or parts[1] not in KAFKA_KINDS:
        raise TopicError(f"Kafka topic {topic!r} does not match robot.{{telemetry|events|tasks}}.{{tenant}}")
    _check_ids(parts[2], None)
    return parts[1], parts[2]  # type: ignore[return-value]


def _check_ids(tenant_id: str, robot_id: str | None) -> None:
    if not _TENANT.fullmatch(tenant_id):
        raise TopicError(f"tenant id {tenant_id!r} must match {TENANT_ID_PATTERN}")
    if robot_id is not None and not _ROBOT.fullmatch(robot_id):
        raise TopicError(f"robot id {robot_id!r} must match {ROBOT_ID_PATTERN}")
