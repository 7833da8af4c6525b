"""Live ingestion end to end: a simulated fleet publishes at 1 Hz through a real broker into the shards.

Runs on one machine: a Mosquitto with the project's production limits on a free port, PostgreSQL
(FLEETRAY_DATABASE_URL, else an embedded pgserver), a local Ray with 2 CPUs, the platform's shards
and MQTT ingestors, and a load generator publishing every robot's sample once a second (QoS 1,
ts = publish time). The shards persist to PostgreSQL and buffer the Parquet lake. Phases: a
raw-broker baseline (a subscriber that only counts), a sustained run, then a burst at 3x.
``--source kafka`` runs the same load through the Kafka-protocol broker the tests use (Tansu, in memory;
records keyed by robot on ``robot.telemetry.bench``), with the platform's Kafka ingestors.

The last line is JSON:
    events_per_s                  persisted samples per second while the fleet publishes (from the 5th second)
    p50_latency_ms, p99_latency_ms  publish-to-durable-and-visible delay (shard applies after commit)
    lost, duplicated              published minus stored (robot, seq); stored rows beyond distinct keys
    raw_broker_events_per_s       what a counting subscriber receives for the same load
    cpu_s_per_1000_events         CPU seconds of the whole stack per 1,000 events: Ray (shards, ingestors and
                                  its own processes), the broker, the database and the load generator
    platform_cpu_s_per_1000_events  the same, of the shards and ingestors alone (and each apart:
                                  shard_cpu_s_per_1000_events, ingestor_cpu_s_per_1000_events)
    database_cpu_s_per_1000_events, broker_cpu_s_per_1000_events, ray_system_cpu_s_per_1000_events,
    load_cpu_s_per_1000_events    the rest of the stack, part by part (Ray's own processes: raylet, GCS and the
                                  other workers)
    peak_events_per_s_absorbed    best one-second persisted rate during the burst
    recovery_s                    seconds after the burst until the backlog was persisted
    drain_s                       seconds after the sustained load until everything published was persisted
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import resource
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


class KafkaLoadPublisher:
    """The load generator's Kafka side: each sample a record of ``robot.telemetry.{tenant}`` keyed by robot id."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 5,
                "batch.size": 1 << 18,
                "acks": 1,
                "queue.buffering.max.messages": 1_000_000,
            }
        )
        self._topic = f"robot.telemetry.{TENANT}"
        self.acknowledged = 0  # only records the broker acknowledged count as published

    def _done(self, error: object, _message: object) -> None:
        if error is None:
            self.acknowledged += 1

    def publish_many(self, messages: list[tuple[bytes, bytes]]) -> None:
        for key, payload in messages:
            while True:
                try:
                    self._producer.produce(self._topic, payload, key, on_delivery=self._done)
                    break
                except BufferError:  # the client's queue is full: let it send, then try again
                    self._producer.poll(0.05)
        self._producer.poll(0)

    def wait_acknowledged(self, timeout_s: float) -> int:
        self._producer.flush(timeout_s)
        return self.acknowledged

    def close(self) -> None:
        self._producer.flush(10)


def _stamp(moment: float) -> bytes:
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1e6):06d}Z").encode()


def publisher(
    url: str,
    robot_ids: list[str],
    rate_per_robot: float,
    duration_s: float,
    start_at: float,
    first_seq: int,
    counter: multiprocessing.Value,
    per_message: int = 1,
) -> None:
    """One load-generator process: its robots take one sample each per 1/rate seconds, spread evenly, and
    publish each (``per_message`` 1), or every ``per_message`` samples as one zstd batch of the wire format.

    ``url`` is the MQTT broker's, or ``kafka://host:port`` for the Kafka-protocol broker (records keyed by robot).
    ``counter`` gets the samples in messages the broker acknowledged.
    """
    import zstandard
    from mqtt_load import LoadPublisher

    compressor = zstandard.ZstdCompressor(level=3)

    kafka = url.startswith("kafka://")
    client = KafkaLoadPublisher(url.removeprefix("kafka://")) if kafka else LoadPublisher(url, f"load-{os.getpid()}")
    # Templates hold the JSON a robot sends; ts and seq are filled in at publish time.
    templates = [
        (
            robot.encode() if kafka else f"fr/v1/{TENANT}/{robot}/telemetry".encode(),
            b'{"tenant_id":"' + TENANT.encode() + b'","robot_id":"' + robot.encode() + b'","ts":"%s","seq":%d,'
            b'"status":"cleaning","pose":{"x":1.5,"y":2.5,"theta":0.1},"velocity":{"linear":0.8,"angular":0.0},'
            b'"battery":{"soc":0.77,"voltage":25.1,"current":-12.0,"temp":31.0},'
            b'"components":{"main_brush":{"current_a":4.1,"temp_c":41.0,"rpm":380,"usage_h":120.5},'
            b'"vacuum":{"current_a":6.2,"temp_c":45.0,"rpm":17800,"usage_h":640.2}},'
            b'"metrics":{"wheel_vibration_g":0.07}}',
        )
        for robot in robot_ids
    ]
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
        step += 1
        batch = templates[part * per_slice : (part + 1) * per_slice]
        if not batch or (tick + 1) % per_message:
            continue  # batching robots publish on every per_message-th sample
        now = time.time()
        if per_message == 1:
            stamp, seq = _stamp(now), first_seq + tick
            client.publish_many([(topic, template % (stamp, seq)) for topic, template in batch])
        else:
            samples = [
                (_stamp(now - back * period), first_seq + tick - back) for back in range(per_message - 1, -1, -1)
            ]
            client.publish_many(
                [
                    (topic, compressor.compress(b"\n".join(template % sample for sample in samples)))
                    for topic, template in batch
                ]
            )
    # Only what the broker acknowledged (PUBACK) counts as published.
    acknowledged = client.wait_acknowledged(120)
    with counter.get_lock():
        counter.value += acknowledged * per_message
    client.close()


def run_load(
    url: str,
    robots: list[str],
    rate: float,
    seconds: float,
    processes: int,
    first_seq: int = 1,
    start_at: float | None = None,
    per_message: int = 1,
) -> int:
    """Publish from ``processes`` processes from ``start_at`` (epoch s); samples are numbered from ``first_seq``.
    Returns the samples the broker acknowledged."""
    counter = multiprocessing.Value("q", 0)
    start_at = start_at or time.time() + 1.0
    slices = [robots[i::processes] for i in range(processes)]
    workers = [
        multiprocessing.Process(
            target=publisher, args=(url, part, rate, seconds, start_at, first_seq, counter, per_message)
        )
        for part in slices
        if part
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counter.value


def raw_kafka_rate(bootstrap: str, robots: list[str], seconds: float, processes: int) -> float:
    """Records per second a consumer that only counts receives under the same load (its own group)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "latest"}
    )
    consumer.subscribe([f"robot.telemetry.{TENANT}"])
    while not consumer.assignment():
        consumer.poll(0.2)
    stamps: list[tuple[float, int]] = []
    done = threading.Event()

    def count() -> None:
        received = 0
        while not done.is_set():
            polled = consumer.consume(num_messages=5000, timeout=0.2)
            received += sum(record.error() is None for record in polled)
            if polled:
                stamps.append((time.monotonic(), received))

    reader = threading.Thread(target=count, daemon=True)
    reader.start()
    run_load(f"kafka://{bootstrap}", robots, 1.0, seconds, processes)
    time.sleep(3)
    done.set()
    reader.join()
    consumer.close()
    if len(stamps) < 2:
        return 0.0
    return (stamps[-1][1] - stamps[0][1]) / max(stamps[-1][0] - stamps[0][0], 1e-9)


def start_kafka(work: Path, partitions: int) -> tuple[object, str]:
    """The Kafka-protocol broker the tests use (Tansu, in memory) on a free port, with the telemetry topic."""
    from fleetray.services.kafka_broker import create_topics, tansu_broker

    broker, bootstrap = tansu_broker(work)
    broker.start()
    create_topics(bootstrap, {f"robot.telemetry.{TENANT}": partitions})
    return broker, bootstrap


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


class PersistMeter:
    """Samples the shards' count of newly persisted samples once a second, on a thread."""

    def __init__(self, shards: list) -> None:
        self._shards = shards
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> int:
        import ray

        return sum(
            stats["totals"].get("new_telemetry", 0) for stats in ray.get([s.stats.remote() for s in self._shards])
        )

    def _run(self) -> None:
        while True:
            self._samples.append((time.time(), self._read()))
            if self._stop.wait(1.0):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def total(self) -> int:
        return self._read()

    def _at(self, moment: float) -> tuple[float, int]:
        return min(self._samples, key=lambda sample: abs(sample[0] - moment))

    def rate_between(self, start: float, end: float) -> float:
        """Persisted per second between two moments (epoch seconds), from the nearest samples."""
        (t0, n0), (t1, n1) = self._at(start), self._at(end)
        return (n1 - n0) / max(t1 - t0, 1e-9)

    def peak_rate(self, start: float, end: float) -> int:
        """The best one-second rate between two moments."""
        inside = [sample for sample in self._samples if start <= sample[0] <= end + 1]
        rates = [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in itertools.pairwise(inside) if t1 > t0]
        return round(max(rates, default=0))


STACK_PROCESSES = ("ray::", "raylet", "gcs_server", "mosquitto", "postgres", "tansu")


def _stack_part(command_line: str) -> str:
    """Which part of the stack a process of :data:`STACK_PROCESSES` is."""
    if "FleetShard" in command_line:
        return "shards"
    if "Ingestor" in command_line:
        return "ingestors"
    if "postgres" in command_line:
        return "database"
    if "mosquitto" in command_line or "tansu" in command_line:
        return "broker"
    return "ray_system"


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far: ``stack`` (Ray, broker, database, and the load generator's finished processes),
    ``platform`` (the shards and ingestors), and each part apart (see :func:`_stack_part`, and ``load``)."""
    seconds = dict.fromkeys(("stack", "platform", "shards", "ingestors", "database", "broker", "ray_system"), 0.0)
    for process in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(process.info["cmdline"] or [])
            if any(name in line for name in STACK_PROCESSES):
                times = process.cpu_times()
                seconds[_stack_part(line)] += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    publishers = resource.getrusage(resource.RUSAGE_CHILDREN)  # joined load-generator processes
    seconds["load"] = publishers.ru_utime + publishers.ru_stime
    seconds["platform"] = seconds["shards"] + seconds["ingestors"]
    seconds["stack"] = sum(seconds[part] for part in ("platform", "database", "broker", "ray_system", "load"))
    return seconds


def stored(db: object) -> tuple[int, int]:
    with db.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(
            "SELECT count(*), count(DISTINCT (robot_id, seq)) FROM telemetry WHERE tenant_id = %s", (TENANT,)
        ).fetchone()


def sustained(
    url: str,
    robots: list[str],
    args: argparse.Namespace,
    db: object,
    ingestion: object,
    meter: PersistMeter,
    *,
    first_seq: int,
    per_message: int,
    counted_before: int = 0,
) -> tuple[dict, int]:
    """The fleet publishing for ``args.seconds``; figures of what was persisted, and the samples published."""
    import ray

    cpu_before = cpu_seconds()
    load_start = time.time() + 1.0
    published = run_load(
        url,
        robots,
        1.0,
        args.seconds,
        args.publishers,
        first_seq=first_seq,
        start_at=load_start,
        per_message=per_message,
    )
    load_end = load_start + args.seconds
    deadline = time.monotonic() + 120
    while meter.total() < counted_before + published and time.monotonic() < deadline:
        time.sleep(0.2)
    drain_s = max(0.0, time.time() - load_end)
    rows, distinct = stored(db)
    rows, distinct = rows - counted_before, distinct - counted_before
    cpu = {name: used - cpu_before[name] for name, used in cpu_seconds().items()}
    per_1000 = {name: round(1000 * used / max(distinct, 1), 3) for name, used in cpu.items()}
    latencies = sorted(x for s in ingestion.shards for x in ray.get(s.take_latencies.remote()))
    # The sustained rate: what was persisted while the fleet was publishing, skipping the first
    # seconds (connections warming up); a platform that falls behind shows it here and in the latency.
    window = (load_start + min(5 + per_message, args.seconds / 4), load_end)
    return {
        "events_per_s": round(meter.rate_between(*window)),
        "p50_latency_ms": round(1000 * statistics.median(latencies)) if latencies else None,
        "p99_latency_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))]) if latencies else None,
        "lost": published - distinct,
        "duplicated": rows - distinct,
        "cpu_s_per_1000_events": per_1000["stack"],
        "platform_cpu_s_per_1000_events": per_1000["platform"],
        "shard_cpu_s_per_1000_events": per_1000["shards"],
        "ingestor_cpu_s_per_1000_events": per_1000["ingestors"],
        "database_cpu_s_per_1000_events": per_1000["database"],
        "broker_cpu_s_per_1000_events": per_1000["broker"],
        "ray_system_cpu_s_per_1000_events": per_1000["ray_system"],
        "load_cpu_s_per_1000_events": per_1000["load"],
        "published": published,
        "sustained_s": args.seconds,
        "drain_s": round(drain_s, 1),
    }, published


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--burst-seconds", type=int, default=10)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--ingestors", type=int, default=2)
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--source", choices=("mqtt", "kafka"), default="mqtt", help="the broker robots publish to")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the Kafka telemetry topic")
    parser.add_argument(
        "--batch", type=int, default=5, help="then the same load with this many samples per message (1: skip)"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 robots for 10 s; under a minute")
    args = parser.parse_args()
    if args.quick:
        args.robots, args.seconds, args.burst_seconds = 1000, 10, 3

    import ray

    from actors.ingestion import start_ingestion
    from bench.database import bench_database
    from fleetray.services.mqtt_broker import embedded_broker
    from fleetray.services.ports import free_port
    from fleetray.sim import FleetSimulator, SimConfig
    from fleetray.sim.persist import register_fleet

    work = Path(tempfile.mkdtemp(prefix="fleetray-bench-"))
    kafka = args.source == "kafka"
    if kafka:
        broker, bootstrap = start_kafka(work, args.partitions)
        url = f"kafka://{bootstrap}"
    else:
        broker, url = embedded_broker(work, port=free_port())
        broker.start()
    database = contextlib.ExitStack()
    db = database.enter_context(bench_database(work))
    sim = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.robots, seed=1))
    register_fleet(db, sim)
    robots = sim.robot_ids
    result: dict[str, float | int] = {}
    try:
        raw_seconds = 5 if args.quick else min(args.seconds, 20)
        if kafka:  # on a broker of its own: the platform's ingestors would read the baseline's records too
            raw_broker, raw_bootstrap = start_kafka(work / "raw", args.partitions)
            try:
                raw_rate = raw_kafka_rate(raw_bootstrap, robots, raw_seconds, args.publishers)
            finally:
                raw_broker.stop()
        else:
            raw_rate = raw_broker_rate(url, robots, raw_seconds, args.publishers)
        result["raw_broker_events_per_s"] = round(raw_rate)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="fleetray-bench")
        # As in production: the shards also write the Parquet lake (here to a local object store).
        lake = {"url": (work / "objects").as_uri(), "signing_key": os.urandom(32)}
        sources = (
            {"kafka_bootstrap": bootstrap, "kafka_ingestors": args.ingestors}
            if kafka
            else {"mqtt_url": url, "mqtt_ingestors": args.ingestors, "shared_subscriptions": True}
        )
        ingestion = start_ingestion(db, shards=args.shards, prefix="bench", object_store=lake, **sources)
        if kafka:  # the consumer group has its partitions before the load starts
            deadline = time.monotonic() + 60
            while (
                time.monotonic() < deadline
                and sum(len(stats["partitions"]) for stats in ray.get([i.stats.remote() for i in ingestion.kafka]))
                < args.partitions
            ):
                time.sleep(0.5)
        meter = PersistMeter(ingestion.shards)
        meter.start()
        figures, published = sustained(url, robots, args, db, ingestion, meter, first_seq=1, per_message=1)
        result.update(figures)
        # Burst: 3x the rate for a few seconds, then see how fast the backlog is absorbed.
        before = stored(db)[1]
        burst_start = time.time() + 1.0
        burst_end = burst_start + args.burst_seconds
        burst = run_load(
            url, robots, 3.0, args.burst_seconds, args.publishers, first_seq=args.seconds + 1, start_at=burst_start
        )
        deadline = time.monotonic() + 180
        while meter.total() < published + burst and time.monotonic() < deadline:
            time.sleep(0.2)
        recovered = time.time()
        distinct = stored(db)[1]
        result.update(
            peak_events_per_s_absorbed=meter.peak_rate(burst_start, recovered),
            burst_lost=before + burst - distinct,
            recovery_s=round(max(0.0, recovered - burst_end), 1),
        )
        [ray.get(s.take_latencies.remote()) for s in ingestion.shards]  # the burst's are not the batches'
        if args.batch > 1:  # the same fleet, each robot sending its samples args.batch at a time
            first = args.seconds + 3 * args.burst_seconds + 1
            batched, _ = sustained(
                url,
                robots,
                args,
                db,
                ingestion,
                meter,
                first_seq=first,
                per_message=args.batch,
                counted_before=distinct,
            )
            result.update({f"batched_{key}": value for key, value in batched.items()}, batch_samples=args.batch)
        meter.stop()
        result["serve_to_raw_ratio"] = round(result["events_per_s"] / max(result["raw_broker_events_per_s"], 1), 2)
        ingestion.stop()
    finally:
        ray.shutdown()
        database.close()
        broker.stop()
    print(json.dumps({"robots": args.robots, "source": args.source, **result}))


if __name__ == "__main__":
    main()
