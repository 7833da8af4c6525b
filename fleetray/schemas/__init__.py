"""The wire format shared by robots and the platform: messages, payload encoding, topic names.

This package is imported on robots: it depends on pydantic and zstandard only.
"""

from __future__ import annotations

from fleetray.schemas.agent import AgentCommand, AgentHeartbeat, CommandAck, RecorderPolicy, RemoteConfig, StreamRate
from fleetray.schemas.encoding import (
    PayloadError,
    decode_messages,
    decode_payload,
    encode_batch,
    encode_message,
    is_batch,
    parse_message,
    split_payload,
    validate_message,
)
from fleetray.schemas.messages import (
    SCHEMA_VERSION,
    Battery,
    ComponentReading,
    EventLevel,
    Pose,
    RobotEvent,
    RobotMessage,
    RobotStatus,
    SystemStats,
    TaskEvent,
    TaskEventType,
    Telemetry,
    Velocity,
)
from fleetray.schemas.topics import (
    MqttTopic,
    kafka_topic,
    mqtt_subscription,
    mqtt_topic,
    parse_kafka_topic,
    parse_mqtt_topic,
)

__all__ = [
    "SCHEMA_VERSION",
    "AgentCommand",
    "AgentHeartbeat",
    "Battery",
    "CommandAck",
    "ComponentReading",
    "EventLevel",
    "MqttTopic",
    "PayloadError",
    "Pose",
    "RecorderPolicy",
    "RemoteConfig",
    "RobotEvent",
    "RobotMessage",
    "RobotStatus",
    "StreamRate",
    "SystemStats",
    "TaskEvent",
    "TaskEventType",
    "Telemetry",
    "Velocity",
    "decode_messages",
    "decode_payload",
    "encode_batch",
    "encode_message",
    "is_batch",
    "kafka_topic",
    "mqtt_subscription",
    "mqtt_topic",
    "parse_kafka_topic",
    "parse_message",
    "parse_mqtt_topic",
    "split_payload",
    "validate_message",
]
