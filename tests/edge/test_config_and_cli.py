"""agent.toml errors name the field; doctor says what is wrong in one line each; status reads the last report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.config import load_config
from edge.errors import AgentConfigError

GOOD = """
tenant_id = "acme"
robot_id = "acme-r1"
data_dir = "{data}"
transport = "mqtt"
[broker]
url = "{broker}"
[[sources]]
kind = "bag"
path = "{bag}"
[topics."/imu"]
kind = "imu"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_the_example_config_loads() -> None:
    config = load_config(Path(__file__).parents[2] / "edge/deploy/agent.example.toml")
    assert config.robot_id == "acme-r17" and config.remote.recorder.before_s == 300


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tenant_id = ", "is not valid TOML"),
        (
            GOOD.replace('tenant_id = "acme"', 'tenant_id = "Acme Corp"'),
            "tenant_id: got 'Acme Corp', String should match",
        ),
        (GOOD.replace('kind = "imu"', 'kind = "lidar"'), "topics./imu.kind: got 'lidar', Input should be 'battery'"),
        (
            GOOD.replace('url = "{broker}"', 'url = "http://x"'),
            "broker.url: got 'http://x', 'http://x' is not an mqtt://",
        ),
        (
            GOOD.replace('kind = "bag"', 'kind = "kafka"'),
            "sources.0: Input tag 'kafka' found using 'kind' does not match any of the expected tags: 'bag', 'ros1'",
        ),
        (GOOD + "[spool]\nmax_mb = -5\n", "spool.max_mb: got -5, Input should be greater than 0"),
    ],
)
def test_a_malformed_config_names_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text.format(data=tmp_path, broker="mqtt://127.0.0.1:1", bag=tmp_path / "x.bag"))
    with pytest.raises(AgentConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_a_missing_config_file() -> None:
    with pytest.raises(AgentConfigError, match=r"no agent config at /nowhere/agent\.toml; pass --config PATH"):
        load_config(Path("/nowhere/agent.toml"))


def test_doctor_reports_each_problem_on_its_own_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.format(data=tmp_path / "data", broker="mqtt://127.0.0.1:1", bag=tmp_path / "x.bag"))
    result = CliRunner().invoke(app, ["doctor", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("ok   config: acme/acme-r1, 1 sources, 1 topics\n")
    assert "FAIL broker: cannot reach mqtt://127.0.0.1:1" in result.output
    assert f"FAIL source bag: {tmp_path / 'x.bag'} does not exist" in result.output
    assert "ok   disk:" in result.output and "ok   credentials: readable" in result.output


def test_run_refuses_a_bad_config_with_exit_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--config", str(_write(tmp_path, "tenant_id = 3"))])
    assert result.exit_code == 2 and "tenant_id: got 3, Input should be a valid string" in result.output


def test_status_without_a_run(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.format(data=tmp_path / "data", broker="mqtt://127.0.0.1:1", bag=tmp_path / "x.bag"))
    result = CliRunner().invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 1 and "the agent has not run with this config" in result.output
