"""Running the simulated fleet in real time (or a multiple of it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fleetray.schemas import encode_message, mqtt_topic

if TYPE_CHECKING:
    from fleetray.sim.engine import FleetSimulator, SimChunk

logger = logging.getLogger(__name__)

ChunkHandler = Callable[["SimChunk"], None]


class MqttPublisher:
    """Publishes simulator output the way robots do: one JSON message per sample, QoS 1."""

    def __init__(self, url: str, *, client_id: str = "fleetray-sim", max_inflight: int = 1000) -> None:
        from fleetray.mqtt import connect

        self._client = connect(url, client_id, max_inflight=max_inflight)
        self._unconfirmed: list[object] = []
        self.published = 0

    def __call__(self, chunk: SimChunk) -> None:
        """Publish a chunk's telemetry, events and task events."""
        outgoing = [(message, "telemetry") for message in chunk.telemetry.to_messages()]
        outgoing += [(event, "events") for event in chunk.events]
        outgoing += [(event, "tasks") for event in chunk.task_events]
        for message, channel in outgoing:
            topic = mqtt_topic(message.tenant_id, message.robot_id, channel)
            self._unconfirmed.append(self._client.publish(topic, encode_message(message), qos=1))
        self._unconfirmed = [info for info in self._unconfirmed if not info.is_published()]
        self.published += len(outgoing)

    def close(self, *, timeout_s: float = 30.0) -> None:
        """Wait until the broker has acknowledged every message, then disconnect."""
        deadline = time.monotonic() + timeout_s
        for info in self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("the broker did not acknowledge %s messages in time", len(self._unconfirmed))
                break
            info.wait_for_publish(remaining)
        self._client.disconnect()
        self._client.loop_stop()


def run_live(
    sim: FleetSimulator,
    handlers: Sequence[ChunkHandler],
    *,
    speed: float = 1.0,
    stop: threading.Event | None = None,
    duration_s: float | None = None,
) -> int:
    """Step the fleet in step with the wall clock until ``stop`` is set or ``duration_s`` passes.

    Each wall-clock second advances ``speed`` simulated seconds (at least one per tick), handed to
    every handler as one chunk. Returns the simulated seconds run.
    """
    stop = stop or threading.Event()
    steps_per_tick = max(1, round(speed))
    tick_s = steps_per_tick / speed
    started = time.monotonic()
    simulated = 0
    while not stop.is_set():
        if duration_s is not None and time.monotonic() - started >= duration_s:
            break
        for chunk in sim.run(steps_per_tick, chunk_s=steps_per_tick):
            for handler in handlers:
                handler(chunk)
        simulated += steps_per_tick
        next_tick = started + (simulated / steps_per_tick) * tick_s
        stop.wait(max(0.0, next_tick - time.monotonic()))
    return simulated
