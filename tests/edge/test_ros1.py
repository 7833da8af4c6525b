"""The ROS 1 source for real: a roscore, a rospy publisher, and the agent's bridge subscribing to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent import Agent
from fleetray.services.ports import free_port, wait_for_port
from tests.edge.conftest import Mosquitto, agent_config
from tests.edge.test_agent import Platform
from tests.helpers import wait_for

ROS_PYTHON = "/usr/bin/python3"
PUBLISHER = textwrap.dedent("""
    import json, rospy
    from std_msgs.msg import Float32, String
    rospy.init_node("cleaning_controller")
    status = rospy.Publisher("/task_status", String, queue_size=10)
    battery = rospy.Publisher("/battery_level", Float32, queue_size=10)
    rate, tick = rospy.Rate(20), 0
    while not rospy.is_shutdown():
        status.publish(String(data=json.dumps({"status": "cleaning", "task_id": "t-ros"})))
        battery.publish(Float32(data=0.8 - tick * 0.0001))
        if tick % 20 == 0:
            rospy.logerr("E_BRUSH_JAM: main brush stalled")
        tick += 1
        rate.sleep()
""")


def _ros_available() -> bool:
    if shutil.which("roscore") is None or not Path(ROS_PYTHON).exists():
        return False
    probe = subprocess.run([ROS_PYTHON, "-c", "import rospy, std_msgs.msg"], check=False, capture_output=True)
    return probe.returncode == 0


pytestmark = [
    pytest.mark.skipif(not _ros_available(), reason="needs ROS 1 (apt-get install ros-core python3-rospy)"),
    pytest.mark.slow,
]


@pytest.fixture
def roscore(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env = {
        **os.environ,
        "ROS_MASTER_URI": f"http://127.0.0.1:{port}",
        "ROS_HOME": str(tmp_path / "ros"),
        "ROS_HOSTNAME": "127.0.0.1",
    }
    core = subprocess.Popen(
        ["roscore", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert wait_for_port("127.0.0.1", port, timeout_s=30), "roscore did not start"
    script = tmp_path / "publisher.py"
    script.write_text(PUBLISHER)
    publisher = subprocess.Popen(
        [ROS_PYTHON, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    yield env
    for process in (publisher, core):
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


def test_live_ros1_topics_become_telemetry_and_events(
    roscore: dict[str, str], mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROS_HOME", roscore["ROS_HOME"])
    monkeypatch.setenv("ROS_HOSTNAME", "127.0.0.1")
    source = {
        "kind": "ros1",
        "topics": ["/task_status", "/battery_level", "/rosout"],
        "master_uri": roscore["ROS_MASTER_URI"],
        "python": ROS_PYTHON,
    }
    topics = {
        "/task_status": {"kind": "task_status"},
        "/rosout": {"kind": "log"},
        "/battery_level": {"kind": "metric", "field": "data", "name": "battery_level"},
    }
    platform = Platform(mosquitto.url)
    agent = Agent(agent_config(tmp_path / "agent", mosquitto.url, None, sources=[source], topics=topics))
    agent.start()
    try:
        wait_for(lambda: agent.counts["telemetry"] >= 3 and agent.counts["events"] >= 1, timeout_s=60)
        agent.sender.drain_once(force=True)
        seen = wait_for(lambda: {"telemetry", "events"} <= platform.collect().keys() and platform.seen)
        assert any(t["status"] == "cleaning" and t.get("task_id") == "t-ros" for t in seen["telemetry"])
        levels = [t["metrics"]["battery_level"] for t in seen["telemetry"] if "battery_level" in t.get("metrics", {})]
        assert levels and 0.7 < levels[0] <= 0.8
        event = seen["events"][0]
        assert (
            event["code"] == "E_BRUSH_JAM" and event["level"] == "ERROR" and "cleaning_controller" in event["message"]
        )
        assert agent.source_states == {"ros1": "running"}
    finally:
        agent.stop()
        platform.close()
