"""Live ingestion end to end: a simulated fleet publishes at 1 Hz through a real Mosquitto into the shards.

Runs on one machine: a Mosquitto with the project's production limits on a free port, PostgreSQL
(FLEETRAY_DATABASE_URL, else an embedded pgserver), a local Ray with 2 CPUs, the platform's shards
and MQTT ingestors, and load-generator processes publishing every robot's sample once a second
(QoS 1, ts = publish time). Phases: a raw-broker baseline (a subscriber that only counts), a
sustained run, then a burst at 3x.

The last line is JSON:
    events_per_s                  persisted samples per second during the sustained phase
    p50_latency_ms, p99_latency_ms  publish-to-durable-and-visible delay (shard applies after commit)
    lost, duplicated              published minus stored (robot, seq); stored rows beyond distinct keys
    raw_broker_events_per_s       what a counting subscriber receives for the same load
    cpu_s_per_1000_events         CPU seconds of shards, ingestors, broker and database per 1,000 events
    peak_events_per_s_absorbed    best one-second persisted rate during the burst
    recovery_s                    seconds after the burst until the backlog was persisted
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil

TENANT = "bench"
SLICE_S = 0.01  # a robot's samples go out in 10 ms slices, so the load is even over each second


def publisher(url: str, robot_ids: list[str], rate_per_robot: float, duration_s: float, start_at: float,
              first_seq: int, counter: multiprocessing.Value) -> None:  # fmt: skip
    """One load-generator process: its robots publish one sample each per 1/rate seconds, spread evenly."""
    from mqtt_load import LoadPublisher

    client = LoadPublisher(url, f"load-{os.getpid()}")
    # Templates hold the JSON a robot sends; ts and seq are filled in at publish time.
    templates = [
        (f"fr/v1/{TENANT}/{robot}/telemetry".encode(),
         b'{"tenant_id":"' + TENANT.encode() + b'","robot_id":"' + robot.encode() + b'","ts":"%s","seq":%d,'
         b'"status":"cleaning","pose":{"x":1.5,"y":2.5,"theta":0.1},"velocity":{"linear":0.8,"angular":0.0},'
         b'"battery":{"soc":0.77,"voltage":25.1,"current":-12.0,"temp":31.0},'
         b'"components":{"main_brush":{"current_a":4.1,"temp_c":41.0,"rpm":380,"usage_h":120.5},'
         b'"vacuum":{"current_a":6.2,"temp_c":45.0,"rpm":17800,"usage_h":640.2}},'
         b'"metrics":{"wheel_vibration_g":0.07}}')
        for robot in robot_ids
    ]  # fmt: skip
    period = 1.0 / rate_per_robot
    slices = max(1, int(period / SLICE_S))
    per_slice = -(-len(templates) // slices)
    while time.time() < start_at:
        time.sleep(0.005)
    step = 0
    while True:
        tick, part = divmod(step, slices)
        due = start_at + tick * period + part * period / slices
        if due >= start_at + duration_s:
            break
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        now = time.time()
        stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z").encode()
        seq = first_seq + tick
        batch = templates[part * per_slice : (part + 1) * per_slice]
        if batch:
            client.publish_many([(topic, template % (stamp, seq)) for topic, template in batch])
        client.keep_alive()
        step += 1
    # Only what the broker acknowledged (PUBACK) counts as published.
    acknowledged = client.wait_acknowledged(120)
    with counter.get_lock():
        counter.value += acknowledged
    client.close()


def run_load(url: str, robots: list[str], rate: float, seconds: float, processes: int, first_seq: int = 1) -> int:
    """Publish from ``processes`` processes; every robot's samples are numbered from ``first_seq``."""
    counter = multiprocessing.Value("q", 0)
    start_at = time.time() + 1.0
    slices = [robots[i::processes] for i in range(processes)]
    workers = [
        multiprocessing.Process(target=publisher, args=(url, part, rate, seconds, start_at, first_seq, counter))
        for part in slices if part
    ]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counter.value


def raw_broker_rate(url: str, robots: list[str], seconds: float, processes: int) -> float:
    """Messages per second a subscriber that only counts receives under the same load."""
    from fleetray.mqtt import connect

    received = [0]
    first_last = [0.0, 0.0]

    def count(_c: object, _u: object, _m: object) -> None:
        now = time.monotonic()
        if received[0] == 0:
            first_last[0] = now
        first_last[1] = now
        received[0] += 1

    client = connect(url, f"raw-{uuid.uuid4().hex[:6]}", on_connect=lambda c: c.subscribe("fr/v1/+/+/telemetry", 1))
    client.on_message = count
    run_load(url, robots, 1.0, seconds, processes)
    time.sleep(3)
    client.disconnect()
    client.loop_stop()
    return received[0] / max(first_last[1] - first_last[0], 1e-9)


def platform_cpu_seconds() -> float:
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            line = " ".join(process.info["cmdline"] or [])
            if ("ray::" in line or "mosquitto" in line or "postgres" in line
                    or "FleetShard" in line or "Ingestor" in line):  # fmt: skip
                times = process.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def stored(db: object) -> tuple[int, int]:
    with db.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(
            "SELECT count(*), count(DISTINCT (robot_id, seq)) FROM telemetry WHERE tenant_id = %s", (TENANT,)
        ).fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--burst-seconds", type=int, default=10)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--ingestors", type=int, default=2)
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1,000 robots for 10 s; under a minute")
    args = parser.parse_args()
    if args.quick:
        args.robots, args.seconds, args.burst_seconds = 1000, 10, 3

    import ray

    from actors.ingestion import start_ingestion
    from fleetray.services.mqtt_broker import embedded_broker
    from fleetray.services.ports import free_port
    from fleetray.sim import FleetSimulator, SimConfig
    from fleetray.sim.persist import register_fleet
    from fleetray.storage import Database, EmbeddedPostgres, migrate

    work = Path(tempfile.mkdtemp(prefix="fleetray-bench-"))
    broker, url = embedded_broker(work, port=free_port())
    broker.start()
    embedded = None
    db_url = os.environ.get("FLEETRAY_DATABASE_URL")
    if db_url is None:
        embedded = EmbeddedPostgres(work / "pg")
        db_url = embedded.start()
    db = Database(db_url, schema=f"bench_{uuid.uuid4().hex[:8]}")
    migrate(db)
    sim = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.robots, seed=1))
    register_fleet(db, sim)
    robots = sim.robot_ids
    result: dict[str, float | int] = {}
    try:
        raw_seconds = 5 if args.quick else min(args.seconds, 20)
        result["raw_broker_events_per_s"] = round(raw_broker_rate(url, robots, raw_seconds, args.publishers))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="fleetray-bench")
        ingestion = start_ingestion(db, shards=args.shards, mqtt_url=url, mqtt_ingestors=args.ingestors,
                                    shared_subscriptions=True, prefix="bench")  # fmt: skip
        cpu_before = platform_cpu_seconds()
        started = time.monotonic()
        published = run_load(url, robots, 1.0, args.seconds, args.publishers)
        deadline = time.monotonic() + 120
        while stored(db)[1] < published and time.monotonic() < deadline:
            time.sleep(0.5)
        drained = time.monotonic()
        rows, distinct = stored(db)
        cpu = platform_cpu_seconds() - cpu_before
        latencies = [x for s in ingestion.shards for x in ray.get(s.take_latencies.remote())]
        latencies.sort()
        result.update(
            events_per_s=round(distinct / max(drained - started - 1.0, 1e-9)),
            p50_latency_ms=round(1000 * statistics.median(latencies)) if latencies else None,
            p99_latency_ms=round(1000 * latencies[int(0.99 * (len(latencies) - 1))]) if latencies else None,
            lost=published - distinct,
            duplicated=rows - distinct,
            cpu_s_per_1000_events=round(1000 * cpu / max(distinct, 1), 3),
            published=published,
            sustained_s=args.seconds,
        )
        # Burst: 3x the rate for a few seconds, then see how fast the backlog is absorbed.
        before = distinct
        per_second: list[int] = []
        stop = threading.Event()

        def sample_rate() -> None:
            last = stored(db)[1]
            while not stop.wait(1.0):
                now = stored(db)[1]
                per_second.append(now - last)
                last = now

        sampler = threading.Thread(target=sample_rate, daemon=True)
        sampler.start()
        burst_end = time.monotonic() + 1.0 + args.burst_seconds
        burst = run_load(url, robots, 3.0, args.burst_seconds, args.publishers, first_seq=args.seconds + 1)
        deadline = time.monotonic() + 180
        while stored(db)[1] < before + burst and time.monotonic() < deadline:
            time.sleep(0.5)
        recovered = time.monotonic()
        stop.set()
        sampler.join()
        rows, distinct = stored(db)
        result.update(
            peak_events_per_s_absorbed=max(per_second) if per_second else 0,
            burst_lost=before + burst - distinct,
            recovery_s=round(max(0.0, recovered - burst_end), 1),
        )
        result["serve_to_raw_ratio"] = round(result["events_per_s"] / max(result["raw_broker_events_per_s"], 1), 2)
        ingestion.stop()
    finally:
        ray.shutdown()
        db.drop_schema()
        broker.stop()
        if embedded is not None:
            embedded.stop()
    print(json.dumps({"robots": args.robots, **result}))


if __name__ == "__main__":
    main()
