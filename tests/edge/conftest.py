"""What the agent's tests share: a generated robot bag and an agent.toml around it."""

from __future__ import annotations

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
