"""Live ROS 2 topics through rclpy (where it is importable): raw CDR in, decoded with rosbags.

The subscription is kept thin on purpose: rclpy hands over serialised messages, and
:func:`from_cdr` (tested on the CDR bytes of real ROS 2 bags) does the rest, like for a bag.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from edge.config import Ros2Source
from edge.decoding import Decoder, normalise
from edge.errors import SourceError
from edge.readings import SourceMessage
from edge.sources.base import Emit, Source

logger = logging.getLogger(__name__)


def from_cdr(decoder: Decoder, topic: str, msgtype: str, raw: bytes, timestamp_ns: int, decode: bool) -> SourceMessage:
    """One serialised ROS 2 message as the agent's :class:`SourceMessage` (decoded when ``decode``)."""
    name = normalise(msgtype)
    message = decoder.decode(name, raw, "cdr") if decode else None
    return SourceMessage(topic, name, timestamp_ns, message, bytes(raw), "cdr", "", "ros2msg")


class Ros2Topics(Source):
    """Subscribes to ROS 2 topics with rclpy, each with the type its publishers announce."""

    def __init__(self, config: Ros2Source, decode_topics: set[str]) -> None:
        self.config = config
        self.name = "ros2"
        self.decode_topics = decode_topics
        self.decoder = Decoder()

    def run(self, emit: Emit, stop: threading.Event) -> None:
        try:
            import rclpy
            from rclpy.node import Node
            from rosidl_runtime_py.utilities import get_message
        except ImportError as err:
            raise SourceError(
                "ros2 source: rclpy is not importable here (source /opt/ros/<distro>/setup.bash)"
            ) from err
        rclpy.init()
        node = Node("fleetray_edge")
        subscribed: dict[str, Any] = {}
        try:
            while not stop.is_set():
                types = dict(node.get_topic_names_and_types())
                for topic in self.config.topics:
                    if topic in subscribed or topic not in types:
                        continue
                    msgtype = types[topic][0]

                    def deliver(raw: bytes, topic: str = topic, msgtype: str = msgtype) -> None:
                        emit(from_cdr(self.decoder, topic, msgtype, raw, time.time_ns(), topic in self.decode_topics))

                    subscribed[topic] = node.create_subscription(get_message(msgtype), topic, deliver, 100, raw=True)
                rclpy.spin_once(node, timeout_sec=0.5)
        finally:
            node.destroy_node()
            rclpy.shutdown()
