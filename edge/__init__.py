"""The robot-side agent: telemetry over MQTT with store-and-forward, triggered bag recording, uploads.

It depends on ``fleetray.schemas`` (and the light part of ``fleetray.features``), paho-mqtt, httpx,
psutil, rosbags and mcap, never on Ray or the platform. Code here keeps to Python 3.10, the Python of
ROS 2 Humble. Run it with ``fleetray-edge run --config agent.toml``.
"""

from __future__ import annotations

__version__ = "0.1.0"
