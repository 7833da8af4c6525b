"""From ROS messages to the wire format: mapping by configuration, downsampling, ROS 2 CDR."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from edge.config import TopicMapping
from edge.decoding import Decoder
from edge.mapping import TopicMapper
from edge.readings import EventReading, Reading, SourceMessage, TaskReading
from edge.sampler import NS, Sampler
from edge.sources.bag import BagReplay
from edge.sources.ros2 import from_cdr
from edge.synthetic import DEFAULT_CONFIG_TOPICS
from tests.edge.conftest import agent_config

TALKER = Path(__file__).parents[3] / "shared/data/bags/ros2/rosbag2_py/test/resources/sqlite3/talker"


def _replay(bag: Path, tmp_path: Path) -> list[SourceMessage]:
    config = agent_config(tmp_path, "mqtt://127.0.0.1:1", bag)
    replay = BagReplay(config.sources[0], set(config.topics))
    return [message for _, message in replay.messages()]


def test_the_robot_bag_maps_to_telemetry_events_and_tasks(robot_bag: Path, tmp_path: Path) -> None:
    mapper = TopicMapper({topic: TopicMapping(**m) for topic, m in DEFAULT_CONFIG_TOPICS.items()})
    outputs = [out for message in _replay(robot_bag, tmp_path) for out in mapper.map(message)]
    readings = [o for o in outputs if isinstance(o, Reading)]
    battery = next(r for r in readings if r.stream == "battery")
    assert 0.89 < battery.values["battery.soc"] <= 0.9 and battery.values["battery.charging"] is False
    assert battery.values["battery.voltage"] == pytest.approx(25.2, abs=0.01)
    pose = next(r for r in readings if r.stream == "pose")
    assert set(pose.values) == {"pose.x", "pose.y", "pose.theta", "velocity.linear", "velocity.angular"}
    diagnostics = next(r for r in readings if r.stream == "diagnostics")
    assert set(diagnostics.values) == {
        f"components.{c}.{f}" for c in ("main_brush", "vacuum") for f in ("current_a", "temp_c")
    }
    (error,) = [o for o in outputs if isinstance(o, EventReading)]
    assert (error.level, error.code) == ("ERROR", "E_BRUSH_JAM") and "/cleaning_controller" in error.message
    tasks = [o for o in outputs if isinstance(o, TaskReading)]
    assert [(t.task_id, t.type) for t in tasks] == [("task-1", "started"), ("task-1", "completed")]
    assert tasks[1].values["efficiency"] == 0.93
    assert mapper.refused == {}


def test_the_sampler_sends_each_stream_at_its_rate(robot_bag: Path, tmp_path: Path) -> None:
    mapper = TopicMapper({topic: TopicMapping(**m) for topic, m in DEFAULT_CONFIG_TOPICS.items()})
    sampler = Sampler("acme", "acme-r1", lambda stream: None)
    samples = []
    for message in _replay(robot_bag, tmp_path):
        for out in mapper.map(message):
            if isinstance(out, Reading):
                sampler.add(out)
        samples += sampler.advance(message.timestamp_ns)
    telemetry = [sampler.telemetry(fields, seq) for seq, fields in enumerate(samples)]
    per_second = [t for t in telemetry if t.metrics]  # the ticks (a status change also goes out, on its own)
    assert 118 <= len(per_second) <= 121  # one a second over two minutes
    with_battery = [t for t in per_second if t.battery is not None]
    assert 11 <= len(with_battery) <= 13  # every ten seconds
    assert all(t.pose is not None and t.velocity is not None for t in per_second[1:])
    assert {t.status.value for t in telemetry} >= {"cleaning"}
    imu = per_second[5].metrics
    assert imu["imu_accel_mean"] == pytest.approx(9.81, abs=0.05) and imu["imu_accel_max"] > imu["imu_accel_mean"]
    assert per_second[5].components["main_brush"].current_a == pytest.approx(1.8, abs=0.1)
    size = sum(len(t.model_dump_json(exclude_none=True)) for t in telemetry)
    assert size / len(per_second) < 1000  # bytes a second before compression


def test_a_topic_of_the_wrong_type_is_refused_by_name_and_the_rest_go_on(robot_bag: Path, tmp_path: Path) -> None:
    mapper = TopicMapper({"/imu": TopicMapping(kind="battery"), "/battery_state": TopicMapping(kind="battery")})
    outputs = [out for message in _replay(robot_bag, tmp_path) for out in mapper.map(message)]
    assert mapper.refused == {
        "/imu": "topic /imu is sensor_msgs/msg/Imu; kind 'battery' reads sensor_msgs/msg/BatteryState"
    }
    assert len([o for o in outputs if isinstance(o, Reading) and o.stream == "battery"]) == 120


def test_ros2_messages_convert_from_their_cdr_bytes() -> None:
    decoder = Decoder()
    mapper = TopicMapper(
        {
            "/rosout": TopicMapping(kind="metric", field="level", name="log_level"),
            "/topic": TopicMapping(kind="task_status"),
        }
    )
    database = sqlite3.connect(f"file:{TALKER / 'talker.db3'}?mode=ro", uri=True)  # the bytes rosbag2 recorded
    rows = database.execute(
        "SELECT t.name, t.type, m.timestamp, m.data FROM messages m JOIN topics t ON t.id = m.topic_id ORDER BY m.id"
    ).fetchall()
    converted = [from_cdr(decoder, topic, msgtype, data, timestamp, True) for topic, msgtype, timestamp, data in rows]
    logs = [m for m in converted if m.topic == "/rosout"]
    assert len(logs) == 10 and logs[0].encoding == "cdr" and logs[0].msgtype == "rcl_interfaces/msg/Log"
    assert logs[0].message.name == "minimal_publisher" and logs[0].message.msg == "Publishing: 'Hello, world! 0'"
    assert mapper.map(logs[0]) == [Reading("log_level", logs[0].timestamp_ns, {"metrics.log_level": 20.0})]
    greeting = next(m for m in converted if m.topic == "/topic")
    assert greeting.message.data.startswith("Hello, world!") and mapper.map(greeting) == []  # not a status


def test_task_status_strings_and_json() -> None:
    mapper = TopicMapper({"/status": TopicMapping(kind="task_status")})

    def message(text: str) -> SourceMessage:
        class String:
            data = text

        return SourceMessage("/status", "std_msgs/msg/String", 5 * NS, String(), b"", "ros1", "", "ros1msg")

    assert mapper.map(message("CHARGING")) == [Reading("status", 5 * NS, {"status": "charging"})]
    out = mapper.map(message(json.dumps({"status": "cleaning", "task_id": "t9", "event": "progress", "progress": 0.4})))
    assert out == [
        Reading("status", 5 * NS, {"status": "cleaning", "task_id": "t9"}),
        TaskReading(5 * NS, "t9", "progress", {"progress": 0.4}),
    ]


def test_a_silent_gap_costs_one_tick_not_one_per_second() -> None:
    sampler = Sampler("acme", "acme-r1", lambda stream: None)
    sampler.advance(3 * NS)  # a clock that started near zero (no reading yet)
    sampler.add(Reading("pose", 1_700_000_000 * NS, {"pose.x": 1.0, "pose.y": 2.0, "pose.theta": 0.0}))
    samples = sampler.advance(1_700_000_001 * NS)
    assert len(samples) == 1 and samples[0]["ts_ns"] == 1_700_000_001 * NS
