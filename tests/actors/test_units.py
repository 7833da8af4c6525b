"""Small pieces of live state, without Ray: the hub, the shard layout, alert policies, routing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from actors.alerts import AlertPolicy
from actors.hub import Hub
from actors.intake import RawBatch, RawMessage
from actors.registry import load_policies, policy_lookup, set_shard_layout, shard_layout, shard_of
from fleetray.errors import ConfigError
from fleetray.storage import Database


def test_a_batch_crosses_to_a_shard_as_columns_and_comes_back_whole() -> None:
    messages = [
        RawMessage("telemetry", "acme", "r1", b'{"seq": 1}', "fr/v1/acme/r1/telemetry"),
        RawMessage("events", "acme", "r2", b"\x28\xb5\x2f\xfd", "robot.events.acme", "kafka"),
        RawMessage("", "", "", b"{}", "fr/v1/nonsense"),
    ]
    batch = RawBatch.of(messages)
    assert batch.robot_ids == ["r1", "r2", ""] and batch.sources == ["mqtt", "kafka", "mqtt"]
    assert batch.messages() == messages
    assert RawBatch.of([]).messages() == []


def test_shard_of_is_stable_and_spreads_robots() -> None:
    assignments = [shard_of("acme", f"r{i:05d}", 8) for i in range(8000)]
    assert assignments == [shard_of("acme", f"r{i:05d}", 8) for i in range(8000)]
    counts = [assignments.count(shard) for shard in range(8)]
    assert min(counts) > 850 and max(counts) < 1150


def test_the_shard_layout_changes_only_explicitly(db: Database) -> None:
    with db.connect() as conn:
        assert shard_layout(conn, 4) == 4
        assert shard_layout(conn, 4) == 4
        with pytest.raises(ConfigError, match="laid out over 4 shards, not 6"):
            shard_layout(conn, 6)
        assert set_shard_layout(conn, 6) == 4
        assert shard_layout(conn, 6) == 6


def test_alert_policies_need_hysteresis() -> None:
    with pytest.raises(ValidationError, match=r"battery_low_clear \(0.1\) must be > battery_low_raise \(0.15\)"):
        AlertPolicy(battery_low_clear=0.1)
    with pytest.raises(ValidationError, match="anomaly_clear"):
        AlertPolicy(anomaly_raise=3.0)


def test_policies_resolve_per_model_then_tenant_then_default(db: Database) -> None:
    with db.connect() as conn:
        conn.execute("""INSERT INTO alert_policies (tenant_id, model, overrides) VALUES
                        ('acme', '*', '{"offline_after_s": 600}'), ('acme', 'Neo 2', '{"offline_after_s": 60}')""")
        policy_for = policy_lookup(load_policies(conn))
    assert policy_for("acme", "Neo 2").offline_after_s == 60
    assert policy_for("acme", "Phantas").offline_after_s == 600
    assert policy_for("other", "Neo 2").offline_after_s == AlertPolicy().offline_after_s


def test_hub_fans_out_by_tenant_kind_and_robot_and_drops_alerts_for_slow_subscribers() -> None:
    hub = Hub(queue_size=3)
    hub.subscribe("all", "acme")
    hub.subscribe("r1-alerts", "acme", kinds=["alert"], robot_ids=["r1"])
    hub.subscribe("other", "globex")
    items = [{"tenant_id": "acme", "kind": "alert", "robot_id": f"r{n}", "n": n} for n in range(1, 6)]
    hub.publish([*items, {"tenant_id": "acme", "kind": "state", "robot_id": "r1"}])
    everything = hub.take("all")
    assert [i.get("n") for i in everything["items"]] == [3, 4, 5, None] and everything["dropped"] == 2
    assert [i["n"] for i in hub.take("r1-alerts")["items"]] == [1]
    assert hub.take("other")["items"] == []
    assert hub.take("nobody") == {"items": [], "dropped": 0, "subscribed": False}


def test_components_plug_into_the_platform_and_the_cli() -> None:
    from fleetray.plugins import cli_plugins, platform_components

    # Started in this order (by entry point name): the API finds the shards running.
    assert [component.name for component in platform_components()] == [
        "ingestion",
        "integrations",
        "bags",
        "reports",
        "maintenance",
        "api",
    ]
    assert [name for name, _ in cli_plugins()] == ["bags", "connectors", "models", "shards", "train"]


def test_reshard_command_records_the_new_layout(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from fleetray.cli.app import app
    from fleetray.config import get_settings

    monkeypatch.setenv("FLEETRAY_DATABASE_URL", db.url)
    monkeypatch.setenv("FLEETRAY_DATABASE_SCHEMA", db.schema)
    get_settings.cache_clear()
    with db.connect() as conn:
        shard_layout(conn, 2)
    result = CliRunner().invoke(app, ["shards", "reshard", "5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "5 shards (was 2)" in result.output
    with db.connect() as conn:
        assert shard_layout(conn, 5) == 5


def test_a_slow_subscriber_gets_every_robots_latest_state_and_loses_none() -> None:
    hub = Hub(queue_size=3)
    hub.subscribe("dashboard", "acme")
    for seq in range(1, 4):  # three rounds of a fleet of five, read after the last
        hub.publish([{"tenant_id": "acme", "kind": "state", "robot_id": f"r{n}", "seq": seq} for n in range(5)])
    hub.publish([{"tenant_id": "acme", "kind": "state", "robot_id": "r0", "seq": 4}])
    first = hub.take("dashboard", max_items=4)
    assert [(i["robot_id"], i["seq"]) for i in first["items"]] == [("r1", 3), ("r2", 3), ("r3", 3), ("r4", 3)]
    assert first["dropped"] == 0
    assert [(i["robot_id"], i["seq"]) for i in hub.take("dashboard")["items"]] == [("r0", 4)]


def test_hub_filters_by_site_and_rule_and_tells_which_tenants_are_watched() -> None:
    from actors.hub import ALL_TENANTS, Hub

    hub = Hub(queue_size=10)
    hub.subscribe("north", "acme", site_ids=["north"])
    hub.subscribe("low-battery", "acme", kinds=["alert"], rules=["battery_low"])
    hub.subscribe("webhooks", ALL_TENANTS, kinds=["alert"])
    assert hub.watched_tenants() == {"acme"}  # the alert-only and all-tenant subscribers want no state
    hub.publish(
        [
            {"tenant_id": "acme", "kind": "state", "robot_id": "r1", "site_id": "north"},
            {"tenant_id": "acme", "kind": "alert", "robot_id": "r2", "site_id": "south", "rule": "battery_low"},
            {"tenant_id": "acme", "kind": "alert", "robot_id": "r1", "site_id": "north", "rule": "offline"},
            {"tenant_id": "globex", "kind": "alert", "robot_id": "g1", "site_id": "north", "rule": "battery_low"},
        ]
    )
    assert [i["robot_id"] for i in hub.take("north")["items"]] == ["r1", "r1"]
    assert [i["robot_id"] for i in hub.take("low-battery")["items"]] == ["r2"]
    assert [i["tenant_id"] for i in hub.take("webhooks")["items"]] == ["acme", "acme", "globex"]
