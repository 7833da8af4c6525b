"""A two-node local Ray cluster whose node holding the shards is removed while robots keep reporting.

Run by ``test_cluster.py`` in a process of its own (a local cluster cannot share the test session's
Ray). Prints one JSON line with what it observed; exits non-zero if it could not run.
"""

from __future__ import annotations

import json
import sys
import time

import ray
from ray.cluster_utils import Cluster

from actors.ingestion import start_ingestion
from fleetray.services.ports import free_port
from fleetray.sim import FleetSimulator, SimConfig
from fleetray.sim.live import MqttPublisher
from fleetray.sim.persist import register_fleet, utc_now_whole_second
from fleetray.storage import Database


def stored(db: Database, tenant_id: str) -> int:
    with db.connect() as conn:
        return conn.execute(
            "SELECT count(DISTINCT (robot_id, seq)) FROM telemetry WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()[0]


def wait_stored(db: Database, tenant_id: str, expected: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while (count := stored(db, tenant_id)) < expected and time.monotonic() < deadline:
        time.sleep(0.25)
    return count


def main() -> None:
    database_url, schema, mqtt_url, tenant_id, prefix = sys.argv[1:6]
    db = Database(database_url, schema=schema)
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "gcs_server_port": free_port(), "include_dashboard": False}
    )
    # Shards need a "shard_host" resource: at first only the doomed node has it, so they all start there.
    doomed = cluster.add_node(num_cpus=1, resources={"shard_host": 1})
    ray.init(address=cluster.address, namespace="fleetray-cluster-test", log_to_driver=False)
    ingestion = None
    try:
        sim = FleetSimulator(
            SimConfig(tenant_id=tenant_id, robots=4, seed=5, start=utc_now_whole_second(), offline_per_day=0)
        )
        register_fleet(db, sim)
        ingestion = start_ingestion(
            db,
            shards=2,
            mqtt_url=mqtt_url,
            shared_subscriptions=False,
            prefix=prefix,
            shard_options={"resources": {"shard_host": 0.01}},
        )

        def shard_nodes() -> list[str]:
            return [
                ray.get(shard.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
                for shard in ingestion.shards
            ]

        before_nodes = shard_nodes()
        publisher = MqttPublisher(mqtt_url, client_id=f"{prefix}-robots")
        sent = 0
        for chunk in sim.run(20, chunk_s=20):
            publisher(chunk)
            sent += len(chunk.telemetry)
        first = wait_stored(db, tenant_id, sent)
        replacement = cluster.add_node(num_cpus=1, resources={"shard_host": 1})  # as an autoscaler would
        cluster.remove_node(doomed)
        for chunk in sim.run(20, chunk_s=20):
            publisher(chunk)
            sent += len(chunk.telemetry)
        publisher.close()
        second = wait_stored(db, tenant_id, sent)
        latest = [ingestion.robot(tenant_id, robot) for robot in sim.robot_ids]
        print(
            json.dumps(
                {
                    "sent": sent,
                    "stored_before_removal": first,
                    "stored": second,
                    "shards_on_removed_node": sum(node == doomed.node_id for node in before_nodes),
                    "shards_on_replacement": sum(node == replacement.node_id for node in shard_nodes()),
                    "latest_seq": [robot["seq"] if robot else None for robot in latest],
                }
            )
        )
    finally:
        if ingestion is not None:
            ingestion.stop()
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
