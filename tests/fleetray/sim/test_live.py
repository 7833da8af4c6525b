from __future__ import annotations

import queue
import threading
import uuid
from datetime import timedelta

from fleetray.mqtt import connect
from fleetray.schemas import Telemetry, decode_messages, mqtt_subscription, parse_mqtt_topic
from fleetray.sim import FleetSimulator, SimConfig
from fleetray.sim.live import MqttPublisher, run_live
from fleetray.sim.persist import utc_now_whole_second


def test_live_fleet_publishes_each_robot_every_simulated_second(mqtt_url: str) -> None:
    tenant = f"live-{uuid.uuid4().hex[:8]}"
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscriber = connect(mqtt_url, f"sub-{tenant}")
    subscriber.on_message = lambda _c, _u, message: received.put((message.topic, message.payload))
    subscriber.subscribe(mqtt_subscription("telemetry", tenant_id=tenant), qos=1)
    start = utc_now_whole_second()
    sim = FleetSimulator(SimConfig(tenant_id=tenant, robots=3, seed=1, start=start, offline_per_day=0))
    publisher = MqttPublisher(mqtt_url, client_id=f"pub-{tenant}")
    seen: list[Telemetry] = []
    try:
        simulated = run_live(sim, [publisher], speed=4, duration_s=1.0)
        while len(seen) < 3 * simulated:
            topic, payload = received.get(timeout=10)
            (message,) = decode_messages(Telemetry, payload)
            assert parse_mqtt_topic(topic).robot_id == message.robot_id
            seen.append(message)
    finally:
        publisher.close()
        subscriber.disconnect()
    assert simulated >= 4
    assert {m.robot_id for m in seen} == {"r00000", "r00001", "r00002"}
    assert max(m.ts for m in seen) < start + timedelta(seconds=simulated)


def test_run_live_stops_when_asked() -> None:
    sim = FleetSimulator(SimConfig(robots=2, seed=1, start=utc_now_whole_second()))
    stop = threading.Event()
    ticks: list[int] = []

    def handler(chunk: object) -> None:
        ticks.append(1)
        if len(ticks) == 3:
            stop.set()

    assert run_live(sim, [handler], speed=50, stop=stop) == 3 * 50
