"""A three-node local Ray cluster under load, whose node holding the shards and the ingestor is removed mid-load.

The head runs the driver and Serve's controller and proxy; one worker node ("shard_host") holds the
fleet shards and the MQTT ingestor; another ("api_host") holds the REST API's replica. A bag scan runs
over the whole cluster while robots keep reporting, and the shard node is removed in the middle of
both, with a replacement added as an autoscaler would. Run by ``test_cluster.py`` in a process of its own
(a local cluster cannot share the test session's Ray). Writes what it observed as JSON to the file its last
argument names (Ray's own processes print to stdout as they stop); exits non-zero if it could not run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import ray
from ray import serve
from ray.cluster_utils import Cluster

from actors.ingestion import start_ingestion
from fleetray.config import load_settings
from fleetray.services.ports import free_port
from fleetray.sim import FleetSimulator, SimConfig
from fleetray.sim.bags import BagSpec, write_bag
from fleetray.sim.live import MqttPublisher
from fleetray.sim.persist import register_fleet, utc_now_whole_second
from fleetray.storage import Database
from fleetray.storage.api_keys import create_key
from pipelines.bags.process import scan
from serve_apps.api.deployment import build_application

NAMESPACE = "fleetray-cluster-test"
BAGS = 3
SECONDS_BEFORE, SECONDS_AFTER = 16, 16


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


def node_of(actor: ray.actor.ActorHandle) -> str:
    return ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))


def api_node() -> str:
    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "FleetApi" in a["name"]]
    return node_of(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))


def main() -> None:
    database_url, schema, mqtt_url, tenant_id, prefix, result_path = sys.argv[1:7]
    db = Database(database_url, schema=schema)
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "gcs_server_port": free_port(), "include_dashboard": False}
    )
    # Custom resources place the parts: at first only the doomed node offers "shard_host".
    doomed = cluster.add_node(num_cpus=1, resources={"shard_host": 1})
    api_host = cluster.add_node(num_cpus=1, resources={"api_host": 1})
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    ingestion = None
    try:
        sim = FleetSimulator(
            SimConfig(tenant_id=tenant_id, robots=4, seed=5, start=utc_now_whole_second(), offline_per_day=0)
        )
        register_fleet(db, sim)
        with db.connect() as conn:
            token = create_key(conn, tenant_id, "viewer").token
        ingestion = start_ingestion(
            db,
            shards=2,
            mqtt_url=mqtt_url,
            shared_subscriptions=False,
            prefix=prefix,
            shard_options={"resources": {"shard_host": 0.01}},
        )
        settings = load_settings(
            database_url=db.url, database_schema=db.schema, mqtt_url=mqtt_url, api_replica_resources={"api_host": 0.01}
        )
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(
            build_application(settings, shard_prefix=prefix, shard_namespace=NAMESPACE), name="api", route_prefix="/"
        )
        shards_before = [node_of(shard) for shard in ingestion.shards]

        bags = Path(tempfile.mkdtemp(prefix="fleetray-cluster-bags-"))
        for number in range(BAGS):
            write_bag(bags / f"run-{number}.mcap", "mcap", BagSpec(duration_s=10, seed=number, tenant=tenant_id))
        outcomes: list = []
        scanning = threading.Thread(
            target=lambda: outcomes.extend(scan(db, str(bags), str(bags / "out"), tenant_id=tenant_id, bags_at_once=2))
        )

        publisher = MqttPublisher(mqtt_url, client_id=f"{prefix}-robots")
        sent = 0

        def report(seconds: int) -> None:
            nonlocal sent
            for chunk in sim.run(seconds, chunk_s=2):
                publisher(chunk)
                sent += len(chunk.telemetry)
                time.sleep(0.2)

        scanning.start()
        report(SECONDS_BEFORE)
        replacement = cluster.add_node(num_cpus=1, resources={"shard_host": 1})  # as an autoscaler would
        cluster.remove_node(doomed)
        report(SECONDS_AFTER)
        publisher.close()
        scanning.join(timeout=300)
        total = wait_stored(db, tenant_id, sent)
        shards_after = [node_of(shard) for shard in ingestion.shards]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}) as api:
            states = [api.get(f"/v1/robots/{robot}/state", timeout=30) for robot in sim.robot_ids]
        Path(result_path).write_text(
            json.dumps(
                {
                    "sent": sent,
                    "stored": total,
                    "shards_on_removed_node": sum(node == doomed.node_id for node in shards_before),
                    "shards_on_replacement": sum(node == replacement.node_id for node in shards_after),
                    "api_on_its_node": api_node() == api_host.node_id,
                    "api_status": [s.status_code for s in states],
                    "latest_seq": [s.json()["seq"] if s.status_code == 200 else None for s in states],
                    "bags": sorted(o.status for o in outcomes),
                }
            )
        )
    finally:
        if ingestion is not None:
            ingestion.stop()
        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
