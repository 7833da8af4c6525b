"""Sources of messages: ROS 1, ROS 2, bag replay, the system, log files, a vendor's local API."""

from __future__ import annotations

from edge.config import AgentConfig, BagSource, LogSource, Ros1Source, Ros2Source, SystemSource, VendorSource
from edge.sources.base import Emit, Source


def build_sources(config: AgentConfig) -> list[Source]:
    """One source per ``[[sources]]`` table; ROS sources decode only the topics mapped to telemetry."""
    from edge.sources.bag import BagReplay
    from edge.sources.logs import LogTail
    from edge.sources.ros1 import Ros1Topics
    from edge.sources.ros2 import Ros2Topics
    from edge.sources.system import SystemStats
    from edge.sources.vendor import VendorPoller

    decode = {topic for topic, mapping in config.topics.items() if mapping.kind != "record_only"}
    sources: list[Source] = []
    for source in config.sources:
        if isinstance(source, BagSource):
            sources.append(BagReplay(source, decode))
        elif isinstance(source, Ros1Source):
            sources.append(Ros1Topics(source, decode))
        elif isinstance(source, Ros2Source):
            sources.append(Ros2Topics(source, decode))
        elif isinstance(source, SystemSource):
            sources.append(SystemStats(source))
        elif isinstance(source, LogSource):
            sources.append(LogTail(source))
        elif isinstance(source, VendorSource):
            sources.append(VendorPoller(source))
    return sources


__all__ = ["Emit", "Source", "build_sources"]
