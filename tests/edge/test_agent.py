"""The agent against a real broker: everything once, in order; commands answered; configs applied or refused."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.agent import Agent
from edge.sampler import NS
from fleetray.mqtt import connect
from fleetray.schemas import AgentCommand, CommandAck, RemoteConfig, Telemetry, decode_payload
from tests.edge.conftest import Mosquitto, agent_config
from tests.helpers import wait_for


class Platform:
    """What the platform's ingestor would see: every message on the robot's up channels."""

    def __init__(self, url: str) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        subscribed = threading.Event()
        self.client = connect(url, f"test-platform-{time.monotonic_ns()}", on_message=self._on_message)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe("fr/v1/acme/acme-r1/#", qos=1)
        assert subscribed.wait(10)
        self.seen: dict[str, list[dict[str, Any]]] = {}

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        channel = message.topic.rsplit("/", 1)[1]
        if channel in ("cmd", "config"):
            return
        for document in decode_payload(message.payload):
            self.messages.put((channel, document))

    def collect(self) -> dict[str, list[dict[str, Any]]]:
        while True:
            try:
                channel, document = self.messages.get_nowait()
            except queue.Empty:
                return self.seen
            self.seen.setdefault(channel, []).append(document)

    def send(self, channel: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(f"fr/v1/acme/acme-r1/{channel}", payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _drained(agent: Agent) -> bool:
    return agent.sources_done() and agent.inbox.empty() and agent.spool.stats().messages == 0


@pytest.mark.slow
def test_a_replayed_bag_arrives_once_in_order_and_its_error_becomes_a_bag(
    mosquitto: Mosquitto, robot_bag: Path, tmp_path: Path
) -> None:
    platform = Platform(mosquitto.url)
    agent = Agent(agent_config(tmp_path / "agent", mosquitto.url, robot_bag))
    agent.start()
    try:
        wait_for(
            lambda: _drained(agent) and len(agent.recorder.pending) == 0 and agent.counts["telemetry"] > 100,
            timeout_s=60,
        )
        agent.sender.drain_once(force=True)
        time.sleep(1)
        seen = platform.collect()
        telemetry = [Telemetry.model_validate(d) for d in seen["telemetry"]]
        seqs = [t.seq for t in telemetry]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # each once, none missing, in order
        assert len(telemetry) >= 119  # 120 s at 1 Hz: 119 whole-second ticks when the bag starts just after one
        assert [e["code"] for e in seen["events"]] == ["E_BRUSH_JAM"]
        assert [t["type"] for t in seen["tasks"]] == ["started", "completed"]
        (bag,) = list((tmp_path / "agent/recorder/bags").glob("*.mcap"))
        assert "e_brush_jam" in bag.name
        assert agent.uploads.pending()[0].trigger == "error:E_BRUSH_JAM"  # waits for an [api] to upload to
    finally:
        agent.stop()
        platform.close()


@pytest.mark.slow
@pytest.mark.parametrize("stalled", ["nothing", "source", "pipeline"])
def test_a_fast_replay_samples_every_second_of_the_bag_even_when_it_stalls(
    stalled: str, mosquitto: Mosquitto, robot_bag: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy machine pauses the replay or the pipeline for seconds: the stamps, not the wall clock, tell the time."""
    from edge.sources.bag import BagReplay

    stalls: list[int] = []

    def stall_once_at_a_minute(recorded_ns: int, first_ns: int) -> None:
        if stalled != "nothing" and not stalls and recorded_ns - first_ns >= 60 * NS:
            stalls.append(recorded_ns)
            time.sleep(2.5)

    replay = BagReplay.messages

    def stalling_messages(self: BagReplay) -> Iterator[tuple[int, Any]]:
        first_ns = None
        for recorded, item in replay(self):
            first_ns = first_ns or recorded
            if stalled == "source":
                stall_once_at_a_minute(recorded, first_ns)
            yield recorded, item

    monkeypatch.setattr(BagReplay, "messages", stalling_messages)
    agent = Agent(agent_config(tmp_path / "agent", mosquitto.url, robot_bag))
    fold, queue_samples = agent.sampler.add, agent._queue
    readings_ns: list[int] = []
    ticks_ns: list[int] = []

    def stalling_add(reading: Any) -> None:
        readings_ns.append(reading.timestamp_ns)
        if stalled == "pipeline":
            stall_once_at_a_minute(reading.timestamp_ns, readings_ns[0])
        fold(reading)

    def queue_noting_ticks(items: list[tuple[str, Any]]) -> None:
        ticks_ns.extend(fields["ts_ns"] for channel, fields in items if channel == "telemetry")
        queue_samples(items)

    monkeypatch.setattr(agent.sampler, "add", stalling_add)
    monkeypatch.setattr(agent, "_queue", queue_noting_ticks)
    agent.start()
    try:
        wait_for(lambda: agent.sources_done() and agent.inbox.empty(), timeout_s=60)
    finally:
        agent.stop()
    assert bool(stalls) == (stalled != "nothing")
    whole_seconds = range(readings_ns[0] // NS + 1, max(readings_ns) // NS + 1)
    assert len(whole_seconds) >= 119
    assert [t // NS for t in ticks_ns if t % NS == 0] == list(whole_seconds)  # a status change goes out between


def test_commands_are_acknowledged_and_carried_out_once(mosquitto: Mosquitto, tmp_path: Path) -> None:
    platform = Platform(mosquitto.url)
    agent = Agent(agent_config(tmp_path / "agent", mosquitto.url, None))
    agent.start()
    try:
        wait_for(agent.mqtt.connected.is_set)
        record = AgentCommand(command_id="c1", type="record", args={"minutes": 2}, issued_at=datetime.now(UTC))
        platform.send("cmd", record.model_dump_json().encode())
        platform.send("cmd", record.model_dump_json().encode())  # redelivered
        platform.send("cmd", b'{"command_id": "c2", "type": "explode", "issued_at": "2026-01-01T00:00:00Z"}')
        acks = wait_for(
            lambda: (
                [
                    CommandAck.model_validate(a)
                    for a in platform.collect().get("ack", [])
                    if len(platform.seen.get("ack", [])) >= 4
                ]
                or None
            )
        )
        by_command = [(a.command_id, a.status) for a in acks]
        assert by_command[:2] == [("c1", "accepted"), ("c1", "succeeded")]
        assert ("c1", "succeeded") in by_command[2:] and ("c2", "rejected") in by_command
        assert len(agent.recorder.pending) == 1  # recorded once
        assert "type: got 'explode', Input should be 'record'" in next(a.detail for a in acks if a.command_id == "c2")
    finally:
        agent.stop()
        platform.close()


def test_a_remote_config_is_applied_without_restart_and_a_bad_one_refused(mosquitto: Mosquitto, tmp_path: Path) -> None:
    platform = Platform(mosquitto.url)
    agent = Agent(agent_config(tmp_path / "agent", mosquitto.url, None))
    agent.start()
    try:
        wait_for(agent.mqtt.connected.is_set)
        good = RemoteConfig(version=5, heartbeat_s=7, streams={"battery": {"interval_s": 30}})
        platform.send("config", good.model_dump_json().encode(), retain=True)
        wait_for(lambda: agent.remote.version == 5)
        assert agent.sampler.interval_s("battery") == 30 and agent.remote.heartbeat_s == 7
        bad = json.dumps({"version": 6, "heartbeat_s": -1, "recorder": {"budget_mb": "lots"}}).encode()
        platform.send("config", bad, retain=True)
        event = wait_for(
            lambda: next((e for e in platform.collect().get("events", []) if e["code"] == "CONFIG_REJECTED"), None)
        )
        assert "heartbeat_s" in event["message"] and "recorder.budget_mb" in event["message"]
        assert agent.remote.version == 5 and "heartbeat_s" in agent.heartbeat().config_error
    finally:
        agent.stop()
    restarted = Agent(agent_config(tmp_path / "agent", mosquitto.url, None))
    assert restarted.remote.version == 5  # the last good config outlives a restart
    restarted.spool.close()
    platform.close()


def test_an_anomaly_on_the_robot_raises_an_event_and_a_recording(tmp_path: Path) -> None:
    from edge.readings import Reading
    from edge.sampler import NS

    agent = Agent(agent_config(tmp_path / "agent", "mqtt://127.0.0.1:1", None))  # never started: driven by hand
    start = 1_700_000_000 * NS
    agent._handle(Reading("status", start, {"status": "cleaning"}))
    for second in range(120):
        current = 1.8 + 0.05 * ((second * 7) % 5) if second < 110 else 9.0  # the brush jams at 110 s
        agent._handle(Reading("diagnostics", start + second * NS, {"components.main_brush.current_a": current}))
        agent._advance()
    events = [json.loads(m.payload) for m in agent.spool.oldest("events", 10)]
    assert [(e["level"], e["code"]) for e in events] == [("WARNING", "ANOMALY")]  # once, not every second
    assert events[0]["state"]["signal"] == "components.main_brush.current_a" and events[0]["state"]["score"] > 6
    assert [t.label for t in agent.recorder.pending] == ["anomaly:ANOMALY"]
    agent.spool.close()
