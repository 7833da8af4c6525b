from __future__ import annotations

from pathlib import Path

import pytest

from fleetray.config import get_settings, load_settings
from fleetray.errors import ConfigError


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    settings = get_settings()
    assert settings.database_url is None
    assert settings.mqtt_url is None
    assert settings.kafka_bootstrap is None
    assert settings.ray_address is None
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_object_store_url == (tmp_path / "data" / "objects").resolve().as_uri()


def test_environment_points_components_at_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETRAY_DATABASE_URL", "postgresql://fleet@db.example:5432/fleet")
    monkeypatch.setenv("FLEETRAY_MQTT_URL", "mqtts://broker.example:8883")
    monkeypatch.setenv("FLEETRAY_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("FLEETRAY_OBJECT_STORE_URL", "s3://fleet-bucket/prod")
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    settings = load_settings()
    assert settings.database_url == "postgresql://fleet@db.example:5432/fleet"
    assert settings.mqtt_url == "mqtts://broker.example:8883"
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.resolved_object_store_url == "s3://fleet-bucket/prod"
    assert settings.ray_address == "ray://head:10001"


def test_config_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "site.toml"
    config.write_text('telemetry_retention_days = 90\nmqtt_url = "mqtt://file-broker:1883"\n')
    monkeypatch.setenv("FLEETRAY_CONFIG", str(config))
    monkeypatch.setenv("FLEETRAY_MQTT_URL", "mqtt://env-broker:1883")
    settings = load_settings()
    assert settings.telemetry_retention_days == 90
    assert settings.mqtt_url == "mqtt://env-broker:1883"


def test_fleetray_toml_in_the_working_directory_is_picked_up(tmp_path: Path) -> None:
    (tmp_path / "fleetray.toml").write_text("partition_premake_days = 3\n")
    assert load_settings().partition_premake_days == 3


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("FLEETRAY_TELEMETRY_RETENTION_DAYS", "forever", "FLEETRAY_TELEMETRY_RETENTION_DAYS: got 'forever'"),
        ("FLEETRAY_TELEMETRY_RETENTION_DAYS", "0", "greater than or equal to 1"),
        ("FLEETRAY_DATABASE_URL", "mysql://db/fleet", "a postgresql:// URL"),
        ("FLEETRAY_MQTT_URL", "http://broker", "mqtt://host:port"),
        ("FLEETRAY_OBJECT_STORE_URL", "gs://bucket", "file:///path or s3://"),
        ("FLEETRAY_KAFKA_BOOTSTRAP", "kafka-without-port", "host:port"),
        ("FLEETRAY_LOG_LEVEL", "LOUD", "FLEETRAY_LOG_LEVEL"),
        ("FLEETRAY_COMPONENTS", "ingestion;api", "separated by commas"),
    ],
)
def test_bad_values_are_config_errors_naming_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert fragment in str(caught.value)
    assert value in str(caught.value)


def test_missing_config_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEETRAY_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_settings()


def test_unknown_keys_in_the_config_file_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("retention_dayz = 3\n")
    monkeypatch.setenv("FLEETRAY_CONFIG", str(config))
    with pytest.raises(ConfigError, match="retention_dayz"):
        load_settings()
