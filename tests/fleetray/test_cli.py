from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from fleetray.cli.app import app
from fleetray.config import get_settings
from fleetray.services.ports import free_port
from fleetray.storage import Database

runner = CliRunner()


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """Point the CLI at the test's database schema."""
    monkeypatch.setenv("FLEETRAY_DATABASE_URL", db.url)
    monkeypatch.setenv("FLEETRAY_DATABASE_SCHEMA", db.schema)
    get_settings.cache_clear()
    return db


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_db_migrate_twice(cli_env: Database) -> None:
    assert "up to date" in invoke("db", "migrate")
    assert "up to date" in invoke("db", "migrate")


def test_sim_history_then_query_robots_and_telemetry(cli_env: Database, tenant_id: str) -> None:
    output = invoke("sim", "history", "--robots", "4", "--days", "0.01", "--tenant", tenant_id, "--wear-rate", "50")
    assert "telemetry samples" in output and "ground truth" in output
    robots = invoke("robots", "--tenant", tenant_id)
    assert robots.count("r0000") == 4
    telemetry = invoke("telemetry", "r00001", "--tenant", tenant_id, "--since", "1h", "--limit", "5")
    assert "last 5 samples" in telemetry
    status = invoke("status")
    assert tenant_id in status and "partitions" in status


def test_retention_command_reports_what_it_dropped(cli_env: Database) -> None:
    assert "dropped 0 partition(s)" in invoke("db", "retention", "--retention", "30d")


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetray", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETRAY_")}
    env.update(FLEETRAY_DATA_DIR=str(tmp_path / "cli-data"), FLEETRAY_API_PORT=str(free_port()), COLUMNS="200", **extra)
    return env


def test_bad_config_value_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("robots", env=clean_env(tmp_path, FLEETRAY_TELEMETRY_RETENTION_DAYS="forever"))
    assert result.returncode == 1
    assert "FLEETRAY_TELEMETRY_RETENTION_DAYS: got 'forever'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_unreachable_database_is_one_clear_line_naming_the_host(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path, FLEETRAY_DATABASE_URL=f"postgresql://fleet@127.0.0.1:{port}/fleet")
    result = run_cli("robots", env=env)
    assert result.returncode == 1
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}/fleet" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _platform_processes() -> set[int]:
    names = ("postgres", "mosquitto", "amqtt", "raylet", "gcs_server", "tansu")
    found = set()
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if any(name in cmdline for name in names):
            found.add(process.info["pid"])
    return found


@pytest.mark.slow
def test_demo_starts_is_queryable_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    before = _platform_processes()
    env = clean_env(tmp_path)
    demo = subprocess.Popen(
        [sys.executable, "-m", "fleetray", "demo", "--robots", "50", "--history", "2m"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert demo.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        lines.append(line)
        if "Demo ready" in line or demo.poll() is not None:
            break
    assert any("Demo ready" in line for line in lines), "".join(lines)
    robots = run_cli("robots", env=env)
    assert robots.returncode == 0, robots.stdout + robots.stderr
    assert robots.stdout.count("r000") == 50
    token = next(line.strip() for line in lines if line.startswith("fr_"))
    fleet = httpx.get(
        f"http://127.0.0.1:{env['FLEETRAY_API_PORT']}/v1/fleet/state",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert fleet.status_code == 200 and len(fleet.json()["items"]) == 50
    demo.send_signal(signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, rest
    assert "fleetray demo stopped" in rest
    leftovers = {pid for pid in _platform_processes() - before if psutil.pid_exists(pid)}
    assert not leftovers, [psutil.Process(pid).cmdline() for pid in leftovers]


def test_keys_are_created_shown_once_listed_and_revoked(cli_env: Database) -> None:
    from fleetray.inventory import TenantRecord
    from fleetray.storage.fleet import upsert_tenant

    with cli_env.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id="acme", name="Acme"))
    created = invoke("keys", "create", "--tenant", "acme", "--role", "planner", "--expires-in", "90d")
    token = created.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    listing = invoke("keys", "list", "--tenant", "acme")
    assert key_id in listing and "planner" in listing and "active" in listing and token not in listing
    assert f"key {key_id} revoked" in invoke("keys", "revoke", "--tenant", "acme", key_id)
    assert "revoked" in invoke("keys", "list", "--tenant", "acme")
    refused = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--role", "root"])
    assert refused.exit_code != 0 and "'root' is not one of" in refused.output


def test_connectors_add_prints_the_webhook_url_and_secret_and_remove_disconnects(cli_env: Database) -> None:
    from fleetray.inventory import TenantRecord
    from fleetray.storage.fleet import upsert_tenant

    with cli_env.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id="acme", name="Acme"))
    added = invoke(
        "connectors",
        "add",
        "-t",
        "acme",
        "--connector",
        "nimbus",
        "--url",
        "https://api.nimbus.example",
        "--token",
        "t0ken",
        "--interval",
        "60",
    )
    assert "/v1/connectors/nimbus/webhooks/acme" in added and "whsec_" in added
    listed = invoke("connectors", "list")
    assert "nimbus (Nimbus Robotics)" in listed and "https://api.nimbus.example" in listed and "never" in listed
    refused = runner.invoke(
        app, ["connectors", "add", "-t", "acme", "--connector", "acmebot", "--url", "x", "--token", "y"]
    )
    assert refused.exit_code != 0 and "no connector 'acmebot'" in refused.output
    assert "no longer connected to nimbus" in invoke("connectors", "remove", "-t", "acme", "--connector", "nimbus")
    assert "no tenant is connected" in invoke("connectors", "list")
    again = runner.invoke(app, ["connectors", "remove", "-t", "acme", "--connector", "nimbus"])
    assert again.exit_code != 0 and "tenant 'acme' has no nimbus account" in again.output


def test_schedule_solve_prints_the_plan_and_writes_a_gantt_chart(tmp_path: Path) -> None:
    import json

    from fleetray.sim.schedules import schedule_problem

    request = tmp_path / "night-shift.json"
    request.write_text(schedule_problem(3, 12, time_limit_s=0.5).model_dump_json())
    gantt, plan = tmp_path / "plan.html", tmp_path / "plan.json"
    output = invoke("schedule", "solve", str(request), "--gantt", str(gantt), "--json", str(plan))
    assert "planned" in output and "objective" in output
    assert gantt.read_text().count("<rect") >= 12 and "<svg" in gantt.read_text()
    assert (
        json.loads(plan.read_text())["kpis"]["tasks_planned"] + json.loads(plan.read_text())["kpis"]["tasks_dropped"]
        == 12
    )
    request.write_text(json.dumps({"locations": [], "robots": []}))
    refused = runner.invoke(app, ["schedule", "solve", str(request)])
    assert refused.exit_code != 0 and "locations" in refused.output


def test_schedule_solve_takes_classic_instances_and_refuses_other_files(tmp_path: Path) -> None:
    solomon = Path(__file__).resolve().parents[2] / "bench" / "data" / "solomon" / "C101.txt"
    output = invoke("schedule", "solve", str(solomon), "--time-limit", "1", "--method", "greedy")
    assert "100 planned, 0 dropped" in output
    notes = tmp_path / "notes.txt"
    notes.write_text("robots to buy\nnext week\n")
    for args, message in [
        ([str(solomon), "--format", "vrplib"], "not a readable VRPLIB instance"),
        ([str(notes)], "neither Solomon's format"),
        ([str(solomon), "--format", "csv"], "--format must be auto, json, solomon, vrplib"),
    ]:
        refused = runner.invoke(app, ["schedule", "solve", *args])
        assert refused.exit_code != 0 and message in _unboxed(refused.output)


def _unboxed(output: str) -> str:
    """Typer's error box with its borders and line breaks taken out."""
    return " ".join(line.strip(" │╭╮╰╯─") for line in output.splitlines()).replace("  ", " ")
