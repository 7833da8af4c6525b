"""What the agent's tests share: a generated robot bag and an agent.toml around it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import AgentConfig, parse_config
from edge.synthetic import DEFAULT_CONFIG_TOPICS, write_robot_bag


@pytest.fixture(scope="session")
def robot_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two minutes of a cleaning robot, full rate, with E_BRUSH_JAM at 90 s."""
    path = tmp_path_factory.mktemp("bags") / "robot.bag"
    write_robot_bag(path, duration_s=120, error_at_s=90)
    return path


def agent_config(data_dir: Path, broker_url: str, bag: Path | None, **overrides: Any) -> AgentConfig:
    document: dict[str, Any] = {
        "tenant_id": "acme",
        "robot_id": "acme-r1",
        "data_dir": str(data_dir),
        "transport": "mqtt",
        "broker": {"url": broker_url},
        "topics": DEFAULT_CONFIG_TOPICS,
        "sources": [{"kind": "bag", "path": str(bag), "rate": 1000.0}] if bag else [],
        "remote": {"version": 1, "recorder": {"before_s": 20, "after_s": 10, "segment_s": 5}},
    }
    document.update(overrides)
    return parse_config(document)


class Mosquitto:
    """A Mosquitto of the test's own (the project's production settings by default): stopped and started at will."""

    def __init__(self, directory: Path, extra: str = "") -> None:
        from fleetray.services.mqtt_broker import find_mosquitto, mosquitto_config
        from fleetray.services.ports import free_port
        from fleetray.services.process import ServiceProcess

        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "mosquitto.conf"
        # `user root`: started as root, Mosquitto would switch to its own user, who cannot read pytest's tmp dir.
        config.write_text(extra.format(port=self.port, dir=directory) or mosquitto_config(self.port, directory))
        with config.open("a") as out:
            out.write("\nuser root\n")
        self.process = ServiceProcess(
            "mosquitto",
            [str(find_mosquitto()), "-c", str(config)],
            port=self.port,
            log_path=directory / "mosquitto.log",
        )
        self.url = f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    from fleetray.services.mqtt_broker import find_mosquitto

    if find_mosquitto() is None:
        pytest.skip("needs the mosquitto binary (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()
