"""Settings: one typed object, read from ``FLEETRAY_*`` variables and an optional TOML file.

Precedence, highest first: keyword arguments, environment variables, the TOML file named by
``FLEETRAY_CONFIG`` (or ``./fleetray.toml`` when it exists), the embedded defaults below. A
setting left unset means "use the embedded default" of ARCHITECTURE.md.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fleetray.errors import ConfigError, MissingExtraError

try:
    from pydantic import AliasChoices, Field, ValidationError, field_validator
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )
except ImportError as err:  # pragma: no cover - only on an edge-only install
    raise MissingExtraError(
        'fleetray.config needs the platform dependencies: pip install "fleetray[platform]"'
    ) from err

CONFIG_FILE_ENV = "FLEETRAY_CONFIG"
DEFAULT_CONFIG_FILE = "fleetray.toml"


def _default_data_dir() -> Path:
    return Path.home() / ".fleetray"


def _config_file() -> Path | None:
    named = os.environ.get(CONFIG_FILE_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}={named!r} does not name a readable TOML file")
        return path
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Every setting of the platform. Build it with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="FLEETRAY_", extra="forbid", validate_default=True)

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Holds the embedded database, the local object store and the broker's state.",
    )
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded PostgreSQL in data_dir."
    )
    database_schema: str = Field(
        default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Schema holding fleetray's tables."
    )
    database_connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    mqtt_url: str | None = Field(
        default=None, description="mqtt://host:port or mqtts://...; unset starts a local broker."
    )
    kafka_bootstrap: str | None = Field(default=None, description="host:port[,host:port]; unset is off.")
    object_store_url: str | None = Field(
        default=None, description="file:///path or s3://bucket/prefix; unset is data_dir/objects."
    )
    s3_endpoint_url: str | None = Field(default=None, description="Endpoint override for MinIO or moto.")
    s3_region: str = "us-east-1"
    ray_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FLEETRAY_RAY_ADDRESS", "RAY_ADDRESS", "ray_address"),
        description="Address of a Ray cluster; unset starts a local Ray.",
    )
    shards: int | None = Field(default=None, ge=1, le=4096, description="Fleet shards; default: the cluster's CPUs.")
    mqtt_ingestors: int = Field(default=1, ge=1, le=64)
    mqtt_shared_subscriptions: bool = Field(default=True, description="Whether the broker has $share/ subscriptions.")
    kafka_ingestors: int = Field(default=1, ge=1, le=64)
    telemetry_retention_days: int = Field(default=30, ge=1, le=3650)
    partition_premake_days: int = Field(default=7, ge=1, le=90)
    upload_url_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    api_base_url: str = Field(default="http://127.0.0.1:8000", description="Base of presigned local URLs.")
    api_host: str = Field(default="127.0.0.1", description="Where the REST API listens (0.0.0.0: every interface).")
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_replicas: int = Field(default=1, ge=1, le=256, description="REST API replicas (the minimum when autoscaling).")
    api_max_replicas: int | None = Field(
        default=None, ge=1, le=256, description="Set above api_replicas to autoscale on ongoing requests."
    )
    api_replica_resources: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="Custom Ray resources each API replica needs, to keep replicas on the nodes that offer them "
        '(JSON, e.g. {"api_host": 0.01}).',
    )
    api_rate_limit: str = Field(
        default="50/second;2000/minute", description="Requests per API key and replica, in the `limits` notation."
    )
    api_max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30, description="Largest request body.")
    api_request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    webhook_allow_private_urls: bool = Field(
        default=False,
        description="Allow webhooks and manufacturer-cloud accounts at loopback and private addresses "
        "(tests, on-premises installs).",
    )
    connector_sync_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="Seconds within which a manufacturer-cloud account added or removed is polled or let go.",
    )
    schedule_replicas: int = Field(default=1, ge=1, le=256, description="Schedule optimizer replicas (a CPU each).")
    schedule_max_time_limit_s: float = Field(
        default=120.0, gt=0, le=3600, description="The longest solve a schedule request may ask for."
    )
    schedule_max_body_bytes: int = Field(
        default=64 << 20,
        ge=1024,
        le=1 << 30,
        description="Largest schedule request body: a fleet of 2,000 robots and 50,000 tasks takes about 14 MB.",
    )
    serve_ingress: str = Field(
        default="haproxy",
        pattern=r"^(haproxy|proxy)$",
        description="What takes HTTP in front of Serve: HAProxy with the throughput-optimised data plane, or proxy "
        "(Serve's own Python proxy). Read when `fleetray up` starts a local Ray.",
    )
    api_key_cache_s: float = Field(
        default=10.0, ge=0, le=300, description="How long a replica trusts a verified key (revocation delay)."
    )
    bag_scan_s: float = Field(
        default=60.0, ge=0, le=86400, description="How often `fleetray up` looks for new bags under bags/ (0: never)."
    )
    maintenance_watch_s: float = Field(
        default=300.0, ge=0, le=86400, description="How often `fleetray up` scores every fleet for maintenance_due."
    )
    components: str | None = Field(
        default=None,
        description="Which platform components `fleetray up` starts, comma-separated (ingestion, api, bags...); "
        "unset: all installed. On KubeRay the RayService serves the API and `fleetray up` runs the rest.",
    )
    report_check_s: float = Field(
        default=3600.0,
        ge=0,
        le=86400,
        description="How often `fleetray up` looks for tenants without last week's fleet report (0: never).",
    )
    bag_cache_bytes: int = Field(
        default=20 << 30, ge=0, description="How much of a machine's temp disk copies of remote bags may fill."
    )
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("api_rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError("rates like '50/second;2000/minute'") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"postgresql", "postgres"}:
            raise ValueError("a postgresql:// URL")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
                raise ValueError("an mqtt://host:port or mqtts://host:port URL")
        return value

    @field_validator("object_store_url")
    @classmethod
    def _check_object_store_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"file", "s3"}:
            raise ValueError("a file:///path or s3://bucket/prefix URL")
        return value

    @field_validator("components")
    @classmethod
    def _check_components(cls, value: str | None) -> str | None:
        if value is not None and not all(name.strip().isidentifier() for name in value.split(",")):
            raise ValueError("component names separated by commas, e.g. ingestion,bags")
        return value

    @property
    def component_names(self) -> set[str] | None:
        """The components ``fleetray up`` is to start, or None for every installed one."""
        return None if self.components is None else {name.strip() for name in self.components.split(",")}

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_kafka_bootstrap(cls, value: str | None) -> str | None:
        if value is not None:
            for server in value.split(","):
                host, _, port = server.strip().rpartition(":")
                if not host or not port.isdigit():
                    raise ValueError("host:port[,host:port...]")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def resolved_object_store_url(self) -> str:
        """The object store URL, with the embedded default filled in."""
        return self.object_store_url or (self.data_dir / "objects").resolve().as_uri()

    @property
    def embedded_database_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its data."""
        return self.data_dir / "postgres"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the config file and ``overrides``.

    Raises:
        ConfigError: a value is invalid; the message names the variable, the value and what is expected.
    """
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from err
    except ValueError as err:  # the TOML file itself is malformed
        raise ConfigError(f"cannot read the fleetray config file: {err}") from err


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return load_settings()


def _describe(err: ValidationError) -> str:
    problems = []
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        expected = item["msg"].removeprefix("Value error, ")
        name = f"FLEETRAY_{field.upper()}" if item["type"] != "extra_forbidden" else field
        problems.append(f"{name}: got {item.get('input')!r}, expected {expected}")
    return "invalid fleetray settings: " + "; ".join(problems)
